// The audit spool: decisions appended beside the database without sqlite, and moved into the
// tables by the next reader, once each, whatever a crash or a damaged file left behind.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "audit/audit_store.h"
#include "audit/schema.h"
#include "audit/spool.h"
#include "tests/audit/audit_test_support.h"

namespace authpolicy::audit {
namespace {

using testing::sample_record;
using testing::TempFolder;

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
}

void append_file(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::app);
  out << bytes;
}

off_t size_of(const std::string& path) {
  struct stat info {};
  return stat(path.c_str(), &info) == 0 ? info.st_size : -1;
}

// Rows as any sqlite client sees them, without going through the store (which would fold).
long long rows_in_tables(const std::string& path) {
  sqlite3* db = nullptr;
  long long count = -1;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
    sqlite3_stmt* statement = nullptr;
    if (sqlite3_prepare_v2(db, "SELECT count(*) FROM decisions", -1, &statement, nullptr) ==
            SQLITE_OK &&
        sqlite3_step(statement) == SQLITE_ROW) {
      count = sqlite3_column_int64(statement, 0);
    }
    sqlite3_finalize(statement);
  }
  sqlite3_close(db);
  return count;
}

std::vector<StoredDecision> list_all(const std::string& path, std::int64_t* folded = nullptr) {
  auto opened = AuditStore::open(path, {});
  EXPECT_TRUE(opened.status.ok()) << opened.status.message;
  std::vector<StoredDecision> rows;
  if (!opened.status.ok()) return rows;
  if (folded) *folded = opened.store->folded();
  DecisionFilter all;
  all.limit = 0;
  EXPECT_TRUE(opened.store->list(all, &rows).ok());
  return rows;
}

Status append(const std::string& path, const AuditRecord& record, std::string* problem = nullptr) {
  std::string ignored;
  return append_decision(path, {}, record, problem ? problem : &ignored);
}

TEST(AuditSpoolFormat, EveryFieldSurvivesTheRoundTrip) {
  AuditRecord record = sample_record("alice", "deny", 1700000000123456);
  record.country = "DE";
  record.asn = 64500;
  record.ruser = "bob";
  record.reason = std::string("quote \" newline \n nul ") + '\0' + " end";
  record.unknowns.push_back({"rhost.country in { DE }", "GeoIP database unreadable"});
  record.decision_id = new_decision_id();
  record.situation = "at 2026-12-07T09:45\ngroup wheel\nfailures 900s=unknown\n";
  record.shadow = "would ask totp";
  const std::string framed = spool::encode_record(record);
  const auto scan = spool::scan_records(framed, 0);
  ASSERT_EQ(scan.records.size(), 1u);
  EXPECT_EQ(scan.skipped_bytes, 0u);
  const AuditRecord& back = scan.records[0];
  EXPECT_EQ(back.time_us, record.time_us);
  EXPECT_EQ(back.user, "alice");
  EXPECT_EQ(back.ruser, "bob");
  EXPECT_EQ(back.rhost, record.rhost);
  EXPECT_EQ(back.tty, record.tty);
  EXPECT_EQ(back.country, std::optional<std::string>("DE"));
  EXPECT_EQ(back.asn, std::optional<std::uint32_t>(64500));
  EXPECT_EQ(back.policy_sha256, record.policy_sha256);
  EXPECT_EQ(back.reason, record.reason);
  EXPECT_EQ(back.duration_us, record.duration_us);
  EXPECT_EQ(back.pid, record.pid);
  EXPECT_TRUE(back.password_asked);
  ASSERT_EQ(back.factors.size(), record.factors.size());
  EXPECT_EQ(back.factors[0].name, "password");
  EXPECT_EQ(back.factors[0].outcome, "fail");
  ASSERT_EQ(back.unknowns.size(), 1u);
  EXPECT_EQ(back.unknowns[0].cause, "GeoIP database unreadable");
  EXPECT_EQ(back.decision_id, record.decision_id);
  EXPECT_EQ(back.situation, record.situation);
  EXPECT_EQ(back.shadow, "would ask totp");
}

