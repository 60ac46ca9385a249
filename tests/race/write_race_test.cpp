// The write-side attacks of issue #21 (H1, M2), raced through the real programs: a process with
// only `nobody`'s rights swaps a folder it owns with a symlink to a root folder (renameat2
// RENAME_EXCHANGE, as fast as it can) while root
//   H1: verifies nobody's TOTP codes 300 times through the system's libpam and pam_policy.so
//       (each verification rewrites the secret file: RATE_LIMIT records the attempt), and
//   M2: runs `authpolicy fmt` on a policy in that folder 300 times.
// The pass condition: the root folder is exactly as it was (no file created, none replaced), and
// no file fmt writes ever has a setuid or setgid bit. Each attack prints its counts, so a by-hand
// run against an older build shows how often it got through:
//   AP_RACE_MODULE=OLD/pam/pam_policy.so AP_RACE_CLI=OLD/cli/authpolicy ap_write_race_tests
// Needs root (root-owned policies and folders, dropping to nobody).
#include <fcntl.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <pwd.h>
#include <security/pam_appl.h>
#include <signal.h>
#include <stdio.h>  // renameat2
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#if defined(AP_RACE_KEEP_MODULE)
#include <dlfcn.h>
#endif

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <new>
#include <ostream>
#include <sstream>
#include <string>
#include <thread>

#include "tests/support/private_system_view.h"
#include "tests/support/temp_folder.h"

