// Another process holds the write lock for 10 s: writes give up within the bounded wait, cleanly,
// reads keep working, and the first write after the lock is released is stored. (Slow: ~10 s.)
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/wait.h>

#include <chrono>

#include "audit/audit_store.h"
#include "audit/syslog_line.h"
#include "audit_test_support.h"

namespace authpolicy::audit {
namespace {

using testing::sample_record;
using testing::TempFolder;

TEST(AuditLockTimeout, WriterHoldingLockForTenSeconds) {
  TempFolder temp;
  std::string path = temp.file("audit.db");
  ASSERT_TRUE(record_decision(path, {}, sample_record("bob", "deny")).ok());

  int ready[2];
  ASSERT_EQ(pipe(ready), 0);
  pid_t holder = fork();
  ASSERT_GE(holder, 0);
  if (holder == 0) {
    close(ready[0]);
    sqlite3* db = nullptr;
    if (sqlite3_open(path.c_str(), &db) != SQLITE_OK) _exit(2);
    if (sqlite3_exec(db, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) != SQLITE_OK) _exit(3);
    if (write(ready[1], "L", 1) != 1) _exit(4);
    sleep(10);
    sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr);
    sqlite3_close(db);
    _exit(0);
  }
  close(ready[1]);
  char byte = 0;
  ASSERT_EQ(read(ready[0], &byte, 1), 1) << "the lock holder did not start";
  close(ready[0]);
  auto lock_taken = std::chrono::steady_clock::now();

  int timed_out = 0;
  while (std::chrono::steady_clock::now() - lock_taken < std::chrono::seconds(7)) {
    auto record = sample_record("bob", "deny");
    auto started = std::chrono::steady_clock::now();
    Status status = record_decision(path, {}, record);
    auto waited = std::chrono::steady_clock::now() - started;
    EXPECT_LE(waited, std::chrono::milliseconds(2300)) << "a decision waited too long on the log";
    EXPECT_GE(waited, std::chrono::milliseconds(1900)) << "gave up before the busy timeout";
    EXPECT_EQ(status.code, StatusCode::busy) << status.message;
    EXPECT_NE(status.message.find("locked"), std::string::npos) << status.message;
    EXPECT_EQ(after_write(status, false), AfterWrite::keep_decision_and_warn);
    EXPECT_EQ(after_write(status, true), AfterWrite::deny_and_warn);
    // What goes to syslog instead: the failure, and the decision line itself.
    EXPECT_NE(write_failure_line(status, false).find("database is locked"), std::string::npos);
    EXPECT_NE(format_syslog_line(record).find("decision=deny"), std::string::npos);
    ++timed_out;
    // Readers are not blocked by the writer (WAL): failures() stays known.
    auto count = count_failures(path, {}, {"bob", 900, std::nullopt, 0});
    EXPECT_EQ(count.count, 1) << count.cause;
  }
  EXPECT_GE(timed_out, 3);

  int status = 0;
  waitpid(holder, &status, 0);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "lock holder failed";
  EXPECT_TRUE(record_decision(path, {}, sample_record("bob", "deny")).ok());
  EXPECT_EQ(count_failures(path, {}, {"bob", 900, std::nullopt, 0}).count, 2);
}

}  // namespace
}  // namespace authpolicy::audit
