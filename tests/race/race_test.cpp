// The file-trust attacks of issue #13, raced through real libpam: a process with only `nobody`'s
// rights swaps a policy or module entry as fast as it can while this process logs in 300 times
// (pam_start_confdir / pam_authenticate / pam_end, the system's libpam and pam_policy.so).
// Zero wrong permits and zero runs of the user's code are the pass condition; each attack also
// prints its counts, so a by-hand run against an older module shows how often it got through:
//   AP_RACE_MODULE=OLD/pam/pam_policy.so AP_RACE_CLI=OLD/cli/authpolicy ap_race_tests
// Needs root (root-owned policies, dropping to nobody) and pam_matrix.so from libpam-wrapper.
#include <fcntl.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <pwd.h>
#include <security/pam_appl.h>
#include <security/pam_ext.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#if defined(AP_RACE_KEEP_MODULE)
#include <dlfcn.h>
#endif

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <new>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/temp_folder.h"
#include "tests/support/private_system_view.h"

// ---- What pam_policy.so logs ----------------------------------------------------------------
// There is no syslog daemon in a test run: this program defines pam_syslog/pam_vsyslog itself
// and exports them (ENABLE_EXPORTS), so modules libpam loads resolve their log calls here first.
// Only the log goes through this; every decision is libpam's and the module's own.
namespace {

// What the module writes at its defaults (refused policies' decisions in
// /var/lib/authpolicy/audit.db, a service file in /etc/pam.d) stays in this program's own view
// of /etc and /var/lib (tests/support/private_system_view.h), entered before the first test.
class PrivateSystemViewEnvironment : public ::testing::Environment {
 public:
  void SetUp() override { authpolicy::test_support::enter_private_system_view_or_exit(); }
};
[[maybe_unused]] ::testing::Environment* const kPrivateSystemView =
    ::testing::AddGlobalTestEnvironment(new PrivateSystemViewEnvironment);
std::vector<std::string>& captured_log() {
  static std::vector<std::string> lines;
  return lines;
}
}  // namespace

extern "C" void pam_vsyslog(const pam_handle_t*, int, const char* format, va_list arguments) {
  char line[4096];
  std::vsnprintf(line, sizeof line, format, arguments);
  captured_log().emplace_back(line);
}

extern "C" void pam_syslog(const pam_handle_t* pamh, int priority, const char* format, ...) {
  va_list arguments;
  va_start(arguments, format);
  pam_vsyslog(pamh, priority, format, arguments);
  va_end(arguments);
}

