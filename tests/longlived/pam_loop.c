/* A long-lived PAM host in miniature: pam_start_confdir / pam_authenticate / pam_end, again and
 * again in one process, through the system's libpam (no pam_wrapper), as saslauthd, dovecot's
 * auth workers, rlm_pam or a screen locker do. Prints the process's resident size as it goes.
 *
 * usage: ap_pam_loop CONFDIR SERVICE USER PASSWORD CYCLES [EVERY]
 *   prints "cycles=N rss_kib=K" after the first cycle, after every EVERY cycles (default 1000)
 *   and after the last; exits 1 (after saying which cycle) when a login is not PAM_SUCCESS.
 */
#include <security/pam_appl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int answer(int count, const struct pam_message** messages, struct pam_response** responses,
                  void* data) {
  if (count <= 0 || messages == NULL || responses == NULL) return PAM_CONV_ERR;
  struct pam_response* replies = calloc((size_t)count, sizeof *replies);
  if (replies == NULL) return PAM_BUF_ERR;
  for (int i = 0; i < count; ++i) {
    if (messages[i]->msg_style == PAM_PROMPT_ECHO_OFF) replies[i].resp = strdup(data);
    if (messages[i]->msg_style == PAM_PROMPT_ECHO_ON) replies[i].resp = strdup("");
  }
  *responses = replies;
  return PAM_SUCCESS;
}

/* A failed login would otherwise sleep pam_fail_delay's seconds. */
static void no_fail_delay(int status, unsigned delay, void* data) {
  (void)status;
  (void)delay;
  (void)data;
}

/* The resident set in KiB, from /proc/self/statm (second field, in pages). */
static long rss_kib(void) {
  FILE* statm = fopen("/proc/self/statm", "re");
  long size = 0, resident = -1;
  if (statm == NULL) return -1;
  if (fscanf(statm, "%ld %ld", &size, &resident) != 2) resident = -1;
  fclose(statm);
  return resident < 0 ? -1 : resident * (sysconf(_SC_PAGESIZE) / 1024);
}

int main(int argc, char** argv) {
  if (argc < 6) {
    fprintf(stderr, "usage: %s CONFDIR SERVICE USER PASSWORD CYCLES [EVERY]\n", argv[0]);
    return 2;
  }
  const char* confdir = argv[1];
  const char* service = argv[2];
  const char* user = argv[3];
  char* password = argv[4];
  const long cycles = atol(argv[5]);
  const long every = argc > 6 ? atol(argv[6]) : 1000;
  const struct pam_conv conversation = {answer, password};
  for (long cycle = 1; cycle <= cycles; ++cycle) {
    pam_handle_t* handle = NULL;
    int rc = pam_start_confdir(service, user, &conversation, confdir, &handle);
    if (rc == PAM_SUCCESS) rc = pam_set_item(handle, PAM_FAIL_DELAY, (const void*)no_fail_delay);
    if (rc == PAM_SUCCESS) rc = pam_authenticate(handle, 0);
    const int end_rc = handle != NULL ? pam_end(handle, rc) : PAM_SUCCESS;
    if (rc != PAM_SUCCESS || end_rc != PAM_SUCCESS) {
      fprintf(stderr, "cycle %ld: %s\n", cycle, pam_strerror(NULL, rc != PAM_SUCCESS ? rc : end_rc));
      return 1;
    }
    if (cycle == 1 || (every > 0 && cycle % every == 0) || cycle == cycles) {
      printf("cycles=%ld rss_kib=%ld\n", cycle, rss_kib());
      fflush(stdout);
    }
  }
  return 0;
}
