// The audit-log attacks of issue #21 (H2, M1) through the system's libpam and pam_policy.so, with
// the attacker as an unprivileged uid (nobody), in bounded runs:
//   H2  before the log exists, the attacker makes its -wal and -shm in a root-owned sticky folder
//       and keeps them open, to read the decisions and empty the log;
//   M1  a `su`-like process (real uid nobody, euid 0, logging in through pam_policy.so over and
//       over) is stopped by the attacker with SIGSTOP while it holds the WAL index's locks, the
//       WAL write lock or the spool's lock; meanwhile another user logs in.
// Pass conditions: H2's files are refused, never used (the log is unknown: the strict reading);
// under M1 every other user's decision completes within 2.5 s with the decision the policy gives,
// and every one is recorded. Each test prints its counts; a by-hand run against an older module
// (as tests/race/race_test.cpp says) shows the attack getting through:
//   AP_RACE_MODULE=OLD/pam/pam_policy.so AP_RACE_CLI=OLD/cli/authpolicy ap_race_audit_tests
// Needs root (root-owned policies and logs, dropping to nobody) and pam_matrix.so.
#include <fcntl.h>
#include <security/pam_appl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/race/race_support.h"

namespace authpolicy::race_test {
namespace {

using Clock = std::chrono::steady_clock;

constexpr const char* kVictim = "alice";
constexpr const char* kCaller = "mallory";  // whom the su-like process authenticates
constexpr const char* kPassword = "audit-race-pass";
constexpr const char* kWrongPassword = "not-the-password";
// The documented budget of a decision's waits on the log is 2 s; 2.5 s leaves room for the rest.
constexpr auto kDecisionLimit = std::chrono::milliseconds(2500);
// The attacker stops the su-like process this many times (looking at its locks each time)
// before giving up: the attacker needed 1-10 stops. Attempts are spread over the
// process's logins by a random pause after each.
constexpr int kWantedStops = 400;
constexpr int kMaxAttempts = 40000;
constexpr auto kAttackLimit = std::chrono::seconds(30);

ino_t inode_of(const std::string& path) {
  struct stat info {};
  return lstat(path.c_str(), &info) == 0 ? info.st_ino : 0;
}

// ---- One login through libpam -------------------------------------------------------------

struct Timed {
  int code = -1;
  std::chrono::milliseconds took{0};
};

Timed timed_login(const std::string& confdir, const std::string& service, const char* password) {
  const auto started = Clock::now();
  Timed result;
  result.code = authenticate(confdir, service, kVictim, password);
  result.took = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started);
  return result;
}

// ---- M1: the su-like process and the attacker who stops it ----------------------------------

enum class Form { wal_index, wal_write, spool };

const char* form_name(Form form) {
  switch (form) {
    case Form::wal_index:
      return "the WAL index's locks";
    case Form::wal_write:
      return "the WAL write lock";
    case Form::spool:
      return "the spool's lock";
  }
  return "?";
}

struct Shared {
  std::atomic<long> logins{0};       // the su-like process's completed logins
  std::atomic<int> attempts{0};      // kill(SIGSTOP) calls
  std::atomic<int> refused{0};       // ... that failed with EPERM
  std::atomic<int> stops{0};         // ... after which the process was seen stopped
  std::atomic<bool> caught{false};   // stopped holding the lock of the form
  std::atomic<bool> stopped{false};  // left stopped when the attacker finished
  std::atomic<int> phase{0};         // attacker: 1 running, 2 done, 3 could not become nobody
};

// The state letter of /proc/PID/stat ('T' stopped), or 0.
char state_of(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), {});
  const auto paren = text.rfind(')');
  return paren == std::string::npos || paren + 2 >= text.size() ? 0 : text[paren + 2];
}

bool wait_stopped(pid_t pid) {
  const auto limit = Clock::now() + std::chrono::milliseconds(500);
  while (Clock::now() < limit) {
    const char state = state_of(pid);
    if (state == 'T' || state == 't') return true;
    if (state == 0 || state == 'Z') return false;
  }
  return false;
}

