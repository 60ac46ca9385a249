// The file-trust attacks of issue #13, raced through real libpam: a process with only `nobody`'s
// rights swaps a policy or module entry as fast as it can while this process logs in 300 times
// (pam_start_confdir / pam_authenticate / pam_end, the system's libpam and pam_policy.so).
// Zero wrong permits and zero runs of the user's code are the pass condition; each attack also
// prints its counts, so a by-hand run against an older module shows how often it got through:
//   AP_RACE_MODULE=OLD/pam/pam_policy.so AP_RACE_CLI=OLD/cli/authpolicy ap_race_tests
// Needs root (root-owned policies, dropping to nobody) and pam_matrix.so from libpam-wrapper.
#include <pwd.h>
#include <security/pam_appl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <sstream>
#include <string>

#include "tests/race/race_support.h"

namespace authpolicy::race_test {
namespace {

constexpr int kTries = 300;  // logins per attack, and at least as many swaps while they run
// Far above a normal run (about a second per attack); only a starved sanitizer build comes near.
constexpr auto kRaceLimit = std::chrono::seconds(90);
constexpr const char* kUser = "alice";
constexpr const char* kPassword = "alice-race-pass";
constexpr const char* kWrongPassword = "not-alice's";

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

// One login of kUser through the system's libpam.
int authenticate(const std::string& confdir, const std::string& service, const char* password) {
  return authpolicy::race_test::authenticate(confdir, service, kUser, password);
}

// ---- The attacker: a process with nobody's rights, swapping one entry -----------------------

// One round of the attack on `entry`, each swap a rename(2) over it: of a hard link to `own` (the
// attacker's own file) and of a symlink to `target` (a root-owned file that passes any check).
// Returns how many of the two renames succeeded.
std::function<long()> swap_entry(const std::string& entry, const std::string& own,
                                 const std::string& target) {
  return [entry, own, target, file_name = entry + ".own", link_name = entry + ".link"]() -> long {
    long swapped = 0;
    unlink(file_name.c_str());
    if (link(own.c_str(), file_name.c_str()) == 0 &&
        rename(file_name.c_str(), entry.c_str()) == 0) {
      ++swapped;
    }
    unlink(link_name.c_str());
    if (symlink(target.c_str(), link_name.c_str()) == 0 &&
        rename(link_name.c_str(), entry.c_str()) == 0) {
      ++swapped;
    }
    return swapped;
  };
}

// Replaces `entry` over and over with the attacker's file and with the symlink.
class Swapper : public AttackerLoop {
 public:
  Swapper(uid_t uid, gid_t gid, const std::string& entry, const std::string& own,
          const std::string& target)
      : AttackerLoop(uid, gid, swap_entry(entry, own, target)) {}
};

struct Tally {
  int tries = 0;
  int permits = 0;
  long swaps = 0;
};

// ---- The scene -------------------------------------------------------------------------------
//   T/            root 0755 (mkdtemp under /tmp)
//   T/root/       root 0755: locked.pol (password, pam_matrix), passdb, module.pol
//   T/pam.d/      the services, with pam_policy.so's absolute path
//   T/home/       nobody 0755, the attacker's folder: mine.pol ("auth permit"), mods/own.so
//   T/group/      root:nogroup 0775, a policy folder the attacker's group may write
class Race : public RaceScene {
 protected:
  Race() : RaceScene("ap-race") {}
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(RaceScene::SetUp());
    home_ = dir_.file("home");
    group_ = dir_.file("group");
    marker_ = dir_.file("marker");
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

    add_service("ap-race-control", locked_);
    add_service("ap-race-user", home_ + "/mine.pol");
    add_service("ap-race-entry", home_ + "/svc.pol");
    add_service("ap-race-module", root_ + "/module.pol");
    add_service("ap-race-group", group_ + "/svc.pol");
    ASSERT_EQ(setenv("AP_RACE_MARKER", marker_.c_str(), 1), 0);
    keep_module_mapped();
  }
  void TearDown() override {
    unsetenv("AP_RACE_MARKER");
    RaceScene::TearDown();
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

  // The attack: nobody swaps `entry` between `own` and a symlink to `target` while this process
  // logs in on `service` with the wrong password until there were kTries logins and kTries swaps
  // (or the time limit passed). Checks that the race ran in full; the tally says what it gave.
  void race_swapped(const std::string& entry, const std::string& own, const std::string& target,
                    const char* service, Tally* tally) {
    Swapper swapper(attacker_uid_, attacker_gid_, entry, own, target);
    ASSERT_TRUE(swapper.started()) << "could not start the swapper as nobody:nogroup";
    tally->tries = run_race(swapper, kTries, kRaceLimit, [&] {
      if (authenticate(confdir_, service, kWrongPassword) == PAM_SUCCESS) ++tally->permits;
      return true;
    });
    tally->swaps = swapper.swaps();
    EXPECT_GE(tally->tries, kTries);
    EXPECT_GE(tally->swaps, kTries);
  }

  static void report(const char* attack, const Tally& tally, const std::string& extra = "") {
    std::printf("[race] %s: %d tries, %ld swaps, %d permits%s (module %s)\n", attack, tally.tries,
                tally.swaps, tally.permits, extra.c_str(), module_path().c_str());
  }

  std::string home_, group_, marker_, locked_;
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
  Tally tally;
  ASSERT_NO_FATAL_FAILURE(
      race_swapped(home_ + "/svc.pol", home_ + "/mine.pol", locked_, "ap-race-entry", &tally));
  report("policy entry in the user's folder", tally);
  EXPECT_EQ(tally.permits, 0) << "wrong-password logins permitted";
}

// 13.1: a pam() factor naming a path in the user's folder, raced between the user's own .so
// (which leaves a mark when it is loaded or called) and a symlink to root's pam_permit.so.
TEST_F(Race, ModuleEntrySwappedWithTheUsersOwnModuleNeverRunsIt) {
  Tally tally;
  ASSERT_NO_FATAL_FAILURE(race_swapped(home_ + "/mods/x.so", home_ + "/mods/own.so", AP_RACE_PERMIT,
                                       "ap-race-module", &tally));
  const int loads = user_module_loads();
  report("pam() module in the user's folder", tally,
         ", the user's module loaded " + std::to_string(loads) + " times");
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
  Tally tally;
  ASSERT_NO_FATAL_FAILURE(
      race_swapped(group_ + "/svc.pol", home_ + "/mine.pol", locked_, "ap-race-group", &tally));
  report("policy entry in a group-writable folder", tally);
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
  add_service("ap-race-seed", root_ + "/seed.pol");
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
  add_service("ap-race-audit", root_ + "/audit.pol");
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
  add_service("ap-race-self", policy);
  EXPECT_EQ(authenticate(confdir_, "ap-race-self", kPassword), PAM_AUTH_ERR);
  EXPECT_TRUE(logged("error[E026]: factor 'me' delegates to pam_policy.so"));

  int status = -1;
  const std::string output = run_check(policy, &status);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 1) << output;
  EXPECT_NE(output.find("error[E026]: factor 'me' delegates to pam_policy.so"), std::string::npos)
      << output;
}

}  // namespace
}  // namespace authpolicy::race_test
