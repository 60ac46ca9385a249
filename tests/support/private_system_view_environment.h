// For gtest programs that run pam_policy.so or the CLI at their defaults: what they write (the
// audit log in /var/lib/authpolicy, a service file in /etc/pam.d) stays in the program's own view
// of /etc and /var/lib (private_system_view.h), entered before the first test. One line per test
// program, at namespace scope:
//   [[maybe_unused]] ::testing::Environment* const kPrivateSystemView =
//       authpolicy::test_support::private_system_view_before_the_first_test();
#pragma once

#include <gtest/gtest.h>

#include "tests/support/private_system_view.h"

namespace authpolicy::test_support {

inline ::testing::Environment* private_system_view_before_the_first_test() {
  class Enter : public ::testing::Environment {
   public:
    void SetUp() override { enter_private_system_view_or_exit(); }
  };
  return ::testing::AddGlobalTestEnvironment(new Enter);
}

}  // namespace authpolicy::test_support
