// pam_policy.so through real libpam: decisions, PAM_AUTHTOK, setcred, acct_mgmt, failure rules and
// hostile items.
#include <dlfcn.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <stdexcept>

extern "C" {
#include <libpamtest.h>
}

#include "tests/pam/harness.h"

namespace authpolicy::pam_test {
namespace {

std::string matrix_factor(const std::string& name, const std::string& passdb) {
  return "factor " + name + " = pam(\"" + Paths::matrix() + "\", \"passdb=" + passdb + "\")\n";
}

std::string get_items_factor(const std::string& name) {
  return "factor " + name + " = pam(\"" + std::string(Paths::wrapper_dir()) +
         "/pam_get_items.so\")\n";
}

bool contains(const std::vector<std::string>& lines, const std::string& text) {
  return std::any_of(lines.begin(), lines.end(),
                     [&](const std::string& l) { return l.find(text) != std::string::npos; });
}

std::size_t count_containing(const std::vector<std::string>& lines, const std::string& text) {
  return static_cast<std::size_t>(
      std::count_if(lines.begin(), lines.end(),
                    [&](const std::string& l) { return l.find(text) != std::string::npos; }));
}

class PamModule : public ::testing::Test {
 protected:
  void SetUp() override { write_policy(matrix_password_factor() + "auth password\n"); }
};

// ---- Decisions ------------------------------------------------------------------------------

TEST_F(PamModule, LibpamtestPermitsTheRightPasswordAndReplaysItInSetcred) {
  const char* answers[] = {"alice-pass", nullptr};
  pamtest_conv_data conv{
      .in_echo_off = answers, .in_echo_on = nullptr, .out_err = nullptr, .out_info = nullptr};
  pam_testcase tests[] = {
      pam_test(PAMTEST_AUTHENTICATE, PAM_SUCCESS),
      pam_test(PAMTEST_SETCRED, PAM_SUCCESS),
      pam_test(PAMTEST_ACCOUNT, PAM_SUCCESS),
  };
  const auto rc = run_pamtest("ap_policy", "alice", &conv, tests, nullptr);
  EXPECT_EQ(rc, PAMTEST_ERR_OK) << pamtest_strerror(rc);
}

TEST_F(PamModule, LibpamtestDeniesAWrongPassword) {
  const char* answers[] = {"alice-wrong", nullptr};
  pamtest_conv_data conv{
      .in_echo_off = answers, .in_echo_on = nullptr, .out_err = nullptr, .out_info = nullptr};
  pam_testcase tests[] = {
      pam_test(PAMTEST_AUTHENTICATE, PAM_AUTH_ERR),
      pam_test(PAMTEST_SETCRED, PAM_AUTH_ERR),
  };
  const auto rc = run_pamtest("ap_policy", "alice", &conv, tests, nullptr);
  EXPECT_EQ(rc, PAMTEST_ERR_OK) << pamtest_strerror(rc);
}

TEST_F(PamModule, UnknownUserIsDenied) {
  Script script({"whatever"});
  Session session("ap_policy", "carol", &script);
  EXPECT_EQ(session.authenticate(), PAM_AUTH_ERR);
}

TEST_F(PamModule, OneSyslogLinePerDecisionAndNeverTheSecret) {
  SyslogCapture capture;
  {
    Script script({"alice-pass"});
    Session session("ap_policy", "alice", &script);
    ASSERT_EQ(session.authenticate(), PAM_SUCCESS);
  }
  {
    Script script({"alice-wrong-guess"});
    Session session("ap_policy", "alice", &script);
    ASSERT_EQ(session.authenticate(), PAM_AUTH_ERR);
  }
  const auto lines = capture.module_lines();
  ASSERT_EQ(count_containing(lines, "phase=auth"), 2u) << capture.all_text();
  EXPECT_TRUE(contains(lines, "phase=auth decision=permit user=alice service=ap_policy rhost=-"));
  EXPECT_TRUE(contains(lines, "factors=password:pass(PAM_SUCCESS)"));
  EXPECT_TRUE(contains(lines, "decision=deny"));
  EXPECT_TRUE(contains(lines, "factors=password:fail(PAM_AUTH_ERR)"));
  const std::string all = capture.all_text();
  EXPECT_EQ(all.find("alice-pass"), std::string::npos);
  EXPECT_EQ(all.find("alice-wrong-guess"), std::string::npos);
}

TEST_F(PamModule, DebugLogsThePolicyPath) {
  SyslogCapture capture;
  Script script({"alice-pass"});
  Session session("ap_debug", "alice", &script);
  ASSERT_EQ(session.authenticate(), PAM_SUCCESS);
  EXPECT_TRUE(contains(capture.module_lines(), "policy=" + current_policy_path()));
}

// Issue 13.7: the compiled policy is kept per process, but never served once a file it was built
// from changed: an include edited between two calls on one handle takes effect at once.
TEST_F(PamModule, CompiledPolicyIsReusedUntilAnIncludeChanges) {
  const std::string policy = current_policy_path();
  const std::string include = policy.substr(0, policy.rfind('/')) + "/cache-test.inc";
  write_file(include, "set blocked = { bob }\n", 0644);
  write_policy("include \"cache-test.inc\"\n" + matrix_password_factor() +
               "deny if user in blocked\nauth password\n");
  SyslogCapture capture;
  Script script({"alice-pass", "alice-pass", "alice-pass"});
  Session session("ap_debug", "alice", &script);
  ASSERT_EQ(session.authenticate(), PAM_SUCCESS);
  EXPECT_EQ(session.account(), PAM_SUCCESS);
  EXPECT_TRUE(contains(capture.module_lines(), "unchanged: reused")) << capture.all_text();

  write_file(include, "set blocked = { alice }\n", 0644);
  EXPECT_EQ(session.authenticate(), PAM_AUTH_ERR) << "the edited include must be read again";
  EXPECT_EQ(session.account(), PAM_PERM_DENIED);

  // Same content again, but the folder above lost its trust: the cache must not paper over it.
  write_file(include, "set blocked = { bob }\n", 0644);
  ASSERT_EQ(session.authenticate(), PAM_SUCCESS);
  const std::string folder = policy.substr(0, policy.rfind('/'));
  struct stat before {};
  ASSERT_EQ(stat(folder.c_str(), &before), 0);
  ASSERT_EQ(chmod(folder.c_str(), (before.st_mode & 07777) | S_IWGRP), 0);
  const int rc = session.authenticate();
  ASSERT_EQ(chmod(folder.c_str(), before.st_mode & 07777), 0);
  EXPECT_EQ(rc, PAM_AUTH_ERR) << "a group-writable policy folder is refused even when cached";
  unlink(include.c_str());
}

TEST_F(PamModule, RetryOnTheSameHandleUsesTheLatestDecision) {
  Script script({"alice-wrong", "alice-pass"});
  Session session("ap_policy", "alice", &script);
  EXPECT_EQ(session.authenticate(), PAM_AUTH_ERR);
  EXPECT_EQ(session.authenticate(), PAM_SUCCESS);
  EXPECT_EQ(session.setcred(), PAM_SUCCESS);
}

TEST_F(PamModule, SilentFlagStillAsksAndShowsNoMessages) {
  Script script({"alice-pass"});
  Session session("ap_policy", "alice", &script);
  EXPECT_EQ(session.authenticate(PAM_SILENT), PAM_SUCCESS);
  for (const auto& [kind, text] : script.shown) EXPECT_TRUE(kind == "off" || kind == "on") << text;
}

// ---- PAM_AUTHTOK ----------------------------------------------------------------------------

// pam_matrix wipes PAM_AUTHTOK after checking it, as no real password module does; pam_set_items
// stands in for pam_unix here: it "passes" and leaves $PAM_AUTHTOK in the item, as pam_unix leaves
// the password it checked.
std::string set_items_password_factor() {
  return "factor password { module = \"" + std::string(Paths::wrapper_dir()) +
         "/pam_set_items.so\" }\n";
}

class PamAuthtok : public ::testing::Test {
 protected:
  void SetUp() override { setenv("PAM_AUTHTOK", "token-of-the-password", 1); }
  void TearDown() override { unsetenv("PAM_AUTHTOK"); }
};

TEST_F(PamAuthtok, PasswordStaysInAuthtokForLaterModules) {
  write_policy(set_items_password_factor() + matrix_factor("code", fingerdb_path()) +
               "auth password && code\n");
  Script script({"alice-finger"});
  Session session("ap_authtok", "alice", &script);  // pam_get_items.so after pam_policy.so
  ASSERT_EQ(session.authenticate(), PAM_SUCCESS);
  EXPECT_EQ(session.env("PAM_AUTHTOK"), "token-of-the-password");
}

TEST_F(PamAuthtok, AnotherDelegatedFactorNeverSeesThePassword) {
  write_policy(set_items_password_factor() + get_items_factor("probe") +
               "auth password && probe\n");
  Script script;
  Session session("ap_policy", "alice", &script);
  ASSERT_EQ(session.authenticate(), PAM_SUCCESS);
  EXPECT_EQ(session.env("PAM_USER"), "alice");  // the probe ran on this handle
  EXPECT_EQ(session.env("PAM_AUTHTOK"), std::nullopt);
}

TEST_F(PamAuthtok, ATokenLeftByAnEarlierModuleIsNotReusedByAFactor) {
  write_policy(get_items_factor("probe") + "auth probe\n");
  Script script;
  Session session("ap_setitems_policy", "alice", &script);  // pam_set_items.so first
  ASSERT_EQ(session.authenticate(), PAM_SUCCESS);
  EXPECT_EQ(session.env("PAM_AUTHTOK"), std::nullopt);
}

TEST_F(PamModule, AuthtokIsEmptyWhenThePasswordWasNotWhatPassed) {
  write_policy(matrix_password_factor() + matrix_factor("code", fingerdb_path()) +
               "auth code || password\n");
  Script script({"alice-finger"});
  Session session("ap_authtok", "alice", &script);
  ASSERT_EQ(session.authenticate(), PAM_SUCCESS);
  EXPECT_EQ(session.env("PAM_AUTHTOK"), std::nullopt);
}

TEST_F(PamModule, AFailedPasswordLeavesNothingInAuthtok) {
  write_policy(matrix_password_factor() + matrix_factor("code", fingerdb_path()) +
               "auth password || code\n");
  Script script({"alice-wrong", "alice-finger"});
  Session session("ap_authtok", "alice", &script);
  ASSERT_EQ(session.authenticate(), PAM_SUCCESS);
  EXPECT_EQ(script.prompts().size(), 2u);
  EXPECT_EQ(session.env("PAM_AUTHTOK"), std::nullopt);
}

// ---- setcred --------------------------------------------------------------------------------

TEST_F(PamModule, SetcredWithoutAuthenticationSucceeds) {
  // sshd with a public key: setcred runs through the auth stack although auth never did.
  Script script;
  Session session("ap_policy", "alice", &script);
  EXPECT_EQ(session.setcred(), PAM_SUCCESS);
  EXPECT_TRUE(script.shown.empty());
}

TEST_F(PamModule, SetcredReplaysADenial) {
  Script script({"alice-wrong"});
  Session session("ap_policy", "alice", &script);
  ASSERT_EQ(session.authenticate(), PAM_AUTH_ERR);
  EXPECT_EQ(session.setcred(), PAM_AUTH_ERR);
  EXPECT_EQ(session.setcred(PAM_DELETE_CRED), PAM_AUTH_ERR);
}

TEST_F(PamModule, SetcredReachesEveryDelegatedModuleThatPassed) {
  write_policy(matrix_password_factor() + get_items_factor("probe") + "auth password && probe\n");
  Script script({"alice-pass"});
  Session session("ap_policy", "alice", &script);
  ASSERT_EQ(session.authenticate(), PAM_SUCCESS);
  session.unset_env("PAM_USER");
  ASSERT_EQ(session.env("PAM_USER"), std::nullopt);
  EXPECT_EQ(session.setcred(), PAM_SUCCESS);
  EXPECT_EQ(session.env("PAM_USER"), "alice");  // pam_get_items' setcred ran again
}

TEST_F(PamModule, SetcredSkipsDelegatedModulesThatDidNotPass) {
  write_policy(matrix_password_factor() + get_items_factor("probe") + "auth password || probe\n");
  Script script({"alice-pass"});
  Session session("ap_policy", "alice", &script);
  ASSERT_EQ(session.authenticate(), PAM_SUCCESS);
  EXPECT_EQ(session.env("PAM_USER"), std::nullopt);  // probe was never asked
  EXPECT_EQ(session.setcred(), PAM_SUCCESS);
  EXPECT_EQ(session.env("PAM_USER"), std::nullopt);
}

// ---- acct_mgmt ------------------------------------------------------------------------------

class PamAccount : public ::testing::Test {
 protected:
  void SetUp() override {
    write_policy(matrix_password_factor() +
                 "set blocked = { 203.0.113.0/24 }\n"
                 "deny if rhost in blocked\n"
                 "deny if user in { mallory }\n"
                 "auth password\n");
  }
};

TEST_F(PamAccount, DenyRuleHoldsWithoutAuthenticationAndWithoutPrompting) {
  Script script;
  Session session("ap_policy", "alice", &script);
  session.set_item(PAM_RHOST, "203.0.113.9");
  EXPECT_EQ(session.account(), PAM_PERM_DENIED);
  EXPECT_TRUE(script.shown.empty());
}

TEST_F(PamAccount, NoDenyRuleHoldsMeansSuccess) {
  Script script;
  Session session("ap_policy", "alice", &script);
  session.set_item(PAM_RHOST, "198.51.100.7");
  EXPECT_EQ(session.account(), PAM_SUCCESS);
  EXPECT_TRUE(script.shown.empty());
}

TEST_F(PamAccount, UserDenyRule) {
  Script script;
  Session session("ap_policy", "mallory", &script);
  EXPECT_EQ(session.account(), PAM_PERM_DENIED);
}

TEST_F(PamAccount, AuthenticationAppliesTheDenyRulesBeforeAsking) {
  Script script({"alice-pass"});
  Session session("ap_policy", "alice", &script);
  session.set_item(PAM_RHOST, "203.0.113.9");
  EXPECT_EQ(session.authenticate(), PAM_AUTH_ERR);
  EXPECT_TRUE(script.shown.empty());
}

TEST_F(PamAccount, MissingPolicyFailsOrIsIgnoredInAccountToo) {
  Script script;
  {
    Session session("ap_missing_fail", "alice", &script);
    EXPECT_EQ(session.account(), PAM_AUTH_ERR);
  }
  {
    Session session("ap_missing_ignore", "alice", &script);
    EXPECT_EQ(session.account(), PAM_SUCCESS);  // ignored; pam_permit decides
  }
}

TEST_F(PamAccount, SessionsAndPasswordChangesAreLeftToOtherModules) {
  Script script;
  Session session("ap_policy", "alice", &script);
  EXPECT_EQ(pam_open_session(session.handle, 0), PAM_SUCCESS);  // ignored, pam_permit decides
  EXPECT_EQ(pam_close_session(session.handle, 0), PAM_SUCCESS);
  void* module = dlopen(Paths::module(), RTLD_NOW | RTLD_LOCAL);
  ASSERT_NE(module, nullptr) << dlerror();
  using Entry = int (*)(pam_handle_t*, int, int, const char**);
  for (const char* name : {"pam_sm_chauthtok", "pam_sm_open_session", "pam_sm_close_session"}) {
    auto entry = reinterpret_cast<Entry>(dlsym(module, name));
    ASSERT_NE(entry, nullptr) << name;
    EXPECT_EQ(entry(session.handle, 0, 0, nullptr), PAM_IGNORE) << name;
  }
  // The engine stays private: only the pam_sm_* entry points are exported.
  EXPECT_EQ(dlsym(module,
                  "_ZN10authpolicy16load_policy_fileERKNSt7__cxx1112basic_stringIcSt11char_"
                  "traitsIcESaIcEEERKNS_11LoadOptionsE"),
            nullptr);
  dlclose(module);
}

// ---- rhost ----------------------------------------------------------------------------------

class PamRhost : public ::testing::Test {
 protected:
  void SetUp() override {
    write_policy(matrix_password_factor() + matrix_factor("code", fingerdb_path()) +
                 "set trusted = { 10.0.0.0/8, fd00::/8 }\n"
                 "auth password && (code unless rhost in trusted)\n");
  }
  // Authenticates alice with only her password; returns the code and how many prompts she saw.
  std::pair<int, std::size_t> password_only(const char* rhost) {
    Script script({"alice-pass"});
    Session session("ap_policy", "alice", &script);
    if (rhost) session.set_item(PAM_RHOST, rhost);
    const int rc = session.authenticate();
    return {rc, script.prompts().size()};
  }
};

TEST_F(PamRhost, TrustedAddressesWaiveTheSecondFactor) {
  EXPECT_EQ(password_only("10.1.2.3"), std::make_pair(PAM_SUCCESS, std::size_t{1}));
  EXPECT_EQ(password_only("::ffff:10.1.2.3"), std::make_pair(PAM_SUCCESS, std::size_t{1}));
  EXPECT_EQ(password_only("fd00::5"), std::make_pair(PAM_SUCCESS, std::size_t{1}));
}

TEST_F(PamRhost, OtherAddressesNeedTheSecondFactor) {
  EXPECT_EQ(password_only("203.0.113.9"), std::make_pair(PAM_AUTH_ERR, std::size_t{2}));
  Script script({"alice-pass", "alice-finger"});
  Session session("ap_policy", "alice", &script);
  session.set_item(PAM_RHOST, "203.0.113.9");
  EXPECT_EQ(session.authenticate(), PAM_SUCCESS);
}

TEST_F(PamRhost, UnsetAndEmptyRhostAreLocalNotTrusted) {
  EXPECT_EQ(password_only(nullptr), std::make_pair(PAM_AUTH_ERR, std::size_t{2}));
  EXPECT_EQ(password_only(""), std::make_pair(PAM_AUTH_ERR, std::size_t{2}));
}

TEST_F(PamRhost, HostNamesAndGarbageAreUnknownAndNeverWaive) {
  SyslogCapture capture;
  EXPECT_EQ(password_only("trusted.example.com"), std::make_pair(PAM_AUTH_ERR, std::size_t{2}));
  EXPECT_EQ(password_only("10.0.0.1; rm -rf /\n\x01"),
            std::make_pair(PAM_AUTH_ERR, std::size_t{2}));
  EXPECT_EQ(password_only(std::string(70000, '9').c_str()),
            std::make_pair(PAM_AUTH_ERR, std::size_t{2}));
  const auto lines = capture.module_lines();
  EXPECT_TRUE(contains(lines, "rhost=trusted.example.com"));
  EXPECT_TRUE(contains(lines, "rhost=\"10.0.0.1; rm -rf /\\x0a\\x01\""));
  for (const auto& line : lines) EXPECT_LT(line.size(), 2000u);
}

// ---- Failure rules --------------------------------------------------------------------------

class PamFailures : public PamModule {};

TEST_F(PamFailures, MissingPolicyWithMissingFailDenies) {
  SyslogCapture capture;
  Script script({"alice-pass"});
  Session session("ap_missing_fail", "alice", &script);
  EXPECT_EQ(session.authenticate(), PAM_AUTH_ERR);
  EXPECT_TRUE(contains(capture.module_lines(), "failing (missing=fail)"));
}

TEST_F(PamFailures, MissingPolicyWithMissingIgnoreLeavesTheDecisionToTheStack) {
  {
    Script script({"alice-pass"});
    Session session("ap_missing_ignore", "alice", &script);
    EXPECT_EQ(session.authenticate(), PAM_SUCCESS);
    EXPECT_EQ(session.setcred(), PAM_SUCCESS);
  }
  Script script({"alice-wrong"});
  Session session("ap_missing_ignore", "alice", &script);
  EXPECT_EQ(session.authenticate(), PAM_AUTH_ERR);
}

TEST_F(PamFailures, WithoutPolicyArgumentTheServiceNamesTheFile) {
  SyslogCapture capture;
  Script script({"alice-pass"});
  Session session("ap_default_dir", "alice", &script);
  EXPECT_EQ(session.authenticate(), PAM_AUTH_ERR);
  EXPECT_TRUE(
      contains(capture.module_lines(), std::string(AP_TEST_POLICY_DIR) + "/ap_default_dir.pol"));
  // Nothing asked; one line says why (tests/pam/unavailable_test.cpp covers it).
  EXPECT_TRUE(script.prompts().empty());
  EXPECT_EQ(script.shown.size(), 1u);
}

TEST_F(PamFailures, GroupWritablePolicyIsRefused) {
  write_policy(matrix_password_factor() + "auth password\n", 0664);
  SyslogCapture capture;
  Script script({"alice-pass"});
  Session session("ap_policy", "alice", &script);
  EXPECT_EQ(session.authenticate(), PAM_AUTH_ERR);
  EXPECT_TRUE(script.prompts().empty());
  EXPECT_TRUE(contains(capture.module_lines(), "writable")) << capture.all_text();
}

TEST_F(PamFailures, PolicyNotOwnedByRootIsRefused) {
  write_policy(matrix_password_factor() + "auth password\n");
  ASSERT_EQ(chown(current_policy_path().c_str(), 65534, 65534), 0);
  SyslogCapture capture;
  Script script({"alice-pass"});
  Session session("ap_policy", "alice", &script);
  EXPECT_EQ(session.authenticate(), PAM_AUTH_ERR);
  EXPECT_TRUE(contains(capture.module_lines(), "not root")) << capture.all_text();
}

TEST_F(PamFailures, CheckerErrorsFailClosedWithTheFirstDiagnostic) {
  write_policy(matrix_password_factor() + "auth pasword\n");
  SyslogCapture capture;
  Script script({"alice-pass"});
  Session session("ap_policy", "alice", &script);
  EXPECT_EQ(session.authenticate(), PAM_AUTH_ERR);
  EXPECT_EQ(session.account(), PAM_AUTH_ERR);
  EXPECT_TRUE(script.prompts().empty());
  const auto lines = capture.module_lines();
  EXPECT_TRUE(contains(lines, "current.pol:2:6: error[E")) << capture.all_text();
  EXPECT_TRUE(contains(lines, "pasword"));
}

// Issue #22: the settings `authpolicy check` refuses are refused by the module in the same words,
// before anything is asked (they used to pass the check and fail every login at the factor).
TEST_F(PamFailures, FactorSettingsOutOfRangeAreRefusedLikeCheckRefusesThem) {
  write_policy(matrix_password_factor() + "factor totp { digits = 9 }\nauth password && totp\n");
  SyslogCapture capture;
  Script script({"alice-pass"});
  Session session("ap_policy", "alice", &script);
  EXPECT_EQ(session.authenticate(), PAM_AUTH_ERR);
  EXPECT_TRUE(script.prompts().empty());
  EXPECT_TRUE(contains(capture.module_lines(),
                       "error[E020]: setting 'digits' of factor totp must be between 6 and 8, "
                       "not 9"))
      << capture.all_text();
}

TEST_F(PamFailures, UnknownModuleArgumentIsAServiceError) {
  SyslogCapture capture;
  Script script({"alice-pass"});
  Session session("ap_badarg", "alice", &script);
  EXPECT_EQ(session.authenticate(), PAM_SERVICE_ERR);
  EXPECT_TRUE(contains(capture.module_lines(), "unknown module argument \"missing=sometimes\""));
}

TEST_F(PamFailures, MissingDelegatedModuleIsAnError) {
  write_policy("factor ghost = pam(\"pam_authpolicy_no_such_module.so\")\nauth ghost\n");
  SyslogCapture capture;
  Script script({"alice-pass"});
  Session session("ap_policy", "alice", &script);
  EXPECT_EQ(session.authenticate(), PAM_AUTH_ERR);
  EXPECT_TRUE(script.shown.empty());
  EXPECT_TRUE(
      contains(capture.module_lines(), "ghost:error(module pam_authpolicy_no_such_module.so"))
      << capture.all_text();
}

TEST_F(PamFailures, PamFactorNamingThisModuleIsRefusedWithoutRecursing) {
  // Issue #13 item 8: before E026 and the re-entry guard, the host died of a stack overflow.
  write_policy(matrix_password_factor() + "factor me = pam(\"" + std::string(Paths::module()) +
               "\", \"policy=" + current_policy_path() + "\")\nauth password && me\n");
  {
    Script script({"alice-pass"});
    Session session("ap_policy", "alice", &script);
    EXPECT_NE(session.authenticate(), PAM_SUCCESS);
  }
  // A copy under another name is a different file: only the run-time guard can stop it.
  const std::string dir = std::string(Paths::run_dir()) + "/selfcopy";
  mkdir(dir.c_str(), 0755);
  const std::string copy = dir + "/pam_authpolicy_copy.so";
  write_file(copy, read_file(Paths::module()), 0755);
  write_policy(matrix_password_factor() + "factor me = pam(\"" + copy + "\", \"policy=" +
               current_policy_path() + "\")\nauth password && me\n");
  SyslogCapture capture;
  Script script({"alice-pass", "alice-pass", "alice-pass"});
  Session session("ap_policy", "alice", &script);
  EXPECT_EQ(session.authenticate(), PAM_AUTH_ERR);
  EXPECT_TRUE(contains(capture.module_lines(), "called again from inside its own authentication"))
      << capture.all_text();
}

TEST_F(PamFailures, MissingFingerprintModuleFallsBackToThePassword) {
  // pam_fprintd.so is not installed here: fingerprint is an error, `||` moves on.
  write_policy(matrix_password_factor() +
               "factor fingerprint { module = \"pam_authpolicy_no_fprintd.so\" }\n"
               "auth fingerprint || password\n");
  Script script({"alice-pass"});
  Session session("ap_policy", "alice", &script);
  EXPECT_EQ(session.authenticate(), PAM_SUCCESS);
  EXPECT_EQ(script.prompts().size(), 1u);
}

class PamUntrustedModule : public PamModule {
 protected:
  std::string copy_matrix(const std::string& folder, uid_t owner, mode_t mode) {
    const std::string dir = std::string(Paths::run_dir()) + "/" + folder;
    mkdir(dir.c_str(), 0755);
    const std::string path = dir + "/pam_matrix.so";
    write_file(path, read_file(Paths::matrix()), 0755);
    EXPECT_EQ(chown(path.c_str(), owner, 0), 0);
    EXPECT_EQ(chmod(path.c_str(), mode), 0);
    return path;
  }
  int authenticate_with(const std::string& module, SyslogCapture& capture) {
    write_policy("factor password { module = \"" + module +
                 "\"; arguments = \"passdb=" + passdb_path() + "\" }\nauth password\n");
    Script script({"alice-pass"});
    Session session("ap_policy", "alice", &script);
    const int rc = session.authenticate();
    EXPECT_EQ(script.shown.empty(), rc != PAM_SUCCESS) << capture.all_text();
    return rc;
  }
};

TEST_F(PamUntrustedModule, ModuleNotOwnedByRootIsRefused) {
  SyslogCapture capture;
  EXPECT_EQ(authenticate_with(copy_matrix("nobody", 65534, 0755), capture), PAM_AUTH_ERR);
  EXPECT_TRUE(contains(capture.module_lines(), "not root"));
}

TEST_F(PamUntrustedModule, GroupWritableModuleIsRefused) {
  SyslogCapture capture;
  EXPECT_EQ(authenticate_with(copy_matrix("groupw", 0, 0775), capture), PAM_AUTH_ERR);
  EXPECT_TRUE(contains(capture.module_lines(), "writable by its group"));
}

TEST_F(PamUntrustedModule, RelativeModulePathIsRefused) {
  SyslogCapture capture;
  EXPECT_EQ(authenticate_with("../pam_wrapper/pam_matrix.so", capture), PAM_AUTH_ERR);
  EXPECT_TRUE(contains(capture.module_lines(), "neither a bare name nor an absolute path"));
}

TEST_F(PamUntrustedModule, RootOwnedCopyIsAccepted) {
  SyslogCapture capture;
  EXPECT_EQ(authenticate_with(copy_matrix("trusted", 0, 0755), capture), PAM_SUCCESS);
}

TEST_F(PamFailures, NoConversationIsAConversationError) {
  SyslogCapture capture;
  Session session("ap_policy", "alice", nullptr, /*no_conversation=*/true);
  ASSERT_EQ(session.start_code, PAM_SUCCESS);
  EXPECT_EQ(session.authenticate(), PAM_CONV_ERR);
  EXPECT_TRUE(contains(capture.module_lines(), "password:error(no conversation)"));
}

TEST_F(PamFailures, ConversationErrorDenies) {
  Script script({"alice-pass"}, {}, PAM_CONV_ERR);
  Session session("ap_policy", "alice", &script);
  const int rc = session.authenticate();
  EXPECT_NE(rc, PAM_SUCCESS);
  EXPECT_TRUE(rc == PAM_CONV_ERR || rc == PAM_AUTH_ERR) << rc;
}

// pam_set_items.so changes PAM_SERVICE inside the stack, before pam_policy.so (no policy=)
// reads it: libpam itself would look an application's changed name up in pam.d first.
TEST_F(PamFailures, ServiceNamesThatCouldLeaveThePolicyFolderAreRefused) {
  for (const char* service : {"../../etc/shadow", "a/b", ".hidden", "sudo/../../x"}) {
    SyslogCapture capture;
    setenv("PAM_SERVICE", service, 1);
    Script script({"alice-pass"});
    {
      Session session("ap_setitems", "alice", &script);
      EXPECT_EQ(session.authenticate(), PAM_SERVICE_ERR) << service;
    }
    unsetenv("PAM_SERVICE");
    EXPECT_TRUE(script.shown.empty());
    EXPECT_TRUE(contains(capture.module_lines(), "refused")) << capture.all_text();
  }
}

// ---- Hostile items --------------------------------------------------------------------------

TEST_F(PamFailures, HostileUserNamesAreRefusedWithoutPrompting) {
  const std::string huge(64 * 1024, 'a');
  for (const std::string& user :
       {huge, std::string("al\nice"), std::string("../root"), std::string("a/b"),
        std::string("alice:0"), std::string(".."), std::string("\x1b[31mred")}) {
    SyslogCapture capture;
    Script script({"alice-pass"});
    Session session("ap_policy", user, &script);
    const auto started = std::chrono::steady_clock::now();
    EXPECT_EQ(session.authenticate(), PAM_AUTH_ERR);
    EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(2));
    EXPECT_TRUE(script.shown.empty());
    const auto lines = capture.module_lines();
    EXPECT_TRUE(contains(lines, "refused")) << capture.all_text();
    for (const auto& line : lines) EXPECT_LT(line.size(), 1000u);
  }
}

TEST_F(PamFailures, NoFileDescriptorLeaks) {
  auto run_all = [] {
    for (int round = 0; round < 3; ++round) {
      write_policy(matrix_password_factor() + "auth password\n");
      for (const char* answer : {"alice-pass", "alice-wrong"}) {
        Script script({answer});
        Session session("ap_policy", "alice", &script);
        session.authenticate();
        session.setcred();
        session.account();
      }
      write_policy("factor ghost = pam(\"pam_authpolicy_no_such_module.so\")\nauth ghost\n");
      {
        Script script;
        Session session("ap_policy", "alice", &script);
        session.authenticate();
      }
      write_policy("auth pasword\n");
      {
        Script script;
        Session session("ap_policy", "alice", &script);
        session.authenticate();
      }
      {
        Script script({"alice-pass"});
        Session session("ap_missing_fail", "alice", &script);
        session.authenticate();
      }
    }
  };
  run_all();  // warm up: libraries that keep one descriptor for the process (syslog, nss)
  const std::size_t before = open_fd_count();
  run_all();
  EXPECT_EQ(open_fd_count(), before);
}

}  // namespace
}  // namespace authpolicy::pam_test

