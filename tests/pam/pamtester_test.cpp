// pamtester as a black-box client: a separate process, its own conversation on stdin.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "tests/pam/harness.h"

namespace authpolicy::pam_test {
namespace {

class Pamtester : public ::testing::Test {
 protected:
  void SetUp() override {
    write_policy(matrix_password_factor() +
                 "set blocked = { 203.0.113.0/24 }\n"
                 "deny if rhost in blocked\n"
                 "auth password\n");
  }
};

TEST_F(Pamtester, AuthenticatesWithThePasswordOnStdin) {
  const auto r = run_pamtester({"ap_policy", "alice", "authenticate"}, "alice-pass\n");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("successfully authenticated"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("phase=auth decision=permit user=alice"), std::string::npos);
}

TEST_F(Pamtester, WrongPasswordFails) {
  const auto r = run_pamtester({"ap_policy", "alice", "authenticate"}, "nope\n");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("Authentication failure"), std::string::npos) << r.output;
}

TEST_F(Pamtester, RhostItemMeetsTheDenyRuleBeforeAnyPrompt) {
  const auto r = run_pamtester({"-I", "rhost=203.0.113.9", "ap_policy", "alice", "authenticate"},
                               "alice-pass\n");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_EQ(r.output.find("Password"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("rhost=203.0.113.9"), std::string::npos) << r.output;
  const auto other = run_pamtester(
      {"-I", "rhost=198.51.100.4", "ap_policy", "alice", "authenticate"}, "alice-pass\n");
  EXPECT_EQ(other.exit_code, 0) << other.output;
}

TEST_F(Pamtester, FullLoginSequence) {
  const auto r = run_pamtester({"ap_policy", "alice", "authenticate", "setcred", "acct_mgmt",
                                "open_session", "close_session"},
                               "alice-pass\n");
  EXPECT_EQ(r.exit_code, 0) << r.output;
}

TEST_F(Pamtester, AccountOnlyLoginMeetsTheDenyRule) {
  const auto r = run_pamtester({"-I", "rhost=203.0.113.9", "ap_policy", "alice", "acct_mgmt"}, "");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("phase=account decision=deny"), std::string::npos) << r.output;
}

TEST_F(Pamtester, MatrixOnlyStackIsTheBaseline) {
  const auto r = run_pamtester({"ap_matrix_only", "alice", "authenticate"}, "alice-pass\n");
  EXPECT_EQ(r.exit_code, 0) << r.output;
}

// Installed as a symlink in libpam's folder (security/pam_policy.so -> the real file), the module
// finds its factor plugins beside the real file: the TOTP code is asked and checked, not refused
// as "support not installed" (which a plugin looked up beside the symlink gave).
TEST(PamtesterLinked, ASymlinkedModuleFindsItsPluginsBesideTheRealFile) {
  namespace fs = std::filesystem;
  const fs::path link = AP_TEST_LINKED_MODULE;
  fs::create_directories(link.parent_path());
  fs::permissions(link.parent_path(), fs::perms(0755));
  fs::remove(link);
  fs::create_symlink(Paths::module(), link);
  const std::string folder = std::string(Paths::run_dir()) + "/totp-linked";
  mkdir(folder.c_str(), 0700);
  write_file(folder + "/alice", "JBSWY3DPEHPK3PXP\n\" TOTP_AUTH\n", 0600);
  write_policy(matrix_password_factor() + "factor totp { secrets = \"" + folder + "/%u\" }\n" +
               "auth password && totp\n");
  const std::vector<std::pair<std::string, std::string>> plain{{"LD_PRELOAD", ""},
                                                               {"PAM_WRAPPER", "0"}};
  const auto code =
      run_process({"/usr/bin/oathtool", "--totp", "-b", "JBSWY3DPEHPK3PXP"}, plain, "");
  ASSERT_EQ(code.exit_code, 0) << "oathtool: " << code.output;
  const auto r =
      run_pamtester({"ap_policy_linked", "alice", "authenticate"},
                    "alice-pass\n" + code.output.substr(0, code.output.find('\n')) + "\n");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output.find("support not installed"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("totp:pass"), std::string::npos) << r.output;
  fs::remove(link);
}

// The audit row names the policy by the SHA-256 that sha256sum prints for the file: the hash
// library (libmd, not OpenSSL: docs/cost.md) must not change what admins compare against.
TEST(PamtesterAudit, PolicyHashInTheAuditRowIsTheFilesSha256) {
  const std::string db =
      std::string(Paths::run_dir()) + "/audit/hash-" + std::to_string(getpid()) + ".db";
  write_policy(matrix_password_factor() + "auth password\naudit { db = \"" + db + "\" }\n");
  const auto login = run_pamtester({"ap_policy", "alice", "authenticate"}, "alice-pass\n");
  ASSERT_EQ(login.exit_code, 0) << login.output;
  // Plain processes: without pam_wrapper's preload and its debug lines in their output.
  const std::vector<std::pair<std::string, std::string>> plain{{"LD_PRELOAD", ""},
                                                               {"PAM_WRAPPER", "0"}};
  const auto sum = run_process({"/usr/bin/sha256sum", current_policy_path()}, plain, "");
  ASSERT_EQ(sum.exit_code, 0) << sum.output;
  const std::string expected = sum.output.substr(0, 64);
  const auto row = run_process(
      {"/usr/bin/sqlite3", db, "SELECT policy_sha256 FROM decisions ORDER BY id DESC LIMIT 1"},
      plain, "");
  ASSERT_EQ(row.exit_code, 0) << row.output;
  EXPECT_EQ(row.output, expected + "\n");
  EXPECT_EQ(expected.find_first_not_of("0123456789abcdef"), std::string::npos) << expected;
}

}  // namespace
}  // namespace authpolicy::pam_test
