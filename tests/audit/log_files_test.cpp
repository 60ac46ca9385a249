// Every file of the audit log is trusted like the log (issue #21, H2 and L3): the files sqlite
// names after the database (-wal, -shm, -journal) and the spool are made by the store, or checked
// by descriptor before anything uses them; one someone else made is refused, never used.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <set>
#include <fstream>
#include <string>

#include "audit/audit_store.h"
#include "tests/audit/audit_test_support.h"

namespace authpolicy::audit {
namespace {

using testing::sample_record;
using testing::TempFolder;

constexpr uid_t kSomeoneElse = 4242;  // a uid that owns nothing here: "another user"

struct stat stat_of(const std::string& path) {
  struct stat info {};
  if (lstat(path.c_str(), &info) != 0) info.st_ino = 0;
  return info;
}

// The log's folder as /tmp is: root's, writable by everyone, sticky.
void make_sticky(const TempFolder& temp) {
  ASSERT_EQ(chmod(temp.path().c_str(), 01777), 0);
}

// Another user's file, made before the log exists, the way they would: O_CREAT in the folder.
// Returns the descriptor they keep.
int plant(const std::string& path) {
  const int fd = open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return fd;
  if (fchown(fd, kSomeoneElse, kSomeoneElse) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

TEST(AuditLogFiles, ANewLogIsWalFromItsFirstByteAndHoldsEveryNameSqliteUses) {
  ASSERT_EQ(geteuid(), 0u) << "runs as root (the log's owner)";
  TempFolder temp;
  make_sticky(temp);
  const std::string path = temp.file("audit.db");
  ASSERT_TRUE(record_decision(path, {}, sample_record("alice", "deny")).ok());
  for (const char* suffix : {"", "-wal", "-shm", "-journal"}) {
    const struct stat info = stat_of(path + suffix);
    ASSERT_NE(info.st_ino, 0u) << path + suffix << " is missing: its name is free for anyone";
    EXPECT_TRUE(S_ISREG(info.st_mode));
    EXPECT_EQ(info.st_uid, 0u) << suffix;
    EXPECT_EQ(info.st_mode & 0777, 0600u) << suffix;
  }
  EXPECT_EQ(stat_of(path + "-journal").st_size, 0) << "the journal name is held by an empty file";
  // The database's header says WAL (file format 2) in the file itself.
  char header[20] = {};
  std::ifstream(path, std::ios::binary).read(header, sizeof header);
  EXPECT_EQ(std::memcmp(header, "SQLite format 3", 16), 0);
  EXPECT_EQ(header[18], 2);
  EXPECT_EQ(header[19], 2);
  const VerifyReport report = verify_database(path, {});
  EXPECT_TRUE(report.status.ok()) << report.status.message;
  for (const auto& problem : report.problems) {
    // The sticky folder is the only thing verify may find (it wants 0700).
    EXPECT_NE(problem.find("folder"), std::string::npos) << problem;
  }
  FailureCount count = count_failures(path, {}, {"alice", 900, std::nullopt, 0});
  ASSERT_TRUE(count.known()) << count.cause;
  EXPECT_EQ(*count.count, 1);
}

// The log, its companions and its spool are made through base/trusted_write in the checked
// folder (write_new_at for the database, create_exclusive_at for the rest): after the first
// decisions the folder holds exactly the log's names, each root's and 0600, and no temporary
// file a creation left behind.
TEST(AuditLogFiles, EveryFileOfTheLogIsMadeWholeInItsFolderAndNothingElseIsLeft) {
  ASSERT_EQ(geteuid(), 0u) << "runs as root (the log's owner)";
  TempFolder temp;
  make_sticky(temp);
  const std::string path = temp.file("audit.db");
  ASSERT_TRUE(record_decision(path, {}, sample_record("alice", "deny")).ok());
  std::string problem;
  ASSERT_TRUE(append_decision(path, {}, sample_record("bob", "deny"), &problem).ok());
  std::set<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(temp.path())) {
    const std::string name = entry.path().filename().string();
    names.insert(name);
    const struct stat info = stat_of(entry.path().string());
    EXPECT_EQ(info.st_uid, 0u) << name;
    if (S_ISREG(info.st_mode)) {
      EXPECT_EQ(info.st_mode & 07777, 0600u) << name;
    }
  }
  for (const std::string& name : names) {
    EXPECT_TRUE(name.rfind("audit.db", 0) == 0) << "left behind: " << name;
  }
  for (const char* expected : {"audit.db", "audit.db-wal", "audit.db-shm", "audit.db-journal",
                               "audit.db-spool"}) {
    EXPECT_TRUE(names.count(expected)) << expected;
  }
  // Both decisions are there, the spooled one moved in by the next reader.
  FailureCount count = count_failures(path, {}, {"bob", 900, std::nullopt, 0});
  ASSERT_TRUE(count.known()) << count.cause;
  EXPECT_EQ(*count.count, 1);
}

// H2 replayed at the store: another user makes -wal and -shm before the log exists and keeps
// them open. Before, sqlite took them over (made them root's) and wrote every decision into
// them, readable and erasable through that user's descriptors.
TEST(AuditLogFiles, PlantedWalAndShmAreRefusedAndNeverUsed) {
  ASSERT_EQ(geteuid(), 0u);
  TempFolder temp;
  make_sticky(temp);
  const std::string path = temp.file("audit.db");
  const int wal = plant(path + "-wal");
  const int shm = plant(path + "-shm");
  ASSERT_GE(wal, 0);
  ASSERT_GE(shm, 0);

  const Status written = record_decision(path, {}, sample_record("alice", "deny"));
  EXPECT_EQ(written.code, StatusCode::unsafe_file) << written.message;
  EXPECT_NE(written.message.find(path + "-wal is owned by uid 4242"), std::string::npos)
      << written.message;
  EXPECT_EQ(after_write(written, true), AfterWrite::deny_and_warn);
  const FailureCount count = count_failures(path, {}, {"alice", 900, std::nullopt, 0});
  EXPECT_FALSE(count.known()) << "a log with someone else's -wal must not answer failures()";
  std::string fold_problem;
  EXPECT_FALSE(append_decision(path, {}, sample_record("alice", "deny"), &fold_problem).ok());

  // Never used: still theirs, and nothing was written into them.
  for (int fd : {wal, shm}) {
    struct stat info {};
    ASSERT_EQ(fstat(fd, &info), 0);
    EXPECT_EQ(info.st_uid, kSomeoneElse) << "sqlite took the planted file over";
    EXPECT_EQ(info.st_size, 0) << "a decision was written where another user reads it";
    close(fd);
  }
}

TEST(AuditLogFiles, APlantedJournalIsRefusedBeforeSqliteCouldPlayItBack) {
  ASSERT_EQ(geteuid(), 0u);
  TempFolder temp;
  make_sticky(temp);
  const std::string path = temp.file("audit.db");
  ASSERT_TRUE(record_decision(path, {}, sample_record("alice", "deny")).ok());
  ASSERT_EQ(unlink((path + "-journal").c_str()), 0);  // as an older release left the log
  const int journal = plant(path + "-journal");
  ASSERT_GE(journal, 0);
  ASSERT_EQ(write(journal, "not a journal of ours", 21), 21);
  const Status written = record_decision(path, {}, sample_record("alice", "deny"));
  EXPECT_EQ(written.code, StatusCode::unsafe_file) << written.message;
  EXPECT_NE(written.message.find("-journal is owned by uid 4242"), std::string::npos)
      << written.message;
  EXPECT_FALSE(count_failures(path, {}, {"alice", 900, std::nullopt, 0}).known());
  close(journal);
}

TEST(AuditLogFiles, CompanionsThatAreLinksSharedOrWritableByOthersAreRefused) {
  ASSERT_EQ(geteuid(), 0u);
  TempFolder temp;
  const std::string path = temp.file("audit.db");
  ASSERT_TRUE(record_decision(path, {}, sample_record("alice", "deny")).ok());

  ASSERT_EQ(chmod((path + "-wal").c_str(), 0666), 0);
  Status written = record_decision(path, {}, sample_record("alice", "deny"));
  EXPECT_EQ(written.code, StatusCode::unsafe_file) << written.message;
  EXPECT_NE(written.message.find("writable by group or others"), std::string::npos);
  ASSERT_EQ(chmod((path + "-wal").c_str(), 0600), 0);

  ASSERT_EQ(link((path + "-shm").c_str(), temp.file("second-name").c_str()), 0);
  written = record_decision(path, {}, sample_record("alice", "deny"));
  EXPECT_EQ(written.code, StatusCode::unsafe_file) << written.message;
  EXPECT_NE(written.message.find("one name"), std::string::npos) << written.message;
  ASSERT_EQ(unlink(temp.file("second-name").c_str()), 0);

  ASSERT_EQ(unlink((path + "-journal").c_str()), 0);
  ASSERT_EQ(symlink("/etc/passwd", (path + "-journal").c_str()), 0);
  written = record_decision(path, {}, sample_record("alice", "deny"));
  EXPECT_EQ(written.code, StatusCode::unsafe_file) << written.message;
  EXPECT_FALSE(count_failures(path, {}, {"alice", 900, std::nullopt, 0}).known());
  ASSERT_EQ(unlink((path + "-journal").c_str()), 0);

  // Put right, the log works again (and the journal's name is held again).
  ASSERT_TRUE(record_decision(path, {}, sample_record("alice", "deny")).ok());
  EXPECT_NE(stat_of(path + "-journal").st_ino, 0u);
  const FailureCount count = count_failures(path, {}, {"alice", 900, std::nullopt, 0});
  ASSERT_TRUE(count.known()) << count.cause;
  EXPECT_EQ(*count.count, 2);
}

// A stale -wal left beside a log that was removed is not played into the new log.
TEST(AuditLogFiles, AStaleWalBesideANewLogIsNotPlayedIntoIt) {
  ASSERT_EQ(geteuid(), 0u);
  TempFolder temp;
  const std::string path = temp.file("audit.db");
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(record_decision(path, {}, sample_record("alice", "deny")).ok());
  }
  ASSERT_GT(stat_of(path + "-wal").st_size, 0);
  ASSERT_EQ(unlink(path.c_str()), 0);
  ASSERT_TRUE(record_decision(path, {}, sample_record("bob", "deny")).ok());
  const FailureCount alice = count_failures(path, {}, {"alice", 900, std::nullopt, 0});
  ASSERT_TRUE(alice.known()) << alice.cause;
  EXPECT_EQ(*alice.count, 0);
  const FailureCount bob = count_failures(path, {}, {"bob", 900, std::nullopt, 0});
  ASSERT_TRUE(bob.known()) << bob.cause;
  EXPECT_EQ(*bob.count, 1);
}

// An empty database file (an older release created it so) is read and written as before.
TEST(AuditLogFiles, AnEmptyDatabaseFileStillStartsALog) {
  ASSERT_EQ(geteuid(), 0u);
  TempFolder temp;
  const std::string path = temp.file("audit.db");
  const int fd = open(path.c_str(), O_RDWR | O_CREAT | O_EXCL, 0600);
  ASSERT_GE(fd, 0);
  close(fd);
  FailureCount count = count_failures(path, {}, {"alice", 900, std::nullopt, 0});
  ASSERT_TRUE(count.known()) << count.cause;
  EXPECT_EQ(*count.count, 0);
  ASSERT_TRUE(record_decision(path, {}, sample_record("alice", "deny")).ok());
  count = count_failures(path, {}, {"alice", 900, std::nullopt, 0});
  ASSERT_TRUE(count.known()) << count.cause;
  EXPECT_EQ(*count.count, 1);
}

// L3: the docs say the spool is 0600; a 0644 one (every decision readable by anyone) is refused
// by writers and by the reader that would fold it.
TEST(AuditLogFiles, ASpoolOthersCanReadIsRefused) {
  ASSERT_EQ(geteuid(), 0u);
  TempFolder temp;
  const std::string path = temp.file("audit.db");
  ASSERT_TRUE(append_decision(path, {}, sample_record("alice", "permit"), nullptr).ok());
  ASSERT_TRUE(append_decision(path, {}, sample_record("alice", "deny"), nullptr).ok());
  ASSERT_EQ(stat_of(path + "-spool").st_mode & 0777, 0600u);
  ASSERT_EQ(chmod((path + "-spool").c_str(), 0644), 0);
  const Status written = append_decision(path, {}, sample_record("alice", "deny"), nullptr);
  EXPECT_EQ(written.code, StatusCode::unsafe_file) << written.message;
  EXPECT_NE(written.message.find("mode 0644, expected 0600"), std::string::npos) << written.message;
  EXPECT_FALSE(count_failures(path, {}, {"alice", 900, std::nullopt, 0}).known())
      << "failures() answered without the spool it could not take";
  ASSERT_EQ(chmod((path + "-spool").c_str(), 0600), 0);
  const FailureCount count = count_failures(path, {}, {"alice", 900, std::nullopt, 0});
  ASSERT_TRUE(count.known()) << count.cause;
  EXPECT_EQ(*count.count, 1);
}

// A spool someone else made in a sticky folder is refused, never written to.
TEST(AuditLogFiles, APlantedSpoolIsRefusedAndNeverWritten) {
  ASSERT_EQ(geteuid(), 0u);
  TempFolder temp;
  make_sticky(temp);
  const std::string path = temp.file("audit.db");
  ASSERT_TRUE(record_decision(path, {}, sample_record("alice", "permit")).ok());
  const int spool = plant(path + "-spool");
  ASSERT_GE(spool, 0);
  const Status written = append_decision(path, {}, sample_record("alice", "deny"), nullptr);
  EXPECT_EQ(written.code, StatusCode::unsafe_file) << written.message;
  struct stat info {};
  ASSERT_EQ(fstat(spool, &info), 0);
  EXPECT_EQ(info.st_size, 0);
  close(spool);
}

}  // namespace
}  // namespace authpolicy::audit
