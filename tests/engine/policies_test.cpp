// Every policy in policies/ passes `authpolicy check`, and behaves as intended under `eval`.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "test_support.h"

namespace authpolicy::test {
namespace {

std::vector<std::string> policy_files() {
  std::vector<std::string> files;
  for (const auto& e : std::filesystem::directory_iterator(source_dir() + "/policies")) {
    if (e.path().extension() == ".pol") files.push_back(e.path().filename().string());
  }
  std::sort(files.begin(), files.end());
  return files;
}

// Installed policies are root-owned; a developer's checkout may not be.
std::vector<std::string> ownership_flag() {
  return geteuid() == 0 ? std::vector<std::string>{} : std::vector<std::string>{"--ignore-ownership"};
}

TEST(Policies, EveryFileChecksClean) {
  const auto files = policy_files();
  ASSERT_GE(files.size(), 12u);
  for (const auto& f : files) {
    std::vector<std::string> args = {"check"};
    for (const auto& flag : ownership_flag()) args.push_back(flag);
    args.push_back("policies/" + f);
    std::string folder = source_dir();
    // A `deny if` on GeoIP with no database is E027: check a copy that names the test database
    // (written at build time by the ap_geoip_test_databases target) instead of the host's missing one.
    const std::string text = read_file(source_dir() + "/policies/" + f);
    TempDir copy;
    if (const auto at = text.find("/var/lib/GeoIP/GeoLite2-Country.mmdb"); at != std::string::npos) {
      const char* db_dir = std::getenv("AP_GEOIP_TEST_DB_DIR");
      ASSERT_NE(db_dir, nullptr) << "AP_GEOIP_TEST_DB_DIR (geoip test databases) is not set";
      std::filesystem::copy(source_dir() + "/policies", copy.path() + "/policies",
                            std::filesystem::copy_options::recursive);
      std::string rewritten = text;
      rewritten.replace(at, std::string("/var/lib/GeoIP/GeoLite2-Country.mmdb").size(),
                        std::string(db_dir) + "/country-v6.mmdb");
      std::ofstream(copy.path() + "/policies/" + f, std::ios::trunc) << rewritten;
      args = {"check", "--ignore-ownership", "policies/" + f};
      folder = copy.path();
    }
    const RunResult r = run_cli(args, folder);
    EXPECT_EQ(r.exit_code, 0) << f << "\n" << r.out;
    EXPECT_EQ(r.out.find("error["), std::string::npos) << f << "\n" << r.out;
  }
}

struct EvalCase {
  const char* policy;
  std::vector<std::string> args;
  const char* decision;
  std::vector<std::string> asked;
};

const std::vector<EvalCase> kEvalCases = {
    {"login-fingerprint-or-key.pol", {"--factor", "password=pass", "--factor", "fingerprint=unavailable", "--factor", "u2f=pass"}, "permit", {"password", "u2f"}},
    {"login-fingerprint-or-key.pol", {"--factor", "password=pass"}, "deny", {"password"}},
    {"unlock-fingerprint-or-password.pol", {"--factor", "fingerprint=pass"}, "permit", {"fingerprint"}},
    {"unlock-fingerprint-or-password.pol", {"--factor", "fingerprint=fail", "--factor", "password=pass"}, "permit", {"fingerprint", "password"}},
    {"remote-otp.pol", {"--rhost", "10.3.4.5", "--factor", "password=pass"}, "permit", {"password"}},
    {"remote-otp.pol", {"--rhost", "198.51.100.4", "--factor", "password=pass", "--factor", "totp=pass"}, "permit", {"password", "totp"}},
    {"remote-otp.pol", {"--rhost", "198.51.100.4", "--factor", "password=pass", "--factor", "totp=fail"}, "deny", {"password", "totp"}},
    {"remote-otp.pol", {"--rhost", "fd00::7", "--factor", "password=pass"}, "permit", {"password"}},
    {"sudo-fingerprint-or-key.pol", {"--factor", "fingerprint=unavailable", "--factor", "u2f=pass"}, "permit", {"u2f"}},
    {"sudo-fingerprint-or-key.pol", {"--rhost", "203.0.113.5", "--factor", "fingerprint=pass", "--factor", "u2f=pass"}, "deny", {}},
    {"su.pol", {"--factor", "password=pass", "--factor", "fingerprint=pass"}, "permit", {"password", "fingerprint"}},
    {"key-first.pol", {"--factor", "u2f=pass", "--factor", "password=pass"}, "permit", {"u2f"}},
    {"key-first.pol", {"--factor", "password=pass"}, "permit", {"password"}},
    {"pin-fallback.pol", {"--factor", "pin=fail", "--factor", "password=pass"}, "permit", {"pin", "password"}},
    {"pin-fallback.pol", {"--factor", "pin=pass"}, "permit", {"pin"}},
    {"design-card.pol", {"--rhost", "192.168.1.20", "--factor", "password=pass"}, "permit", {"password"}},
    {"design-card.pol", {"--rhost", "203.0.113.5", "--factor", "password=pass", "--factor", "pin=pass"}, "permit", {"password", "pin"}},
    {"design-card.pol", {"--rhost", "203.0.113.5", "--factor", "password=pass", "--factor", "u2f=pass"}, "deny", {"password"}},
    {"design-card.pol", {"--factor", "password=pass", "--factor", "u2f=pass"}, "permit", {"password", "u2f"}},
    {"sudo.pol", {"--user", "alice", "--failures", "0", "--factor", "password=pass", "--factor", "u2f=pass"}, "permit", {"password", "u2f"}},
    {"sudo.pol", {"--user", "mallory", "--failures", "0", "--factor", "password=pass", "--factor", "u2f=pass"}, "deny", {}},
    {"sudo.pol", {"--user", "carol", "--group", "sudo", "--failures", "0", "--factor", "password=pass", "--factor", "pin=pass"}, "permit", {"password", "pin"}},
    {"sudo.pol", {"--user", "alice", "--failures", "12", "--factor", "password=pass", "--factor", "u2f=pass"}, "deny", {}},
    {"sudo.pol", {"--user", "alice", "--failures", "unknown", "--factor", "password=pass"}, "deny", {}},
    {"sudo.pol", {"--user", "alice", "--failures", "0", "--rhost", "10.20.1.1", "--factor", "password=pass"}, "permit", {"password"}},
    {"sshd.pol", {"--rhost", "175.45.176.9", "--country", "KP", "--failures", "0", "--factor", "password=pass", "--factor", "totp=pass"}, "deny", {}},
    {"sshd.pol", {"--rhost", "10.20.3.4", "--country", "none", "--failures", "0", "--factor", "password=pass"}, "permit", {"password"}},
    {"sshd.pol", {"--rhost", "10.20.3.4", "--country", "none", "--failures", "5", "--factor", "password=pass", "--factor", "totp=pass"}, "permit", {"password", "totp"}},
    {"sshd.pol", {"--rhost", "198.51.100.1", "--country", "DE", "--failures", "0", "--factor", "password=pass", "--factor", "totp=fail"}, "deny", {"password", "totp"}},
    {"sshd.pol", {"--rhost", "198.51.100.1", "--country", "unknown", "--failures", "0", "--factor", "password=pass"}, "deny", {}},
    {"sshd-key-or-password.pol", {"--ssh-auth", "publickey,keyboard-interactive", "--factor", "password=pass", "--factor", "totp=pass"}, "permit", {"totp"}},
    {"sshd-key-or-password.pol", {"--ssh-auth", "empty", "--factor", "password=fail", "--factor", "totp=pass"}, "deny", {"password"}},
    {"sshd-key-or-password.pol", {"--factor", "password=pass", "--factor", "totp=pass"}, "permit", {"password", "totp"}},
    {"login.pol", {"--at", "2026-11-18T12:00", "--factor", "password=pass"}, "permit", {"password"}},
    {"login.pol", {"--at", "2026-11-18T23:30", "--factor", "password=pass"}, "deny", {"password"}},
    {"login.pol", {"--at", "2026-11-21T12:00", "--factor", "password=pass", "--factor", "fingerprint=pass"}, "permit", {"password", "fingerprint"}},
    {"screen-lock.pol", {"--factor", "fingerprint=unavailable", "--factor", "pin=pass"}, "permit", {"pin"}},
    {"screen-lock.pol", {"--factor", "pin=fail", "--factor", "password=fail"}, "deny", {"pin", "password"}},
};

class PolicyEval : public testing::TestWithParam<EvalCase> {};

TEST_P(PolicyEval, Decision) {
  const EvalCase& c = GetParam();
  std::vector<std::string> args = {"eval", "policies/" + std::string(c.policy), "--json"};
  for (const auto& flag : ownership_flag()) args.push_back(flag);
  args.insert(args.end(), c.args.begin(), c.args.end());
  const RunResult r = run_cli(args, source_dir());
  const auto json = nlohmann::json::parse(r.out, nullptr, false);
  ASSERT_FALSE(json.is_discarded()) << r.out;
  EXPECT_EQ(json["decision"], c.decision) << r.out;
  EXPECT_EQ(json["asked"].get<std::vector<std::string>>(), c.asked) << r.out;
  EXPECT_EQ(r.exit_code, std::string(c.decision) == "permit" ? 0 : 1);
}

INSTANTIATE_TEST_SUITE_P(Table, PolicyEval, testing::ValuesIn(kEvalCases));

TEST(PolicyEval, EveryPolicyHasCases) {
  for (const auto& f : policy_files()) {
    const bool covered = std::any_of(kEvalCases.begin(), kEvalCases.end(),
                                     [&](const EvalCase& c) { return f == c.policy; });
    EXPECT_TRUE(covered) << f << " has no eval case";
  }
}

TEST(PolicyEval, UsageAndPolicyErrorsExitTwo) {
  EXPECT_EQ(run_cli({"eval"}).exit_code, 2);
  EXPECT_EQ(run_cli({"eval", "x.pol", "--factor", "password=maybe"}).exit_code, 2);
  EXPECT_EQ(run_cli({"eval", "x.pol", "--at", "2026-13-01T00:00"}).exit_code, 2);
  TempDir dir;
  const std::string bad = dir.write("bad.pol", "auth (password && totp) unless rhost in { 10.0.0.0/8 }\n");
  EXPECT_EQ(run_cli({"eval", "--ignore-ownership", bad}).exit_code, 2);
  EXPECT_EQ(run_cli({"check", "--format", "yaml", bad}).exit_code, 2);
  EXPECT_EQ(run_cli({"check", "/nonexistent/x.pol"}).exit_code, 2);
}

TEST(PolicyEval, JsonCheckReport) {
  TempDir dir;
  const std::string bad = dir.write("bad.pol", "set trusted = { 10.0.0.0/8 }\nauth password && totp unless rhost in trustd\n");
  const RunResult r = run_cli({"check", "--format", "json", "--ignore-ownership", bad});
  EXPECT_EQ(r.exit_code, 1);
  const auto json = nlohmann::json::parse(r.out, nullptr, false);
  ASSERT_FALSE(json.is_discarded()) << r.out;
  EXPECT_EQ(json["errors"], 1);
  EXPECT_EQ(json["diagnostics"][0]["code"], "E003");
  EXPECT_EQ(json["diagnostics"][0]["line"], 2);
  EXPECT_EQ(json["diagnostics"][0]["column"], 39);
}

TEST(PolicyEval, StrictFailsOnWarnings) {
  TempDir dir;
  const std::string warn = dir.write("w.pol", "auth password || password\n");
  EXPECT_EQ(run_cli({"check", "--ignore-ownership", warn}).exit_code, 0);
  EXPECT_EQ(run_cli({"check", "--strict", "--ignore-ownership", warn}).exit_code, 1);
}

}  // namespace
}  // namespace authpolicy::test