// A spool left by a build before schema 4 (APR1 records, no decision id) is still read whole
// after an upgrade, beside new records; its decisions get an id when they reach the tables.
TEST(AuditSpoolFormat, RecordsFromBeforeDecisionIdsAreStillReadAndGetOneInTheLog) {
  const std::string v2 = spool::encode_record(sample_record("alice", "deny", 1700000000000001));
  // An APR1 payload is an APR2 one without its tagged-field count (0 here).
  const std::string v1 =
      spool::frame(v2.substr(spool::kRecordHeaderBytes,
                             v2.size() - spool::kRecordHeaderBytes - 4),
                   false);
  ASSERT_EQ(v1.substr(0, 4), "APR1");
  AuditRecord with_id = sample_record("bob", "permit", 1700000000000002);
  with_id.decision_id = new_decision_id();
  const auto scan = spool::scan_records(v1 + spool::encode_record(with_id), 0);
  ASSERT_EQ(scan.records.size(), 2u);
  EXPECT_EQ(scan.skipped_bytes, 0u);
  EXPECT_EQ(scan.records[0].user, "alice");
  EXPECT_TRUE(scan.records[0].decision_id.empty());
  EXPECT_EQ(scan.records[1].decision_id, with_id.decision_id);

  TempFolder temp;
  const std::string path = temp.file("audit.db");
  ASSERT_TRUE(append(path, sample_record("carol", "deny")).ok());  // creates the log
  ASSERT_TRUE(append(path, sample_record("dave", "deny")).ok());   // and the spool
  append_file(path + "-spool", v1);
  const auto rows = list_all(path);
  ASSERT_EQ(rows.size(), 3u);
  std::set<std::string> ids;
  for (const auto& row : rows) {
    EXPECT_EQ(row.record.decision_id.size(), 32u) << row.record.user;
    EXPECT_EQ(row.record.decision_id.find_first_not_of("0123456789abcdef"), std::string::npos);
    ids.insert(row.record.decision_id);
  }
  EXPECT_EQ(ids.size(), 3u);
}

TEST(AuditSpoolFormat, DamagedBytesAreSkippedAndTheNextWholeRecordIsFound) {
  const std::string first = spool::encode_record(sample_record("alice", "deny"));
  const std::string second = spool::encode_record(sample_record("bob", "permit"));
  std::string flipped = spool::encode_record(sample_record("carol", "deny"));
  flipped[flipped.size() / 2] ^= 0x40;  // the checksum no longer holds
  const std::string torn = second.substr(0, second.size() - 5);
  const auto scan = spool::scan_records(first + flipped + "APR1junk" + second + torn, 0);
  ASSERT_EQ(scan.records.size(), 2u);
  EXPECT_EQ(scan.records[0].user, "alice");
  EXPECT_EQ(scan.records[1].user, "bob");
  EXPECT_EQ(scan.skipped_bytes, flipped.size() + 8 + torn.size());
  // A length that claims more than is there, or more than a record may hold, is not read.
  std::string huge = first;
  huge[4] = huge[5] = huge[6] = '\x7f';
  EXPECT_TRUE(spool::scan_records(huge, 0).records.empty());
}

