// The audit store on real sqlite files: creation and modes, round trips, failures(), prune, verify.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "audit/address_range.h"
#include "audit/audit_store.h"
#include "audit/schema.h"
#include "audit/syslog_line.h"
#include "audit/time_text.h"
#include "audit_test_support.h"

namespace authpolicy::audit {
namespace {

using testing::kMinute;
using testing::sample_record;
using testing::TempFolder;

std::unique_ptr<AuditStore> open_or_fail(const std::string& path, OpenOptions options = {}) {
  auto opened = AuditStore::open(path, options);
  EXPECT_TRUE(opened.status.ok()) << opened.status.message;
  return std::move(opened.store);
}

std::int64_t count_rows(const std::string& path, const char* sql) {
  sqlite3* db = nullptr;
  sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr);
  sqlite3_stmt* statement = nullptr;
  std::int64_t count = -1;
  if (sqlite3_prepare_v2(db, sql, -1, &statement, nullptr) == SQLITE_OK &&
      sqlite3_step(statement) == SQLITE_ROW) {
    count = sqlite3_column_int64(statement, 0);
  }
  sqlite3_finalize(statement);
  sqlite3_close(db);
  return count;
}

TEST(AuditStore, CreatesPrivateFolderAndFileInWalMode) {
  TempFolder temp;
  std::string folder = temp.file("authpolicy");
  std::string path = folder + "/audit.db";
  auto store = open_or_fail(path);
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->write(sample_record("bob", "permit")).ok());

