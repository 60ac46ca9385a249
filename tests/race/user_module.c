/* The attacker's own PAM module for the race tests: if pam_policy.so ever loads it, it leaves a
 * line naming the effective uid in the file named by AP_RACE_MARKER. Loading alone runs its
 * constructor, which is the harm: the user's code ran inside the host, as root. */
#include <fcntl.h>
#include <security/pam_modules.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static void leave_mark(const char* what) {
  const char* marker = getenv("AP_RACE_MARKER");
  if (marker == NULL) return;
  int fd = open(marker, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) return;
  dprintf(fd, "%s euid=%d\n", what, (int)geteuid());
  close(fd);
}

__attribute__((constructor)) static void on_load(void) {
  leave_mark("loaded");
}

PAM_EXTERN int pam_sm_authenticate(pam_handle_t* pamh, int flags, int argc, const char** argv) {
  (void)pamh;
  (void)flags;
  (void)argc;
  (void)argv;
  leave_mark("authenticate");
  return PAM_SUCCESS;
}

PAM_EXTERN int pam_sm_setcred(pam_handle_t* pamh, int flags, int argc, const char** argv) {
  (void)pamh;
  (void)flags;
  (void)argc;
  (void)argv;
  return PAM_SUCCESS;
}
