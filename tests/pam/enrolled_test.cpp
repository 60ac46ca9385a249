// enrolled(totp) and a date deadline through real libpam, the real totp plugin (oathtool makes
// the codes) and a real audit log: the enrolled user is asked the code, the user without an
// enrolment is not, a user whose secret file is unsafe is refused, and from the deadline day on
// the user without one is refused; `authpolicy audit` shows each decision as it was made.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ctime>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>

#include "tests/pam/harness.h"

namespace authpolicy::pam_test {
namespace {

class PamEnrolled : public ::testing::Test {
 protected:
  static constexpr const char* kSecret = "JBSWY3DPEHPK3PXP";
  std::string folder_;
  std::string db_;

  void SetUp() override {
    folder_ = std::string(Paths::run_dir()) + "/totp-enrolled";
    mkdir(folder_.c_str(), 0700);
    write_file(folder_ + "/alice", std::string(kSecret) + "\n\" TOTP_AUTH\n", 0600);
    unlink((folder_ + "/bob").c_str());
    mkdir((std::string(Paths::run_dir()) + "/audit").c_str(), 0700);
    db_ = std::string(Paths::run_dir()) + "/audit/enrolled-" + std::to_string(getpid()) + ".db";
    unlink(db_.c_str());
    write_rollout_policy("");
  }
  void TearDown() override {
    for (const char* suffix : {"", "-journal", "-shm", "-wal", "-spool", "-tally"}) {
      std::error_code ignored;
      std::filesystem::remove_all(db_ + suffix, ignored);
    }
    unlink((folder_ + "/bob").c_str());
  }

  // `auth password && (totp if enrolled(totp))`, or with `|| date >= DEADLINE` when given.
  void write_rollout_policy(const std::string& deadline) {
    const std::string condition =
        deadline.empty() ? "enrolled(totp)" : "(enrolled(totp) || date >= " + deadline + ")";
    write_policy(matrix_password_factor() + "factor totp { secrets = \"" + folder_ + "/%u\" }\n" +
                 "audit { db = \"" + db_ + "\" }\n" + "auth password && (totp if " + condition +
                 ")\n");
  }

  // The local date `days_from_today` days from now, as a policy writes it.
  static std::string local_date(int days_from_today) {
    std::time_t at = std::time(nullptr) + static_cast<std::time_t>(days_from_today) * 86400;
    std::tm parts{};
    localtime_r(&at, &parts);
    char text[16];
    std::strftime(text, sizeof text, "%Y-%m-%d", &parts);
    return text;
  }

  static std::string current_code() {
    const auto r = run_process({"/usr/bin/oathtool", "--totp", "-b", kSecret},
                               {{"LD_PRELOAD", ""}, {"PAM_WRAPPER", "0"}}, "");
    if (r.exit_code != 0) throw std::runtime_error("oathtool failed (apt-get install oathtool)");
    return r.output.substr(0, r.output.find('\n'));
  }