namespace authpolicy::pam_test {
namespace {

// ---- Factor plugins (totp here; pin and u2f load the same way) ------------------------------

class PamTotp : public ::testing::Test {
 protected:
  static constexpr const char* kSecret = "JBSWY3DPEHPK3PXP";
  void SetUp() override {
    const std::string folder = std::string(Paths::run_dir()) + "/totp";
    mkdir(folder.c_str(), 0700);
    write_file(folder + "/alice", std::string(kSecret) + "\n\" TOTP_AUTH\n", 0600);
    write_policy(matrix_password_factor() + "factor totp { secrets = \"" + folder +
                 "/%u\" }\nauth password && totp\n");
  }
  static std::string current_code() {
    const auto r = run_process({"/usr/bin/oathtool", "--totp", "-b", kSecret},
                               {{"LD_PRELOAD", ""}, {"PAM_WRAPPER", "0"}}, "");
    if (r.exit_code != 0) throw std::runtime_error("oathtool failed (apt-get install oathtool)");
    return r.output.substr(0, r.output.find('\n'));
  }
};

TEST_F(PamTotp, PasswordAndCodeThroughThePlugin) {
  Script script({"alice-pass", current_code()});
  Session session("ap_policy", "alice", &script);
  EXPECT_EQ(session.authenticate(), PAM_SUCCESS);
  const auto prompts = script.prompts();
  ASSERT_EQ(prompts.size(), 2u);
  EXPECT_EQ(script.shown[1].first, "off");  // the code is asked with echo off
}

TEST_F(PamTotp, WrongCodeDenies) {
  Script script({"alice-pass", "000000"});
  Session session("ap_policy", "alice", &script);
  EXPECT_EQ(session.authenticate(), PAM_AUTH_ERR);
}

TEST_F(PamTotp, NotEnrolledIsUnavailableAndNothingIsAsked) {
  Script script({"bob-pass", "123456"});
  Session session("ap_policy", "bob", &script);
  EXPECT_EQ(session.authenticate(), PAM_AUTH_ERR);
  EXPECT_EQ(script.prompts().size(), 1u);
}

TEST_F(PamTotp, ConversationFailureIsAConversationError) {
  write_policy("factor totp { secrets = \"" + std::string(Paths::run_dir()) +
               "/totp/%u\" }\nauth totp\n");
  Script script({}, {}, PAM_CONV_ERR);
  Session session("ap_policy", "alice", &script);
  EXPECT_EQ(session.authenticate(), PAM_CONV_ERR);
}

}  // namespace
}  // namespace authpolicy::pam_test
