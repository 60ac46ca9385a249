// Another process holds the WAL index's locks (as one stopped while it rebuilds the index holds
// them, issue #21 M1): sqlite retries those by sleeping, ~10 s a statement, without asking the
// busy handler. Every read and write of the log now ends within its deadline, and the spool
// keeps taking decisions. (Slow: a few seconds.)
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdio>

#include "audit/audit_store.h"
#include "audit/recent_pass.h"
#include "audit_test_support.h"

namespace authpolicy::audit {
namespace {

using testing::sample_record;
using testing::TempFolder;
using Clock = std::chrono::steady_clock;

// sqlite's locks in the -shm file: 120 write, 121 checkpoint, 122 recover, 123-127 the read
// marks, 128 the "someone has it open" byte (shared by every open connection).
bool lock_bytes(int fd, short type, off_t start, off_t length) {
  struct flock lock {};
  lock.l_type = type;
  lock.l_whence = SEEK_SET;
  lock.l_start = start;
  lock.l_len = length;
  return fcntl(fd, F_SETLK, &lock) == 0;
}

// A process that holds the index's locks until killed: what a connection stopped while
// rebuilding the index holds. Returns its pid once the locks are held.
pid_t hold_wal_index(const std::string& path, bool write_lock_too) {
  int ready[2];
  if (pipe(ready) != 0) return -1;
  const pid_t holder = fork();
  if (holder == 0) {
    close(ready[0]);
    const int shm = open((path + "-shm").c_str(), O_RDWR | O_CLOEXEC);
    if (shm < 0 || !lock_bytes(shm, F_RDLCK, 128, 1) ||
        !lock_bytes(shm, F_WRLCK, write_lock_too ? 120 : 121, write_lock_too ? 8 : 7)) {
      _exit(2);
    }
    if (write(ready[1], "L", 1) != 1) _exit(3);
    for (;;) pause();
  }
  close(ready[1]);
  char byte = 0;
  const bool held = read(ready[0], &byte, 1) == 1;
  close(ready[0]);
  if (!held) {
    waitpid(holder, nullptr, 0);
    return -1;
  }
  return holder;
}

void report(const char* what, Clock::duration took) {
  std::printf("[wal-index] %s: %.3f s with a 0.5 s deadline\n", what,
              std::chrono::duration<double>(took).count());
}

void end(pid_t holder) {
  kill(holder, SIGKILL);
  waitpid(holder, nullptr, 0);
}

TEST(AuditWalIndexLock, ReadsAndWritesEndAtTheirDeadlineWhileAnotherProcessHoldsTheIndex) {
  TempFolder temp;
  const std::string path = temp.file("audit.db");
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(record_decision(path, {}, sample_record("bob", "deny")).ok());
  }
  for (bool write_lock_too : {false, true}) {
    SCOPED_TRACE(write_lock_too ? "index and write locks held" : "index locks held");
    const pid_t holder = hold_wal_index(path, write_lock_too);
    ASSERT_GT(holder, 0) << "could not take the index's locks";
    OpenOptions options;
    options.busy_timeout = std::chrono::milliseconds(500);
    OpenOptions reading = options;
    reading.read_only = true;
    reading.create_if_missing = false;

    auto started = Clock::now();
    const FailureCount count = count_failures(path, reading, {"bob", 900, std::nullopt, 0});
    auto took = Clock::now() - started;
    EXPECT_FALSE(count.known()) << "read the log while its index was held";
    EXPECT_LT(took, std::chrono::milliseconds(1000)) << "failures() waited past its deadline";
    report("failures()", took);

    RecentPassQuery recent;
    recent.user = "bob";
    recent.service = "sshd";
    recent.factor = "totp";
    recent.window_seconds = 900;
    started = Clock::now();
    const RecentPass pass = find_recent_pass(path, reading, recent);
    took = Clock::now() - started;
    EXPECT_FALSE(pass.found.has_value());
    EXPECT_LT(took, std::chrono::milliseconds(1000)) << "recent() waited past its deadline";
    report("recent()", took);

    started = Clock::now();
    const Status written = record_decision(path, options, sample_record("bob", "deny"));
    took = Clock::now() - started;
    EXPECT_FALSE(written.ok());
    EXPECT_EQ(after_write(written, true), AfterWrite::deny_and_warn);
    EXPECT_LT(took, std::chrono::milliseconds(1000)) << "the write waited past its deadline";
    report("the write", took);

    // The spool needs no sqlite lock: a decision of a policy that does not read the log is
    // stored at once.
    started = Clock::now();
    std::string fold_problem;
    EXPECT_TRUE(
        append_decision(path, options, sample_record("carol", "permit"), &fold_problem).ok());
    took = Clock::now() - started;
    EXPECT_LT(took, std::chrono::milliseconds(1000));
    report("a spooled write", took);
    end(holder);
  }
  // Released: everything works, and the spooled decisions are there.
  const FailureCount count = count_failures(path, {}, {"bob", 900, std::nullopt, 0});
  ASSERT_TRUE(count.known()) << count.cause;
  EXPECT_EQ(*count.count, 3);
  const FailureCount carol = count_failures(path, {}, {"carol", 900, std::nullopt, 0});
  ASSERT_TRUE(carol.known()) << carol.cause;
}

}  // namespace
}  // namespace authpolicy::audit