  struct stat info {};
  ASSERT_EQ(stat(folder.c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 07777, 0700u);
  EXPECT_EQ(info.st_uid, 0u);
  ASSERT_EQ(stat(path.c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 07777, 0600u);
  EXPECT_EQ(info.st_uid, 0u);
  // sqlite gives the -wal file the database's mode: private as well.
  ASSERT_EQ(stat((path + "-wal").c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 077, 0u);
  EXPECT_EQ(store->schema_version(), schema::kCurrentVersion);
  EXPECT_EQ(count_rows(path, "SELECT count(*) FROM pragma_journal_mode WHERE journal_mode='wal'"),
            1);
}

TEST(AuditStore, RoundTripsEveryField) {
  TempFolder temp;
  auto store = open_or_fail(temp.file("audit.db"));
  AuditRecord record = sample_record("jürgen", "deny", 1700000000123456);
  record.ruser = "admin";
  record.country = "DE";
  record.asn = 3320;
  record.factors = {{"password", "pass", "", 1500}, {"totp", "fail", "wrong code", 700}};
  record.unknowns = {{"rhost.country in { DE }", "GeoIP database unreadable"}};
  ASSERT_TRUE(store->write(record).ok());

  std::vector<StoredDecision> rows;
  ASSERT_TRUE(store->list({}, &rows).ok());
  ASSERT_EQ(rows.size(), 1u);
  const auto& back = rows[0].record;
  EXPECT_EQ(back.time_us, 1700000000123456);
  EXPECT_EQ(back.user, "jürgen");
  EXPECT_EQ(back.ruser, "admin");
  EXPECT_EQ(back.rhost, "203.0.113.7");
  EXPECT_EQ(back.tty, "ssh");
  EXPECT_EQ(back.country, "DE");
  EXPECT_EQ(back.asn, 3320u);
  EXPECT_EQ(back.policy_path, "/etc/authpolicy/sshd.pol");
  EXPECT_EQ(back.policy_sha256, std::string(64, 'a'));
  EXPECT_EQ(back.decision, "deny");
  EXPECT_EQ(back.reason, "password failed");
  EXPECT_EQ(back.duration_us, 12345);
  EXPECT_EQ(back.pid, getpid());
  EXPECT_TRUE(back.password_asked);
  ASSERT_EQ(back.factors.size(), 2u);
  EXPECT_EQ(back.factors[1].name, "totp");
  EXPECT_EQ(back.factors[1].outcome, "fail");
  EXPECT_EQ(back.factors[1].detail, "wrong code");
  EXPECT_EQ(back.factors[1].duration_us, 700);
  ASSERT_EQ(back.unknowns.size(), 1u);
  EXPECT_EQ(back.unknowns[0].cause, "GeoIP database unreadable");
}

TEST(AuditStore, RefusesMalformedDecisionAndStoresNothing) {
  TempFolder temp;
  auto store = open_or_fail(temp.file("audit.db"));
  Status status = store->write(sample_record("bob", "maybe"));
  EXPECT_EQ(status.code, StatusCode::invalid_argument);
  EXPECT_NE(status.message.find("maybe"), std::string::npos);
  std::vector<StoredDecision> rows;
  ASSERT_TRUE(store->list({}, &rows).ok());
  EXPECT_TRUE(rows.empty());
}

// Issue 13.5: deleting the log before each try must not reset failures() to 0. A missing log
// counts as "nothing recorded yet" only where removing it took root.
TEST(AuditStore, MissingLogCountsAsNoFailuresOnlyInAFolderOnlyRootControls) {
  TempFolder temp;
  const std::string path = temp.file("audit.db");
  const FailureQuery query{"bob", 900, std::nullopt, 0};

  ASSERT_EQ(chmod(temp.path().c_str(), 0700), 0);
  auto count = count_failures(path, {}, query);
  ASSERT_TRUE(count.known()) << count.cause;
  EXPECT_EQ(*count.count, 0);

  for (mode_t mode : {0777, 0770, 0730}) {
    ASSERT_EQ(chmod(temp.path().c_str(), mode), 0);
    count = count_failures(path, {}, query);
    EXPECT_FALSE(count.known()) << "folder mode " << std::oct << mode;
    EXPECT_NE(count.cause.find("cannot be trusted"), std::string::npos) << count.cause;
    EXPECT_NE(count.cause.find(temp.path()), std::string::npos) << count.cause;
  }
  // A missing sub-folder below an unsafe one is no better.
  count = count_failures(temp.file("sub/audit.db"), {}, query);
  EXPECT_FALSE(count.known());

  // Sticky (/tmp style): others cannot remove what they do not own, so absence still means 0.
  ASSERT_EQ(chmod(temp.path().c_str(), 01777), 0);
  count = count_failures(path, {}, query);
  ASSERT_TRUE(count.known()) << count.cause;
  EXPECT_EQ(*count.count, 0);

  // A folder owned by another user: that user could have removed the log.
  ASSERT_EQ(chmod(temp.path().c_str(), 0755), 0);
  ASSERT_EQ(chown(temp.path().c_str(), 4242, 4242), 0) << "this test runs as root";
  count = count_failures(path, {}, query);
  EXPECT_FALSE(count.known());
  EXPECT_NE(count.cause.find("4242"), std::string::npos) << count.cause;
  ASSERT_EQ(chown(temp.path().c_str(), geteuid(), getegid()), 0);
}

TEST(AuditStore, RefusesFilesOthersCouldWriteOrThatAreLinks) {
  TempFolder temp;
  std::string path = temp.file("audit.db");
  ASSERT_TRUE(open_or_fail(path));
  chmod(path.c_str(), 0666);
  auto opened = AuditStore::open(path, {});
  EXPECT_EQ(opened.status.code, StatusCode::unsafe_file);
  EXPECT_NE(opened.status.message.find("writable by group or others"), std::string::npos);
  auto count = count_failures(path, {}, {"bob", 900, std::nullopt, 0});
  EXPECT_FALSE(count.known()) << "a log others can write must not decide failures()";

  chmod(path.c_str(), 0600);
  ASSERT_EQ(chown(path.c_str(), 1000, 1000), 0);
  opened = AuditStore::open(path, {});
  EXPECT_EQ(opened.status.code, StatusCode::unsafe_file);
  EXPECT_NE(opened.status.message.find("owned by uid 1000"), std::string::npos);
  ASSERT_EQ(chown(path.c_str(), 0, 0), 0);

  std::string link = temp.file("link.db");
  ASSERT_EQ(symlink(path.c_str(), link.c_str()), 0);
  opened = AuditStore::open(link, {});
  EXPECT_FALSE(opened.status.ok());
  EXPECT_NE(opened.status.message.find("not a regular file"), std::string::npos);
}

// Issue #13: the log decides failures(), so every folder above it counts, not only its own: a
// user or group who can rename a folder on the way can put an older or empty log in its place.
TEST(AuditStore, RefusesALogBelowAFolderAUserOrAGroupControls) {
  TempFolder temp;
  ASSERT_EQ(chmod(temp.path().c_str(), 0755), 0);
  const std::string home = temp.file("home");
  ASSERT_EQ(mkdir(home.c_str(), 0755), 0);
  ASSERT_EQ(chown(home.c_str(), 65534, 65534), 0) << "this test runs as root";
  const std::string path = home + "/audit/audit.db";
  const FailureQuery query{"bob", 900, std::nullopt, 0};

  auto opened = AuditStore::open(path, {});
  EXPECT_EQ(opened.status.code, StatusCode::unsafe_file);
  EXPECT_NE(
      opened.status.message.find("folder " + home + " is owned by uid 65534 (nobody), not root"),
      std::string::npos)
      << opened.status.message;
  EXPECT_FALSE(std::filesystem::exists(home + "/audit")) << "nothing is created below it";
  Status written = record_decision(path, {}, sample_record("bob", "deny"));
  EXPECT_EQ(written.code, StatusCode::unsafe_file);
  EXPECT_EQ(after_write(written, true), AfterWrite::deny_and_warn);
  auto count = count_failures(path, {}, query);
  EXPECT_FALSE(count.known());
  EXPECT_NE(count.cause.find("is owned by uid 65534"), std::string::npos) << count.cause;

  // Root's folder, root's log, but the folder above may be renamed by its group.
  ASSERT_EQ(chown(home.c_str(), 0, 65534), 0);
  ASSERT_EQ(mkdir((home + "/audit").c_str(), 0700), 0);
  ASSERT_EQ(chmod(home.c_str(), 0775), 0);
  opened = AuditStore::open(path, {});
  EXPECT_EQ(opened.status.code, StatusCode::unsafe_file);
  EXPECT_NE(opened.status.message.find("folder " + home + " is writable by its group (mode 0775)"),
            std::string::npos)
      << opened.status.message;
  EXPECT_FALSE(std::filesystem::exists(path));
  count = count_failures(path, {}, query);
  EXPECT_FALSE(count.known()) << "absent below a group-writable folder is not 'none yet'";

  // The control: the same layout, root's alone, is used.
  ASSERT_EQ(chmod(home.c_str(), 0755), 0);
  EXPECT_TRUE(record_decision(path, {}, sample_record("bob", "deny")).ok());
  count = count_failures(path, {}, query);
  ASSERT_TRUE(count.known()) << count.cause;
  EXPECT_EQ(*count.count, 1);
}

TEST(AuditStore, FailuresCountByUserWindowAndSource) {
  TempFolder temp;
  std::string path = temp.file("audit.db");
  auto store = open_or_fail(path);
  std::int64_t now = now_utc_us();
  auto write = [&](std::string user, std::string decision, std::int64_t minutes_ago,
                   std::string rhost, std::string service = "sshd") {
    auto record = sample_record(std::move(user), std::move(decision), now - minutes_ago * kMinute,
                                std::move(rhost));
    record.service = std::move(service);
    ASSERT_TRUE(store->write(record).ok());
  };
  write("bob", "deny", 1, "203.0.113.7");
  write("bob", "deny", 5, "::ffff:203.0.113.7");  // same address, mapped spelling
  write("bob", "deny", 10, "198.51.100.1", "sudo");
  write("bob", "deny", 30, "203.0.113.7");   // outside 15m
  write("bob", "permit", 2, "203.0.113.7");  // not a failure
  write("bob", "deny", 3, "");               // local
  write("bob", "deny", 4, "gateway.example");
  write("alice", "deny", 1, "203.0.113.7");

  auto failures = [&](std::string user, std::int64_t window, std::optional<std::string> rhost) {
    auto count = store->count_failures({std::move(user), window, std::move(rhost), now});
    EXPECT_TRUE(count.known()) << count.cause;
    return count.count.value_or(-1);
  };
  EXPECT_EQ(failures("bob", 15 * 60, std::nullopt), 5);  // all services
  EXPECT_EQ(failures("bob", 60 * 60, std::nullopt), 6);
  EXPECT_EQ(failures("bob", 2 * 60, std::nullopt), 1);
  EXPECT_EQ(failures("bob", 15 * 60, "203.0.113.7"), 2);
  EXPECT_EQ(failures("bob", 15 * 60, "::ffff:203.0.113.7"), 2);
  EXPECT_EQ(failures("bob", 15 * 60, "198.51.100.1"), 1);
  EXPECT_EQ(failures("bob", 15 * 60, ""), 1);
  EXPECT_EQ(failures("bob", 15 * 60, "gateway.example"), 1);
  EXPECT_EQ(failures("alice", 15 * 60, std::nullopt), 1);
  EXPECT_EQ(failures("carol", 15 * 60, std::nullopt), 0);

  // The path-based form used by failures() conditions agrees, and a missing log means 0.
  auto by_path = count_failures(path, {}, {"bob", 15 * 60, std::nullopt, now});
  EXPECT_EQ(by_path.count, 5);
  auto missing = count_failures(temp.file("none/audit.db"), {}, {"bob", 900, std::nullopt, now});
  ASSERT_TRUE(missing.known());
  EXPECT_EQ(*missing.count, 0);
  EXPECT_FALSE(std::filesystem::exists(temp.file("none"))) << "reading must not create the log";
}

TEST(AuditStore, ListFiltersNewestFirst) {
  TempFolder temp;
  auto store = open_or_fail(temp.file("audit.db"));
  std::int64_t now = now_utc_us();
  ASSERT_TRUE(store->write(sample_record("bob", "deny", now - 3 * kMinute, "10.1.2.3")).ok());
  ASSERT_TRUE(store->write(sample_record("bob", "permit", now - 2 * kMinute, "10.9.9.9")).ok());
  ASSERT_TRUE(store->write(sample_record("alice", "deny", now - 1 * kMinute, "2001:db8::5")).ok());
  ASSERT_TRUE(store->write(sample_record("carol", "deny", now - 90 * kMinute, "192.0.2.1")).ok());

  auto users = [&](DecisionFilter filter) {
    std::vector<StoredDecision> rows;
    Status status = store->list(filter, &rows);
    EXPECT_TRUE(status.ok()) << status.message;
    std::string names;
    for (const auto& row : rows) names += row.record.user + " ";
    return names;
  };
  EXPECT_EQ(users({}), "alice bob bob carol ");
  DecisionFilter failed;
  failed.failed_only = true;
  failed.since_us = now - 60 * kMinute;
  EXPECT_EQ(users(failed), "alice bob ");
  DecisionFilter v4;
  v4.rhost = "10.0.0.0/8";
  EXPECT_EQ(users(v4), "bob bob ");
  DecisionFilter v6;
  v6.rhost = "2001:db8::/32";
  EXPECT_EQ(users(v6), "alice ");
  DecisionFilter mapped;
  mapped.rhost = "::ffff:10.1.2.3";
  EXPECT_EQ(users(mapped), "bob ");
  DecisionFilter limited;
  limited.limit = 2;
  EXPECT_EQ(users(limited), "alice bob ");
  DecisionFilter until;
  until.until_us = now - 2 * kMinute;
  EXPECT_EQ(users(until), "bob carol ");
  DecisionFilter bad;
  bad.rhost = "10.1.2.3/8";
  std::vector<StoredDecision> rows;
  EXPECT_EQ(store->list(bad, &rows).code, StatusCode::invalid_argument);
}

TEST(AuditStore, PruneRemovesOldDecisionsWithTheirFactors) {
  TempFolder temp;
  std::string path = temp.file("audit.db");
  auto store = open_or_fail(path);
  std::int64_t now = now_utc_us();
  for (int i = 0; i < 30; ++i) {
    ASSERT_TRUE(
        store->write(sample_record("bob", "permit", now - (100 + i) * 86400LL * 1000000)).ok());
  }
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(store->write(sample_record("bob", "permit", now)).ok());
  std::int64_t removed = 0;
  ASSERT_TRUE(store->prune(now - 90 * 86400LL * 1000000, &removed).ok());
  EXPECT_EQ(removed, 30);
  EXPECT_EQ(count_rows(path, "SELECT count(*) FROM decisions"), 5);
  EXPECT_EQ(count_rows(path, "SELECT count(*) FROM factors"), 10) << "factors go with decisions";
}

TEST(AuditStore, RetentionPrunesWhileWriting) {
  TempFolder temp;
  std::string path = temp.file("audit.db");
  OpenOptions options;
  options.retention_seconds = 90 * 86400;
  auto store = open_or_fail(path, options);
  std::int64_t old_time = now_utc_us() - 200 * 86400LL * 1000000;
  for (int i = 0; i < 999; ++i)
    ASSERT_TRUE(store->write(sample_record("bob", "deny", old_time)).ok());
  EXPECT_EQ(count_rows(path, "SELECT count(*) FROM decisions"), 999);
  ASSERT_TRUE(store->write(sample_record("bob", "deny")).ok());  // the 1000th decision
  EXPECT_EQ(count_rows(path, "SELECT count(*) FROM decisions"), 1);
}

// What a login pays to open the log grows with the write-ahead log it finds (docs/cost.md): one
// connection per decision, as the PAM module opens them, must keep it short, and lose nothing.
TEST(AuditStore, WalStaysShortWithOneConnectionPerDecision) {
  TempFolder temp;
  const std::string path = temp.file("audit.db");
  constexpr int kDecisions = 300;  // ~1,200 WAL frames: many checkpoints and restarts
  off_t largest = 0;
  for (int i = 0; i < kDecisions; ++i) {
    ASSERT_TRUE(record_decision(path, {}, sample_record("bob", i % 3 ? "permit" : "deny")).ok());
    struct stat info {};
    ASSERT_EQ(stat((path + "-wal").c_str(), &info), 0);
    largest = std::max(largest, info.st_size);
  }
  // 64 frames before a writer checkpoints, plus the frames of one decision and a page split.
  EXPECT_LE(largest, 80 * (4096 + 24)) << "the WAL grew to " << largest / (4096 + 24) << " frames";
  EXPECT_EQ(count_rows(path, "SELECT count(*) FROM decisions"), kDecisions);
  EXPECT_EQ(count_rows(path, "SELECT count(*) FROM factors"), kDecisions * 5 / 3);
}

TEST(AuditStore, MigratesVersionOneAndKeepsRows) {
  TempFolder temp;
  std::string path = temp.file("audit.db");
  {
    // A log as the first release wrote it.
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
    ASSERT_TRUE(schema::migrate(db, 0, 1, path).ok());
    std::int64_t now = now_utc_us();
    std::string sql =
        "INSERT INTO decisions (id, time_us, service, user, rhost, tty, policy_path, decision, "
        "reason, duration_us, pid) VALUES "
        "(1, " +
        std::to_string(now - kMinute) +
        ", 'sshd', 'bob', '203.0.113.7', 'ssh', "
        "'/etc/authpolicy/sshd.pol', 'deny', 'password failed', 10, 42),"
        "(2, " +
        std::to_string(now - 2 * kMinute) +
        ", 'sudo', 'bob', '', 'pts/0', "
        "'/etc/authpolicy/sudo.pol', 'permit', 'password passed', 10, 43);"
        "INSERT INTO factors VALUES (1, 0, 'password', 'fail', 'wrong password', 5),"
        "(2, 0, 'password', 'pass', '', 5);";
    ASSERT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK);
    sqlite3_close(db);
    chmod(path.c_str(), 0600);
  }
  auto store = open_or_fail(path);
  ASSERT_TRUE(store);
  EXPECT_EQ(store->schema_version(), schema::kCurrentVersion);
  std::vector<StoredDecision> rows;
  ASSERT_TRUE(store->list({}, &rows).ok());
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].record.user, "bob");
  EXPECT_EQ(rows[0].record.reason, "password failed");
  ASSERT_EQ(rows[0].record.factors.size(), 1u);
  EXPECT_EQ(rows[0].record.factors[0].detail, "wrong password");
  EXPECT_FALSE(rows[0].record.country.has_value());
  EXPECT_FALSE(rows[0].record.password_asked);
  EXPECT_EQ(rows[0].record.decision_id, "");  // decided before decisions had ids
  // Back-filled address keys make old rows count for failures(WINDOW, rhost).
  auto count = store->count_failures({"bob", 900, "::ffff:203.0.113.7", 0});
  EXPECT_EQ(count.count, 1);
  ASSERT_TRUE(store->write(sample_record("bob", "deny")).ok());
  ASSERT_TRUE(store->write(sample_record("bob", "deny")).ok());
  rows.clear();
  ASSERT_TRUE(store->list({}, &rows).ok());
  ASSERT_EQ(rows.size(), 4u);  // newest first: the two new ones have distinct 32-digit ids
  EXPECT_EQ(rows[0].record.decision_id.size(), 32u);
  EXPECT_EQ(rows[1].record.decision_id.size(), 32u);
  EXPECT_NE(rows[0].record.decision_id, rows[1].record.decision_id);
  auto report = verify_database(path, {});
  EXPECT_TRUE(report.clean()) << (report.problems.empty() ? report.status.message
                                                          : report.problems[0]);
}

