// Every policy in policies/ through real libpam with scripted answers. `password` delegates to
// pam_matrix; `fingerprint` is either left alone (pam_fprintd.so is not installed: error) or
// replaced by a second pam_matrix database; pin, u2f and totp have no TPM, key or enrolment here,
// so they must fail closed.
#include <dirent.h>
#include <gtest/gtest.h>

#include <ctime>
#include <set>

#include "tests/pam/harness.h"

namespace authpolicy::pam_test {
namespace {

// Whether login.pol requires the second factor now: 20:00..07:00 or the weekend.
bool night_or_weekend() {
  const std::time_t now = std::time(nullptr);
  std::tm local{};
  localtime_r(&now, &local);
  return local.tm_hour >= 20 || local.tm_hour < 7 || local.tm_wday == 0 || local.tm_wday == 6;
}

struct PolicyCase {
  std::string name;  // test name suffix
  std::string policy;
  const char* rhost;
  std::vector<std::string> answers;
  int expected;
  std::size_t prompts;
  bool fingerprint_stand_in = false;
};

void PrintTo(const PolicyCase& c, std::ostream* os) {
  *os << c.name;
}

const std::string kPass = "alice-pass";
const std::string kFinger = "alice-finger";

std::vector<PolicyCase> cases() {
  const std::size_t login_prompts = night_or_weekend() ? 2 : 1;
  return {
      // password && (pin || u2f) unless rhost in trusted
      {"DesignCardLocalNeedsASecondFactor", "design-card", nullptr, {kPass}, PAM_AUTH_ERR, 1},
      {"DesignCardTrustedNetworkWaives", "design-card", "10.1.2.3", {kPass}, PAM_SUCCESS, 1},
      {"DesignCardTrustedNetworkWrongPassword", "design-card", "10.1.2.3", {"x"}, PAM_AUTH_ERR, 1},
      {"DesignCardRemoteUntrusted", "design-card", "203.0.113.9", {kPass}, PAM_AUTH_ERR, 1},
      // u2f || password
      {"KeyFirstFallsBackToPassword", "key-first", nullptr, {kPass}, PAM_SUCCESS, 1},
      {"KeyFirstRemote", "key-first", "203.0.113.9", {kPass}, PAM_SUCCESS, 1},
      {"KeyFirstWrongPassword", "key-first", "203.0.113.9", {"x"}, PAM_AUTH_ERR, 1},
      // password && (fingerprint || u2f)
      {"LoginFingerprintOrKeyWithoutReader",
       "login-fingerprint-or-key",
       nullptr,
       {kPass},
       PAM_AUTH_ERR,
       1},
      {"LoginFingerprintOrKeyWithFinger",
       "login-fingerprint-or-key",
       nullptr,
       {kPass, kFinger},
       PAM_SUCCESS,
       2,
       true},
      {"LoginFingerprintOrKeyRemoteNeverAsksTheFinger",
       "login-fingerprint-or-key",
       "203.0.113.9",
       {kPass, kFinger},
       PAM_AUTH_ERR,
       1,
       true},
      {"LoginFingerprintOrKeyWrongFinger",
       "login-fingerprint-or-key",
       nullptr,
       {kPass, "x"},
       PAM_AUTH_ERR,
       2,
       true},
      // password && ((fingerprint || u2f) if night or weekend)
      {"LoginAtThisHour", "login", nullptr, {kPass, kFinger}, PAM_SUCCESS, login_prompts, true},
      {"LoginWrongPassword", "login", nullptr, {"x", kFinger}, PAM_AUTH_ERR, 1, true},
      // pin || password
      {"PinFallbackToPassword", "pin-fallback", nullptr, {kPass}, PAM_SUCCESS, 1},
      {"PinFallbackWrongPassword", "pin-fallback", nullptr, {"x"}, PAM_AUTH_ERR, 1},
      // password && totp unless rhost in trusted
      {"RemoteOtpNotEnrolled", "remote-otp", "203.0.113.9", {kPass, "123456"}, PAM_AUTH_ERR, 1},
      {"RemoteOtpTrustedNetwork", "remote-otp", "192.168.1.20", {kPass}, PAM_SUCCESS, 1},
      // fingerprint || pin || password
      {"ScreenLockPassword", "screen-lock", nullptr, {kPass}, PAM_SUCCESS, 1},
      {"ScreenLockFinger", "screen-lock", nullptr, {kFinger}, PAM_SUCCESS, 1, true},
      {"ScreenLockWrongFingerThenPassword",
       "screen-lock",
       nullptr,
       {"x", kPass},
       PAM_SUCCESS,
       2,
       true},
      // sshd: no GeoIP database here, so the country is unknown: denied before anything is asked
      {"SshdDeniesWhileTheCountryIsUnknown", "sshd", "10.20.1.1", {kPass}, PAM_AUTH_ERR, 0},
      // (password unless ssh.auth in { publickey }) && totp: no SSH_AUTH_INFO_0 here (not
      // sshd), so ssh.auth is unknown and the password is asked; no code is enrolled: denied
      {"SshdKeyOrPasswordOutsideSshdAsksThePassword",
       "sshd-key-or-password",
       "203.0.113.9",
       {kPass},
       PAM_AUTH_ERR,
       1},
      {"SshdKeyOrPasswordWrongPassword",
       "sshd-key-or-password",
       "203.0.113.9",
       {"x"},
       PAM_AUTH_ERR,
       1},
      // sudo: a fresh audit log (no failures); the password passes, but no key, PIN or code is
      // enrolled here, so it is denied after one prompt
      {"SudoNeedsASecondFactor", "sudo", nullptr, {kPass}, PAM_AUTH_ERR, 1},
      // password && (fingerprint || u2f)
      {"SuWithoutReader", "su", nullptr, {kPass}, PAM_AUTH_ERR, 1},
      {"SuWithFinger", "su", nullptr, {kPass, kFinger}, PAM_SUCCESS, 2, true},
      // fingerprint || u2f
      {"SudoFingerprintOrKeyWithoutEither",
       "sudo-fingerprint-or-key",
       nullptr,
       {kPass},
       PAM_AUTH_ERR,
       0},
      {"SudoFingerprintOrKeyWithFinger",
       "sudo-fingerprint-or-key",
       nullptr,
       {kFinger},
       PAM_SUCCESS,
       1,
       true},
      // fingerprint || password
      {"UnlockPasswordWithoutReader",
       "unlock-fingerprint-or-password",
       nullptr,
       {kPass},
       PAM_SUCCESS,
       1},
      {"UnlockFinger", "unlock-fingerprint-or-password", nullptr, {kFinger}, PAM_SUCCESS, 1, true},
  };
}

class ProjectPolicies : public ::testing::TestWithParam<PolicyCase> {};

TEST_P(ProjectPolicies, DecidesThroughRealLibpam) {
  const PolicyCase& c = GetParam();
  std::string text = read_file(std::string(Paths::policies_dir()) + "/" + c.policy + ".pol");
  text += '\n';  // (not "\n" + string: GCC 12 -O2 warns falsely, PR105651)
  text += matrix_password_factor();
  if (c.fingerprint_stand_in) text += matrix_fingerprint_factor();
  write_policy(text);
  SyslogCapture capture;
  Script script(c.answers);
  Session session("ap_policy", "alice", &script);
  ASSERT_EQ(session.start_code, PAM_SUCCESS);
  if (c.rhost) session.set_item(PAM_RHOST, c.rhost);
  EXPECT_EQ(session.authenticate(), c.expected) << capture.all_text();
  EXPECT_EQ(script.prompts().size(), c.prompts) << capture.all_text();
  EXPECT_EQ(session.setcred(), c.expected);
}

INSTANTIATE_TEST_SUITE_P(All, ProjectPolicies, ::testing::ValuesIn(cases()),
                         [](const auto& info) { return info.param.name; });

TEST(ProjectPolicies, EveryPolicyFileHasACase) {
  std::set<std::string> covered;
  for (const auto& c : cases()) covered.insert(c.policy);
  DIR* dir = opendir(Paths::policies_dir());
  ASSERT_NE(dir, nullptr);
  while (dirent* entry = readdir(dir)) {
    const std::string name = entry->d_name;
    if (name.size() < 5 || name.substr(name.size() - 4) != ".pol") continue;
    EXPECT_TRUE(covered.count(name.substr(0, name.size() - 4))) << name << " has no case";
  }
  closedir(dir);
}

}  // namespace
}  // namespace authpolicy::pam_test