// Whether `pid` holds, per /proc/locks (readable by anyone), the lock of `form`: an exclusive
// POSIX lock on the -shm file covering byte 122 (recovery: sqlite holds 120-127 while it rebuilds
// the index) or byte 128 (resetting the index), one covering byte 120 without those (the WAL
// write lock of a transaction), or the spool's flock.
bool holds(pid_t pid, Form form, ino_t shm, ino_t spool) {
  std::ifstream locks("/proc/locks");
  bool index = false, write = false, spool_lock = false;
  for (std::string line; std::getline(locks, line);) {
    if (line.find("->") != std::string::npos) continue;  // a waiter, not a holder
    std::istringstream fields(line);
    std::string number, kind, advisory, mode, device, start, end;
    long owner = 0;
    fields >> number >> kind >> advisory >> mode >> owner >> device >> start >> end;
    if (owner != pid || mode != "WRITE") continue;
    const auto colon = device.rfind(':');
    const ino_t inode = static_cast<ino_t>(std::strtoull(device.c_str() + colon + 1, nullptr, 10));
    if (kind == "FLOCK" && inode == spool) spool_lock = true;
    if (kind != "POSIX" || inode != shm) continue;
    const long first = std::strtol(start.c_str(), nullptr, 10);
    const long last = end == "EOF" ? 1L << 40 : std::strtol(end.c_str(), nullptr, 10);
    if (first <= 120 && last >= 120) write = true;
    // The ones every other connection waits for: the recover lock (the index being rebuilt)
    // and the exclusive "open" byte (the index being reset).
    if ((first <= 122 && last >= 122) || (first <= 128 && last >= 128)) index = true;
  }
  switch (form) {
    case Form::wal_index:
      return index;
    case Form::wal_write:
      return write && !index;
    case Form::spool:
      return spool_lock;
  }
  return false;
}

class StoppedSu {
 public:
  StoppedSu() = default;
  ~StoppedSu() { finish(); }
  StoppedSu(const StoppedSu&) = delete;
  StoppedSu& operator=(const StoppedSu&) = delete;

  // The su-like process: real uid `uid`, euid 0 (as a setuid program run by that user), logging
  // in as kCaller through `service` until killed.
  bool start_su(uid_t uid, const std::string& confdir, const std::string& service) {
    if (shared_.get() == nullptr) return false;
    const pid_t parent = getpid();
    su_ = fork();
    if (su_ < 0) return false;
    if (su_ == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (getppid() != parent || setresuid(uid, 0, 0) != 0) _exit(2);
      for (;;) {
        authenticate(confdir, service, kCaller, kPassword);
        shared_->logins.fetch_add(1);
      }
    }
    // Under way: a few logins done, so the log and its files exist.
    const auto limit = Clock::now() + std::chrono::seconds(20);
    while (shared_->logins.load() < 5 && Clock::now() < limit) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return shared_->logins.load() >= 5;
  }

  // The attacker, as nobody: stops the su-like process and looks at /proc/locks until it is
  // stopped holding the lock of `form` (then leaves it stopped), or the attempts run out (then
  // leaves it stopped wherever a stop succeeds).
  bool attack(uid_t uid, gid_t gid, Form form, ino_t shm, ino_t spool) {
    const pid_t target = su_;
    attacker_ = fork();
    if (attacker_ < 0) return false;
    if (attacker_ == 0) {
      if (!become(uid, gid)) {
        shared_->phase = 3;
        _exit(3);
      }
      shared_->phase = 1;
      std::uint64_t jitter = static_cast<std::uint64_t>(getpid()) * 0x9e3779b97f4a7c15ull;
      const auto limit = Clock::now() + kAttackLimit;
      auto pause = [&jitter] {
        jitter ^= jitter << 13;
        jitter ^= jitter >> 7;
        jitter ^= jitter << 17;
        std::this_thread::sleep_for(std::chrono::microseconds(jitter % 500));
      };
      for (int i = 0;
           i < kMaxAttempts && shared_->stops.load() < kWantedStops && Clock::now() < limit;
           ++i, pause()) {
        shared_->attempts.fetch_add(1);
        if (kill(target, SIGSTOP) != 0) {
          if (errno == EPERM) shared_->refused.fetch_add(1);
          continue;
        }
        if (!wait_stopped(target)) {
          kill(target, SIGCONT);
          continue;
        }
        shared_->stops.fetch_add(1);
        if (holds(target, form, shm, spool)) {
          shared_->caught = true;
          shared_->stopped = true;
          shared_->phase = 2;
          _exit(0);
        }
        kill(target, SIGCONT);
      }
      // Not caught holding it: stopped anyway, wherever a stop is allowed.
      const auto last = Clock::now() + std::chrono::seconds(5);
      while (Clock::now() < last) {
        if (kill(target, SIGSTOP) == 0 && wait_stopped(target)) {
          shared_->stopped = true;
          break;
        }
      }
      shared_->phase = 2;
      _exit(0);
    }
    int status = 0;
    waitpid(attacker_, &status, 0);
    attacker_ = -1;
    return shared_->phase.load() == 2;
  }