namespace {

using authpolicy::test_support::TempFolder;

constexpr int kTries = 300;  // logins per attack, and at least as many swaps while they run
// Far above a normal run (about a second per attack); only a starved sanitizer build comes near.
constexpr auto kRaceLimit = std::chrono::seconds(90);
constexpr const char* kUser = "alice";
constexpr const char* kPassword = "alice-race-pass";
constexpr const char* kWrongPassword = "not-alice's";

// An environment variable names another build's module or CLI for a by-hand run on old code.
std::string setting(const char* variable, const char* built) {
  const char* value = std::getenv(variable);
  return value != nullptr && *value != '\0' ? value : built;
}
std::string module_path() {
  return setting("AP_RACE_MODULE", AP_RACE_MODULE);
}
std::string cli_path() {
  return setting("AP_RACE_CLI", AP_RACE_CLI);
}

bool write_file(const std::string& path, const std::string& content, uid_t owner, gid_t group,
                mode_t mode) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
  out.close();
  return out && chown(path.c_str(), owner, group) == 0 && chmod(path.c_str(), mode) == 0;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

bool make_folder(const std::string& path, uid_t owner, gid_t group, mode_t mode) {
  return (mkdir(path.c_str(), mode) == 0 || errno == EEXIST) &&
         chown(path.c_str(), owner, group) == 0 && chmod(path.c_str(), mode) == 0;
}

// `authpolicy check PATH`: its output (stdout and stderr) and wait status.
std::string run_check(const std::string& path, int* status) {
  FILE* pipe = popen((cli_path() + " check " + path + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return "cannot run " + cli_path();
  std::string output;
  char buffer[512];
  while (std::fgets(buffer, sizeof buffer, pipe) != nullptr) output += buffer;
  *status = pclose(pipe);
  return output;
}

// ---- One login through libpam -------------------------------------------------------------

int answer_prompts(int count, const pam_message** messages, pam_response** responses, void* data) {
  if (count <= 0 || messages == nullptr || responses == nullptr) return PAM_CONV_ERR;
  auto* replies = static_cast<pam_response*>(
      std::calloc(static_cast<std::size_t>(count), sizeof(pam_response)));
  if (replies == nullptr) return PAM_BUF_ERR;
  for (int i = 0; i < count; ++i) {
    if (messages[i]->msg_style == PAM_PROMPT_ECHO_OFF) {
      replies[i].resp = strdup(static_cast<const char*>(data));
    } else if (messages[i]->msg_style == PAM_PROMPT_ECHO_ON) {
      replies[i].resp = strdup("");
    }
  }
  *responses = replies;
  return PAM_SUCCESS;
}

// A failed password would otherwise sleep for pam_fail_delay's seconds on every wrong try.
void no_fail_delay(int, unsigned, void*) {}

int authenticate(const std::string& confdir, const std::string& service, const char* password) {
  const pam_conv conversation{answer_prompts, const_cast<char*>(password)};
  pam_handle_t* handle = nullptr;
  int rc = pam_start_confdir(service.c_str(), kUser, &conversation, confdir.c_str(), &handle);
  if (rc == PAM_SUCCESS) {
    rc = pam_set_item(handle, PAM_FAIL_DELAY, reinterpret_cast<const void*>(&no_fail_delay));
  }
  if (rc == PAM_SUCCESS) rc = pam_authenticate(handle, 0);
  if (handle != nullptr) pam_end(handle, rc);
  return rc;
}

// ---- The attacker: a process with nobody's rights, swapping one entry -----------------------

struct SwapperState {
  std::atomic<long> swaps{0};
  std::atomic<int> phase{0};  // 0 starting, 1 swapping, 2 could not become the attacker
  std::atomic<bool> stop{false};
};

// Replaces `entry` over and over, each time with rename(2): by a hard link to `own` (the
// attacker's own file) and by a symlink to `target` (a root-owned file that passes any check).
class Swapper {
 public:
  Swapper(uid_t uid, gid_t gid, const std::string& entry, const std::string& own,
          const std::string& target) {
    void* memory = mmap(nullptr, sizeof(SwapperState), PROT_READ | PROT_WRITE,
                        MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (memory == MAP_FAILED) return;
    state_ = new (memory) SwapperState;
    // Everything the child needs is built before fork: it only makes system calls.
    const std::string file_name = entry + ".own";
    const std::string link_name = entry + ".link";
    const pid_t parent = getpid();
    pid_ = fork();
    if (pid_ != 0) return;
    if (setgroups(1, &gid) != 0 || setgid(gid) != 0 || setuid(uid) != 0 || getuid() != uid ||
        geteuid() != uid || getegid() != gid || setuid(0) == 0) {
      state_->phase = 2;
      _exit(2);
    }
    // After setuid: changing credentials clears the parent-death signal.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(3);
    state_->phase = 1;
    while (!state_->stop.load(std::memory_order_relaxed)) {
      unlink(file_name.c_str());
      if (link(own.c_str(), file_name.c_str()) == 0 &&
          rename(file_name.c_str(), entry.c_str()) == 0) {
        state_->swaps.fetch_add(1, std::memory_order_relaxed);
      }
      unlink(link_name.c_str());
      if (symlink(target.c_str(), link_name.c_str()) == 0 &&
          rename(link_name.c_str(), entry.c_str()) == 0) {
        state_->swaps.fetch_add(1, std::memory_order_relaxed);
      }
    }
    _exit(0);
  }
  ~Swapper() {
    stop();
    if (state_ != nullptr) munmap(state_, sizeof(SwapperState));
  }
  Swapper(const Swapper&) = delete;
  Swapper& operator=(const Swapper&) = delete;

  // True once the child runs with only the attacker's rights and swaps.
  bool started() {
    if (state_ == nullptr || pid_ <= 0) return false;
    const auto limit = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (state_->phase.load() == 0 && std::chrono::steady_clock::now() < limit) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return state_->phase.load() == 1;
  }
  long swaps() const { return state_ == nullptr ? 0 : state_->swaps.load(); }
  void stop() {
    if (pid_ <= 0) return;
    state_->stop = true;
    int status = 0;
    for (int i = 0; i < 2000 && waitpid(pid_, &status, WNOHANG) == 0; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    if (waitpid(pid_, &status, WNOHANG) == 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, &status, 0);
    }
    pid_ = -1;
  }

 private:
  SwapperState* state_ = nullptr;
  pid_t pid_ = -1;
};

// Runs `act` in a child process with only the attacker's rights; true when it returned true.
bool as_attacker(uid_t uid, gid_t gid, const std::function<bool()>& act) {
  const pid_t pid = fork();
  if (pid < 0) return false;
  if (pid == 0) {
    if (setgroups(1, &gid) != 0 || setgid(gid) != 0 || setuid(uid) != 0 || setuid(0) == 0) {
      _exit(2);
    }
    _exit(act() ? 0 : 1);
  }
  int status = 0;
  if (waitpid(pid, &status, 0) != pid) return false;
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

struct Tally {
  int tries = 0;
  int permits = 0;
  long swaps = 0;
};

// Logs in until there were kTries logins and kTries swaps (or the time limit passed).
Tally race(Swapper& swapper, const std::string& confdir, const std::string& service,
           const char* password) {
  Tally tally;
  const auto limit = std::chrono::steady_clock::now() + kRaceLimit;
  while ((tally.tries < kTries || swapper.swaps() < kTries) &&
         std::chrono::steady_clock::now() < limit) {
    if (authenticate(confdir, service, password) == PAM_SUCCESS) ++tally.permits;
    ++tally.tries;
  }
  swapper.stop();
  tally.swaps = swapper.swaps();
  return tally;
}

// ---- The scene -------------------------------------------------------------------------------
//   T/            root 0755 (mkdtemp under /tmp)
//   T/root/       root 0755: locked.pol (password, pam_matrix), passdb, module.pol
//   T/pam.d/      the services, with pam_policy.so's absolute path
//   T/home/       nobody 0755, the attacker's folder: mine.pol ("auth permit"), mods/own.so
//   T/group/      root:nogroup 0775, a policy folder the attacker's group may write
class Race : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(geteuid(), 0u) << "the race tests need root (root-owned policies, setuid nobody)";
    const passwd* nobody = getpwnam("nobody");
    ASSERT_NE(nobody, nullptr) << "no user 'nobody'";
    attacker_uid_ = nobody->pw_uid;
    attacker_gid_ = nobody->pw_gid;
    captured_log().clear();

    ASSERT_EQ(chmod(dir_.path().c_str(), 0755), 0);
    root_ = dir_.file("root");
    home_ = dir_.file("home");
    group_ = dir_.file("group");
    confdir_ = dir_.file("pam.d");
    marker_ = dir_.file("marker");
    ASSERT_TRUE(make_folder(root_, 0, 0, 0755));
    ASSERT_TRUE(make_folder(confdir_, 0, 0, 0755));
    ASSERT_TRUE(make_folder(home_, attacker_uid_, attacker_gid_, 0755));
    ASSERT_TRUE(make_folder(home_ + "/mods", attacker_uid_, attacker_gid_, 0755));
    ASSERT_TRUE(make_folder(group_, 0, attacker_gid_, 0775));

    std::string passdb;
    for (const char* service :
         {"ap-race-control", "ap-race-entry", "ap-race-module", "ap-race-group", "ap-race-user"}) {
      passdb += std::string(kUser) + ":" + kPassword + ":" + service + "\n";
    }
    ASSERT_TRUE(write_file(root_ + "/passdb", passdb, 0, 0, 0600));
    locked_ = root_ + "/locked.pol";
    ASSERT_TRUE(write_file(locked_,
                           "factor password { module = \"" + std::string(AP_RACE_MATRIX) +
                               "\"; arguments = \"passdb=" + root_ + "/passdb\" }\nauth password\n",
                           0, 0, 0644));
    ASSERT_TRUE(
        write_file(home_ + "/mine.pol", "auth permit\n", attacker_uid_, attacker_gid_, 0644));
    ASSERT_TRUE(write_file(home_ + "/mods/own.so", read_file(AP_RACE_USER_MODULE), attacker_uid_,
                           attacker_gid_, 0755));
    ASSERT_TRUE(write_file(root_ + "/module.pol",
                           "factor x = pam(\"" + home_ + "/mods/x.so\")\nauth x\n", 0, 0, 0644));

    const std::string module = module_path();
    add_service("ap-race-control", module + " policy=" + locked_);
    add_service("ap-race-user", module + " policy=" + home_ + "/mine.pol");
    add_service("ap-race-entry", module + " policy=" + home_ + "/svc.pol");
    add_service("ap-race-module", module + " policy=" + root_ + "/module.pol");
    add_service("ap-race-group", module + " policy=" + group_ + "/svc.pol");
    ASSERT_EQ(setenv("AP_RACE_MARKER", marker_.c_str(), 1), 0);
#if defined(AP_RACE_KEEP_MODULE)
    // Under ASan: keep pam_policy.so mapped after libpam's dlclose, so that LeakSanitizer can
    // name the frames of anything it leaves behind (as tests/pam and tests/pam_load do).
    dlopen(module.c_str(), RTLD_NOW | RTLD_NODELETE);
#endif
  }
  void TearDown() override {
    unsetenv("AP_RACE_MARKER");
    if (HasFailure()) {
      for (const auto& line : captured_log()) std::fprintf(stderr, "log: %s\n", line.c_str());
    }
  }

  void add_service(const std::string& name, const std::string& module_and_arguments) {
    ASSERT_TRUE(write_file(confdir_ + "/" + name, "auth required " + module_and_arguments + "\n", 0,
                           0, 0644));
  }

  // How many times the user's module was loaded into this (root) process; each load leaves
  // one "loaded euid=N" line, each call of it one "authenticate" line.
  int user_module_loads() const {
    std::istringstream marks(read_file(marker_));
    int loads = 0;
    for (std::string line; std::getline(marks, line);) {
      if (line.rfind("loaded ", 0) == 0) ++loads;
    }
    return loads;
  }

  bool logged(const std::string& text) const {
    for (const auto& line : captured_log()) {
      if (line.find(text) != std::string::npos) return true;
    }
    return false;
  }

  static void report(const char* attack, const Tally& tally, const std::string& extra = "") {
    std::printf("[race] %s: %d tries, %ld swaps, %d permits%s (module %s)\n", attack, tally.tries,
                tally.swaps, tally.permits, extra.c_str(), module_path().c_str());
  }

  TempFolder dir_{"ap-race"};
  uid_t attacker_uid_ = 0;
  gid_t attacker_gid_ = 0;
  std::string root_, home_, group_, confdir_, marker_, locked_;
};

// Without this the zero counts below would prove nothing: the scene can permit, and can deny.
TEST_F(Race, TheSceneWorksWithoutAnAttacker) {
  EXPECT_EQ(authenticate(confdir_, "ap-race-control", kPassword), PAM_SUCCESS);
  EXPECT_EQ(authenticate(confdir_, "ap-race-control", kWrongPassword), PAM_AUTH_ERR);
  // The user's own "auth permit" file, never swapped: refused (old code too: not root's).
  EXPECT_NE(authenticate(confdir_, "ap-race-user", kWrongPassword), PAM_SUCCESS);
  EXPECT_EQ(user_module_loads(), 0);
}

// 13.1: the policy entry in the user's own folder swapped between the user's "auth permit" file
// and a symlink to root's password policy; every try gives the wrong password.
TEST_F(Race, PolicyEntrySwappedWithTheUsersOwnFileNeverPermits) {
  Swapper swapper(attacker_uid_, attacker_gid_, home_ + "/svc.pol", home_ + "/mine.pol", locked_);
  ASSERT_TRUE(swapper.started()) << "could not start the swapper as nobody";
  const Tally tally = race(swapper, confdir_, "ap-race-entry", kWrongPassword);
  report("policy entry in the user's folder", tally);
  EXPECT_GE(tally.tries, kTries);
  EXPECT_GE(tally.swaps, kTries);
  EXPECT_EQ(tally.permits, 0) << "wrong-password logins permitted";
}

// 13.1: a pam() factor naming a path in the user's folder, raced between the user's own .so
// (which leaves a mark when it is loaded or called) and a symlink to root's pam_permit.so.
TEST_F(Race, ModuleEntrySwappedWithTheUsersOwnModuleNeverRunsIt) {
  Swapper swapper(attacker_uid_, attacker_gid_, home_ + "/mods/x.so", home_ + "/mods/own.so",
                  AP_RACE_PERMIT);
  ASSERT_TRUE(swapper.started()) << "could not start the swapper as nobody";
  const Tally tally = race(swapper, confdir_, "ap-race-module", kWrongPassword);
  const int loads = user_module_loads();
  report("pam() module in the user's folder", tally,
         ", the user's module loaded " + std::to_string(loads) + " times");
  EXPECT_GE(tally.tries, kTries);
  EXPECT_GE(tally.swaps, kTries);
  EXPECT_EQ(loads, 0) << "the user's code ran in this root process: "
                      << read_file(marker_).substr(0, 40);
  EXPECT_EQ(tally.permits, 0);
}

// 13.1: a policy folder its group may write (root:nogroup 0775). Root's own policy there is
// refused with the right password, with the same E015 reason in the log and in `check`.
TEST_F(Race, PolicyInAGroupWritableFolderIsRefusedLikeCheckSays) {
  const std::string policy = group_ + "/svc.pol";
  ASSERT_TRUE(write_file(policy, read_file(locked_), 0, 0, 0644));
  EXPECT_EQ(authenticate(confdir_, "ap-race-group", kPassword), PAM_AUTH_ERR);

  int status = -1;
  const std::string output = run_check(policy, &status);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) != 0) << output;
  const std::string why = "folder " + group_ + " is writable by its group (mode 0775)";
  EXPECT_NE(output.find("error[E015]: unsafe policy file: " + why), std::string::npos) << output;
  EXPECT_TRUE(logged("error[E015]: unsafe policy file: " + why));
}

// 13.1: a member of that folder's group races the entry as in the first attack.
TEST_F(Race, GroupMemberSwappingAPolicyEntryNeverPermits) {
  Swapper swapper(attacker_uid_, attacker_gid_, group_ + "/svc.pol", home_ + "/mine.pol", locked_);
  ASSERT_TRUE(swapper.started()) << "could not start the swapper as nobody:nogroup";
  const Tally tally = race(swapper, confdir_, "ap-race-group", kWrongPassword);
  report("policy entry in a group-writable folder", tally);
  EXPECT_GE(tally.tries, kTries);
  EXPECT_GE(tally.swaps, kTries);
  EXPECT_EQ(tally.permits, 0) << "wrong-password logins permitted";
}

// 13.1 and 13.5: the audit log decides `deny if failures(15m) >= 3`. Its own folder is root's
// (0700), but the folder above it is root:nogroup 0775: a member of the group renames the log
// away and an older log of root's, without those failures, into its place. The log is refused, and
// refused closed: `required = true` and failures() unknown deny; `required = false` keeps the
// decision and says why the log was not written.
TEST_F(Race, AuditFolderSwappedByAGroupMemberFailsClosed) {
  const std::string password_factor = "factor password { module = \"" +
                                      std::string(AP_RACE_MATRIX) +
                                      "\"; arguments = \"passdb=" + root_ + "/passdb\" }\n";
  auto policy = [&](const std::string& db, bool required, bool rule) {
    return password_factor + "audit { db = \"" + db +
           "\"; required = " + (required ? "true" : "false") + " }\n" +
           (rule ? "deny if failures(15m) >= 3\n" : "") + "auth password\n";
  };
  // Three failures in root's own log, written by the module; then the rule denies the right
  // password (the control: the rule works). And an older log of root's, without them.
  ASSERT_TRUE(make_folder(root_ + "/seed", 0, 0, 0700));
  ASSERT_TRUE(make_folder(root_ + "/older", 0, 0, 0700));
  add_service("ap-race-seed", module_path() + " policy=" + root_ + "/seed.pol");
  ASSERT_TRUE(
      write_file(root_ + "/seed.pol", policy(root_ + "/older/audit.db", true, true), 0, 0, 0644));
  ASSERT_EQ(authenticate(confdir_, "ap-race-seed", kPassword), PAM_SUCCESS);
  ASSERT_TRUE(
      write_file(root_ + "/seed.pol", policy(root_ + "/seed/audit.db", true, true), 0, 0, 0644));
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(authenticate(confdir_, "ap-race-seed", kWrongPassword), PAM_AUTH_ERR);
  }
  ASSERT_EQ(authenticate(confdir_, "ap-race-seed", kPassword), PAM_AUTH_ERR);

