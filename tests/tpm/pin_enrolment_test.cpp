// enrolled(pin) on swtpm, in process and through the helper: enrolled, none, not ours, TPM gone,
// and that telling it never spends a PIN attempt.
#include "factors/tpm/pin_enrolment.h"

#include <gtest/gtest.h>

#include "factors/tpm/pin_store.h"
#include "tests/tpm/pin_test_support.h"

namespace authpolicy::tpm {
namespace {

// root: the uid the tests run as, the only one the helper answers for.
constexpr const char* kUser = "root";

class PinEnrolmentTest : public testing::PinOnSwtpm {
 protected:
  Enrolment enrolment(const std::string& user = kUser) {
    return pin_enrolment(Settings{}, tpm_block(), user, options());
  }
  int tool(const std::string& command, std::string* output) {
    return testing::run_tpm2_tool(swtpm_.tcti(), command, output);
  }
};

TEST_P(PinEnrolmentTest, NoIndexIsNone) {
  const Enrolment e = enrolment();
  EXPECT_EQ(e.state, Enrolment::State::none) << e.detail;
  EXPECT_EQ(e.detail, "no PIN index 0x01000000 in the TPM");
}

TEST_P(PinEnrolmentTest, AnIndexSetupMadeIsEnrolledAndTellingItSpendsNothing) {
  ASSERT_EQ(store_->setup(0, SecretString("1234"), 3).result, SetupResult::created);
  ASSERT_EQ(store_->verify(0, SecretString("0000")).result, VerifyResult::wrong);
  for (int i = 0; i < 5; ++i) {
    const Enrolment e = enrolment();
    EXPECT_EQ(e.state, Enrolment::State::enrolled) << e.detail;
    EXPECT_EQ(e.detail, "PIN index 0x01000000 in the TPM");
  }
  // Five look-ups later the counter is where the one wrong PIN left it.
  const PinStatus status = store_->status(0);
  ASSERT_TRUE(status.counter);
  EXPECT_EQ(status.counter->used, 1u);
  EXPECT_EQ(status.counter->limit, 3u);
}

TEST_P(PinEnrolmentTest, ALockedPinIsStillAnEnrolment) {
  ASSERT_EQ(store_->setup(0, SecretString("1234"), 1).result, SetupResult::created);
  ASSERT_EQ(store_->verify(0, SecretString("0000")).result, VerifyResult::wrong);
  EXPECT_EQ(enrolment().state, Enrolment::State::enrolled)
      << "a locked PIN is enrolled: the provider reports the lock, enrolled() must not waive it";
}

TEST_P(PinEnrolmentTest, AnIndexThatIsNotOursIsUnknown) {
  std::string out;
  ASSERT_EQ(tool("tpm2_nvdefine 0x1000000 -C o -s 8 -a 'ownerread|ownerwrite'", &out), 0) << out;
  const Enrolment e = enrolment();
  EXPECT_EQ(e.state, Enrolment::State::unknown) << e.detail;
  EXPECT_NE(e.detail.find("is not a PIN index of ours"), std::string::npos) << e.detail;
  EXPECT_NE(e.detail.find("attributes"), std::string::npos) << e.detail;
}

TEST_P(PinEnrolmentTest, AnUnreachableTpmIsUnknown) {
  ASSERT_EQ(store_->setup(0, SecretString("1234"), 3).result, SetupResult::created);
  swtpm_.kill();
  const auto started = std::chrono::steady_clock::now();
  const Enrolment e = enrolment();
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(5));
  EXPECT_EQ(e.state, Enrolment::State::unknown) << e.detail;
  EXPECT_EQ(e.detail.rfind("tpm error: ", 0), 0u) << e.detail;
}

TEST_P(PinEnrolmentTest, AnUnknownUserHasNone) {
  EXPECT_EQ(enrolment("no-such-user-ap").state, Enrolment::State::none);
}

INSTANTIATE_TEST_SUITE_P(Backends, PinEnrolmentTest, testing::pin_backends(),
                         testing::pin_backend_name);

TEST(PinEnrolmentSettings, AnInvalidTpmBlockIsUnknown) {
  Settings tpm;
  tpm.set("nv_base", std::int64_t{5});
  const Enrolment e = pin_enrolment(Settings{}, tpm, kUser, PinProviderOptions{});
  EXPECT_EQ(e.state, Enrolment::State::unknown);
  EXPECT_EQ(e.detail, "config: tpm: nv_base must be an NV index between 0x01000000 and 0x01BFFFFF");
}

}  // namespace
}  // namespace authpolicy::tpm
