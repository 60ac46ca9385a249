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
#include <security/pam_appl.h>
#include <stdio.h>  // renameat2
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <ostream>
#include <string>

#include "tests/race/race_support.h"

namespace authpolicy::race_test {
namespace {

constexpr int kTries = 300;  // verifications per attack, and at least as many swaps
constexpr auto kRaceLimit = std::chrono::seconds(120);
#if defined(AP_RACE_KEEP_MODULE)
// A sanitizer build: each fmt run is a new ASan process, 0.44 s beside the rest of the ASan
// suite (300 runs took 132 s of CI's time). 100 runs there; the normal build keeps 300.
constexpr int kFmtRuns = 100;
#else
constexpr int kFmtRuns = 300;  // fmt runs per attack, and at least as many swaps
#endif

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

// `user` answers every prompt with a wrong code: it is recorded all the same.
int authenticate_with_a_wrong_code(const std::string& confdir, const std::string& service,
                                   const char* user) {
  return authenticate(confdir, service, user, "000000", "000000");
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

class Exchanger : public AttackerLoop {
 public:
  Exchanger(uid_t uid, gid_t gid, const std::string& entry, const std::string& other)
      : AttackerLoop(uid, gid, [entry, other]() -> long {
          return renameat2(AT_FDCWD, entry.c_str(), AT_FDCWD, other.c_str(), RENAME_EXCHANGE) == 0
                     ? 1
                     : 0;
        }) {}
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
class WriteRace : public RaceScene {
 protected:
  WriteRace() : RaceScene("ap-write-race") {}
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(RaceScene::SetUp());
    victim_ = dir_.file("victim");
    home_ = dir_.file("home");
    mine_ = home_ + "/x";
    ASSERT_TRUE(make_folder(victim_, 0, 0, 0755));
    ASSERT_TRUE(make_folder(home_, attacker_uid_, attacker_gid_, 0755));
    ASSERT_TRUE(make_folder(mine_, attacker_uid_, attacker_gid_, 0700));
    ASSERT_EQ(symlink(victim_.c_str(), (home_ + "/x.alt").c_str()), 0);
    ASSERT_EQ(lchown((home_ + "/x.alt").c_str(), attacker_uid_, attacker_gid_), 0);
    ASSERT_TRUE(write_file(victim_ + "/nobody", "#!/bin/sh\necho root's job\n", 0, 0, 0700));
    ASSERT_TRUE(write_file(victim_ + "/p.pol", "auth   password\n", 0, 0, 0644));
    // Her folder is opened once here, so the test can reach it whichever name it has.
    mine_fd_ = open(mine_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    ASSERT_GE(mine_fd_, 0);
  }
  void TearDown() override {
    if (mine_fd_ >= 0) close(mine_fd_);
    RaceScene::TearDown();
  }

  // Writes `content` as `name` in her folder (through the descriptor), hers, with `mode`.
  bool write_mine(const std::string& name, const std::string& content, mode_t mode) {
    const std::string temporary = name + ".new";
    unlinkat(mine_fd_, temporary.c_str(), 0);
    const int fd = openat(mine_fd_, temporary.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
                          0600);
    if (fd < 0) return false;
    const bool ok =
        write(fd, content.data(), content.size()) == static_cast<ssize_t>(content.size()) &&
        fchown(fd, attacker_uid_, attacker_gid_) == 0 && fchmod(fd, mode) == 0;
    close(fd);
    return ok && renameat(mine_fd_, temporary.c_str(), mine_fd_, name.c_str()) == 0;
  }

  std::string secret_file() const {
    // A valid google-authenticator file; RATE_LIMIT makes every verification rewrite it.
    return "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP\n\" RATE_LIMIT 100 1\n\" DISALLOW_REUSE\n"
           "\" TOTP_AUTH\n";
  }

  int mine_fd_ = -1;
  std::string victim_, home_, mine_;
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
  ASSERT_NO_FATAL_FAILURE(add_service("ap-write-totp", policy));
  keep_module_mapped();
  // The control: without the attacker a verification runs and rewrites her file (RATE_LIMIT
  // records the attempt), so the races below do exercise the write.
  struct stat before {};
  ASSERT_EQ(fstatat(mine_fd_, "nobody", &before, 0), 0);
  EXPECT_EQ(authenticate_with_a_wrong_code(confdir_, "ap-write-totp", "nobody"), PAM_AUTH_ERR);
  struct stat after {};
  ASSERT_EQ(fstatat(mine_fd_, "nobody", &after, 0), 0);
  ASSERT_NE(before.st_ino, after.st_ino) << "the verification did not rewrite the secret file";
  EXPECT_EQ(after.st_uid, attacker_uid_);

  const auto victim_before = snapshot(victim_);
  const auto top_before = snapshot(dir_.path());
  Exchanger attacker(attacker_uid_, attacker_gid_, mine_, home_ + "/x.alt");
  ASSERT_TRUE(attacker.started()) << "could not start the attacker as nobody";
  int permits = 0;
  const int tries = run_race(attacker, kTries, kRaceLimit, [&] {
    if (authenticate_with_a_wrong_code(confdir_, "ap-write-totp", "nobody") == PAM_SUCCESS) {
      ++permits;
    }
    return true;
  });
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
  EXPECT_EQ(formatted.st_uid, attacker_uid_);
  EXPECT_EQ(formatted.st_mode & 07777, 0755u) << "fmt kept a setuid/setgid bit";

  const auto victim_before = snapshot(victim_);
  const auto top_before = snapshot(dir_.path());
  Exchanger attacker(attacker_uid_, attacker_gid_, mine_, home_ + "/x.alt");
  ASSERT_TRUE(attacker.started()) << "could not start the attacker as nobody";
  int formatted_runs = 0, set_id_files = 0;
  const int runs = run_race(attacker, kFmtRuns, kRaceLimit, [&] {
    if (!write_mine("p.pol", messy, 06755)) return false;
    if (run_fmt(mine_ + "/p.pol") == 0) ++formatted_runs;
    struct stat now {};
    if (fstatat(mine_fd_, "p.pol", &now, AT_SYMLINK_NOFOLLOW) == 0 &&
        read_file("/proc/self/fd/" + std::to_string(mine_fd_) + "/p.pol") != messy &&
        (now.st_mode & 06000) != 0) {
      ++set_id_files;
    }
    return true;
  });
  const auto victim_after = snapshot(victim_);
  std::printf("[race] fmt in the user's folder: %d runs (%d formatted), %ld swaps, %zu entries "
              "in the root folder before, %zu after, %d set-id results (cli %s)\n",
              runs, formatted_runs, attacker.swaps(), victim_before.size(), victim_after.size(),
              set_id_files, cli_path().c_str());
  EXPECT_GE(runs, kFmtRuns);
  EXPECT_GE(attacker.swaps(), kFmtRuns);
  EXPECT_EQ(set_id_files, 0);
  EXPECT_EQ(victim_after, victim_before)
      << "the root folder changed; before:\n" << describe(victim_before) << "after:\n"
      << describe(victim_after);
  EXPECT_EQ(snapshot(dir_.path()), top_before);
}

}  // namespace
}  // namespace authpolicy::race_test