  const Shared& shared() const { return *shared_; }

  void finish() {
    if (su_ > 0) {
      kill(su_, SIGKILL);
      waitpid(su_, nullptr, 0);
      su_ = -1;
    }
  }

 private:
  SharedState<Shared> shared_;
  pid_t su_ = -1;
  pid_t attacker_ = -1;
};

// ---- The scene -------------------------------------------------------------------------------
//   T/         root 0755
//   T/root/    root 0755: passdb (0600), the policies (0644)
//   T/log/     root 0700: the audit log of the M1 tests
//   T/sticky/  root 01777: the audit log of the H2 test, where anyone may create files
//   T/pam.d/   the services
class AuditRace : public RaceScene {
 protected:
  AuditRace() : RaceScene("ap-audit-race") {}
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(RaceScene::SetUp());
    ASSERT_TRUE(make_folder(dir_.file("log"), 0, 0, 0700));
    ASSERT_TRUE(make_folder(dir_.file("sticky"), 0, 0, 01777));
    std::string passdb;
    for (const char* user : {kVictim, kCaller}) {
      for (const char* service : {"ap-audit-reads", "ap-audit-spool", "ap-audit-sticky"}) {
        passdb += std::string(user) + ":" + kPassword + ":" + service + "\n";
      }
    }
    ASSERT_TRUE(write_file(root_ + "/passdb", passdb, 0, 0, 0600));
    keep_module_mapped();
  }

  // A policy: the password through pam_matrix, the log at `db`, `required` audit, and when
  // `reads` the lockout rule (so every decision reads the log through sqlite; otherwise it is
  // appended to the spool).
  void add_policy_service(const std::string& service, const std::string& db, bool reads) {
    const std::string policy = root_ + "/" + service + ".pol";
    ASSERT_TRUE(write_file(policy,
                           "factor password { module = \"" + std::string(AP_RACE_MATRIX) +
                               "\"; arguments = \"passdb=" + root_ + "/passdb\" }\n" +
                               "audit { db = \"" + db + "\"; required = true }\n" +
                               (reads ? "deny if failures(15m) >= 3\n" : "") + "auth password\n",
                           0, 0, 0644));
    add_service(service, policy);
  }

  // The victim's decisions in the log, as `authpolicy audit` lists them (which first moves the
  // spool in).
  int recorded_for_victim(const std::string& db) {
    const std::string command =
        cli_path() + " audit --db " + db + " --user " + kVictim + " --format csv --limit 0 2>&1";
    FILE* pipe = popen(command.c_str(), "r");
    if (pipe == nullptr) return -1;
    int lines = 0;
    char buffer[4096];
    std::string all;
    while (std::fgets(buffer, sizeof buffer, pipe) != nullptr) {
      all += buffer;
      ++lines;
    }
    const int status = pclose(pipe);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      ADD_FAILURE() << command << ": " << all;
      return -1;
    }
    return lines - 1;  // the header
  }

  // M1 in one form: the su-like process logs in through `service` (reading the log, or
  // appending to its spool), the attacker stops it holding the lock if it can, and the victim
  // logs in through the same service meanwhile.
  void stopped_su_while_others_log_in(Form form) {
    const bool reads = form != Form::spool;
    const std::string service = reads ? "ap-audit-reads" : "ap-audit-spool";
    const std::string db = dir_.file("log/audit.db");
    add_policy_service(service, db, reads);
    if (HasFatalFailure()) return;
    // The log exists (and its spool, for that form) before the attack.
    ASSERT_EQ(authenticate(confdir_, service, kCaller, kPassword), PAM_SUCCESS);
    ASSERT_EQ(authenticate(confdir_, service, kCaller, kPassword), PAM_SUCCESS);

    StoppedSu su;
    ASSERT_TRUE(su.start_su(attacker_uid_, confdir_, service)) << "the su-like process did not run";
    const ino_t shm = inode_of(db + "-shm");
    const ino_t spool = inode_of(db + "-spool");
    ASSERT_TRUE(reads ? shm != 0 : spool != 0) << "the log's files are missing";
    ASSERT_TRUE(su.attack(attacker_uid_, attacker_gid_, form, shm, spool))
        << "the attacker did not run as nobody";
    const Shared& counts = su.shared();
    std::printf(
        "[audit-race] su stopped holding %s: %s (%d stop attempts, %d refused with EPERM, "
        "%d stops, %ld logins of the su-like process; module %s)\n",
        form_name(form), counts.caught.load() ? "YES" : "no", counts.attempts.load(),
        counts.refused.load(), counts.stops.load(), counts.logins.load(), module_path().c_str());
    ASSERT_TRUE(counts.stopped.load()) << "the attacker could never stop the su-like process";
    EXPECT_TRUE(counts.caught.load() || counts.stops.load() >= kWantedStops)
        << "too few stops to mean anything";

    // Meanwhile, the victim: the right password permits, the wrong one denies, each in time.
    captured_log().clear();
    std::vector<Timed> logins;
    for (int i = 0; i < 3; ++i) logins.push_back(timed_login(confdir_, service, kPassword));
    logins.push_back(timed_login(confdir_, service, kWrongPassword));
    for (std::size_t i = 0; i < logins.size(); ++i) {
      const int expected = i < 3 ? PAM_SUCCESS : PAM_AUTH_ERR;
      EXPECT_EQ(logins[i].code, expected)
          << "login " << i << " of " << kVictim << " while " << form_name(form)
          << " was held by a stopped process: " << logins[i].took.count() << " ms";
      EXPECT_LE(logins[i].took, kDecisionLimit) << "login " << i << " waited on a stopped process";
      std::printf("[audit-race]   %s login %zu: %s in %lld ms\n", kVictim, i,
                  logins[i].code == PAM_SUCCESS ? "permit" : "deny",
                  static_cast<long long>(logins[i].took.count()));
    }
    su.finish();
    EXPECT_EQ(recorded_for_victim(db), static_cast<int>(logins.size()))
        << "decisions made while the lock was held went unrecorded";
  }
};