  // The admin's layout: the logs move below a folder its group may change.
  const std::string logs = dir_.file("logs");
  ASSERT_TRUE(make_folder(logs, 0, attacker_gid_, 0775));
  ASSERT_EQ(rename((root_ + "/seed").c_str(), (logs + "/audit").c_str()), 0);
  ASSERT_EQ(rename((root_ + "/older").c_str(), (logs + "/older").c_str()), 0);
  ASSERT_TRUE(
      write_file(root_ + "/audit.pol", policy(logs + "/audit/audit.db", true, true), 0, 0, 0644));
  add_service("ap-race-audit", module_path() + " policy=" + root_ + "/audit.pol");
  ASSERT_TRUE(as_attacker(attacker_uid_, attacker_gid_, [&] {
    return rename((logs + "/audit").c_str(), (logs + "/newer").c_str()) == 0 &&
           rename((logs + "/older").c_str(), (logs + "/audit").c_str()) == 0;
  })) << "the group member could not swap the folders";

  captured_log().clear();
  EXPECT_EQ(authenticate(confdir_, "ap-race-audit", kPassword), PAM_AUTH_ERR)
      << "three failures forgotten by swapping the log's folder";
  const std::string why = "folder " + logs + " is writable by its group (mode 0775)";
  EXPECT_TRUE(logged(why));

