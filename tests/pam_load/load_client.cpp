// A PAM client for the load test: N decisions in a row through real libpam, one handle each.
//
//   ap_pam_load_client SERVICE USER PASSWORD WRONG_PASSWORD COUNT CHILD [BARRIER_FD]
//
// Decision `seq` (0 .. COUNT-1) sets PAM_TTY to "load-CHILD-seq", so its audit row can be found,
// and answers the password prompt with WRONG_PASSWORD when seq % 5 == 4 (expected: deny) and with
// PASSWORD otherwise (expected: permit). With BARRIER_FD, nothing starts before that descriptor
// reads end-of-file, so that many clients can be released at the same instant.
//
// stdout: one line per decision, "load-CHILD-seq permit|deny|error=CODE TOOK_US RETURNED_US":
// how long pam_authenticate took (policy load, decision, audit write) and when it returned (UTC
// microseconds, comparable with the audit row's time_us, which is taken just before the write's
// first lock attempt). stderr: how many results differed, if any.
// Exit status: 0 when every result was the expected one, 1 when some differed, 2 on bad usage.
#include <dlfcn.h>
#include <security/pam_appl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "tests/support/pam_answers.h"

namespace {

using authpolicy::test_support::answer_prompts;
using authpolicy::test_support::no_fail_delay;
using authpolicy::test_support::PamAnswers;

bool parse_count(const char* text, long* value) {
  errno = 0;
  char* end = nullptr;
  *value = std::strtol(text, &end, 10);
  return errno == 0 && end != text && *end == '\0' && *value >= 0;
}

// Blocks until every writer of `fd` has closed it.
bool wait_for_start(int fd) {
  char byte;
  for (;;) {
    const ssize_t got = read(fd, &byte, 1);
    if (got == 0) break;
    if (got < 0 && errno != EINTR) return false;
  }
  close(fd);
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  long count = 0;
  long child = 0;
  long barrier = -1;
  if ((argc != 7 && argc != 8) || !parse_count(argv[5], &count) || !parse_count(argv[6], &child) ||
      (argc == 8 && !parse_count(argv[7], &barrier))) {
    std::fprintf(stderr,
                 "usage: %s SERVICE USER PASSWORD WRONG_PASSWORD COUNT CHILD [BARRIER_FD]\n",
                 argv[0]);
    return 2;
  }
  const std::string service = argv[1];
  const std::string user = argv[2];
#if defined(AP_LOAD_KEEP_MODULE)
  // Under ASan: keep pam_policy.so mapped after libpam's dlclose, so that LeakSanitizer can name
  // the frames of anything the module leaves behind (as tests/pam does).
  dlopen(AP_LOAD_KEEP_MODULE, RTLD_NOW | RTLD_NODELETE);
#endif
  if (barrier >= 0 && !wait_for_start(static_cast<int>(barrier))) {
    std::perror("waiting for the start signal");
    return 2;
  }

  long differed = 0;
  for (long seq = 0; seq < count; ++seq) {
    const bool expect_permit = seq % 5 != 4;
    // The decision's password to every echo-off prompt, nothing to echo-on ones.
    PamAnswers answers{expect_permit ? argv[3] : argv[4], ""};
    const pam_conv conversation{answer_prompts, &answers};
    const std::string tag = "load-" + std::to_string(child) + "-" + std::to_string(seq);

    pam_handle_t* handle = nullptr;
    int rc = pam_start(service.c_str(), user.c_str(), &conversation, &handle);
    if (rc == PAM_SUCCESS) rc = pam_set_item(handle, PAM_TTY, tag.c_str());
    if (rc == PAM_SUCCESS) {
      rc = pam_set_item(handle, PAM_FAIL_DELAY, reinterpret_cast<const void*>(&no_fail_delay));
    }
    std::int64_t authenticate_us = -1;
    std::int64_t returned_at_us = -1;
    if (rc == PAM_SUCCESS) {
      const auto before = std::chrono::steady_clock::now();
      rc = pam_authenticate(handle, 0);
      authenticate_us = std::chrono::duration_cast<std::chrono::microseconds>(
                            std::chrono::steady_clock::now() - before)
                            .count();
      returned_at_us = std::chrono::duration_cast<std::chrono::microseconds>(
                           std::chrono::system_clock::now().time_since_epoch())
                           .count();
    }
    if (handle != nullptr) pam_end(handle, rc);

    std::string result;
    if (rc == PAM_SUCCESS) {
      result = "permit";
    } else if (rc == PAM_AUTH_ERR) {
      result = "deny";
    } else {
      result = "error=" + std::to_string(rc);
    }
    if (result != (expect_permit ? "permit" : "deny")) ++differed;
    std::printf("%s %s %lld %lld\n", tag.c_str(), result.c_str(),
                static_cast<long long>(authenticate_us), static_cast<long long>(returned_at_us));
  }
  if (std::fflush(stdout) != 0) {
    std::perror("writing results");
    return 2;
  }
  if (differed == 0) return 0;
  std::fprintf(stderr, "client %ld (pid %d): %ld of %ld decisions not as expected\n", child,
               static_cast<int>(getpid()), differed, count);
  return 1;
}