// Version 4 to 5: rows written before keep everything and have no situation (replay skips them)
// and no shadow verdict; a new row stores both and reads them back.
TEST(AuditStore, MigratesVersionFourToFiveAndStoresTheSituation) {
  TempFolder temp;
  std::string path = temp.file("audit.db");
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
    ASSERT_TRUE(schema::migrate(db, 0, 4, path).ok());
    const std::string sql =
        "INSERT INTO decisions (id, time_us, service, user, decision, reason) VALUES "
        "(1, " + std::to_string(now_utc_us() - kMinute) + ", 'sudo', 'bob', 'permit', 'ok');";
    ASSERT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK);
    // Without the columns of version 5, the shape check names them.
    const auto problems = schema::schema_problems(db);
    EXPECT_NE(std::find(problems.begin(), problems.end(), "missing column decisions.situation"),
              problems.end());
    sqlite3_close(db);
    chmod(path.c_str(), 0600);
  }
  auto store = open_or_fail(path);
  ASSERT_TRUE(store);
  EXPECT_EQ(store->schema_version(), 5);
  auto record = sample_record("alice", "deny");
  record.situation = "at 2026-12-07T09:45\ngroup wheel\nfailures 900s=2\n";
  record.shadow = "different";
  ASSERT_TRUE(store->write(record).ok());
  std::vector<StoredDecision> rows;
  DecisionFilter filter;
  filter.oldest_first = true;
  ASSERT_TRUE(store->list(filter, &rows).ok());
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].record.user, "bob");
  EXPECT_EQ(rows[0].record.situation, "");
  EXPECT_EQ(rows[0].record.shadow, "");
  EXPECT_EQ(rows[1].record.situation, record.situation);
  EXPECT_EQ(rows[1].record.shadow, "different");
  filter.shadow_disagreements = true;
  ASSERT_TRUE(store->list(filter, &rows).ok());
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].record.user, "alice");
  auto report = verify_database(path, {});
  EXPECT_TRUE(report.clean()) << (report.problems.empty() ? report.status.message
                                                          : report.problems[0]);
}