TEST(AuditSpool, DecisionsWaitInTheSpoolUntilTheNextReaderMovesThemIn) {
  TempFolder temp;
  const std::string path = temp.file("audit.db");
  // No database yet: the first decision is written directly and creates it.
  ASSERT_TRUE(append(path, sample_record("alice", "permit")).ok());
  EXPECT_EQ(rows_in_tables(path), 1);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(append(path, sample_record("alice", "deny")).ok());
  EXPECT_EQ(rows_in_tables(path), 1) << "spooled decisions are not in the tables yet";
  struct stat info {};
  ASSERT_EQ(stat((path + "-spool").c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600u);
  EXPECT_EQ(info.st_uid, geteuid());

  // failures() is a reader: it counts what waited in the spool.
  OpenOptions reading;
  reading.read_only = true;
  reading.create_if_missing = false;
  const FailureCount count = count_failures(path, reading, {"alice", 900, std::nullopt, 0});
  ASSERT_TRUE(count.known()) << count.cause;
  EXPECT_EQ(*count.count, 3);
  EXPECT_EQ(rows_in_tables(path), 4);
  EXPECT_EQ(size_of(path + "-spool"), 0) << "a folded spool starts over";

  // Each decision keeps the time it was made, not the time it was moved.
  const auto before = now_utc_us();
  ASSERT_TRUE(append(path, sample_record("bob", "deny", before - 5000000)).ok());
  std::int64_t folded = 0;
  const auto rows = list_all(path, &folded);
  EXPECT_EQ(folded, 1);
  ASSERT_EQ(rows.size(), 5u);
  EXPECT_EQ(rows.back().record.user, "bob") << "newest first, by the time of the decision";
  bool found = false;
  for (const auto& row : rows) {
    if (row.record.user == "bob") {
      found = true;
      EXPECT_EQ(row.record.time_us, before - 5000000);
    }
  }
  EXPECT_TRUE(found);
}

TEST(AuditSpool, AFoldCutShortBeforeTheSpoolIsEmptiedStoresNothingTwice) {
  TempFolder temp;
  const std::string path = temp.file("audit.db");
  ASSERT_TRUE(append(path, sample_record("alice", "permit")).ok());
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(append(path, sample_record("alice", "deny")).ok());
  const std::string spooled = read_file(path + "-spool");
  ASSERT_GT(spooled.size(), spool::kHeaderBytes);
  EXPECT_EQ(list_all(path).size(), 5u);
  // As if the process died after its commit and before it emptied the spool.
  write_file(path + "-spool", spooled);
  std::int64_t folded = -1;
  EXPECT_EQ(list_all(path, &folded).size(), 5u);
  EXPECT_EQ(folded, 0);
  // Writers that come later append to the same generation; only their decisions are new.
  ASSERT_TRUE(append(path, sample_record("bob", "deny")).ok());
  EXPECT_EQ(list_all(path, &folded).size(), 6u);
  EXPECT_EQ(folded, 1);
}

TEST(AuditSpool, ATornOrDamagedRecordIsSkippedAndTheRestAreKept) {
  TempFolder temp;
  const std::string path = temp.file("audit.db");
  ASSERT_TRUE(append(path, sample_record("alice", "permit")).ok());
  ASSERT_TRUE(append(path, sample_record("alice", "deny")).ok());
  // A writer that died in the middle of its write(2): half a record at the end...
  const std::string whole = spool::encode_record(sample_record("mallory", "permit", 0));
  append_file(path + "-spool", whole.substr(0, whole.size() / 2));
  // ...and the writers after it.
  ASSERT_TRUE(append(path, sample_record("bob", "deny")).ok());
  std::int64_t folded = 0;
  const auto rows = list_all(path, &folded);
  EXPECT_EQ(folded, 2);
  ASSERT_EQ(rows.size(), 3u);
  for (const auto& row : rows) EXPECT_NE(row.record.user, "mallory");
}

TEST(AuditSpool, TheSameChecksAsADirectWriteComeFirst) {
  TempFolder temp;
  const std::string path = temp.file("audit.db");
  ASSERT_TRUE(append(path, sample_record("alice", "permit")).ok());

  // A database someone overwrote fails the write now, not when the spool is folded.
  const std::string database = read_file(path);
  write_file(path, std::string(8192, 'x'));
  Status status = append(path, sample_record("alice", "deny"));
  EXPECT_EQ(status.code, StatusCode::corrupt) << status.message;
  EXPECT_EQ(after_write(status, true), AfterWrite::deny_and_warn);
  write_file(path, database);

  // A spool others could write, or one that is a symbolic link, is refused.
  ASSERT_TRUE(append(path, sample_record("alice", "deny")).ok());
  ASSERT_EQ(chmod((path + "-spool").c_str(), 0666), 0);
  status = append(path, sample_record("alice", "deny"));
  EXPECT_EQ(status.code, StatusCode::unsafe_file) << status.message;
  ASSERT_EQ(unlink((path + "-spool").c_str()), 0);
  const std::string elsewhere = temp.file("elsewhere");
  write_file(elsewhere, "");
  ASSERT_EQ(symlink(elsewhere.c_str(), (path + "-spool").c_str()), 0);
  status = append(path, sample_record("alice", "deny"));
  EXPECT_FALSE(status.ok());
  EXPECT_EQ(size_of(elsewhere), 0) << "nothing written through the link";
  // A FIFO in its place is refused at once, not waited on for a reader that never comes.
  ASSERT_EQ(unlink((path + "-spool").c_str()), 0);
  ASSERT_EQ(mkfifo((path + "-spool").c_str(), 0600), 0);
  status = append(path, sample_record("alice", "deny"));
  EXPECT_FALSE(status.ok());
  ASSERT_EQ(unlink((path + "-spool").c_str()), 0);
  ASSERT_EQ(symlink(elsewhere.c_str(), (path + "-spool").c_str()), 0);
  // A reader refuses it too (failures() becomes unknown), rather than skipping what waits.
  OpenOptions reading;
  reading.read_only = true;
  reading.create_if_missing = false;
  EXPECT_FALSE(count_failures(path, reading, {"alice", 900, std::nullopt, 0}).known());
}

TEST(AuditSpool, AWriterMovesTheSpoolInOnceEnoughWaits) {
  TempFolder temp;
  const std::string path = temp.file("audit.db");
  ASSERT_TRUE(append(path, sample_record("alice", "permit")).ok());
  int appended = 1;
  // Each record is a few hundred bytes: well before 200 the 16 KiB mark is passed.
  while (appended < 200 && rows_in_tables(path) == 1) {
    ASSERT_TRUE(append(path, sample_record("alice", "deny")).ok());
    ++appended;
  }
  EXPECT_GT(rows_in_tables(path), 1) << "no writer folded after " << appended << " decisions";
  EXPECT_LT(size_of(path + "-spool"), 16 * 1024);
  EXPECT_EQ(static_cast<int>(list_all(path).size()), appended);
}

// Issue #21, L1: a full spool used to fail every write (so deny every `required = true` login)
// until a reader came; the writer that finds it full now moves it into the log first.
TEST(AuditSpool, AFullSpoolIsMovedIntoTheLogByTheWriterThatFindsIt) {
  TempFolder temp;
  const std::string path = temp.file("audit.db");
  ASSERT_TRUE(append(path, sample_record("alice", "permit")).ok());
  ASSERT_TRUE(append(path, sample_record("alice", "deny")).ok());
  // As if the database had refused the spool's decisions for days: 16 MiB wait.
  append_file(path + "-spool", std::string(16 * 1024 * 1024, '\0'));
  const Status status = append(path, sample_record("alice", "deny"));
  EXPECT_TRUE(status.ok()) << status.message;
  EXPECT_EQ(after_write(status, true), AfterWrite::keep_decision);
  EXPECT_LT(size_of(path + "-spool"), 16 * 1024) << "the full spool was not moved into the log";
  std::int64_t folded = 0;
  EXPECT_EQ(list_all(path, &folded).size(), 3u) << "the decision before the junk is kept";
  EXPECT_EQ(folded, 1) << "only the decision appended after the drain was still waiting";
}

// When the log cannot take the spool (here: a database someone else may write), a full spool
// still fails the write, with the reason.
TEST(AuditSpool, AFullSpoolTheLogCannotTakeFailsTheWriteWithTheReason) {
  TempFolder temp;
  const std::string path = temp.file("audit.db");
  ASSERT_TRUE(append(path, sample_record("alice", "permit")).ok());
  ASSERT_TRUE(append(path, sample_record("alice", "deny")).ok());
  append_file(path + "-spool", std::string(16 * 1024 * 1024, '\0'));
  OpenOptions fold_blocked;
  fold_blocked.busy_timeout = std::chrono::milliseconds(300);
  // A writer of the log holds its write lock: the drain waits out the budget.
  sqlite3* holder = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &holder), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(holder, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), SQLITE_OK);
  const Status status = append_decision(path, fold_blocked, sample_record("alice", "deny"), nullptr);
  sqlite3_exec(holder, "ROLLBACK", nullptr, nullptr, nullptr);
  sqlite3_close(holder);
  EXPECT_EQ(status.code, StatusCode::full) << status.message;
  EXPECT_NE(status.message.find("could not be moved into the log"), std::string::npos)
      << status.message;
  EXPECT_EQ(after_write(status, true), AfterWrite::deny_and_warn);
}

