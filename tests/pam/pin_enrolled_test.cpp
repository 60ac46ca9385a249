// enrolled(pin) through real libpam (pam_wrapper), pam_policy.so, the TPM PIN plugin and swtpm:
// with `auth password && (pin if enrolled(pin))` a user with a PIN index is asked the PIN, a user
// without one is not, and a TPM that cannot be reached makes enrolled(pin) unknown, so the PIN is
// required and the login refused; `authpolicy audit` shows each decision as it was made. Then
// `authpolicy eval` answers from the same TPM.
#include <gtest/gtest.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "engine/secret.h"
#include "factors/tpm/pin_store.h"
#include "tests/pam/harness.h"
#include "tests/pam/pin_fixture.h"

namespace authpolicy::pam_test {
namespace {

// Real accounts (the PIN index is keyed by the uid the name service gives): nobody has a PIN,
// daemon has none.
constexpr const char* kEnrolled = "nobody";
constexpr const char* kNotEnrolled = "daemon";
constexpr const char* kPin = "482916";
constexpr const char* kPassword = "Pin-Rollout-Pass!";

class PamPinEnrolled : public PinFixture {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(prepare(kEnrolled, "pin-enrolled"));
    ASSERT_NE(getpwnam(kNotEnrolled), nullptr) << "needs the '" << kNotEnrolled << "' account";
    std::filesystem::create_directories(folder_ + "/audit");
    write_file(folder_ + "/passdb",
               std::string(kEnrolled) + ":" + kPassword + ":ap_policy\n" + kNotEnrolled + ":" +
                   kPassword + ":ap_policy\n",
               0600);
    ASSERT_EQ(store_->setup(uid_, SecretString(kPin), 3).result, tpm::SetupResult::created);
    write_policy(policy_text());
  }

  std::string policy_path() const { return folder_ + "/rollout.pol"; }
  std::string policy_text() const {
    return tpm_block() + password_factor() + "audit { db = \"" + audit_db() + "\" }\n" +
           "auth password && (pin if enrolled(pin))\n";
  }

  nlohmann::json audit_rows() const { return pam_test::audit_rows(audit_db()); }