TEST(AuditStore, CountsFailuresOnAnUnmigratedVersionOneLog) {
  TempFolder temp;
  std::string path = temp.file("audit.db");
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  ASSERT_TRUE(schema::migrate(db, 0, 1, path).ok());
  std::string sql = "INSERT INTO decisions (time_us, service, user, rhost, decision) VALUES (" +
                    std::to_string(now_utc_us()) + ", 'sshd', 'bob', '10.0.0.1', 'deny')";
  ASSERT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  chmod(path.c_str(), 0600);
  OpenOptions reading;
  reading.migrate = false;  // e.g. a reader that may not change the file
  auto opened = AuditStore::open(path, reading);
  ASSERT_TRUE(opened.status.ok()) << opened.status.message;
  EXPECT_EQ(opened.store->schema_version(), 1);
  EXPECT_EQ(opened.store->count_failures({"bob", 900, std::nullopt, 0}).count, 1);
  EXPECT_EQ(opened.store->count_failures({"bob", 900, "10.0.0.1", 0}).count, 1);
  EXPECT_EQ(opened.store->write(sample_record("bob", "deny")).code, StatusCode::schema_too_new);
}

TEST(AuditStore, RefusesSchemaFromANewerRelease) {
  TempFolder temp;
  std::string path = temp.file("audit.db");
  ASSERT_TRUE(open_or_fail(path));
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  sqlite3_exec(db, "PRAGMA user_version = 99", nullptr, nullptr, nullptr);
  sqlite3_close(db);
  auto opened = AuditStore::open(path, {});
  EXPECT_EQ(opened.status.code, StatusCode::schema_too_new);
  EXPECT_FALSE(count_failures(path, {}, {"bob", 900, std::nullopt, 0}).known());
}

