// The `pin` factor provider end to end on swtpm, through a scripted conversation, in process and
// through the helper program.
#include "factors/tpm/pin_provider.h"

#include <gtest/gtest.h>

#include <chrono>
#include <future>

#include "factors/tpm/pin_store.h"
#include "tests/tpm/pin_test_support.h"
#include "tests/tpm/scripted_conversation.h"

namespace authpolicy::tpm {
namespace {

using testing::ScriptedConversation;
using testing::Swtpm;

// root exists everywhere and is the uid the tests run as (the helper checks the real uid).
const FactorRequest kRoot{"root", "login", std::nullopt, "tty1", false};

class PinProviderTest : public testing::PinOnSwtpm {
 protected:
  std::unique_ptr<FactorProvider> provider(Settings factor = {}) {
    return make_pin_provider(factor, tpm_block(), options());
  }
  std::uint32_t used() { return store_->status(0).counter->used; }
};

TEST_P(PinProviderTest, NotEnrolledIsUnavailableWithoutAsking) {
  auto pin = provider();
  const auto probed = pin->probe(kRoot);
  ASSERT_TRUE(probed);
  EXPECT_EQ(probed->outcome, Outcome::unavailable);
  EXPECT_EQ(probed->detail, "not enrolled");
  ScriptedConversation talk({"1234"});
  EXPECT_EQ(pin->authenticate(kRoot, talk).outcome, Outcome::unavailable);
  EXPECT_TRUE(talk.prompts.empty());
}

TEST_P(PinProviderTest, CorrectPinPasses) {
  ASSERT_EQ(store_->setup(0, SecretString("1234"), 5).result, SetupResult::created);
  auto pin = provider();
  EXPECT_FALSE(pin->probe(kRoot));
  ScriptedConversation talk({"1234"});
  const FactorResult result = pin->authenticate(kRoot, talk);
  EXPECT_EQ(result.outcome, Outcome::pass) << result.detail;
  EXPECT_EQ(talk.prompts, std::vector<std::string>{"PIN: "});
  EXPECT_TRUE(talk.errors.empty());
  EXPECT_TRUE(talk.infos.empty());
}

TEST_P(PinProviderTest, WrongPinsFailAndFewRemainingAttemptsAreAnnounced) {
  ASSERT_EQ(store_->setup(0, SecretString("1234"), 4).result, SetupResult::created);
  auto pin = provider();
  ScriptedConversation first({"0000"});
  FactorResult result = pin->authenticate(kRoot, first);
  EXPECT_EQ(result.outcome, Outcome::fail);
  EXPECT_EQ(result.detail, "wrong pin");
  EXPECT_TRUE(first.infos.empty());  // 3 left: not yet worth a word
  ScriptedConversation second({"0000"});
  EXPECT_EQ(pin->authenticate(kRoot, second).detail, "wrong pin");
  ASSERT_EQ(second.infos.size(), 1u);
  EXPECT_EQ(second.infos[0], "Wrong PIN. 2 PIN attempts left before the PIN locks.");
  ScriptedConversation third({"1234"});
  EXPECT_EQ(pin->authenticate(kRoot, third).outcome, Outcome::pass);
  ASSERT_EQ(third.infos.size(), 1u);  // told before the prompt
  EXPECT_EQ(third.infos[0], "2 PIN attempts left before the PIN locks.");
  EXPECT_EQ(used(), 0u);
}

TEST_P(PinProviderTest, LockedIsAFailWithItsOwnMessageAndCostsNothing) {
  ASSERT_EQ(store_->setup(0, SecretString("1234"), 1).result, SetupResult::created);
  auto pin = provider();
  ScriptedConversation last({"0000"});
  EXPECT_EQ(pin->authenticate(kRoot, last).detail, "wrong pin");
  ASSERT_EQ(last.errors.size(), 1u);
  EXPECT_NE(last.errors[0].find("locked"), std::string::npos);

  EXPECT_FALSE(pin->probe(kRoot));  // authenticate() reports the lock with a message
  ScriptedConversation locked({"1234"});
  const FactorResult result = pin->authenticate(kRoot, locked);
  EXPECT_EQ(result.outcome, Outcome::fail);
  EXPECT_EQ(result.detail, "locked");
  EXPECT_TRUE(locked.prompts.empty());
  EXPECT_EQ(locked.errors, std::vector<std::string>{kLockedMessage});
  EXPECT_EQ(used(), 1u);
}

TEST_P(PinProviderTest, PinsThatBreakTheRulesCostNoAttempt) {
  ASSERT_EQ(store_->setup(0, SecretString("1234"), 5).result, SetupResult::created);
  auto pin = provider();
  for (const char* typo : {"12a4", "12", "123456789"}) {
    ScriptedConversation talk({typo});
    const FactorResult result = pin->authenticate(kRoot, talk);
    EXPECT_EQ(result.outcome, Outcome::fail);
    EXPECT_EQ(result.detail, "invalid pin");
    EXPECT_EQ(talk.errors.size(), 1u);
  }
  EXPECT_EQ(used(), 0u);
  Settings letters;
  letters.set("digits_only", false);
  ScriptedConversation talk({"12a4"});
  EXPECT_EQ(provider(letters)->authenticate(kRoot, talk).detail, "wrong pin");
}

TEST_P(PinProviderTest, CancelledConversationIsAFailWithoutAnAttempt) {
  ASSERT_EQ(store_->setup(0, SecretString("1234"), 5).result, SetupResult::created);
  ScriptedConversation talk({std::nullopt});
  const FactorResult result = provider()->authenticate(kRoot, talk);
  EXPECT_EQ(result.outcome, Outcome::fail);
  EXPECT_EQ(result.detail, "no answer");
  EXPECT_EQ(used(), 0u);
}

TEST_P(PinProviderTest, TamperedIndexIsAnError) {
  std::string out;
  ASSERT_EQ(testing::run_tpm2_tool(swtpm_.tcti(),
                                   "tpm2_nvdefine 0x1000000 -C o -s 8 -p 1234 "
                                   "-a 'nt=pinfail|ownerwrite|authread|ownerread|no_da'",
                                   &out),
            0)
      << out;
  auto pin = provider();
  const auto probed = pin->probe(kRoot);
  ASSERT_TRUE(probed);
  EXPECT_EQ(probed->outcome, Outcome::error);
  EXPECT_EQ(probed->detail, "tampered");
  ScriptedConversation talk({"1234"});
  EXPECT_EQ(pin->authenticate(kRoot, talk).detail, "tampered");
  EXPECT_TRUE(talk.prompts.empty());
}

TEST_P(PinProviderTest, UnreachableTpmIsAnError) {
  ASSERT_EQ(store_->setup(0, SecretString("1234"), 5).result, SetupResult::created);
  auto pin = provider();
  swtpm_.kill();
  const auto probed = pin->probe(kRoot);
  ASSERT_TRUE(probed);
  EXPECT_EQ(probed->outcome, Outcome::error);
  EXPECT_EQ(probed->detail.rfind("tpm error: ", 0), 0u) << probed->detail;
  ScriptedConversation talk({"1234"});
  EXPECT_EQ(pin->authenticate(kRoot, talk).outcome, Outcome::error);
}

TEST_P(PinProviderTest, SwtpmKilledDuringVerificationGivesAnErrorWithoutHanging) {
  ASSERT_EQ(store_->setup(0, SecretString("1234"), 5).result, SetupResult::created);
  auto pin = provider();
  // The conversation answers while the TPM is stopped, so the verification is left waiting.
  struct StopWhenAsked : ScriptedConversation {
    Swtpm* swtpm;
    explicit StopWhenAsked(Swtpm* s) : ScriptedConversation({"1234"}), swtpm(s) {}
    std::optional<SecretString> ask_secret(std::string_view prompt) override {
      swtpm->pause();
      return ScriptedConversation::ask_secret(prompt);
    }
  } talk(&swtpm_);
  auto verification =
      std::async(std::launch::async, [&] { return pin->authenticate(kRoot, talk); });
  EXPECT_EQ(verification.wait_for(std::chrono::milliseconds(300)), std::future_status::timeout);
  swtpm_.kill();
  ASSERT_EQ(verification.wait_for(std::chrono::seconds(5)), std::future_status::ready);
  const FactorResult result = verification.get();
  EXPECT_EQ(result.outcome, Outcome::error);
  EXPECT_EQ(result.detail.rfind("tpm error: ", 0), 0u) << result.detail;
}

TEST_P(PinProviderTest, UnknownUserIsUnavailable) {
  const FactorRequest ghost{"no-such-user-ap", "login", std::nullopt, "", false};
  EXPECT_EQ(provider()->probe(ghost)->outcome, Outcome::unavailable);
}

INSTANTIATE_TEST_SUITE_P(Backends, PinProviderTest, testing::pin_backends(),
                         testing::pin_backend_name);

TEST(PinProviderOwnerFile, AnOwnerFileRootCannotUseIsAConfigErrorWithoutAPrompt) {
  Swtpm swtpm;
  TpmConfig config;
  config.tcti = swtpm.tcti();
  ASSERT_EQ(PinStore(config).setup(0, SecretString("1234"), 5).result, SetupResult::created);
  const auto missing = swtpm.state_dir() / "no-owner-file";
  Settings tpm;
  tpm.set("tcti", swtpm.tcti());
  tpm.set("owner_auth_file", missing.string());
  PinProviderOptions options;
  options.backend = BackendChoice::direct;  // the helper reads its own settings, not these
  auto pin = make_pin_provider(Settings{}, tpm, options);
  const auto probed = pin->probe(kRoot);
  ASSERT_TRUE(probed);
  EXPECT_EQ(probed->outcome, Outcome::error);
  EXPECT_EQ(probed->detail.rfind(
                "config: tpm: cannot open owner_auth_file " + missing.string() + ": ", 0),
            0u)
      << probed->detail;
  ScriptedConversation talk({"1234"});
  const FactorResult result = pin->authenticate(kRoot, talk);
  EXPECT_EQ(result.outcome, Outcome::error);
  EXPECT_EQ(result.detail, probed->detail);
  EXPECT_TRUE(talk.prompts.empty());
}

TEST(PinProviderSettings, ContradictorySettingsFailClosed) {
  Settings factor;
  factor.set("min_length", std::int64_t{9});
  factor.set("max_length", std::int64_t{4});
  auto pin = make_pin_provider(factor, Settings{});
  EXPECT_EQ(pin->probe(kRoot)->outcome, Outcome::error);
  ScriptedConversation talk({"1234"});
  const FactorResult result = pin->authenticate(kRoot, talk);
  EXPECT_EQ(result.outcome, Outcome::error);
  EXPECT_EQ(result.detail.rfind("config: ", 0), 0u);
  EXPECT_TRUE(talk.prompts.empty());
  Settings zero;
  zero.set("max_attempts", std::int64_t{0});
  EXPECT_EQ(make_pin_provider(zero, Settings{})->probe(kRoot)->outcome, Outcome::error);
  Settings long_pin;
  long_pin.set("max_length", std::int64_t{33});
  std::string error;
  EXPECT_FALSE(pin_rules_from_settings(long_pin, &error));
  EXPECT_NE(error.find("max_length"), std::string::npos) << error;
}

TEST(PinProviderSettings, TheTpmBlockIsReadFirstAndItsProblemIsTheDetail) {
  Settings factor;
  factor.set("min_length", std::int64_t{9});
  factor.set("max_length", std::int64_t{4});
  Settings tpm;
  tpm.set("nv_base", std::int64_t{5});
  const std::string nv_base =
      "config: tpm: nv_base must be an NV index between 0x01000000 and 0x01BFFFFF";
  EXPECT_EQ(make_pin_provider(factor, tpm)->probe(kRoot)->detail, nv_base);
  EXPECT_EQ(make_pin_provider(Settings{}, tpm)->probe(kRoot)->detail, nv_base);
  std::string rules;
  ASSERT_FALSE(pin_rules_from_settings(factor, &rules));
  EXPECT_EQ(make_pin_provider(factor, Settings{})->probe(kRoot)->detail, "config: " + rules);
}

}  // namespace
}  // namespace authpolicy::tpm