  // Best effort and no failures() rule: the decision stands, the log line says why.
  ASSERT_TRUE(
      write_file(root_ + "/audit.pol", policy(logs + "/audit/audit.db", false, false), 0, 0, 0644));
  captured_log().clear();
  EXPECT_EQ(authenticate(confdir_, "ap-race-audit", kPassword), PAM_SUCCESS);
  EXPECT_TRUE(logged("audit write failed (best effort, decision stands): audit folder " + logs +
                     "/audit refused: " + why));
  EXPECT_TRUE(logged(why));
}

// 13.8: a pam() factor naming pam_policy.so itself (its real path here) is E026 in `check` and in
// the module, which refuses before calling anything: the host (this process) survives. Before
// E026 the module called itself until the host died of a stack overflow.
TEST_F(Race, PamFactorNamingThisModuleIsE026InCheckAndInTheModule) {
  const std::string policy = root_ + "/self.pol";
  ASSERT_TRUE(write_file(
      policy, "factor me = pam(\"" + module_path() + "\", \"policy=" + policy + "\")\nauth me\n", 0,
      0, 0644));
  add_service("ap-race-self", module_path() + " policy=" + policy);
  EXPECT_EQ(authenticate(confdir_, "ap-race-self", kPassword), PAM_AUTH_ERR);
  EXPECT_TRUE(logged("error[E026]: factor 'me' delegates to pam_policy.so"));

  int status = -1;
  const std::string output = run_check(policy, &status);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 1) << output;
  EXPECT_NE(output.find("error[E026]: factor 'me' delegates to pam_policy.so"), std::string::npos)
      << output;
}

}  // namespace
