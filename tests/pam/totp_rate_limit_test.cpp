// The TOTP file's RATE_LIMIT through real libpam, pam_policy.so and the real totp plugin: the
// attempt that uses the last try says how long to wait, a login while the limit holds asks the
// password but no code and says the wait again, and once the recorded attempts are older than
// the window the code is asked again and a right one (from oathtool) passes.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <ctime>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <string>

#include "tests/pam/harness.h"

namespace authpolicy::pam_test {
namespace {

class PamTotpRateLimit : public ::testing::Test {
 protected:
  static constexpr const char* kSecret = "JBSWY3DPEHPK3PXP";
  std::string file_;

  void SetUp() override {
    const std::string folder = std::string(Paths::run_dir()) + "/totp";
    mkdir(folder.c_str(), 0700);
    file_ = folder + "/alice";
    write_secret("");
    write_policy(matrix_password_factor() + "factor totp { secrets = \"" + folder + "/%u\" }\n" +
                 "auth password && totp\n");
  }
  void TearDown() override { write_secret(""); }

  // The enrolment with `RATE_LIMIT 3 30` and the given recorded attempt times (" t1 t2 ...").
  void write_secret(const std::string& times) {
    write_file(file_, std::string(kSecret) + "\n\" RATE_LIMIT 3 30" + times + "\n\" TOTP_AUTH\n",
               0600);
  }

  static std::string current_code() {
    const auto r = run_process({"/usr/bin/oathtool", "--totp", "-b", kSecret},
                               {{"LD_PRELOAD", ""}, {"PAM_WRAPPER", "0"}}, "");
    if (r.exit_code != 0) throw std::runtime_error("oathtool failed (apt-get install oathtool)");
    return r.output.substr(0, r.output.find('\n'));
  }

  // How many attempt times the file's RATE_LIMIT line holds.
  std::size_t recorded_attempts() const {
    const std::string text = read_file(file_);
    const auto at = text.find("\" RATE_LIMIT");
    if (at == std::string::npos) return 0;
    std::istringstream line(text.substr(at, text.find('\n', at) - at));
    std::string word;
    std::size_t words = 0;
    while (line >> word) ++words;
    return words >= 4 ? words - 4 : 0;  // '"', RATE_LIMIT, attempts, seconds, then the times
  }

