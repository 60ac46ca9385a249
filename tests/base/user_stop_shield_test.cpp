// UserStopShield against the attack it is for: a process running as su does (real uid the
// caller's, euid 0) is signalled by another process of the caller's uid.
#include "base/user_stop_shield.h"

#include <gtest/gtest.h>
#include <pwd.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <string>

namespace {

using authpolicy::UserStopShield;

bool blocked(int signal) {
  sigset_t mask;
  sigemptyset(&mask);
  pthread_sigmask(SIG_BLOCK, nullptr, &mask);
  return sigismember(&mask, signal) == 1;
}

// The "Uid:" line of /proc/PID/status: real, effective, saved, file system uid.
std::string uids_of(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("Uid:", 0) == 0) return line.substr(4);
  }
  return "?";
}

// kill(pid, SIGSTOP) from a process with only `uid`'s rights: 0, or the errno it failed with.
int stop_as(uid_t uid, gid_t gid, pid_t pid) {
  const pid_t attacker = fork();
  if (attacker == 0) {
    if (setgid(gid) != 0 || setuid(uid) != 0 || setuid(0) == 0) _exit(100);
    _exit(kill(pid, SIGSTOP) == 0 ? 0 : errno);
  }
  int status = 0;
  waitpid(attacker, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 101;
}

TEST(UserStopShield, BlocksTheTerminalStopSignalsAndPutsThemBack) {
  ASSERT_FALSE(blocked(SIGTSTP));
  {
    UserStopShield shield;
    EXPECT_TRUE(blocked(SIGTSTP));
    EXPECT_TRUE(blocked(SIGTTIN));
    EXPECT_TRUE(blocked(SIGTTOU));
    {
      UserStopShield inner;
      EXPECT_TRUE(blocked(SIGTSTP));
    }
    EXPECT_TRUE(blocked(SIGTSTP)) << "an inner shield must not unblock what the outer one holds";
  }
  EXPECT_FALSE(blocked(SIGTSTP));
  EXPECT_FALSE(blocked(SIGTTOU));

  // A signal the caller blocked itself stays blocked.
  sigset_t own;
  sigemptyset(&own);
  sigaddset(&own, SIGTTIN);
  pthread_sigmask(SIG_BLOCK, &own, nullptr);
  { UserStopShield shield; }
  EXPECT_TRUE(blocked(SIGTTIN));
  EXPECT_FALSE(blocked(SIGTSTP));
  pthread_sigmask(SIG_UNBLOCK, &own, nullptr);
}

// The su situation: the caller may stop the process except while it is shielded.
TEST(UserStopShield, TheCallerCannotStopASetuidProcessWhileItIsShielded) {
  ASSERT_EQ(geteuid(), 0u) << "needs root (to run as su does, with nobody as the caller)";
  const passwd* nobody = getpwnam("nobody");
  ASSERT_NE(nobody, nullptr);
  const uid_t uid = nobody->pw_uid;
  const gid_t gid = nobody->pw_gid;

  int to_child[2], to_parent[2];
  ASSERT_EQ(pipe(to_child), 0);
  ASSERT_EQ(pipe(to_parent), 0);
  const pid_t su = fork();
  ASSERT_GE(su, 0);
  if (su == 0) {
    char go = 0;
    if (setresuid(uid, 0, 0) != 0) _exit(10);
    {
      UserStopShield shield;
      if (!shield.raised_real_uid()) _exit(11);
      if (write(to_parent[1], "s", 1) != 1 || read(to_child[0], &go, 1) != 1) _exit(12);
    }
    uid_t real = 0, effective = 0, saved = 0;
    getresuid(&real, &effective, &saved);
    if (real != uid || effective != 0 || saved != 0) _exit(13);
    if (write(to_parent[1], "u", 1) != 1 || read(to_child[0], &go, 1) != 1) _exit(14);
    _exit(0);
  }
  char mark = 0;
  ASSERT_EQ(read(to_parent[0], &mark, 1), 1);
  ASSERT_EQ(mark, 's');
  EXPECT_EQ(uids_of(su), "\t0\t0\t0\t0");
  EXPECT_EQ(stop_as(uid, gid, su), EPERM) << "the caller stopped the shielded process";

  ASSERT_EQ(write(to_child[1], "g", 1), 1);
  ASSERT_EQ(read(to_parent[0], &mark, 1), 1);
  ASSERT_EQ(mark, 'u');
  // Unshielded again: the caller's stop works (the control: the attacker can signal at all).
  EXPECT_EQ(uids_of(su), "\t" + std::to_string(uid) + "\t0\t0\t0");
  EXPECT_EQ(stop_as(uid, gid, su), 0);
  int status = 0;
  ASSERT_EQ(waitpid(su, &status, WUNTRACED), su);
  EXPECT_TRUE(WIFSTOPPED(status));
  kill(su, SIGCONT);
  ASSERT_EQ(write(to_child[1], "g", 1), 1);
  ASSERT_EQ(waitpid(su, &status, 0), su);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "child status " << status;
  for (int fd : {to_child[0], to_child[1], to_parent[0], to_parent[1]}) close(fd);
}

}  // namespace
