// RFC 6238 and RFC 4226 published vectors, base32/hex codecs and code comparison.
#include "factors/totp/otp.h"

#include <gtest/gtest.h>

#include <string>

namespace {

using authpolicy::totp::HashAlgorithm;

authpolicy::totp::KeyBytes ascii_key(const std::string& text) {
  authpolicy::totp::KeyBytes key(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) key.data()[i] = static_cast<unsigned char>(text[i]);
  return key;
}

struct Rfc6238Vector {
  std::int64_t time;
  const char* sha1;
  const char* sha256;
  const char* sha512;
};

// RFC 6238 Appendix B, 8 digits, 30 s step, T0 = 0.
constexpr Rfc6238Vector kRfc6238[] = {
    {59, "94287082", "46119246", "90693936"},
    {1111111109, "07081804", "68084774", "25091201"},
    {1111111111, "14050471", "67062674", "99943326"},
    {1234567890, "89005924", "91819424", "93441116"},
    {2000000000, "69279037", "90698825", "38618901"},
    {20000000000, "65353130", "77737706", "47863826"},
};

TEST(TotpRfc6238, AllPublishedVectorsForSha1Sha256Sha512) {
  const auto sha1_key = ascii_key("12345678901234567890");
  const auto sha256_key = ascii_key("12345678901234567890123456789012");
  const auto sha512_key =
      ascii_key("1234567890123456789012345678901234567890123456789012345678901234");
  for (const auto& v : kRfc6238) {
    auto step = authpolicy::totp::time_step(v.time, 30);
    ASSERT_TRUE(step);
    EXPECT_EQ(authpolicy::totp::hotp_code(sha1_key, *step, 8, HashAlgorithm::sha1).view(), v.sha1)
        << "SHA1 at " << v.time;
    EXPECT_EQ(authpolicy::totp::hotp_code(sha256_key, *step, 8, HashAlgorithm::sha256).view(),
              v.sha256)
        << "SHA256 at " << v.time;
    EXPECT_EQ(authpolicy::totp::hotp_code(sha512_key, *step, 8, HashAlgorithm::sha512).view(),
              v.sha512)
        << "SHA512 at " << v.time;
  }
}

TEST(TotpRfc4226, HotpVectorsForCounters0To9) {
  const char* expected[] = {"755224", "287082", "359152", "969429", "338314",
                            "254676", "287922", "162583", "399871", "520489"};
  const auto key = ascii_key("12345678901234567890");
  for (std::uint64_t counter = 0; counter < 10; ++counter) {
    EXPECT_EQ(authpolicy::totp::hotp_code(key, counter, 6, HashAlgorithm::sha1).view(),
              expected[counter])
        << "counter " << counter;
  }
}

TEST(TotpCodes, RefusesDigitCountsOutsideSixToEight) {
  const auto key = ascii_key("12345678901234567890");
  EXPECT_TRUE(authpolicy::totp::hotp_code(key, 1, 5, HashAlgorithm::sha1).empty());
  EXPECT_TRUE(authpolicy::totp::hotp_code(key, 1, 9, HashAlgorithm::sha1).empty());
  EXPECT_EQ(authpolicy::totp::hotp_code(key, 1, 7, HashAlgorithm::sha1).size(), 7u);
}

TEST(TotpCodes, TimeStepIsFloorOfTimeOverStep) {
  EXPECT_EQ(authpolicy::totp::time_step(59, 30), 1u);
  EXPECT_EQ(authpolicy::totp::time_step(60, 30), 2u);
  EXPECT_EQ(authpolicy::totp::time_step(0, 30), 0u);
  EXPECT_FALSE(authpolicy::totp::time_step(-1, 30));
}

TEST(TotpCodes, CodesEqualComparesWholeCodes) {
  EXPECT_TRUE(authpolicy::totp::codes_equal("123456", "123456"));
  EXPECT_FALSE(authpolicy::totp::codes_equal("123456", "123457"));
  EXPECT_FALSE(authpolicy::totp::codes_equal("123456", "12345"));
  EXPECT_FALSE(authpolicy::totp::codes_equal("", "1"));
}

TEST(TotpBase32, DecodesRfc4648AndRoundTrips) {
  auto key = authpolicy::totp::base32_decode("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
  ASSERT_TRUE(key);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(key->data()), key->size()),
            "12345678901234567890");
  EXPECT_EQ(authpolicy::totp::base32_encode(key->data(), key->size()).view(),
            "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
  auto lower = authpolicy::totp::base32_decode("mzxw6===");
  ASSERT_TRUE(lower);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(lower->data()), lower->size()), "foo");
}

TEST(TotpBase32, RefusesCharactersOutsideTheAlphabet) {
  EXPECT_FALSE(authpolicy::totp::base32_decode("GEZDGNBV1"));  // '1' is not base32
  EXPECT_FALSE(authpolicy::totp::base32_decode("GEZD=GNB"));   // padding in the middle
  EXPECT_FALSE(authpolicy::totp::base32_decode("GEZDGNB!"));
}

TEST(TotpHex, DecodesAndRefusesOddOrNonHex) {
  auto key = authpolicy::totp::hex_decode("00ff10Ab");
  ASSERT_TRUE(key);
  EXPECT_EQ(key->size(), 4u);
  EXPECT_EQ(key->data()[1], 0xff);
  EXPECT_EQ(key->data()[3], 0xab);
  EXPECT_FALSE(authpolicy::totp::hex_decode("abc"));
  EXPECT_FALSE(authpolicy::totp::hex_decode("zz"));
}

TEST(TotpAlgorithm, ParsesNamesInAnyCase) {
  EXPECT_EQ(authpolicy::totp::parse_algorithm("sha1"), HashAlgorithm::sha1);
  EXPECT_EQ(authpolicy::totp::parse_algorithm("SHA-256"), HashAlgorithm::sha256);
  EXPECT_EQ(authpolicy::totp::parse_algorithm("Sha512"), HashAlgorithm::sha512);
  EXPECT_FALSE(authpolicy::totp::parse_algorithm("md5"));
}

}  // namespace