TEST(AuditSpool, ASpoolLargerThanWritersMakeItIsNotReadIntoMemory) {
  TempFolder temp;
  const std::string path = temp.file("audit.db");
  ASSERT_TRUE(append(path, sample_record("alice", "permit")).ok());
  ASSERT_TRUE(append(path, sample_record("alice", "deny")).ok());
  append_file(path + "-spool", std::string(17 * 1024 * 1024, 'x'));
  auto opened = AuditStore::open(path, {});
  EXPECT_EQ(opened.status.code, StatusCode::corrupt) << opened.status.message;
  OpenOptions reading;
  reading.read_only = true;
  reading.create_if_missing = false;
  EXPECT_FALSE(count_failures(path, reading, {"alice", 900, std::nullopt, 0}).known())
      << "failures() cannot be answered without what the spool holds";
}

TEST(AuditSpool, VerifyLeavesTheSpoolAndChecksItsMode) {
  TempFolder temp;
  const std::string path = temp.file("audit.db");
  ASSERT_TRUE(append(path, sample_record("alice", "permit")).ok());
  ASSERT_TRUE(append(path, sample_record("alice", "deny")).ok());
  const off_t waiting = size_of(path + "-spool");
  auto report = verify_database(path, {});
  EXPECT_TRUE(report.clean()) << (report.problems.empty() ? "" : report.problems[0]);
  EXPECT_EQ(size_of(path + "-spool"), waiting) << "verify changes nothing";
  ASSERT_EQ(chmod((path + "-spool").c_str(), 0644), 0);
  report = verify_database(path, {});
  ASSERT_EQ(report.problems.size(), 1u);
  EXPECT_NE(report.problems[0].find("mode 0644"), std::string::npos) << report.problems[0];
}

}  // namespace
}  // namespace authpolicy::audit
