// ssh.auth: reading SSH_AUTH_INFO_0 strictly, evaluating it three-valued, and what check,
// explain, eval and diff make of it.
#include "engine/ssh_auth.h"

#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "engine/analysis.h"
#include "engine/evaluate.h"
#include "engine/scripted.h"
#include "test_support.h"

namespace authpolicy::test {
namespace {

using namespace std::string_literals;

const unsigned kPublickey = *ssh_method_bit("publickey");
const unsigned kPassword = *ssh_method_bit("password");
const unsigned kKbdint = *ssh_method_bit("keyboard-interactive");

// docs/pam.md's sshd policy (policies/sshd-key-or-password.pol).
const char* const kDocsPolicy = "auth (password unless ssh.auth in { publickey }) && totp\n";

// ---- SSH_AUTH_INFO_0 as OpenSSH writes it -----------------------------------------------------

TEST(SshAuthInfo, EmptyIsNothingCompleted) {
  std::string problem;
  EXPECT_EQ(parse_ssh_auth_info("", &problem), 0u) << problem;
}

TEST(SshAuthInfo, OneKeyLine) {
  std::string problem;
  const auto m = parse_ssh_auth_info(
      "publickey ssh-ed25519 "
      "AAAAC3NzaC1lZDI1NTE5AAAAIGq3V0BdVw0ZrPgwU5hBqkH2iyF8m3oWn2xu8oQ7yq3f\n",
      &problem);
  EXPECT_EQ(m, kPublickey) << problem;
}

TEST(SshAuthInfo, SeveralMethodsWithSubmethodsAndDetails) {
  std::string problem;
  const auto m = parse_ssh_auth_info(
      "publickey ssh-ed25519-cert-v01@openssh.com AAAAIHNzaC1lZDI1 ID alice (serial 7) CA x\n"
      "password\n"
      "keyboard-interactive/pam\n",
      &problem);
  EXPECT_EQ(m, kPublickey | kPassword | kKbdint) << problem;
}

TEST(SshAuthInfo, MethodsThisBuildDoesNotKnowAreReadAndIgnored) {
  std::string problem;
  EXPECT_EQ(parse_ssh_auth_info("future-method@example.org\npassword\n", &problem), kPassword)
      << problem;
}

TEST(SshAuthInfo, MalformedValuesAreRefusedWithAReason) {
  const std::string too_long = "publickey " + std::string(70 * 1024, 'A') + "\n";
  for (const std::string& bad : {"publickey"s,                      // no final newline
                                 "publickey\npassword"s,            // last line not ended
                                 "\n"s,                             // an empty line
                                 "publickey\n\n"s,                  // an empty line after one
                                 " publickey\n"s,                   // no method name first
                                 "Publickey\n"s,                    // not how sshd spells it
                                 "publickey\tssh-ed25519 AAAA\n"s,  // a control character
                                 "pass\0word\n"s,                   // a NUL inside
                                 "keyboard-interactive/\n"s,        // an empty submethod
                                 "/pam\n"s,                         // a submethod alone
                                 too_long}) {
    std::string problem;
    EXPECT_FALSE(parse_ssh_auth_info(bad, &problem).has_value()) << bad.substr(0, 40);
    EXPECT_EQ(problem.rfind("SSH_AUTH_INFO_0 ", 0), 0u) << problem;
  }
}

TEST(SshAuthInfo, WrittenValuesReadBack) {
  for (unsigned mask : {0u, kPublickey, kPublickey | kKbdint, kPassword}) {
    std::string problem;
    EXPECT_EQ(parse_ssh_auth_info(ssh_auth_info_for(mask), &problem), mask) << problem;
  }
}

// ---- The evaluator ---------------------------------------------------------------------------

Decision decide_with(const char* policy_text, std::optional<std::string> info,
                     std::vector<std::pair<std::string, Outcome>> outcomes) {
  const LoadResult loaded = load_text(policy_text);
  EXPECT_TRUE(loaded.policy);
  if (!loaded.policy) return {};
  RequestInfo request{"alice", "sshd", "ssh", "", std::string("203.0.113.9"), std::move(info)};
  StaticSubjects subjects;
  ScriptedFactors factors(Outcome::unavailable);
  for (const auto& [name, outcome] : outcomes) factors.set(name, outcome);
  SilentConversation conversation;
  return decide(*loaded.policy, request, subjects, factors, conversation);
}

TEST(SshAuthEvaluate, AfterAKeyOnlyTheCodeIsAsked) {
  const Decision d = decide_with(kDocsPolicy, "publickey ssh-ed25519 AAAA\n",
                                 {{"password", Outcome::pass}, {"totp", Outcome::pass}});
  EXPECT_TRUE(d.permit);
  EXPECT_EQ(d.asked(), (std::vector<std::string>{"totp"}));
  EXPECT_TRUE(d.unknowns.empty());
}

TEST(SshAuthEvaluate, NothingCompletedAsksPasswordAndCode) {
  const Decision d =
      decide_with(kDocsPolicy, "", {{"password", Outcome::fail}, {"totp", Outcome::pass}});
  EXPECT_FALSE(d.permit);
  EXPECT_EQ(d.asked(), (std::vector<std::string>{"password"}));
  EXPECT_TRUE(d.unknowns.empty());
}

TEST(SshAuthEvaluate, AnotherMethodIsNotAKey) {
  const Decision d = decide_with(kDocsPolicy, "password\n",
                                 {{"password", Outcome::pass}, {"totp", Outcome::pass}});
  EXPECT_TRUE(d.permit);
  EXPECT_EQ(d.asked(), (std::vector<std::string>{"password", "totp"}));
}

TEST(SshAuthEvaluate, AbsentIsUnknownAndResolvedStrictly) {
  const Decision d = decide_with(kDocsPolicy, std::nullopt,
                                 {{"password", Outcome::pass}, {"totp", Outcome::pass}});
  EXPECT_TRUE(d.permit);
  EXPECT_EQ(d.asked(), (std::vector<std::string>{"password", "totp"}));
  ASSERT_EQ(d.unknowns.size(), 1u);
  EXPECT_EQ(d.unknowns[0].condition, "ssh.auth in { publickey }");
  EXPECT_NE(d.unknowns[0].cause.find("SSH_AUTH_INFO_0 is not set"), std::string::npos);
}

TEST(SshAuthEvaluate, MalformedIsUnknownWithItsReason) {
  // A key line without its newline: not what sshd writes, so not believed.
  const Decision d = decide_with(kDocsPolicy, "publickey ssh-ed25519 AAAA",
                                 {{"password", Outcome::fail}, {"totp", Outcome::pass}});
  EXPECT_FALSE(d.permit);
  EXPECT_EQ(d.asked(), (std::vector<std::string>{"password"}));
  ASSERT_EQ(d.unknowns.size(), 1u);
  EXPECT_NE(d.unknowns[0].cause.find("does not end its last line"), std::string::npos);
}

TEST(SshAuthEvaluate, DenyIfDeniesOnUnknown) {
  const char* policy = "deny if ssh.auth in { password }\nauth password";
  EXPECT_FALSE(decide_with(policy, std::nullopt, {{"password", Outcome::pass}}).permit);
  EXPECT_FALSE(decide_with(policy, "password\n", {{"password", Outcome::pass}}).permit);
  EXPECT_TRUE(
      decide_with(policy, "publickey ssh-rsa AAAA\n", {{"password", Outcome::pass}}).permit);
  // `if C` requires unless C is false: unknown requires.
  const char* required_if = "auth password && (totp if !(ssh.auth in { publickey }))";
  EXPECT_EQ(
      decide_with(required_if, std::nullopt, {{"password", Outcome::pass}, {"totp", Outcome::pass}})
          .asked(),
      (std::vector<std::string>{"password", "totp"}));
  EXPECT_EQ(decide_with(required_if, "publickey k\n", {{"password", Outcome::pass}}).asked(),
            (std::vector<std::string>{"password"}));
}

// ---- check, explain, diff, eval ----------------------------------------------------------------

bool has_code(const LoadResult& r, const std::string& code) {
  for (const auto& d : r.diagnostics) {
    if (d.code == code) return true;
  }
  return false;
}

TEST(SshAuthCheck, OnlySshdMethodNamesAreAccepted) {
  const LoadResult typo = load_text("auth password && (totp unless ssh.auth in { pubkey })");
  EXPECT_FALSE(typo.policy);
  EXPECT_TRUE(has_code(typo, "E005"));
  const LoadResult addresses =
      load_text("auth password && (totp unless ssh.auth in { 10.0.0.0/8 })");
  EXPECT_FALSE(addresses.policy);
  EXPECT_TRUE(has_code(addresses, "E005"));
  const LoadResult quoted =
      load_text("auth password && (totp unless ssh.auth in { \"publickey\", hostbased })");
  EXPECT_TRUE(quoted.policy);
  const LoadResult misspelt_subject =
      load_text("auth password && (totp unless ssh.auht in { publickey })");
  EXPECT_TRUE(has_code(misspelt_subject, "E004"));
}

TEST(SshAuthCheck, TwoMethodsTogetherCanOpenAPath) {
  // With AuthenticationMethods publickey,password both guards waive: nothing would be asked.
  const LoadResult r = load_text(
      "auth (password unless ssh.auth in { publickey }) && (totp unless ssh.auth in { password })");
  EXPECT_FALSE(r.policy);
  ASSERT_TRUE(has_code(r, "E016"));
  const LoadResult fine = load_text(kDocsPolicy);
  EXPECT_TRUE(fine.policy);
  EXPECT_FALSE(has_code(fine, "E016"));
}

TEST(SshAuthExplain, ByWhatSshdChecked) {
  const LoadResult loaded = load_text(kDocsPolicy);
  ASSERT_TRUE(loaded.policy);
  const Explanation e = explain_policy(*loaded.policy);
  ASSERT_EQ(e.answers.size(), 2u);
  const bool key_first = e.answers[0].accepted.front().size() == 1;
  const Explanation::Answer& after_key = e.answers[key_first ? 0 : 1];
  const Explanation::Answer& otherwise = e.answers[key_first ? 1 : 0];
  EXPECT_EQ(after_key.situation, "ssh.auth in { publickey }");
  EXPECT_EQ(after_key.accepted, (std::vector<std::vector<std::string>>{{"totp"}}));
  EXPECT_EQ(otherwise.accepted, (std::vector<std::vector<std::string>>{{"password", "totp"}}));
  // What keyboard-interactive alone reaches (no AuthenticationMethods): password and code only.
  const Explanation first =
      explain_policy(*loaded.policy, ExplainOptions{.ssh_nothing_completed = true});
  ASSERT_EQ(first.answers.size(), 1u);
  EXPECT_EQ(first.answers[0].accepted,
            (std::vector<std::vector<std::string>>{{"password", "totp"}}));
}

// W113 through the CLI, on a file named sshd.pol as the module would read it.
RunResult check_as_sshd(const std::string& text) {
  TempDir dir;
  std::ofstream(dir.path() + "/sshd.pol") << text;
  return run_cli({"check", "--ignore-ownership", dir.path() + "/sshd.pol"});
}

TEST(SshAuthCheck, W113FlagsWhatAMissingAuthenticationMethodsLineMakesOneFactor) {
  EXPECT_EQ(check_as_sshd(kDocsPolicy).out.find("W113"), std::string::npos);
  const RunResult one = check_as_sshd("auth totp\n");
  EXPECT_NE(one.out.find("warning[W113]: sshd: totp alone lets auth pass"), std::string::npos)
      << one.out;
  // A code alone whenever ssh.auth is not exactly a key: still one factor after
  // keyboard-interactive.
  const RunResult inverted =
      check_as_sshd("auth (password unless !(ssh.auth in { publickey })) && totp\n");
  EXPECT_NE(inverted.out.find("W113"), std::string::npos) << inverted.out;
}

TEST(SshAuthEval, TheFlagGivesTheMethods) {
  TempDir dir;
  const std::string file = dir.path() + "/p.pol";
  std::ofstream(file) << "audit { db = \"" << dir.path() << "/audit.db\" }\n" << kDocsPolicy;
  const std::vector<std::string> base = {
      "eval",          "--ignore-ownership", file,        "--factor",
      "password=pass", "--factor",           "totp=pass", "--json"};
  auto with = [&](std::vector<std::string> extra) {
    std::vector<std::string> args = base;
    args.insert(args.end(), extra.begin(), extra.end());
    return run_cli(args);
  };
  auto asked = [](const RunResult& r) {
    const auto json = nlohmann::json::parse(r.out, nullptr, false);
    return json.is_object() ? json["asked"].dump() : "unparsable: " + r.out;
  };
  const RunResult key = with({"--ssh-auth", "publickey,keyboard-interactive"});
  EXPECT_EQ(key.exit_code, 0) << key.out;
  EXPECT_EQ(asked(key), "[\"totp\"]");
  const RunResult empty = with({"--ssh-auth", "empty"});
  EXPECT_EQ(asked(empty), "[\"password\",\"totp\"]");
  const RunResult unknown = with({});
  EXPECT_EQ(asked(unknown), "[\"password\",\"totp\"]");
  EXPECT_NE(unknown.out.find("SSH_AUTH_INFO_0 is not set"), std::string::npos) << unknown.out;
  const RunResult bad = with({"--ssh-auth", "pubkey"});
  EXPECT_EQ(bad.exit_code, 2) << bad.out;
  EXPECT_NE(bad.out.find("--ssh-auth takes sshd's methods"), std::string::npos) << bad.out;
}

TEST(SshAuthDiff, SaysWhereTheKeyNowStandsForThePassword) {
  TempDir dir;
  std::ofstream(dir.path() + "/old.pol") << "auth password && totp\n";
  std::ofstream(dir.path() + "/new.pol") << kDocsPolicy;
  const RunResult r =
      run_cli({"diff", "--ignore-ownership", dir.path() + "/old.pol", dir.path() + "/new.pol"});
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_NE(r.out.find("when ssh.auth in { publickey }"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("ssh.auth { publickey }"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("new: totp"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace authpolicy::test
