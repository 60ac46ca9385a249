// ssh.auth on real libpam: the module reads SSH_AUTH_INFO_0 from PAM's environment (where sshd
// puts it) in auth and account, and never from its own process environment.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <nlohmann/json.hpp>
#include <string>

#include "tests/pam/harness.h"
#include "tests/support/temp_folder.h"

namespace authpolicy::pam_test {
namespace {

// A second factor from pam_matrix ("alice-finger"), so the test needs no TOTP secret.
std::string code_factor() {
  return std::string("factor code = pam(\"") + Paths::matrix() + "\", \"passdb=" + fingerdb_path() +
         "\")\n";
}

class PamSshAuth : public ::testing::Test {
 protected:
  void SetUp() override {
    write_policy(matrix_password_factor() + code_factor() +
                 "auth (password unless ssh.auth in { publickey }) && code\n");
  }
};

TEST_F(PamSshAuth, AfterAKeyInPamsEnvironmentOnlyTheCodeIsAsked) {
  Script script({"alice-finger"});
  Session session("ap_policy", "alice", &script);
  ASSERT_EQ(pam_putenv(session.handle, "SSH_AUTH_INFO_0=publickey ssh-ed25519 AAAAC3NzaC1l\n"),
            PAM_SUCCESS);
  EXPECT_EQ(session.authenticate(), PAM_SUCCESS);
  EXPECT_EQ(script.prompts().size(), 1u);
  EXPECT_EQ(session.account(), PAM_SUCCESS);
}

TEST_F(PamSshAuth, NothingCompletedAsksPasswordAndCode) {
  Script code_only({"alice-finger", "alice-finger"});
  Session session("ap_policy", "alice", &code_only);
  ASSERT_EQ(pam_putenv(session.handle, "SSH_AUTH_INFO_0="), PAM_SUCCESS);
  EXPECT_EQ(session.authenticate(), PAM_AUTH_ERR) << "a code alone must not log in";
  EXPECT_EQ(code_only.prompts().size(), 1u) << "the password is asked first, and it failed";
  Script both({"alice-pass", "alice-finger"});
  Session again("ap_policy", "alice", &both);
  ASSERT_EQ(pam_putenv(again.handle, "SSH_AUTH_INFO_0="), PAM_SUCCESS);
  EXPECT_EQ(again.authenticate(), PAM_SUCCESS);
  EXPECT_EQ(both.prompts().size(), 2u);
}

TEST_F(PamSshAuth, TheProcessEnvironmentIsNeverRead) {
  // Whoever starts a setuid program chooses its environment: a key there proves nothing.
  ASSERT_EQ(setenv("SSH_AUTH_INFO_0", "publickey ssh-ed25519 AAAAC3NzaC1l\n", 1), 0);
  Script script({"alice-finger", "alice-finger"});
  Session session("ap_policy", "alice", &script);
  const int code = session.authenticate();
  unsetenv("SSH_AUTH_INFO_0");
  EXPECT_EQ(code, PAM_AUTH_ERR);
  EXPECT_EQ(script.prompts().size(), 1u) << "the password must still be asked";
}

TEST_F(PamSshAuth, AMalformedValueIsUnknownAndTheLogSaysWhy) {
  SyslogCapture capture;
  Script script({"alice-pass", "alice-finger"});
  Session session("ap_policy", "alice", &script);
  ASSERT_EQ(pam_putenv(session.handle, "SSH_AUTH_INFO_0=publickey ssh-ed25519 AAAA"), PAM_SUCCESS);
  EXPECT_EQ(session.authenticate(), PAM_SUCCESS);
  EXPECT_EQ(script.prompts().size(), 2u) << "unknown: the password is not waived";
  const std::string log = capture.all_text();
  EXPECT_NE(log.find("unknowns=1"), std::string::npos) << log;
}

TEST_F(PamSshAuth, AccountPhaseReadsItToo) {
  write_policy(matrix_password_factor() + "deny if ssh.auth in { hostbased }\nauth password\n");
  Script script;
  Session session("ap_policy", "alice", &script);
  ASSERT_EQ(pam_putenv(session.handle, "SSH_AUTH_INFO_0=hostbased ssh-ed25519 AAAA\n"),
            PAM_SUCCESS);
  EXPECT_EQ(session.account(), PAM_PERM_DENIED);
  ASSERT_EQ(pam_putenv(session.handle, "SSH_AUTH_INFO_0=publickey ssh-ed25519 AAAA\n"),
            PAM_SUCCESS);
  EXPECT_EQ(session.account(), PAM_SUCCESS);
  // Without the variable the deny rule's condition is unknown, and `deny if` denies on unknown.
  ASSERT_EQ(pam_putenv(session.handle, "SSH_AUTH_INFO_0"), PAM_SUCCESS);
  EXPECT_EQ(session.account(), PAM_PERM_DENIED);
}

// The methods sshd completed are part of the recorded situation, so `authpolicy replay` decides a
// candidate that reads ssh.auth with what sshd really said, not with "unknown".
TEST_F(PamSshAuth, TheCompletedMethodsAreRecordedAndReplayUsesThem) {
  test_support::TempFolder folder("ap-sshauth-replay");
  const std::string db = folder.file("audit.db");
  write_policy(matrix_password_factor() + code_factor() + "audit { db = \"" + db + "\" }\n" +
               "auth (password unless ssh.auth in { publickey }) && code\n");
  {
    Script script({"alice-finger"});
    Session session("ap_policy", "alice", &script);
    ASSERT_EQ(pam_putenv(session.handle, "SSH_AUTH_INFO_0=publickey ssh-ed25519 AAAAC3NzaC1l\n"),
              PAM_SUCCESS);
    ASSERT_EQ(session.authenticate(), PAM_SUCCESS);
  }
  const ProcessResult listed = run_process(
      {AP_TEST_AUTHPOLICY, "audit", "--db", db, "--limit", "0", "--format", "json"},
      {{"LD_PRELOAD", ""}, {"PAM_WRAPPER", "0"}}, "");
  const auto rows = nlohmann::json::parse(listed.output.substr(listed.output.find('[')));
  ASSERT_EQ(rows.size(), 1u) << listed.output;
  const std::string situation = rows[0].at("situation");
  EXPECT_NE(situation.find("ssh-auth publickey\n"), std::string::npos) << situation;
  // A candidate that wants the password after a key too: the recorded key login changes (the
  // password was never asked), and is reported as one NEW cannot decide, not as a guess.
  const std::string candidate = folder.file("candidate.pol");
  write_file(candidate, matrix_password_factor() + code_factor() + "auth password && code\n");
  const ProcessResult strict = run_process(
      {AP_TEST_AUTHPOLICY, "replay", candidate, "--db", db, "--format", "json"},
      {{"LD_PRELOAD", ""}, {"PAM_WRAPPER", "0"}}, "");
  EXPECT_EQ(strict.exit_code, 1) << strict.output;
  // The same policy replayed: the recorded key keeps the password waived, nothing changes.
  const std::string same = folder.file("same.pol");
  write_file(same, matrix_password_factor() + code_factor() +
                       "auth (password unless ssh.auth in { publickey }) && code\n");
  const ProcessResult unchanged = run_process(
      {AP_TEST_AUTHPOLICY, "replay", same, "--db", db, "--format", "json"},
      {{"LD_PRELOAD", ""}, {"PAM_WRAPPER", "0"}}, "");
  EXPECT_EQ(unchanged.exit_code, 0) << unchanged.output;
}

}  // namespace
}  // namespace authpolicy::pam_test