TEST(AuditStore, SummaryCountsFailuresFourWays) {
  TempFolder temp;
  auto store = open_or_fail(temp.file("audit.db"));
  ASSERT_TRUE(store->write(sample_record("bob", "deny", 0, "10.0.0.1")).ok());
  ASSERT_TRUE(store->write(sample_record("bob", "deny", 0, "10.0.0.1")).ok());
  auto sudo = sample_record("alice", "deny", 0, "");
  sudo.service = "sudo";
  sudo.factors = {{"password", "pass", "", 1}, {"pin", "error", "TPM unreachable", 1}};
  ASSERT_TRUE(store->write(sudo).ok());
  ASSERT_TRUE(store->write(sample_record("alice", "permit")).ok());
  FailureSummary summary;
  ASSERT_TRUE(store->summarize(std::nullopt, std::nullopt, 10, &summary).ok());
  EXPECT_EQ(summary.decisions, 4);
  EXPECT_EQ(summary.failures, 3);
  ASSERT_EQ(summary.by_user.size(), 2u);
  EXPECT_EQ(summary.by_user[0].name, "bob");
  EXPECT_EQ(summary.by_user[0].failures, 2);
  ASSERT_EQ(summary.by_rhost.size(), 2u);
  EXPECT_EQ(summary.by_rhost[0].name, "10.0.0.1");
  EXPECT_EQ(summary.by_rhost[1].name, "");
  ASSERT_EQ(summary.by_service.size(), 2u);
  EXPECT_EQ(summary.by_service[0].name, "sshd");
  ASSERT_EQ(summary.by_factor.size(), 2u);
  EXPECT_EQ(summary.by_factor[0].name, "password");
  EXPECT_EQ(summary.by_factor[0].failures, 2);
  EXPECT_EQ(summary.by_factor[1].name, "pin");
}