namespace {

using authpolicy::test_support::TempFolder;

// Whatever the module or the CLI would write at their defaults stays in this program's own view
// of /etc and /var/lib (tests/support/private_system_view.h), entered before the first test.
class PrivateSystemViewEnvironment : public ::testing::Environment {
 public:
  void SetUp() override { authpolicy::test_support::enter_private_system_view_or_exit(); }
};
[[maybe_unused]] ::testing::Environment* const kPrivateSystemView =
    ::testing::AddGlobalTestEnvironment(new PrivateSystemViewEnvironment);

constexpr int kTries = 300;  // verifications or fmt runs per attack, and at least as many swaps
#if defined(AP_RACE_KEEP_MODULE)
// A sanitizer build: one fmt run of the ASan CLI takes about three times as long (284 of 300
// runs fitted in 120 s beside the rest of the ASan suite).
constexpr auto kRaceLimit = std::chrono::seconds(270);
#else
constexpr auto kRaceLimit = std::chrono::seconds(120);
#endif

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

// What a folder holds: each name with its inode, owner, mode and contents. Two snapshots are
// equal when nothing was created, removed or replaced.
struct Entry {
  ino_t inode = 0;
  uid_t owner = 0;
  mode_t mode = 0;
  std::string content;
  bool operator==(const Entry&) const = default;
};
void PrintTo(const Entry& entry, std::ostream* out) {
  *out << "inode " << entry.inode << ", uid " << entry.owner << ", mode " << std::oct
       << entry.mode << std::dec;
}
std::map<std::string, Entry> snapshot(const std::string& folder) {
  std::map<std::string, Entry> entries;
  for (const auto& item : std::filesystem::directory_iterator(folder)) {
    struct stat st {};
    if (lstat(item.path().c_str(), &st) != 0) continue;
    entries[item.path().filename().string()] = {
        st.st_ino, st.st_uid, st.st_mode, S_ISREG(st.st_mode) ? read_file(item.path()) : ""};
  }
  return entries;
}
std::string describe(const std::map<std::string, Entry>& entries) {
  std::string text;
  for (const auto& [name, entry] : entries) {
    char mode[16];
    std::snprintf(mode, sizeof mode, "%o", static_cast<unsigned>(entry.mode));
    text += name + " (inode " + std::to_string(entry.inode) + ", uid " +
            std::to_string(entry.owner) + ", mode " + mode + ")\n";
  }
  return text;
}

// ---- One TOTP login through libpam -----------------------------------------------------------

int answer_code(int count, const pam_message** messages, pam_response** responses, void*) {
  if (count <= 0 || messages == nullptr || responses == nullptr) return PAM_CONV_ERR;
  auto* replies = static_cast<pam_response*>(
      std::calloc(static_cast<std::size_t>(count), sizeof(pam_response)));
  if (replies == nullptr) return PAM_BUF_ERR;
  for (int i = 0; i < count; ++i) {
    const int style = messages[i]->msg_style;
    if (style == PAM_PROMPT_ECHO_OFF || style == PAM_PROMPT_ECHO_ON) {
      replies[i].resp = strdup("000000");  // a wrong code: it is recorded all the same
    }
  }
  *responses = replies;
  return PAM_SUCCESS;
}

void no_fail_delay(int, unsigned, void*) {}

int authenticate(const std::string& confdir, const std::string& service, const char* user) {
  const pam_conv conversation{answer_code, nullptr};
  pam_handle_t* handle = nullptr;
  int rc = pam_start_confdir(service.c_str(), user, &conversation, confdir.c_str(), &handle);
  if (rc == PAM_SUCCESS) {
    rc = pam_set_item(handle, PAM_FAIL_DELAY, reinterpret_cast<const void*>(&no_fail_delay));
  }
  if (rc == PAM_SUCCESS) rc = pam_authenticate(handle, 0);
  if (handle != nullptr) pam_end(handle, rc);
  return rc;
}

// `authpolicy fmt PATH`: its exit status.
int run_fmt(const std::string& path) {
  const pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    const int null = open("/dev/null", O_WRONLY);
    if (null >= 0) {
      dup2(null, 1);
      dup2(null, 2);
    }
    execl(cli_path().c_str(), "authpolicy", "fmt", path.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  int status = 0;
  if (waitpid(pid, &status, 0) != pid) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// ---- The attacker: exchanges her folder with her symlink to a root folder ---------------------

struct ExchangerState {
  std::atomic<long> swaps{0};
  std::atomic<int> phase{0};  // 0 starting, 1 swapping, 2 could not become the attacker
  std::atomic<bool> stop{false};
};

class Exchanger {
 public:
  Exchanger(uid_t uid, gid_t gid, const std::string& entry, const std::string& other) {
    void* memory = mmap(nullptr, sizeof(ExchangerState), PROT_READ | PROT_WRITE,
                        MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (memory == MAP_FAILED) return;
    state_ = new (memory) ExchangerState;
    const pid_t parent = getpid();
    pid_ = fork();
    if (pid_ != 0) return;
    if (setgroups(1, &gid) != 0 || setgid(gid) != 0 || setuid(uid) != 0 || getuid() != uid ||
        geteuid() != uid || setuid(0) == 0) {
      state_->phase = 2;
      _exit(2);
    }
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(3);
    state_->phase = 1;
    while (!state_->stop.load(std::memory_order_relaxed)) {
      if (renameat2(AT_FDCWD, entry.c_str(), AT_FDCWD, other.c_str(), RENAME_EXCHANGE) == 0) {
        state_->swaps.fetch_add(1, std::memory_order_relaxed);
      }
    }
    _exit(0);
  }
  ~Exchanger() {
    stop();
    if (state_ != nullptr) munmap(state_, sizeof(ExchangerState));
  }
  Exchanger(const Exchanger&) = delete;
  Exchanger& operator=(const Exchanger&) = delete;

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
  ExchangerState* state_ = nullptr;
  pid_t pid_ = -1;
};

// ---- The scene -------------------------------------------------------------------------------
//   T/             root 0755 (mkdtemp under /tmp)
//   T/root/        root 0755: the policies
//   T/pam.d/       the service
//   T/victim/      root 0755: a root-owned 0700 script named like nobody's secret, and a
//                  root-owned policy named like nobody's policy (what run-parts or a PAM stack
//                  would use)
//   T/home/        nobody 0755: nobody's own folder
//   T/home/x/      nobody 0700: her TOTP secret file `nobody` and her policy `p.pol`
//   T/home/x.alt   her symlink to T/victim; the attacker exchanges x and x.alt
class WriteRace : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(geteuid(), 0u) << "the race tests need root (root-owned folders, setuid nobody)";
    const passwd* nobody = getpwnam("nobody");
    ASSERT_NE(nobody, nullptr) << "no user 'nobody'";
    uid_ = nobody->pw_uid;
    gid_ = nobody->pw_gid;
    ASSERT_EQ(chmod(dir_.path().c_str(), 0755), 0);
    root_ = dir_.file("root");
    confdir_ = dir_.file("pam.d");
    victim_ = dir_.file("victim");
    home_ = dir_.file("home");
    mine_ = home_ + "/x";
    ASSERT_TRUE(make_folder(root_, 0, 0, 0755));
    ASSERT_TRUE(make_folder(confdir_, 0, 0, 0755));
    ASSERT_TRUE(make_folder(victim_, 0, 0, 0755));
    ASSERT_TRUE(make_folder(home_, uid_, gid_, 0755));
    ASSERT_TRUE(make_folder(mine_, uid_, gid_, 0700));
    ASSERT_EQ(symlink(victim_.c_str(), (home_ + "/x.alt").c_str()), 0);
    ASSERT_EQ(lchown((home_ + "/x.alt").c_str(), uid_, gid_), 0);
    ASSERT_TRUE(write_file(victim_ + "/nobody", "#!/bin/sh\necho root's job\n", 0, 0, 0700));
    ASSERT_TRUE(write_file(victim_ + "/p.pol", "auth   password\n", 0, 0, 0644));
    // Her folder is opened once here, so the test can reach it whichever name it has.
    mine_fd_ = open(mine_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    ASSERT_GE(mine_fd_, 0);
  }
  void TearDown() override {
    if (mine_fd_ >= 0) close(mine_fd_);
  }

  // Writes `content` as `name` in her folder (through the descriptor), hers, with `mode`.
  bool write_mine(const std::string& name, const std::string& content, mode_t mode) {
    const std::string temporary = name + ".new";
    unlinkat(mine_fd_, temporary.c_str(), 0);
    const int fd = openat(mine_fd_, temporary.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
                          0600);
    if (fd < 0) return false;
    const bool ok = write(fd, content.data(), content.size()) ==
                        static_cast<ssize_t>(content.size()) &&
                    fchown(fd, uid_, gid_) == 0 && fchmod(fd, mode) == 0;
    close(fd);
    return ok && renameat(mine_fd_, temporary.c_str(), mine_fd_, name.c_str()) == 0;
  }

  std::string secret_file() const {
    // A valid google-authenticator file; RATE_LIMIT makes every verification rewrite it.
    return "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP\n\" RATE_LIMIT 100 1\n\" DISALLOW_REUSE\n"
           "\" TOTP_AUTH\n";
  }

  TempFolder dir_{"ap-write-race"};
  uid_t uid_ = 0;
  gid_t gid_ = 0;
  int mine_fd_ = -1;
  std::string root_, confdir_, victim_, home_, mine_;
};

// H1: root verifies nobody's codes, whose secret lives below a folder she owns, while she swaps
// that folder for a symlink to a root folder.
TEST_F(WriteRace, TotpSecretUpdateNeverWritesOutsideTheUsersFolder) {
  ASSERT_TRUE(write_mine("nobody", secret_file(), 0600));
  const std::string policy = root_ + "/totp.pol";
  ASSERT_TRUE(write_file(policy,
                         "audit { db = \"" + root_ + "/audit.db\" }\nfactor totp { secrets = \"" +
                             mine_ + "/%u\" }\nauth totp\n",
                         0, 0, 0644));
  ASSERT_TRUE(write_file(confdir_ + "/ap-write-totp",
                         "auth required " + module_path() + " policy=" + policy + "\n", 0, 0,
                         0644));
#if defined(AP_RACE_KEEP_MODULE)
  dlopen(module_path().c_str(), RTLD_NOW | RTLD_NODELETE);
#endif
  // The control: without the attacker a verification runs and rewrites her file (RATE_LIMIT
  // records the attempt), so the races below do exercise the write.
  struct stat before {};
  ASSERT_EQ(fstatat(mine_fd_, "nobody", &before, 0), 0);
  EXPECT_EQ(authenticate(confdir_, "ap-write-totp", "nobody"), PAM_AUTH_ERR);
  struct stat after {};
  ASSERT_EQ(fstatat(mine_fd_, "nobody", &after, 0), 0);
  ASSERT_NE(before.st_ino, after.st_ino) << "the verification did not rewrite the secret file";
  EXPECT_EQ(after.st_uid, uid_);

  const auto victim_before = snapshot(victim_);
  const auto top_before = snapshot(dir_.path());
  Exchanger attacker(uid_, gid_, mine_, home_ + "/x.alt");
  ASSERT_TRUE(attacker.started()) << "could not start the attacker as nobody";
  int tries = 0, permits = 0;
  const auto limit = std::chrono::steady_clock::now() + kRaceLimit;
  while ((tries < kTries || attacker.swaps() < kTries) && std::chrono::steady_clock::now() < limit) {
    if (authenticate(confdir_, "ap-write-totp", "nobody") == PAM_SUCCESS) ++permits;
    ++tries;
  }
  attacker.stop();
  const auto victim_after = snapshot(victim_);
  std::printf("[race] TOTP secret below the user's folder: %d verifications, %ld swaps, %zu "
              "entries in the root folder before, %zu after (module %s)\n",
              tries, attacker.swaps(), victim_before.size(), victim_after.size(),
              module_path().c_str());
  EXPECT_GE(tries, kTries);
  EXPECT_GE(attacker.swaps(), kTries);
  EXPECT_EQ(permits, 0);
  EXPECT_EQ(victim_after, victim_before)
      << "the root folder changed; before:\n" << describe(victim_before) << "after:\n"
      << describe(victim_after);
  EXPECT_EQ(snapshot(dir_.path()), top_before);
}

// M2: root formats nobody's policy, in a folder she owns, while she swaps that folder for a
// symlink to a root folder holding a root policy of the same name. Her file is setuid.
TEST_F(WriteRace, FmtNeverWritesOutsideTheUsersFolderNorKeepsSetIdBits) {
  const std::string messy = "auth   permit\n";
  // The control: without the attacker fmt formats her file in place, hers, without set-id bits.
  ASSERT_TRUE(write_mine("p.pol", messy, 06755));
  ASSERT_EQ(run_fmt(mine_ + "/p.pol"), 0);
  struct stat formatted {};
  ASSERT_EQ(fstatat(mine_fd_, "p.pol", &formatted, AT_SYMLINK_NOFOLLOW), 0);
  EXPECT_EQ(read_file(mine_ + "/p.pol"), "auth permit\n");
  EXPECT_EQ(formatted.st_uid, uid_);
  EXPECT_EQ(formatted.st_mode & 07777, 0755u) << "fmt kept a setuid/setgid bit";

  const auto victim_before = snapshot(victim_);
  const auto top_before = snapshot(dir_.path());
  Exchanger attacker(uid_, gid_, mine_, home_ + "/x.alt");
  ASSERT_TRUE(attacker.started()) << "could not start the attacker as nobody";
  int runs = 0, formatted_runs = 0, set_id_files = 0;
  const auto limit = std::chrono::steady_clock::now() + kRaceLimit;
  while ((runs < kTries || attacker.swaps() < kTries) && std::chrono::steady_clock::now() < limit) {
    if (!write_mine("p.pol", messy, 06755)) break;
    if (run_fmt(mine_ + "/p.pol") == 0) ++formatted_runs;
    ++runs;
    struct stat now {};
    if (fstatat(mine_fd_, "p.pol", &now, AT_SYMLINK_NOFOLLOW) == 0 &&
        read_file("/proc/self/fd/" + std::to_string(mine_fd_) + "/p.pol") != messy &&
        (now.st_mode & 06000) != 0) {
      ++set_id_files;
    }
  }
  attacker.stop();
  const auto victim_after = snapshot(victim_);
  std::printf("[race] fmt in the user's folder: %d runs (%d formatted), %ld swaps, %zu entries "
              "in the root folder before, %zu after, %d set-id results (cli %s)\n",
              runs, formatted_runs, attacker.swaps(), victim_before.size(), victim_after.size(),
              set_id_files, cli_path().c_str());
  EXPECT_GE(runs, kTries);
  EXPECT_GE(attacker.swaps(), kTries);
  EXPECT_EQ(set_id_files, 0);
  EXPECT_EQ(victim_after, victim_before)
      << "the root folder changed; before:\n" << describe(victim_before) << "after:\n"
      << describe(victim_after);
  EXPECT_EQ(snapshot(dir_.path()), top_before);
}

}  // namespace
