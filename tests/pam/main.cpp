// The pam test program re-executes itself under pam_wrapper, which must be preloaded before
// libpam is used and reads its service folder when it starts.
#include <dlfcn.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "tests/pam/harness.h"
#include "tests/support/private_system_view.h"

int main(int argc, char** argv) {
  const char* wrapped = std::getenv("PAM_WRAPPER");
  if (!wrapped || std::strcmp(wrapped, "1") != 0) {
    setenv("LD_PRELOAD", AP_TEST_PRELOAD, 1);
    setenv("PAM_WRAPPER", "1", 1);
    setenv("PAM_WRAPPER_SERVICE_DIR", AP_TEST_SERVICE_DIR, 1);
    setenv("PAM_WRAPPER_DEBUGLEVEL", "2", 1);  // pam_syslog lines reach stderr
    execv("/proc/self/exe", argv);
    std::perror("re-executing under pam_wrapper failed");
    return 2;
  }
  if (geteuid() != 0) {
    std::fprintf(stderr, "the pam tests need root: policy files must be root-owned\n");
    return 2;
  }
  // What the module writes at its defaults (a refused policy's decision in
  // /var/lib/authpolicy/audit.db) stays in this process's own view.
  authpolicy::test_support::enter_private_system_view_or_exit();
#if defined(__SANITIZE_ADDRESS__)
  // Keep pam_policy.so mapped after libpam's dlclose, so LeakSanitizer can name the frames of what
  // the module allocated. engine/geoip's cache is never destroyed on purpose; in a module that is
  // unloaded at every pam_end it would otherwise show up, unsymbolised, once per load.
  dlopen(AP_TEST_MODULE, RTLD_NOW | RTLD_NODELETE);
#endif
  ::testing::InitGoogleTest(&argc, argv);
  authpolicy::pam_test::write_passdbs();
  return RUN_ALL_TESTS();
}
