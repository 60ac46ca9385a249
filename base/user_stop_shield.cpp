// The real uid and the terminal stop signals, changed for the time a shared lock is held.
#include "base/user_stop_shield.h"

#include <pthread.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <initializer_list>

namespace authpolicy {

UserStopShield::UserStopShield() noexcept {
  sigset_t stops;
  sigemptyset(&stops);
  sigaddset(&stops, SIGTSTP);
  sigaddset(&stops, SIGTTIN);
  sigaddset(&stops, SIGTTOU);
  sigemptyset(&blocked_);
  sigset_t before;
  if (pthread_sigmask(SIG_BLOCK, &stops, &before) == 0) {
    // Only what was not blocked before is unblocked afterwards.
    for (int signal : {SIGTSTP, SIGTTIN, SIGTTOU}) {
      if (sigismember(&before, signal) == 0) sigaddset(&blocked_, signal);
    }
  }
  uid_t real = 0, effective = 0, saved = 0;
  if (getresuid(&real, &effective, &saved) != 0 || effective != 0 || real == 0) return;
  // Only the real uid changes: the effective uid (file access, sqlite's chown of new files), the
  // saved uid and the process's dumpable flag stay as they are.
  if (setresuid(0, static_cast<uid_t>(-1), static_cast<uid_t>(-1)) == 0) {
    raised_ = true;
    real_uid_ = real;
  }
}

UserStopShield::~UserStopShield() {
  if (raised_) {
    // With euid 0 this cannot fail on Linux (since 3.1 a real uid change no longer fails on
    // RLIMIT_NPROC); were it to, the host would go on as root on behalf of a user who is not:
    // ending it is the only closed way to fail.
    int attempts = 0;
    while (setresuid(real_uid_, static_cast<uid_t>(-1), static_cast<uid_t>(-1)) != 0) {
      if (errno != EAGAIN || ++attempts >= 100) std::abort();
    }
  }
  pthread_sigmask(SIG_UNBLOCK, &blocked_, nullptr);
}

}  // namespace authpolicy