  struct Login {
    int rc = PAM_SYSTEM_ERR;
    std::vector<std::string> prompts;
    std::vector<std::string> errors;
  };
  // One `sudo`-like attempt of alice: the password, then `code` if a second prompt comes. sudo
  // passes PAM_SILENT by default (`flags`).
  static Login login(const std::string& code, int flags = 0, const std::string& user = "alice",
                     const std::string& password = "alice-pass") {
    Script script({password, code});
    Session session("ap_policy", user, &script);
    Login out;
    out.rc = session.authenticate(flags);
    out.prompts = script.prompts();
    for (const auto& [kind, text] : script.shown) {
      if (kind == "error") out.errors.push_back(text);
    }
    return out;
  }
};

// "wait N seconds" with 0 < N <= 30.
::testing::AssertionResult says_wait(const std::vector<std::string>& errors) {
  static const std::regex wait(R"(^Too many one-time codes tried: wait ([0-9]+) seconds?\.$)");
  for (const auto& e : errors) {
    std::smatch m;
    if (!std::regex_match(e, m, wait)) continue;
    const int seconds = std::stoi(m[1]);
    if (seconds > 0 && seconds <= 30) return ::testing::AssertionSuccess();
  }
  std::string all;
  for (const auto& e : errors) all += "[" + e + "] ";
  return ::testing::AssertionFailure() << "no wait message among: " << all;
}

TEST_F(PamTotpRateLimit, ThirdWrongCodeSaysTheWaitAndTheFourthLoginAsksNoCode) {
  // sudo's three tries: each asks the password and the code.
  for (int attempt = 1; attempt <= 3; ++attempt) {
    const Login l = login("000000");
    EXPECT_EQ(l.rc, PAM_AUTH_ERR);
    ASSERT_EQ(l.prompts.size(), 2u) << "attempt " << attempt;
    if (attempt < 3) {
      EXPECT_TRUE(l.errors.empty()) << "attempt " << attempt << ": " << l.errors.front();
    } else {
      EXPECT_TRUE(says_wait(l.errors)) << "the try that used the last attempt";
    }
  }
  // While the limit holds, even the right code would not be looked at: it is not asked.
  const Login limited = login(current_code());
  EXPECT_EQ(limited.rc, PAM_AUTH_ERR);
  EXPECT_EQ(limited.prompts.size(), 1u) << "only the password may be asked";
  EXPECT_TRUE(says_wait(limited.errors));
  // The refused login spent no attempt: three are recorded, as before it.
  EXPECT_EQ(recorded_attempts(), 3u);
}

TEST_F(PamTotpRateLimit, OnceTheAttemptsLeaveTheWindowTheCodeIsAskedAgain) {
  const long now = static_cast<long>(std::time(nullptr));
  // Three attempts within the last 30 s: limited.
  write_secret(" " + std::to_string(now - 5) + " " + std::to_string(now - 4) + " " +
               std::to_string(now - 3));
  const Login limited = login(current_code());
  EXPECT_EQ(limited.prompts.size(), 1u);
  EXPECT_TRUE(says_wait(limited.errors));
  EXPECT_EQ(limited.rc, PAM_AUTH_ERR);
  // The same attempts 40 s ago: the window has passed, the code is asked and the right one passes.
  write_secret(" " + std::to_string(now - 45) + " " + std::to_string(now - 44) + " " +
               std::to_string(now - 43));
  const Login again = login(current_code());
  EXPECT_EQ(again.prompts.size(), 2u);
  EXPECT_TRUE(again.errors.empty());
  EXPECT_EQ(again.rc, PAM_SUCCESS);
}

// sudo's retry after a typo: the right code at the next prompt passes, and it spends nothing.
// (Before, every code counted: a right one too, so a typo and a right code used two of three.)
TEST_F(PamTotpRateLimit, OnlyFailedCodesCount) {
  const std::string code = current_code();
  const Login typo = login("000000");
  EXPECT_EQ(typo.rc, PAM_AUTH_ERR);
  EXPECT_EQ(recorded_attempts(), 1u);
  const Login right = login(code);
  EXPECT_EQ(right.rc, PAM_SUCCESS);
  ASSERT_EQ(right.prompts.size(), 2u) << "asked again after the typo";
  EXPECT_EQ(recorded_attempts(), 1u) << "a right code records no attempt and clears none";
  // The same code again is a replay (refused) and a failure: the second of three, no wait yet.
  const Login replay = login(code);
  EXPECT_EQ(replay.rc, PAM_AUTH_ERR);
  EXPECT_EQ(replay.prompts.size(), 2u);
  EXPECT_TRUE(replay.errors.empty()) << replay.errors.front();
  EXPECT_EQ(recorded_attempts(), 2u);
}

// Under PAM_SILENT (sudo's default) the person still learns why the code is not asked once the
// password passed: the wait comes after the decision, before sudo's "Sorry, try again."
TEST_F(PamTotpRateLimit, SilentFlagStillSaysTheWaitAfterThePassword) {
  for (int attempt = 1; attempt <= 3; ++attempt) {
    const Login l = login("000000", PAM_SILENT);
    EXPECT_EQ(l.rc, PAM_AUTH_ERR);
    if (attempt == 3) {
      EXPECT_TRUE(says_wait(l.errors)) << "the try that used the last attempt";
    }
  }
  const Login limited = login(current_code(), PAM_SILENT);
  EXPECT_EQ(limited.rc, PAM_AUTH_ERR);
  EXPECT_EQ(limited.prompts.size(), 1u);
  EXPECT_TRUE(says_wait(limited.errors));
  // A wrong password: nothing passed, so nothing is said about the code.
  const Login wrong_password = login(current_code(), PAM_SILENT, "alice", "not-her-password");
  EXPECT_EQ(wrong_password.rc, PAM_AUTH_ERR);
  EXPECT_TRUE(wrong_password.errors.empty()) << wrong_password.errors.front();
}

// A user without an enrolment is told so after the right password, not "wrong password" three
// times; before the password passed nothing is said.
TEST_F(PamTotpRateLimit, UnenrolledUserIsToldAfterThePassword) {
  const std::string expected =
      "Access refused: totp is unavailable for this account: not enrolled.";
  for (const int flags : {0, static_cast<int>(PAM_SILENT)}) {
    const Login bob = login("123456", flags, "bob", "bob-pass");
    EXPECT_EQ(bob.rc, PAM_AUTH_ERR);
    EXPECT_EQ(bob.prompts.size(), 1u) << "only the password is asked";
    ASSERT_EQ(bob.errors.size(), 1u);
    EXPECT_EQ(bob.errors.front(), expected);
    const Login guessing = login("123456", flags, "bob", "wrong");
    EXPECT_EQ(guessing.rc, PAM_AUTH_ERR);
    EXPECT_TRUE(guessing.errors.empty()) << guessing.errors.front();
  }
}

// With the code asked first, a rate limit is news to whoever is guessing: under PAM_SILENT it is
// not shown (without PAM_SILENT the host did not ask for silence, and it is shown as before).
TEST_F(PamTotpRateLimit, SilentFlagHidesTheWaitWhenNothingPassedBeforeIt) {
  write_policy(matrix_password_factor() + "factor totp { secrets = \"" +
               std::string(Paths::run_dir()) + "/totp/%u\" }\n" + "auth totp && password\n");
  const long now = static_cast<long>(std::time(nullptr));
  write_secret(" " + std::to_string(now - 3) + " " + std::to_string(now - 2) + " " +
               std::to_string(now - 1));
  Script script({"000000", "alice-pass"});
  Session session("ap_policy", "alice", &script);
  EXPECT_EQ(session.authenticate(PAM_SILENT), PAM_AUTH_ERR);
  EXPECT_TRUE(script.shown.empty());
}

}  // namespace
}  // namespace authpolicy::pam_test