TEST(AuditVerify, CleanLogPassesAndDamagedPagesAreFound) {
  TempFolder temp;
  std::string path = temp.file("audit.db");
  {
    auto store = open_or_fail(path);
    for (int i = 0; i < 300; ++i) {
      auto record = sample_record("user" + std::to_string(i), i % 3 ? "permit" : "deny");
      record.reason = std::string(200, 'r');
      ASSERT_TRUE(store->write(record).ok());
    }
  }
  auto report = verify_database(path, {});
  EXPECT_TRUE(report.clean()) << (report.problems.empty() ? report.status.message
                                                          : report.problems[0]);

  // Damage pages in the middle, leaving the header intact.
  {
    std::fstream file(path, std::ios::in | std::ios::out | std::ios::binary);
    file.seekp(4096 * 3);
    std::string junk(4096 * 4, '\0');
    for (std::size_t i = 0; i < junk.size(); ++i) junk[i] = static_cast<char>((i * 7919) % 251);
    file.write(junk.data(), static_cast<std::streamsize>(junk.size()));
  }
  report = verify_database(path, {});
  ASSERT_TRUE(report.status.ok()) << report.status.message;
  EXPECT_FALSE(report.problems.empty());
}

TEST(AuditVerify, ReportsLooseModes) {
  TempFolder temp;
  std::string path = temp.file("audit.db");
  ASSERT_TRUE(open_or_fail(path));
  chmod(path.c_str(), 0644);
  auto report = verify_database(path, {});
  ASSERT_EQ(report.problems.size(), 1u);
  EXPECT_NE(report.problems[0].find("file mode 0644, expected 0600"), std::string::npos);
}