// The control: the scene permits and denies, the lockout rule denies after three failures.
TEST_F(AuditRace, TheSceneWorksWithoutAnAttacker) {
  const std::string db = dir_.file("log/audit.db");
  add_policy_service("ap-audit-reads", db, true);
  add_policy_service("ap-audit-spool", db, false);
  EXPECT_EQ(timed_login(confdir_, "ap-audit-spool", kPassword).code, PAM_SUCCESS);
  EXPECT_EQ(timed_login(confdir_, "ap-audit-reads", kPassword).code, PAM_SUCCESS);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(timed_login(confdir_, "ap-audit-reads", kWrongPassword).code, PAM_AUTH_ERR);
  }
  EXPECT_EQ(timed_login(confdir_, "ap-audit-reads", kPassword).code, PAM_AUTH_ERR)
      << "three failures did not lock the user out";
  EXPECT_EQ(recorded_for_victim(db), 6);
}

TEST_F(AuditRace, SuStoppedHoldingTheWalIndexDelaysNoOneElse) {
  stopped_su_while_others_log_in(Form::wal_index);
}

TEST_F(AuditRace, SuStoppedHoldingTheWalWriteLockDelaysNoOneElse) {
  stopped_su_while_others_log_in(Form::wal_write);
}

TEST_F(AuditRace, SuStoppedHoldingTheSpoolLockDelaysNoOneElse) {
  stopped_su_while_others_log_in(Form::spool);
}

