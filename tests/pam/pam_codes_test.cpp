// What a delegated module's return code becomes: its outcome, and a detail that names the code the
// way Linux-PAM does, for the audit log and the system log ("PAM_AUTHTOK_ERR", not "PAM code 20").
#include <gtest/gtest.h>
#include <security/pam_appl.h>

#include "factors/pam_delegate/pam_delegate.h"

namespace authpolicy::pam_test {
namespace {

TEST(PamCodes, EveryLinuxPamCodeIsNamed) {
  EXPECT_EQ(pam_delegate::outcome_for_pam_code(PAM_AUTHTOK_ERR).detail, "PAM_AUTHTOK_ERR");
  EXPECT_EQ(pam_delegate::outcome_for_pam_code(PAM_AUTHTOK_ERR).outcome, Outcome::error);
  EXPECT_EQ(pam_delegate::outcome_for_pam_code(PAM_NEW_AUTHTOK_REQD).detail,
            "PAM_NEW_AUTHTOK_REQD");
  EXPECT_EQ(pam_delegate::outcome_for_pam_code(PAM_TRY_AGAIN).detail, "PAM_TRY_AGAIN");
  for (int code = PAM_SUCCESS; code <= PAM_INCOMPLETE; ++code) {
    const std::string name = pam_delegate::pam_code_name(code);
    EXPECT_TRUE(name.starts_with("PAM_")) << code << ": " << name;
  }
  EXPECT_EQ(pam_delegate::pam_code_name(PAM_CONV_AGAIN), "PAM_CONV_AGAIN");
  EXPECT_EQ(pam_delegate::pam_code_name(99), "PAM code 99");
}

}  // namespace
}  // namespace authpolicy::pam_test
