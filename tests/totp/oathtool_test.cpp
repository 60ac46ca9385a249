// Our codes against oathtool (a real process) for random secrets, times, algorithms and digits.
#include <gtest/gtest.h>

#include <random>

#include "factors/totp/otp.h"
#include "test_support.h"

namespace {

using authpolicy::totp::HashAlgorithm;

TEST(TotpOathtool, RandomSecretsAndTimesAgreeForAllAlgorithmsAndDigitCounts) {
  std::mt19937_64 random(std::random_device{}());
  std::uniform_int_distribution<std::int64_t> times(0, 4102444800);  // up to 2100
  std::uniform_int_distribution<int> key_sizes(10, 64);
  for (HashAlgorithm algorithm :
       {HashAlgorithm::sha1, HashAlgorithm::sha256, HashAlgorithm::sha512}) {
    for (int digits = 6; digits <= 8; ++digits) {
      for (int round = 0; round < 3; ++round) {
        authpolicy::totp::KeyBytes key(static_cast<std::size_t>(key_sizes(random)));
        ASSERT_TRUE(authpolicy::totp::os_random_bytes(key.data(), key.size()));
        const std::int64_t when = times(random);
        const int step = round == 2 ? 60 : 30;
        std::string hex(authpolicy::totp::hex_encode(key.data(), key.size()).view());
        std::string ours(authpolicy::totp::hotp_code(key, *authpolicy::totp::time_step(when, step),
                                                     digits, algorithm)
                             .view());
        std::string theirs = totp_test::oathtool_totp(hex, when, algorithm, digits, step);
        EXPECT_EQ(ours, theirs) << authpolicy::totp::algorithm_name(algorithm) << " digits "
                                << digits << " time " << when << " step " << step << " key " << hex;
      }
    }
  }
}

TEST(TotpOathtool, Base32SecretsAgree) {
  // The google-authenticator file form of a secret, decoded by us and by oathtool -b.
  authpolicy::totp::KeyBytes key(20);
  ASSERT_TRUE(authpolicy::totp::os_random_bytes(key.data(), key.size()));
  std::string base32(authpolicy::totp::base32_encode(key.data(), key.size()).view());
  const std::int64_t when = 1700000000;
  totp_test::ProcessResult run =
      totp_test::run_process({"oathtool", "--totp", "-b", "-N", "@1700000000", "-"}, base32 + "\n");
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(totp_test::code_for(base32, when) + "\n", run.out);
}

}  // namespace
