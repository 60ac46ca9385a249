// The real TotpFactorProvider with real files, driven through a scripted conversation.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include "factors/totp/totp_provider.h"
#include "test_support.h"

namespace {

using authpolicy::Outcome;
using totp_test::code_for;
using totp_test::kSecret;

constexpr std::int64_t kNow = 1700000015;

class TotpProvider : public ::testing::Test {
 protected:
  void SetUp() override {
    settings_.set("secrets", dir_.path() + "/%u");
    request_.user = "alice";
    request_.service = "sshd";
    request_.rhost = "203.0.113.9";
    request_.remote = true;
  }
  std::unique_ptr<authpolicy::FactorProvider> provider() {
    return authpolicy::make_totp_provider(settings_, [this] { return now_; });
  }
  void enrol(const std::string& options = "\" TOTP_AUTH\n", mode_t mode = 0600) {
    totp_test::write_file(dir_.file("alice"), kSecret + "\n" + options, mode);
  }

  totp_test::TempDir dir_;
  authpolicy::Settings settings_;
  authpolicy::FactorRequest request_;
  std::int64_t now_ = kNow;
};

TEST_F(TotpProvider, NotEnrolledIsUnavailableAndAsksNothing) {
  auto totp = provider();
  auto probed = totp->probe(request_);
  ASSERT_TRUE(probed);
  EXPECT_EQ(probed->outcome, Outcome::unavailable);
  EXPECT_EQ(probed->detail, "not enrolled");
  totp_test::ScriptedConversation conversation;
  EXPECT_EQ(totp->authenticate(request_, conversation).outcome, Outcome::unavailable);
  EXPECT_TRUE(conversation.secret_prompts.empty());
}

TEST_F(TotpProvider, EnrolledProbesToAskingAndTheRightCodePasses) {
  enrol();
  auto totp = provider();
  EXPECT_FALSE(totp->probe(request_));
  totp_test::ScriptedConversation conversation;
  conversation.answers.push_back(code_for(kSecret, kNow));
  auto result = totp->authenticate(request_, conversation);
  EXPECT_EQ(result.outcome, Outcome::pass) << result.detail;
  EXPECT_EQ(conversation.secret_prompts, std::vector<std::string>{"Verification code: "});
  EXPECT_TRUE(conversation.visible_prompts.empty());
}

TEST_F(TotpProvider, WrongCodeFailsAndSaysSo) {
  enrol();
  totp_test::ScriptedConversation conversation;
  conversation.answers.push_back(code_for(kSecret, kNow + 300));
  auto result = provider()->authenticate(request_, conversation);
  EXPECT_EQ(result.outcome, Outcome::fail);
  EXPECT_EQ(result.detail, "wrong code");
}

TEST_F(TotpProvider, ReplayedCodeFails) {
  enrol();
  auto totp = provider();
  totp_test::ScriptedConversation first, second;
  first.answers.push_back(code_for(kSecret, kNow));
  second.answers.push_back(code_for(kSecret, kNow));
  EXPECT_EQ(totp->authenticate(request_, first).outcome, Outcome::pass);
  now_ += 10;
  auto result = totp->authenticate(request_, second);
  EXPECT_EQ(result.outcome, Outcome::fail);
  EXPECT_EQ(result.detail, "replayed code");
}

TEST_F(TotpProvider, RateLimitedFailsWithoutAskingAndSaysHowLongToWait) {
  enrol("\" TOTP_AUTH\n\" RATE_LIMIT 1 60\n");
  auto totp = provider();
  totp_test::ScriptedConversation first, second, third;
  first.answers.push_back("000000");
  second.answers.push_back(code_for(kSecret, kNow));
  // The wrong code used the only attempt: the person learns the wait at once.
  EXPECT_EQ(totp->authenticate(request_, first).detail, "wrong code");
  EXPECT_EQ(first.errors, std::vector<std::string>{"Too many one-time codes tried: wait 60 seconds."});
  now_ += 17;
  // While the limit holds, nothing is asked, even though the right code was ready.
  EXPECT_FALSE(totp->probe(request_));
  auto result = totp->authenticate(request_, second);
  EXPECT_EQ(result.outcome, Outcome::fail);
  EXPECT_EQ(result.detail, "rate limited");
  EXPECT_TRUE(second.secret_prompts.empty());
  EXPECT_EQ(second.errors, std::vector<std::string>{"Too many one-time codes tried: wait 43 seconds."});
  now_ += 42;
  third.answers.push_back(code_for(kSecret, now_));
  EXPECT_EQ(totp->authenticate(request_, third).outcome, Outcome::fail);
  EXPECT_EQ(third.errors, std::vector<std::string>{"Too many one-time codes tried: wait 1 second."});
  // The window passed: the code is asked again and passes.
  now_ += 1;
  totp_test::ScriptedConversation fourth;
  fourth.answers.push_back(code_for(kSecret, now_));
  EXPECT_EQ(totp->authenticate(request_, fourth).outcome, Outcome::pass);
  EXPECT_EQ(fourth.secret_prompts.size(), 1u);
}

TEST_F(TotpProvider, ScratchCodePasses) {
  enrol("\" TOTP_AUTH\n87654321\n");
  totp_test::ScriptedConversation conversation;
  conversation.answers.push_back("87654321");
  auto result = provider()->authenticate(request_, conversation);
  EXPECT_EQ(result.outcome, Outcome::pass);
  EXPECT_EQ(result.detail, "scratch code used");
}

TEST_F(TotpProvider, MalformedOrUnsafeFilesAreErrorsWithTheCause) {
  enrol("\" NOT_AN_OPTION\n");
  auto probed = provider()->probe(request_);
  ASSERT_TRUE(probed);
  EXPECT_EQ(probed->outcome, Outcome::error);
  EXPECT_TRUE(probed->detail.starts_with("malformed secret file")) << probed->detail;

  enrol("\" TOTP_AUTH\n", 0644);
  probed = provider()->probe(request_);
  ASSERT_TRUE(probed);
  EXPECT_EQ(probed->outcome, Outcome::error);
  EXPECT_NE(probed->detail.find("mode 0644"), std::string::npos) << probed->detail;
}

TEST_F(TotpProvider, CancelledConversationIsNotAPass) {
  enrol();
  totp_test::ScriptedConversation conversation;
  conversation.answers.push_back(std::nullopt);
  auto result = provider()->authenticate(request_, conversation);
  EXPECT_EQ(result.outcome, Outcome::error);
  EXPECT_EQ(result.detail, "conversation failed");
}

TEST_F(TotpProvider, SettingsChangeDigitsAlgorithmStepAndPrompt) {
  settings_.set("digits", std::int64_t{8});
  settings_.set("algorithm", std::string("sha512"));
  settings_.set("step", std::chrono::seconds(60));
  settings_.set("window", std::int64_t{0});
  settings_.set("prompt", std::string("OTP: "));
  enrol();
  totp_test::ScriptedConversation conversation;
  conversation.answers.push_back(
      code_for(kSecret, kNow, authpolicy::totp::HashAlgorithm::sha512, 8, 60));
  auto result = provider()->authenticate(request_, conversation);
  EXPECT_EQ(result.outcome, Outcome::pass) << result.detail;
  EXPECT_EQ(conversation.secret_prompts, std::vector<std::string>{"OTP: "});
}

TEST_F(TotpProvider, OathUsersFileThroughTheProvider) {
  settings_.set("format", std::string("oath"));
  settings_.set("secrets", dir_.file("users.oath"));
  totp_test::write_file(dir_.file("users.oath"),
                        "HOTP/T30/6 alice - " + totp_test::hex_of_base32(kSecret) + "\n");
  auto totp = provider();
  EXPECT_FALSE(totp->probe(request_));
  totp_test::ScriptedConversation conversation;
  conversation.answers.push_back(code_for(kSecret, kNow));
  EXPECT_EQ(totp->authenticate(request_, conversation).outcome, Outcome::pass);
  request_.user = "bob";
  auto probed = totp->probe(request_);
  ASSERT_TRUE(probed);
  EXPECT_EQ(probed->outcome, Outcome::unavailable);
}

TEST_F(TotpProvider, BadSettingsMakeEveryAttemptAnError) {
  settings_.set("digits", std::int64_t{9});
  settings_.set("colour", std::string("blue"));
  auto probed = provider()->probe(request_);
  ASSERT_TRUE(probed);
  EXPECT_EQ(probed->outcome, Outcome::error);
  EXPECT_NE(probed->detail.find("setting 'digits' of factor totp must be between 6 and 8, not 9"),
            std::string::npos);
  EXPECT_NE(probed->detail.find("unknown setting 'colour'"), std::string::npos);
}

TEST(TotpSettings, ValidationNamesEachProblem) {
  authpolicy::Settings settings;
  settings.set("secrets", std::string("relative/%u"));
  settings.set("format", std::string("yaml"));
  settings.set("window", std::int64_t{11});
  settings.set("algorithm", std::string("md5"));
  settings.set("allow_user_files", std::string("yes"));
  settings.set("step", std::chrono::seconds(0));
  std::vector<std::string> errors;
  EXPECT_FALSE(authpolicy::totp::config_from_settings(settings, errors));
  EXPECT_EQ(errors.size(), 6u);
  authpolicy::Settings user_files;
  user_files.set("secrets", std::string("~/.google_authenticator"));
  errors.clear();
  EXPECT_FALSE(authpolicy::totp::config_from_settings(user_files, errors));
  EXPECT_EQ(errors, std::vector<std::string>{"factor totp: secrets in the user's home folder "
                                             "need allow_user_files = true"});
  user_files.set("allow_user_files", true);
  errors.clear();
  EXPECT_TRUE(authpolicy::totp::config_from_settings(user_files, errors));
  EXPECT_TRUE(authpolicy::totp::config_from_settings(authpolicy::Settings(), errors));
  EXPECT_TRUE(errors.empty());
}

}  // namespace
