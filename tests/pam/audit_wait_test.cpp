// A locked audit log costs one decision one bounded wait (~2 s), not 2 s for each failures()
// read and again for the write; and what the decision then is, best effort or `required`.
#include <gtest/gtest.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <string>

#include "audit/audit_store.h"
#include "tests/pam/harness.h"

namespace authpolicy::pam_test {
namespace {

bool contains(const std::vector<std::string>& lines, const std::string& text) {
  for (const auto& line : lines) {
    if (line.find(text) != std::string::npos) return true;
  }
  return false;
}

// Another process holds the database in an exclusive transaction in exclusive locking mode:
// sqlite then gives it the whole file, so readers wait as well as writers.
class LockHolder {
 public:
  explicit LockHolder(const std::string& path) {
    int ready[2];
    if (pipe(ready) != 0) return;
    pid_ = fork();
    if (pid_ == 0) {
      close(ready[0]);
      sqlite3* db = nullptr;
      if (sqlite3_open(path.c_str(), &db) != SQLITE_OK) _exit(2);
      const char* lock =
          "PRAGMA locking_mode = EXCLUSIVE; BEGIN EXCLUSIVE; CREATE TABLE held_by_test (x);";
      if (sqlite3_exec(db, lock, nullptr, nullptr, nullptr) != SQLITE_OK) _exit(3);
      if (write(ready[1], "L", 1) != 1) _exit(4);
      sleep(30);  // killed by the destructor long before
      _exit(0);
    }
    close(ready[1]);
    char byte = 0;
    locked_ = pid_ > 0 && read(ready[0], &byte, 1) == 1;
    close(ready[0]);
  }
  ~LockHolder() {
    if (pid_ <= 0) return;
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  bool locked() const { return locked_; }

 private:
  pid_t pid_ = -1;
  bool locked_ = false;
};

struct Outcome {
  int code = PAM_SYSTEM_ERR;
  std::chrono::milliseconds took{0};
  std::vector<std::string> lines;
};

// failures() must be read (so the read waits on the lock); when it is unknown, `if` requires the
// fingerprint, which the script gives: the decision itself passes either way.
Outcome login_while_locked(bool required) {
  const std::string db = std::string(Paths::run_dir()) + "/audit/wait-" + std::to_string(getpid()) +
                         (required ? "-required" : "-besteffort") + ".db";
  unlink(db.c_str());
  write_policy(matrix_password_factor() + matrix_fingerprint_factor() +
               "auth password && fingerprint if failures(15m) >= 3\n"
               "audit { db = \"" +
               db + "\"; required = " + (required ? "true" : "false") + " }\n");
  {
    Script script({"alice-pass", "alice-finger"});
    Session first("ap_policy", "alice", &script);
    EXPECT_EQ(first.authenticate(), PAM_SUCCESS) << "creating the log";
  }
  LockHolder holder(db);
  EXPECT_TRUE(holder.locked()) << "the lock holder did not start";
  SyslogCapture capture;
  Script script({"alice-pass", "alice-finger"});
  Session session("ap_policy", "alice", &script);
  Outcome outcome;
  const auto started = std::chrono::steady_clock::now();
  outcome.code = session.authenticate();
  outcome.took = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - started);
  outcome.lines = capture.module_lines();
  EXPECT_EQ(script.prompts().size(), 2u) << "failures() unknown must require the fingerprint";
  return outcome;
}

TEST(PamAuditWait, LockedLogCostsOneDecisionOneWaitAndTheDecisionStands) {
  const Outcome o = login_while_locked(false);
  EXPECT_EQ(o.code, PAM_SUCCESS);
  // Before one budget per decision: 2 s for the failures() read, then 2 s for the write.
  EXPECT_GE(o.took, std::chrono::milliseconds(1500)) << "the log was not locked";
  EXPECT_LT(o.took, std::chrono::milliseconds(3200)) << "waited per step, not per decision";
  EXPECT_TRUE(contains(o.lines, "audit write failed (best effort, decision stands)"));
  EXPECT_TRUE(contains(o.lines, "phase=auth decision=permit"));
}

TEST(PamAuditWait, LockedLogCostsOneDecisionOneWaitAndRequiredDenies) {
  const Outcome o = login_while_locked(true);
  EXPECT_EQ(o.code, PAM_AUTH_ERR);
  EXPECT_GE(o.took, std::chrono::milliseconds(1500)) << "the log was not locked";
  EXPECT_LT(o.took, std::chrono::milliseconds(3200)) << "waited per step, not per decision";
  EXPECT_TRUE(contains(o.lines, "audit write failed (audit required, decision becomes deny)"));
}

// ---- The spool: policies that never read the log append to it instead of opening sqlite -------

std::string fresh_db(const std::string& tag) {
  const std::string db =
      std::string(Paths::run_dir()) + "/audit/" + tag + "-" + std::to_string(getpid()) + ".db";
  for (const char* suffix : {"", "-wal", "-shm", "-spool"}) unlink((db + suffix).c_str());
  return db;
}

int login(const std::string& password) {
  Script script({password});
  Session session("ap_policy", "alice", &script);
  return session.authenticate();
}

off_t file_size(const std::string& path) {
  struct stat info {};
  return stat(path.c_str(), &info) == 0 ? info.st_size : -1;
}

TEST(PamAuditSpool, FailuresOfAPolicyThatNeverReadsTheLogCountForOneThatDoes) {
  const std::string db = fresh_db("spool-failures");
  const std::string audit = "audit { db = \"" + db + "\" }\n";
  write_policy(matrix_password_factor() + "auth password\n" + audit);
  EXPECT_EQ(login("alice-pass"), PAM_SUCCESS);  // creates the log
  for (int i = 0; i < 3; ++i) EXPECT_EQ(login("wrong"), PAM_AUTH_ERR);
  EXPECT_GT(file_size(db + "-spool"), 0) << "the failures were not spooled";
  // Another service's policy (here: the next version of this one) reads the log.
  write_policy(matrix_password_factor() + "deny if failures(15m) >= 3\nauth password\n" + audit);
  SyslogCapture capture;
  EXPECT_EQ(login("alice-pass"), PAM_AUTH_ERR) << "the spooled failures were not counted";
  EXPECT_TRUE(contains(capture.module_lines(), "deny_rule="));
}

TEST(PamAuditSpool, AnOverwrittenLogStillFailsTheWriteAndRequiredDenies) {
  const std::string db = fresh_db("spool-corrupt");
  write_policy(matrix_password_factor() + "auth password\naudit { db = \"" + db +
               "\"; required = true }\n");
  EXPECT_EQ(login("alice-pass"), PAM_SUCCESS);
  write_file(db, std::string(16384, '\x5a'), 0600);
  SyslogCapture capture;
  EXPECT_EQ(login("alice-pass"), PAM_AUTH_ERR);
  EXPECT_TRUE(
      contains(capture.module_lines(), "audit write failed (audit required, decision becomes deny)"));
  EXPECT_TRUE(contains(capture.module_lines(), "[corrupt]"));
}

TEST(PamAuditSpool, ALockedDatabaseNeitherDelaysNorFailsASpooledDecision) {
  const std::string db = fresh_db("spool-locked");
  write_policy(matrix_password_factor() + "auth password\naudit { db = \"" + db +
               "\"; required = true }\n");
  EXPECT_EQ(login("alice-pass"), PAM_SUCCESS);
  {
    LockHolder holder(db);
    ASSERT_TRUE(holder.locked()) << "the lock holder did not start";
    SyslogCapture capture;
    const auto started = std::chrono::steady_clock::now();
    EXPECT_EQ(login("alice-pass"), PAM_SUCCESS) << "the decision is recorded in the spool";
    EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::milliseconds(1000));
    EXPECT_FALSE(contains(capture.module_lines(), "audit write failed"));
  }
  // Once the lock is gone, the next reader moves the decision in.
  auto opened = audit::AuditStore::open(db, {});
  ASSERT_TRUE(opened.status.ok()) << opened.status.message;
  EXPECT_EQ(opened.store->folded(), 1);
  std::vector<audit::StoredDecision> rows;
  ASSERT_TRUE(opened.store->list({}, &rows).ok());
  EXPECT_EQ(rows.size(), 2u);
}

}  // namespace
}  // namespace authpolicy::pam_test