  nlohmann::json audit_rows() const { return pam_test::audit_rows(db_); }
};

TEST_F(PamEnrolled, TheEnrolledAreAskedTheCodeTheOthersAreNot) {
  const auto alice = login("alice", {"alice-pass", current_code()});
  EXPECT_EQ(alice.first, PAM_SUCCESS);
  EXPECT_EQ(alice.second.size(), 2u) << "alice has a secret file: her code is asked";
  const auto alice_wrong = login("alice", {"alice-pass", "000000"});
  EXPECT_EQ(alice_wrong.first, PAM_AUTH_ERR) << "an enrolled user cannot skip the code";
  const auto bob = login("bob", {"bob-pass"});
  EXPECT_EQ(bob.first, PAM_SUCCESS);
  EXPECT_EQ(bob.second.size(), 1u) << "bob has no secret file: only the password is asked";

  const auto rows = audit_rows();
  ASSERT_EQ(rows.size(), 3u) << rows.dump(1);
  const std::string text = rows.dump();
  EXPECT_EQ(rows[0].at("user"), "alice");
  EXPECT_EQ(rows[0].at("decision"), "permit") << rows[0].dump(1);
  EXPECT_NE(rows[0].dump().find("totp"), std::string::npos) << rows[0].dump(1);
  EXPECT_EQ(rows[1].at("decision"), "deny") << rows[1].dump(1);
  EXPECT_EQ(rows[2].at("user"), "bob");
  EXPECT_EQ(rows[2].at("decision"), "permit") << rows[2].dump(1);
  EXPECT_NE(rows[2].dump().find("if enrolled(totp)"), std::string::npos)
      << "bob's record says the code was waived by enrolled(): " << rows[2].dump(1);
  // The record keeps the answer, so replay can decide the request again.
  EXPECT_NE(rows[2].dump().find("enrolled totp=no"), std::string::npos) << rows[2].dump(1);
  EXPECT_NE(rows[0].dump().find("enrolled totp=yes"), std::string::npos) << rows[0].dump(1);
}

TEST_F(PamEnrolled, AnUnsafeSecretFileRefusesTheUserInsteadOfSkippingTheCode) {
  // A secret file others may read: nobody can tell whether it is bob's, so enrolled() is
  // unknown, the code is required, and the provider refuses the file.
  write_file(folder_ + "/bob", std::string(kSecret) + "\n\" TOTP_AUTH\n", 0644);
  const auto bob = login("bob", {"bob-pass", current_code()});
  EXPECT_EQ(bob.first, PAM_AUTH_ERR);
  const auto rows = audit_rows();
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].at("decision"), "deny") << rows[0].dump(1);
  ASSERT_EQ(rows[0].at("unknowns").size(), 1u) << rows[0].dump(1);
  EXPECT_EQ(rows[0].at("unknowns")[0].at("condition"), "enrolled(totp)");
  EXPECT_NE(rows[0].at("unknowns")[0].at("cause").get<std::string>().find("mode 0644"),
            std::string::npos)
      << "the record says why enrolment could not be told: " << rows[0].dump(1);
  EXPECT_EQ(rows[0].at("factors").back().at("outcome"), "error") << rows[0].dump(1);
}

TEST_F(PamEnrolled, FromTheDeadlineDayTheUserWithoutAnEnrolmentIsRefused) {
  write_rollout_policy(local_date(1));  // tomorrow: not yet
  const auto before = login("bob", {"bob-pass"});
  EXPECT_EQ(before.first, PAM_SUCCESS);
  EXPECT_EQ(before.second.size(), 1u);
  write_rollout_policy(local_date(0));  // today: from now on
  const auto on = login("bob", {"bob-pass", "123456"});
  EXPECT_EQ(on.first, PAM_AUTH_ERR) << "totp is required now and bob has no enrolment";
  const auto alice = login("alice", {"alice-pass", current_code()});
  EXPECT_EQ(alice.first, PAM_SUCCESS) << "the enrolled still pass with their code";
  EXPECT_EQ(alice.second.size(), 2u);

  const auto rows = audit_rows();
  ASSERT_EQ(rows.size(), 3u) << rows.dump(1);
  EXPECT_EQ(rows[0].at("decision"), "permit");
  EXPECT_EQ(rows[1].at("user"), "bob");
  EXPECT_EQ(rows[1].at("decision"), "deny") << rows[1].dump(1);
  EXPECT_NE(rows[1].dump().find("totp"), std::string::npos) << rows[1].dump(1);
  EXPECT_EQ(rows[2].at("decision"), "permit");
}

// The same three users through pamtester, a separate program on the system's libpam: what it
// prompts shows who was asked the code.
TEST_F(PamEnrolled, PamtesterAsksTheCodeOfTheEnrolledOnly) {
  const auto alice = run_pamtester({"ap_policy", "alice", "authenticate"},
                                   "alice-pass\n" + current_code() + "\n");
  EXPECT_EQ(alice.exit_code, 0) << alice.output;
  EXPECT_NE(alice.output.find("Verification code"), std::string::npos) << alice.output;
  const auto bob = run_pamtester({"ap_policy", "bob", "authenticate"}, "bob-pass\n");
  EXPECT_EQ(bob.exit_code, 0) << bob.output;
  EXPECT_EQ(bob.output.find("Verification code"), std::string::npos) << bob.output;
  write_file(folder_ + "/bob", std::string(kSecret) + "\n\" TOTP_AUTH\n", 0640);
  const auto unsafe = run_pamtester({"ap_policy", "bob", "authenticate"},
                                    "bob-pass\n" + current_code() + "\n");
  EXPECT_EQ(unsafe.exit_code, 1) << unsafe.output;
  EXPECT_NE(unsafe.output.find("decision=deny user=bob"), std::string::npos) << unsafe.output;
}

}  // namespace
}  // namespace authpolicy::pam_test