  // `authpolicy eval` of the test's policy (written to its own file) for `user`, with flags.
  nlohmann::json eval(const std::string& user, const std::vector<std::string>& flags) const {
    write_file(policy_path(), policy_text());
    std::vector<std::string> argv = {AP_TEST_AUTHPOLICY, "eval", policy_path(), "--json",
                                     "--user",           user,   "--service",   "ap_policy"};
    argv.insert(argv.end(), flags.begin(), flags.end());
    const ProcessResult result = run_process(argv, {{"LD_PRELOAD", ""}}, "");
    EXPECT_TRUE(result.exit_code == 0 || result.exit_code == 1) << result.output;
    return nlohmann::json::parse(result.output.substr(result.output.find('{')));
  }
};

TEST_F(PamPinEnrolled, TheUserWithAPinIsAskedItTheOthersAreNot) {
  const auto enrolled = login(kEnrolled, {kPassword, kPin});
  EXPECT_EQ(enrolled.first, PAM_SUCCESS);
  ASSERT_EQ(enrolled.second.size(), 2u) << "nobody has a PIN index: the PIN is asked";
  EXPECT_NE(enrolled.second[1].find("PIN"), std::string::npos) << enrolled.second[1];
  const auto wrong = login(kEnrolled, {kPassword, "111111"});
  EXPECT_EQ(wrong.first, PAM_AUTH_ERR) << "a user with a PIN cannot skip it";
  const auto other = login(kNotEnrolled, {kPassword});
  EXPECT_EQ(other.first, PAM_SUCCESS) << "daemon has no PIN index: the password alone";
  EXPECT_EQ(other.second.size(), 1u);
  // Telling enrolment spent nothing: the one wrong PIN is the only attempt used.
  EXPECT_EQ(attempts_used(), 1u);

  const auto rows = audit_rows();
  ASSERT_EQ(rows.size(), 3u) << rows.dump(1);
  EXPECT_EQ(rows[0].at("user"), kEnrolled);
  EXPECT_EQ(rows[0].at("decision"), "permit") << rows[0].dump(1);
  EXPECT_NE(rows[0].dump().find("enrolled pin=yes"), std::string::npos) << rows[0].dump(1);
  EXPECT_EQ(rows[1].at("decision"), "deny") << rows[1].dump(1);
  EXPECT_EQ(rows[2].at("user"), kNotEnrolled);
  EXPECT_EQ(rows[2].at("decision"), "permit") << rows[2].dump(1);
  EXPECT_NE(rows[2].dump().find("if enrolled(pin)"), std::string::npos)
      << "the record says the PIN was waived by enrolled(): " << rows[2].dump(1);
  EXPECT_NE(rows[2].dump().find("enrolled pin=no"), std::string::npos) << rows[2].dump(1);
  for (const auto& row : rows) {
    EXPECT_TRUE(row.at("unknowns").empty()) << row.dump(1);
    EXPECT_EQ(row.dump().find(kPin), std::string::npos) << "the PIN reached the audit log";
  }
}

TEST_F(PamPinEnrolled, AnUnreachableTpmMakesItUnknownAndThePinIsRequired) {
  swtpm_.kill();
  const auto other = login(kNotEnrolled, {kPassword, "123456"});
  EXPECT_EQ(other.first, PAM_AUTH_ERR)
      << "enrolment cannot be told: the PIN is required, and the TPM cannot check it";
  for (const auto& prompt : other.second) {
    EXPECT_EQ(prompt.find("PIN"), std::string::npos) << "no PIN is asked for a TPM not there";
  }
  const auto enrolled = login(kEnrolled, {kPassword, kPin});
  EXPECT_EQ(enrolled.first, PAM_AUTH_ERR);

  const auto rows = audit_rows();
  ASSERT_EQ(rows.size(), 2u) << rows.dump(1);
  for (const auto& row : rows) {
    EXPECT_EQ(row.at("decision"), "deny") << row.dump(1);
    ASSERT_EQ(row.at("unknowns").size(), 1u) << row.dump(1);
    EXPECT_EQ(row.at("unknowns")[0].at("condition"), "enrolled(pin)");
    EXPECT_NE(row.at("unknowns")[0].at("cause").get<std::string>().find("tpm error"),
              std::string::npos)
        << "the record says why enrolment could not be told: " << row.dump(1);
    EXPECT_EQ(row.at("factors").back().at("outcome"), "error") << row.dump(1);
  }
}

TEST_F(PamPinEnrolled, AnIndexThatIsNotOursMakesItUnknown) {
  // Someone defined another kind of index where daemon's PIN would be: it cannot be told from a
  // PIN that was replaced, so the PIN is required (and the provider refuses the index).
  const passwd* pw = getpwnam(kNotEnrolled);
  char index[16];
  std::snprintf(index, sizeof index, "0x%x", 0x01000000u + pw->pw_uid);
  std::string out;
  ASSERT_EQ(
      testing::run_tpm2_tool(
          swtpm_.tcti(),
          std::string("tpm2_nvdefine ") + index + " -C o -s 8 -a 'ownerread|ownerwrite'", &out),
      0)
      << out;
  const auto other = login(kNotEnrolled, {kPassword, "123456"});
  EXPECT_EQ(other.first, PAM_AUTH_ERR);
  const auto rows = audit_rows();
  ASSERT_EQ(rows.size(), 1u) << rows.dump(1);
  ASSERT_EQ(rows[0].at("unknowns").size(), 1u) << rows[0].dump(1);
  EXPECT_NE(rows[0].at("unknowns")[0].at("cause").get<std::string>().find("not a PIN index"),
            std::string::npos)
      << rows[0].dump(1);
}

// pamtester, a process of its own, with the loader telling what it maps: the rollout policy maps
// factor_pin.so's tpm2-tss for daemon, who is never asked a PIN; the same policy without
// enrolled(pin) maps no TPM library.
TEST_F(PamPinEnrolled, OnlyAPolicyThatEvaluatesEnrolledPinLoadsThePlugin) {
  auto loaded = [](const std::string& what) {
    std::vector<std::string> argv{Paths::pamtester(), "ap_policy", kNotEnrolled, "authenticate"};
    const ProcessResult r = run_process(argv,
                                        {{"LD_PRELOAD", AP_TEST_PRELOAD},
                                         {"PAM_WRAPPER", "1"},
                                         {"PAM_WRAPPER_SERVICE_DIR", Paths::service_dir()},
                                         {"LD_DEBUG", "files"}},
                                        std::string(kPassword) + "\n");
    EXPECT_EQ(r.exit_code, 0) << r.output;
    return r.output.find(what) != std::string::npos;
  };
  // The plugin is mapped through its checked descriptor (/proc/self/fd/N), its libraries by name.
  EXPECT_TRUE(loaded("file=libtss2-esys")) << "enrolled(pin) is read through the plugin";
  std::string plain = policy_text();
  plain.replace(plain.find("auth password && (pin if enrolled(pin))"),
                std::string("auth password && (pin if enrolled(pin))").size(), "auth password");
  write_policy(plain);
  EXPECT_FALSE(loaded("file=libtss2")) << "a policy without enrolled(pin) loads no TPM library";
}

TEST_F(PamPinEnrolled, EvalReadsTheTpmUnlessTold) {
  const std::vector<std::string> pass = {"--factor", "password=pass", "--factor", "pin=pass"};
  const auto enrolled = eval(kEnrolled, pass);
  EXPECT_EQ(enrolled.at("decision"), "permit") << enrolled.dump(1);
  EXPECT_EQ(enrolled.at("factors").size(), 2u) << "the PIN is asked: " << enrolled.dump(1);
  EXPECT_TRUE(enrolled.at("unknown").empty()) << enrolled.dump(1);

  const auto other = eval(kNotEnrolled, pass);
  EXPECT_EQ(other.at("factors").size(), 1u) << "daemon has no PIN: " << other.dump(1);
  EXPECT_TRUE(other.at("unknown").empty()) << other.dump(1);

  // --enrolled still overrides what the TPM says.
  auto told = pass;
  told.insert(told.end(), {"--enrolled", "pin=no"});
  EXPECT_EQ(eval(kEnrolled, told).at("factors").size(), 1u);
  told.back() = "pin=yes";
  EXPECT_EQ(eval(kNotEnrolled, told).at("factors").size(), 2u);
  EXPECT_EQ(attempts_used(), 0u) << "eval never spends a PIN attempt";

  swtpm_.kill();
  const auto gone = eval(kNotEnrolled, pass);
  ASSERT_EQ(gone.at("unknown").size(), 1u) << gone.dump(1);
  EXPECT_EQ(gone.at("unknown")[0].at("condition"), "enrolled(pin)");
  EXPECT_NE(gone.at("unknown")[0].at("cause").get<std::string>().find("tpm error"),
            std::string::npos)
      << gone.dump(1);
  EXPECT_EQ(gone.at("factors").size(), 2u) << "unknown: the PIN is asked" << gone.dump(1);
}

}  // namespace
}  // namespace authpolicy::pam_test