TEST(AuditSyslog, KeyValueLineQuotesAndEscapes) {
  AuditRecord record = sample_record("bob", "deny", 1700000000000000);
  record.reason = "password failed";
  record.factors = {{"password", "fail", "wrong password", 1000}, {"password", "pass", "", 1000}};
  record.unknowns = {{"failures(15m) >= 3", "audit log unreadable"}};
  std::string line = format_syslog_line(record);
  EXPECT_NE(line.find("decision=deny service=sshd user=bob ruser=\"\" rhost=203.0.113.7"),
            std::string::npos)
      << line;
  EXPECT_NE(line.find("reason=\"password failed\""), std::string::npos);
  EXPECT_NE(line.find("factor.password=fail factor.password.detail=\"wrong password\""),
            std::string::npos);
  EXPECT_NE(line.find("factor.password#2=pass"), std::string::npos);
  EXPECT_NE(line.find("unknown.1=\"failures(15m) >= 3\" unknown.1.cause=\"audit log unreadable\""),
            std::string::npos);
  EXPECT_NE(line.find("time=2023-11-14T22:13:20.000000Z"), std::string::npos);

  // A hostile user name cannot add fields or lines.
  record.user = "eve\" decision=permit\nx";
  line = format_syslog_line(record);
  EXPECT_EQ(line.find('\n'), std::string::npos);
  EXPECT_NE(line.find("user=\"eve\\\" decision=permit\\x0ax\""), std::string::npos) << line;
  EXPECT_EQ(syslog_value("caf\xc3\xa9"), "\"caf\\xc3\\xa9\"");
}

