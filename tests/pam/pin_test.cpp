// `auth pin || password` end to end: real libpam (pam_wrapper), pam_policy.so, the TPM PIN
// plugin, and swtpm. Then the audit log and syslog of real logins are searched for every secret
// that was typed: none may appear.
#include <gtest/gtest.h>
#include <pwd.h>
#include <sys/stat.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "engine/secret.h"
#include "factors/tpm/pin_store.h"
#include "tests/pam/harness.h"
#include "tests/pam/pin_fixture.h"

namespace authpolicy::pam_test {
namespace {

constexpr const char* kUser = "nobody";  // a real account: the PIN index is keyed by its uid
constexpr const char* kPin = "58204716";
constexpr const char* kPassword = "Secr3t-Pass-Phrase!";
constexpr const char* kTotpSecret = "JBSWY3DPEHPK3PXPJBSWY3DP";

std::string run_command(const std::string& command) {
  std::string out;
  FILE* pipe = popen(command.c_str(), "r");
  if (!pipe) return out;
  char buffer[256];
  while (fgets(buffer, sizeof buffer, pipe)) out += buffer;
  pclose(pipe);
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return out;
}

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

class PamPin : public PinFixture {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(prepare(kUser, "pin"));
    std::filesystem::create_directories(folder_ + "/totp");
    chmod((folder_ + "/totp").c_str(), 0700);
    write_file(folder_ + "/passdb", std::string(kUser) + ":" + kPassword + ":ap_policy\n", 0600);
    store_->setup(uid_, SecretString(kPin), 3);
  }

  std::string common() const {
    return tpm_block() + password_factor() + "audit { db = \"" + audit_db() + "\" }\n";
  }
};

TEST_F(PamPin, RightPinAloneLogsIn) {
  write_policy(common() + "auth pin || password\n");
  Script script({kPin});
  Session session("ap_policy", std::string(kUser), &script);
  ASSERT_EQ(session.start_code, PAM_SUCCESS);
  EXPECT_EQ(session.authenticate(), PAM_SUCCESS);
  ASSERT_EQ(script.prompts().size(), 1u);
  EXPECT_NE(script.prompts()[0].find("PIN"), std::string::npos) << script.prompts()[0];
  EXPECT_EQ(attempts_used(), 0u);
}

TEST_F(PamPin, WrongPinFallsBackToThePasswordAndCountsTheAttempt) {
  write_policy(common() + "auth pin || password\n");
  Script script({"11112222", kPassword});
  Session session("ap_policy", std::string(kUser), &script);
  EXPECT_EQ(session.authenticate(), PAM_SUCCESS);
  EXPECT_EQ(script.prompts().size(), 2u);
  EXPECT_EQ(attempts_used(), 1u);
}

TEST_F(PamPin, LockoutIsReportedAndThePasswordStillWorks) {
  write_policy(common() + "auth pin || password\n");
  for (int i = 0; i < 3; ++i) {
    Script script({"11112222", "not-the-password"});
    Session session("ap_policy", std::string(kUser), &script);
    EXPECT_EQ(session.authenticate(), PAM_AUTH_ERR);
  }
  EXPECT_EQ(attempts_used(), 3u);
  Script script({kPassword});
  Session session("ap_policy", std::string(kUser), &script);
  EXPECT_EQ(session.authenticate(), PAM_SUCCESS);
  // Locked: the PIN is not even asked, the person is told, and nothing more is spent.
  ASSERT_EQ(script.prompts().size(), 1u);
  EXPECT_EQ(script.prompts()[0].find("PIN"), std::string::npos) << script.prompts()[0];
  bool told = false;
  for (const auto& [kind, text] : script.shown) {
    if (kind == "error" && text.find("locked") != std::string::npos) told = true;
  }
  EXPECT_TRUE(told);
  EXPECT_EQ(attempts_used(), 3u);
}

TEST_F(PamPin, NoSecretReachesTheAuditLogOrSyslog) {
  const std::string secrets_file = folder_ + "/totp/" + kUser;
  write_file(secrets_file, std::string(kTotpSecret) + "\n\" TOTP_AUTH\n", 0600);
  write_policy(common() + "factor totp { secrets = \"" + folder_ + "/totp/%u\" }\n" +
               "auth (pin || password) && totp\n");
  SyslogCapture capture;
  std::vector<std::string> typed = {kPin, kPassword, "11112222"};
  {
    // Without our preloads (pam_wrapper, and ASan's runtime in sanitizer builds).
    const std::string code =
        run_command(std::string("env -u LD_PRELOAD oathtool --totp -b ") + kTotpSecret);
    ASSERT_EQ(code.size(), 6u) << "needs oathtool (Debian package oathtool)";
    typed.push_back(code);
    Script script({kPin, code});
    Session session("ap_policy", std::string(kUser), &script);
    EXPECT_EQ(session.authenticate(), PAM_SUCCESS);
  }
  {
    Script script({"11112222", kPassword, "000000"});
    Session session("ap_policy", std::string(kUser), &script);
    EXPECT_EQ(session.authenticate(), PAM_AUTH_ERR);
  }
  const std::string log = capture.all_text();
  ASSERT_NE(log.find("decision=permit"), std::string::npos) << log;
  std::string stored;
  for (const char* suffix : {"", "-wal", "-shm", "-spool"}) stored += slurp(audit_db() + suffix);
  ASSERT_NE(stored.find("permit"), std::string::npos) << "the decisions were not written";
  ASSERT_NE(stored.find(kUser), std::string::npos);
  for (const auto& secret : typed) {
    EXPECT_EQ(stored.find(secret), std::string::npos) << "secret in the audit log: " << secret;
    EXPECT_EQ(log.find(secret), std::string::npos) << "secret in syslog: " << secret;
  }
}

}  // namespace
}  // namespace authpolicy::pam_test