// H2: the log in a root-owned sticky folder; before it exists, the attacker makes its -wal and
// -shm and keeps them open. After three failed logins of the victim they read what they can
// through those descriptors and empty both files. The victim's next login must not be permitted
// (before: the failures vanished and it was), and nothing may have reached the attacker's files.
TEST_F(AuditRace, PlantedWalAndShmInAStickyFolderAreRefusedNeverUsed) {
  const std::string db = dir_.file("sticky/audit.db");
  add_policy_service("ap-audit-sticky", db, true);
  int commands[2], answers[2];
  ASSERT_EQ(pipe(commands), 0);
  ASSERT_EQ(pipe(answers), 0);
  const pid_t attacker = fork();
  ASSERT_GE(attacker, 0);
  if (attacker == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (!become(attacker_uid_, attacker_gid_)) _exit(2);
    const int wal = open((db + "-wal").c_str(), O_RDWR | O_CREAT | O_EXCL, 0600);
    const int shm = open((db + "-shm").c_str(), O_RDWR | O_CREAT | O_EXCL, 0600);
    if (wal < 0 || shm < 0) _exit(3);
    char command = 0;
    if (write(answers[1], "P", 1) != 1 || read(commands[0], &command, 1) != 1) _exit(4);
    // Read every decision they can, then empty the log.
    long seen = 0;
    char buffer[65536];
    for (ssize_t n; (n = pread(wal, buffer, sizeof buffer, seen)) > 0;) seen += n;
    const bool emptied = ftruncate(wal, 0) == 0 && ftruncate(shm, 0) == 0;
    const std::string report = std::to_string(seen) + (emptied ? " emptied" : " kept");
    if (write(answers[1], report.data(), report.size()) < 0) _exit(5);
    _exit(0);
  }
  close(commands[0]);
  close(answers[1]);
  char mark = 0;
  ASSERT_EQ(read(answers[0], &mark, 1), 1) << "the attacker could not plant the files";

  captured_log().clear();
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(timed_login(confdir_, "ap-audit-sticky", kWrongPassword).code, PAM_AUTH_ERR);
  }
  ASSERT_EQ(write(commands[1], "E", 1), 1);
  char report[128] = {};
  const ssize_t length = read(answers[0], report, sizeof report - 1);
  int status = 0;
  waitpid(attacker, &status, 0);
  close(commands[1]);
  close(answers[0]);
  ASSERT_GT(length, 0);
  const long seen = std::strtol(report, nullptr, 10);
  std::printf(
      "[audit-race] planted -wal/-shm: the attacker read %ld bytes of the log and %s it "
      "(module %s)\n",
      seen, std::strstr(report, "emptied") != nullptr ? "emptied" : "could not empty",
      module_path().c_str());

  const Timed after = timed_login(confdir_, "ap-audit-sticky", kPassword);
  EXPECT_EQ(after.code, PAM_AUTH_ERR) << "three failures forgotten through planted -wal/-shm";
  EXPECT_EQ(seen, 0) << "decisions were written into the attacker's file";
  for (const char* suffix : {"-wal", "-shm"}) {
    struct stat info {};
    ASSERT_EQ(lstat((db + suffix).c_str(), &info), 0);
    EXPECT_EQ(info.st_uid, attacker_uid_) << suffix << " was taken over by the module";
  }
  EXPECT_TRUE(logged(db + "-wal is owned by uid " + std::to_string(attacker_uid_)))
      << "the refusal does not say why";
}

}  // namespace
}  // namespace authpolicy::race_test