TEST(AuditStatusHelper, BestEffortKeepsDecisionRequiredDenies) {
  Status failed = Status::failure(StatusCode::busy, "database is locked (/x/audit.db)");
  EXPECT_EQ(after_write(Status::success(), false), AfterWrite::keep_decision);
  EXPECT_EQ(after_write(Status::success(), true), AfterWrite::keep_decision);
  EXPECT_EQ(after_write(failed, false), AfterWrite::keep_decision_and_warn);
  EXPECT_EQ(after_write(failed, true), AfterWrite::deny_and_warn);
  EXPECT_NE(write_failure_line(failed, false).find("best effort, decision stands"),
            std::string::npos);
  EXPECT_NE(write_failure_line(failed, true).find("decision becomes deny"), std::string::npos);
}

TEST(AuditAddress, ParsesAddressesAndBlocks) {
  std::string error;
  EXPECT_EQ(address_key("10.1.2.3"), address_key("::ffff:10.1.2.3"));
  EXPECT_FALSE(address_key("host.example"));
  EXPECT_FALSE(address_key("fe80::1%eth0"));
  auto block = parse_address_range("10.0.0.0/8", &error);
  ASSERT_TRUE(block);
  EXPECT_EQ(block->first, *address_key("10.0.0.0"));
  EXPECT_EQ(block->last, *address_key("10.255.255.255"));
  auto v6 = parse_address_range("2001:db8::/32", &error);
  ASSERT_TRUE(v6);
  EXPECT_EQ(v6->last, *address_key("2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"));
  // A query refuses what the policy checker only warns about (W101): in a query it is a typo.
  EXPECT_FALSE(parse_address_range("10.1.2.3/8", &error));
  EXPECT_EQ(error, "host bits set in 10.1.2.3/8 (did you mean the network address?)");
  EXPECT_FALSE(parse_address_range("10.0.0.0/33", &error));
  EXPECT_EQ(error, "bad prefix length in 10.0.0.0/33 (0-32)");
  EXPECT_FALSE(parse_address_range("::ffff:10.0.0.0/129", &error));
  EXPECT_EQ(error, "bad prefix length in ::ffff:10.0.0.0/129 (0-128)");
  EXPECT_FALSE(parse_address_range("10.0.0.0/", &error));
  EXPECT_FALSE(parse_address_range("nothing/8", &error));
  EXPECT_EQ(error, "not an IP address: nothing");
  EXPECT_FALSE(parse_address_range("fe80::1%eth0", &error));
  // A sign is not a prefix length ("/-0" once read as /0: every IPv4 address).
  EXPECT_FALSE(parse_address_range("0.0.0.0/-0", &error));
  EXPECT_EQ(error, "bad prefix length in 0.0.0.0/-0 (0-32)");
  // A mapped block is the IPv4 block it maps: the same keys.
  auto mapped = parse_address_range("::ffff:10.0.0.0/104", &error);
  ASSERT_TRUE(mapped);
  EXPECT_EQ(mapped->first, block->first);
  EXPECT_EQ(mapped->last, block->last);
  auto everything = parse_address_range("0.0.0.0/0", &error);
  ASSERT_TRUE(everything);
  EXPECT_EQ(everything->first, *address_key("::ffff:0.0.0.0"));
  EXPECT_EQ(everything->last, *address_key("::ffff:255.255.255.255"));
}

TEST(AuditTimeText, DurationsAndDates) {
  EXPECT_EQ(parse_duration_seconds("15m"), 900);
  EXPECT_EQ(parse_duration_seconds("1h30m"), 5400);
  EXPECT_EQ(parse_duration_seconds("90d"), 90 * 86400);
  EXPECT_FALSE(parse_duration_seconds("15"));
  EXPECT_FALSE(parse_duration_seconds("m"));
  EXPECT_FALSE(parse_duration_seconds("99999999999999999999d"));
  EXPECT_EQ(parse_utc_date("2023-11-14T22:13:20Z"), 1700000000LL * 1000000);
  EXPECT_EQ(parse_utc_date("2023-11-14 22:13:20"), 1700000000LL * 1000000);
  EXPECT_EQ(parse_utc_date("2023-11-14"), (1700000000LL - 80000) * 1000000);
  EXPECT_FALSE(parse_utc_date("2023-02-30"));
  EXPECT_FALSE(parse_utc_date("yesterday"));
  EXPECT_EQ(format_utc_iso(1700000000123456), "2023-11-14T22:13:20.123456Z");
  EXPECT_EQ(parse_time_point("1h", 7200LL * 1000000), 3600LL * 1000000);
}

}  // namespace
}  // namespace authpolicy::audit
