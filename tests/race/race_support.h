// What the race tests (race_test.cpp, write_race_test.cpp, audit_race_test.cpp) share: the
// builds under test (or another build's, named by AP_RACE_MODULE / AP_RACE_CLI for a by-hand run
// on old code), root-owned files, one login through the system's libpam, what the modules log,
// the scene's temporary folder and its attacker: a process with only nobody's rights that repeats
// one attack step as fast as it can while the test runs as root.
//
// Every test program links race_support.cpp, which also enters the private view of /etc and
// /var/lib before the first test and defines pam_syslog/pam_vsyslog (exported: ENABLE_EXPORTS),
// so the modules libpam loads log into this program and never to the host's syslog.
#pragma once

#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/types.h>

#include <chrono>
#include <functional>
#include <new>
#include <string>
#include <vector>

#include "tests/support/temp_folder.h"

namespace authpolicy::race_test {

using test_support::TempFolder;

// ---- The builds under test -------------------------------------------------------------------
std::string module_path();  // AP_RACE_MODULE from the environment, or this build's pam_policy.so
std::string cli_path();     // AP_RACE_CLI from the environment, or this build's authpolicy

// Under ASan (AP_RACE_KEEP_MODULE): keeps pam_policy.so mapped after libpam's dlclose, so that
// LeakSanitizer can name the frames of anything it leaves behind (as tests/pam and tests/pam_load
// do). Otherwise nothing.
void keep_module_mapped();

// ---- Files -----------------------------------------------------------------------------------
bool write_file(const std::string& path, const std::string& content, uid_t owner, gid_t group,
                mode_t mode);
std::string read_file(const std::string& path);
bool make_folder(const std::string& path, uid_t owner, gid_t group, mode_t mode);

// ---- One login through the system's libpam (pam_start_confdir, no pam_wrapper) -------------
// Authenticates `user` on `service` from the pam.d folder `confdir`, answering echo-off prompts
// with `secret` and echo-on prompts with `visible`, without pam_fail_delay's sleep; the PAM code.
int authenticate(const std::string& confdir, const std::string& service, const char* user,
                 const char* secret, const char* visible = "");

// ---- What the modules logged through pam_syslog ----------------------------------------------
std::vector<std::string>& captured_log();
bool logged(const std::string& text);  // a captured line holds `text`

// ---- The attacker ----------------------------------------------------------------------------
// Becomes `uid`:`gid` for good (no supplementary groups, no way back to root); false when any
// part of that failed.
bool become(uid_t uid, gid_t gid);

// Runs `act` in a child process with only the attacker's rights; true when it returned true.
bool as_attacker(uid_t uid, gid_t gid, const std::function<bool()>& act);

// One T in memory shared with the processes forked after it (MAP_SHARED | MAP_ANONYMOUS).
template <typename T>
class SharedState {
 public:
  SharedState() {
    void* memory =
        mmap(nullptr, sizeof(T), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (memory != MAP_FAILED) state_ = new (memory) T;
  }
  ~SharedState() {
    if (state_ != nullptr) munmap(state_, sizeof(T));
  }
  SharedState(const SharedState&) = delete;
  SharedState& operator=(const SharedState&) = delete;

  T* get() const { return state_; }  // null when the mapping failed
  T* operator->() const { return state_; }
  T& operator*() const { return *state_; }

 private:
  T* state_ = nullptr;
};

struct AttackerState;

// A child process that becomes the attacker (`uid`:`gid`), dies with this process, and repeats
// `step` until stopped; `step` returns how many swaps it made (each counted only when its
// rename succeeded). Everything `step` needs is built before the fork: in the child it only makes
// system calls.
class AttackerLoop {
 public:
  AttackerLoop(uid_t uid, gid_t gid, std::function<long()> step);
  ~AttackerLoop();
  AttackerLoop(const AttackerLoop&) = delete;
  AttackerLoop& operator=(const AttackerLoop&) = delete;

  // True once the child runs with only the attacker's rights and swaps (waits up to 10 s).
  bool started();
  long swaps() const;  // so far: also after stop()
  void stop();         // asks the child to end, kills it after 2 s, reaps it

 private:
  SharedState<AttackerState> state_;
  pid_t pid_ = -1;
};

// Runs `once` until it ran `tries` times and the attacker swapped `tries` times, or `limit`
// passed, or `once` returned false (that run is not counted); then stops the attacker. Returns
// how many runs there were.
int run_race(AttackerLoop& attacker, int tries, std::chrono::seconds limit,
             const std::function<bool()>& once);

// ---- The scene -------------------------------------------------------------------------------
// A test as root, the attacker nobody (with nobody's group), and a temporary folder
//   T/         root 0755 (mkdtemp under /tmp)
//   T/root/    root 0755: the root-owned policies
//   T/pam.d/   root 0755: the services
// The captured log is emptied before the test and printed when it failed. A fixture's SetUp
// calls ASSERT_NO_FATAL_FAILURE(RaceScene::SetUp()) first.
class RaceScene : public ::testing::Test {
 protected:
  explicit RaceScene(const std::string& prefix) : dir_(prefix) {}
  void SetUp() override;
  void TearDown() override;

  // T/pam.d/NAME: `auth required` pam_policy.so with the policy at `policy`.
  void add_service(const std::string& name, const std::string& policy);

  TempFolder dir_;
  uid_t attacker_uid_ = 0;
  gid_t attacker_gid_ = 0;
  std::string root_, confdir_;
};

}  // namespace authpolicy::race_test
