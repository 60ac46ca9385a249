// Keeping the user a setuid program acts for from stopping it while it holds a lock that other
// users' logins wait for (issue #21, M1; docs/audit.md, "A user who stops their own su").
//
// `su` and `sudo` run with the caller's real uid and euid 0, and kill(2) lets a process signal
// any process whose real or saved uid is its own: the caller may SIGSTOP them at any instruction,
// for instance while sqlite holds the audit log's write lock, and every other login that needs the
// log then waits. While a UserStopShield lives:
//   - a process with euid 0 runs with real uid 0 too (setresuid with only the real uid changed),
//     so the caller's kill(SIGSTOP) fails with EPERM (real and saved uid are both 0 then);
//   - SIGTSTP, SIGTTIN and SIGTTOU are blocked in the calling thread, so the terminal cannot stop
//     it either (those are sent without a permission check); one that arrives meanwhile stays
//     pending and stops the process when the shield ends, when it holds nothing.
// Both are put back when the shield ends, on every path (RAII). Shields nest: an inner one finds
// the real uid already 0 and the signals already blocked, and changes nothing back but what it
// changed.
//
// What it cannot stop: root, and a cgroup freezer the user may write (a systemd user service's
// delegated cgroup): for those the bounded waits of the lock's other users are the defence.
//
// Construct it before taking the lock and let it end after the lock is released (for sqlite:
// after the connection is closed). It costs five system calls (docs/cost.md).
#pragma once

#include <signal.h>
#include <sys/types.h>

namespace authpolicy {

class UserStopShield {
 public:
  UserStopShield() noexcept;
  ~UserStopShield();
  UserStopShield(const UserStopShield&) = delete;
  UserStopShield& operator=(const UserStopShield&) = delete;

  // Whether this shield changed the real uid to 0 (false when it was 0 already, when the euid is
  // not 0, or when the kernel refused).
  bool raised_real_uid() const noexcept { return raised_; }

 private:
  sigset_t blocked_{};  // the stop signals this shield blocked (and unblocks at the end)
  bool raised_ = false;
  uid_t real_uid_ = 0;
};

}  // namespace authpolicy
