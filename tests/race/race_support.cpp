// The race tests' shared machinery (race_support.h). Compiled into each race test program, with
// that program's AP_RACE_* definitions.
#include "tests/race/race_support.h"

#include <grp.h>
#include <pwd.h>
#include <security/pam_appl.h>
#include <security/pam_ext.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#if defined(AP_RACE_KEEP_MODULE)
#include <dlfcn.h>
#endif

#include <atomic>
#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>
#include <utility>

#include "tests/support/pam_answers.h"
#include "tests/support/private_system_view_environment.h"

// ---- What pam_policy.so logs ----------------------------------------------------------------
// There is no syslog daemon in a test run: the program defines pam_syslog/pam_vsyslog itself and
// exports them (ENABLE_EXPORTS), so modules libpam loads resolve their log calls here first.
// Only the log goes through this; every decision is libpam's and the module's own.
extern "C" void pam_vsyslog(const pam_handle_t*, int, const char* format, va_list arguments) {
  char line[4096];
  std::vsnprintf(line, sizeof line, format, arguments);
  authpolicy::race_test::captured_log().emplace_back(line);
}

extern "C" void pam_syslog(const pam_handle_t* pamh, int priority, const char* format, ...) {
  va_list arguments;
  va_start(arguments, format);
  pam_vsyslog(pamh, priority, format, arguments);
  va_end(arguments);
}

namespace authpolicy::race_test {
namespace {

// What the module and the CLI write at their defaults (refused policies' decisions in
// /var/lib/authpolicy/audit.db, a service file in /etc/pam.d) stays in this program's own view of
// /etc and /var/lib (tests/support/private_system_view.h), entered before the first test.
[[maybe_unused]] ::testing::Environment* const kPrivateSystemView =
    test_support::private_system_view_before_the_first_test();

std::string setting(const char* variable, const char* built) {
  const char* value = std::getenv(variable);
  return value != nullptr && *value != '\0' ? value : built;
}

}  // namespace

std::string module_path() {
  return setting("AP_RACE_MODULE", AP_RACE_MODULE);
}
std::string cli_path() {
  return setting("AP_RACE_CLI", AP_RACE_CLI);
}

void keep_module_mapped() {
#if defined(AP_RACE_KEEP_MODULE)
  dlopen(module_path().c_str(), RTLD_NOW | RTLD_NODELETE);
#endif
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

int authenticate(const std::string& confdir, const std::string& service, const char* user,
                 const char* secret, const char* visible) {
  test_support::PamAnswers answers{secret, visible};
  const pam_conv conversation{test_support::answer_prompts, &answers};
  pam_handle_t* handle = nullptr;
  int rc = pam_start_confdir(service.c_str(), user, &conversation, confdir.c_str(), &handle);
  if (rc == PAM_SUCCESS) {
    rc = pam_set_item(handle, PAM_FAIL_DELAY,
                      reinterpret_cast<const void*>(&test_support::no_fail_delay));
  }
  if (rc == PAM_SUCCESS) rc = pam_authenticate(handle, 0);
  if (handle != nullptr) pam_end(handle, rc);
  return rc;
}

std::vector<std::string>& captured_log() {
  static std::vector<std::string> lines;
  return lines;
}

bool logged(const std::string& text) {
  for (const auto& line : captured_log()) {
    if (line.find(text) != std::string::npos) return true;
  }
  return false;
}

bool become(uid_t uid, gid_t gid) {
  return setgroups(1, &gid) == 0 && setgid(gid) == 0 && setuid(uid) == 0 && getuid() == uid &&
         geteuid() == uid && getegid() == gid && setuid(0) != 0;
}

bool as_attacker(uid_t uid, gid_t gid, const std::function<bool()>& act) {
  const pid_t pid = fork();
  if (pid < 0) return false;
  if (pid == 0) {
    if (!become(uid, gid)) _exit(2);
    _exit(act() ? 0 : 1);
  }
  int status = 0;
  if (waitpid(pid, &status, 0) != pid) return false;
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

struct AttackerState {
  std::atomic<long> swaps{0};
  std::atomic<int> phase{0};  // 0 starting, 1 swapping, 2 could not become the attacker
  std::atomic<bool> stop{false};
};

AttackerLoop::AttackerLoop(uid_t uid, gid_t gid, std::function<long()> step) {
  AttackerState* state = state_.get();
  if (state == nullptr) return;
  const pid_t parent = getpid();
  pid_ = fork();
  if (pid_ != 0) return;
  if (!become(uid, gid)) {
    state->phase = 2;
    _exit(2);
  }
  // After setuid: changing credentials clears the parent-death signal.
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != parent) _exit(3);
  state->phase = 1;
  while (!state->stop.load(std::memory_order_relaxed)) {
    const long swapped = step();
    if (swapped > 0) state->swaps.fetch_add(swapped, std::memory_order_relaxed);
  }
  _exit(0);
}

AttackerLoop::~AttackerLoop() {
  stop();
}

bool AttackerLoop::started() {
  if (state_.get() == nullptr || pid_ <= 0) return false;
  const auto limit = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (state_->phase.load() == 0 && std::chrono::steady_clock::now() < limit) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return state_->phase.load() == 1;
}

long AttackerLoop::swaps() const {
  return state_.get() == nullptr ? 0 : state_->swaps.load();
}

void AttackerLoop::stop() {
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

int run_race(AttackerLoop& attacker, int tries, std::chrono::seconds limit,
             const std::function<bool()>& once) {
  int runs = 0;
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while ((runs < tries || attacker.swaps() < tries) &&
         std::chrono::steady_clock::now() < deadline) {
    if (!once()) break;
    ++runs;
  }
  attacker.stop();
  return runs;
}

void RaceScene::SetUp() {
  ASSERT_EQ(geteuid(), 0u) << "the race tests need root (root-owned files, setuid nobody)";
  const passwd* nobody = getpwnam("nobody");
  ASSERT_NE(nobody, nullptr) << "no user 'nobody'";
  attacker_uid_ = nobody->pw_uid;
  attacker_gid_ = nobody->pw_gid;
  captured_log().clear();
  ASSERT_EQ(chmod(dir_.path().c_str(), 0755), 0);
  root_ = dir_.file("root");
  confdir_ = dir_.file("pam.d");
  ASSERT_TRUE(make_folder(root_, 0, 0, 0755));
  ASSERT_TRUE(make_folder(confdir_, 0, 0, 0755));
}

void RaceScene::add_service(const std::string& name, const std::string& policy) {
  ASSERT_TRUE(write_file(confdir_ + "/" + name,
                         "auth required " + module_path() + " policy=" + policy + "\n", 0, 0,
                         0644));
}

void RaceScene::TearDown() {
  if (HasFailure()) {
    for (const auto& line : captured_log()) std::fprintf(stderr, "log: %s\n", line.c_str());
  }
}

}  // namespace authpolicy::race_test
