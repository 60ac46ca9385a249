// Parsing and writing the google-authenticator and pam_oath file formats.
#include "factors/totp/secret_files.h"

#include <gtest/gtest.h>

#include "test_support.h"

namespace {

using authpolicy::totp::GoogleAuthFile;
using authpolicy::totp::parse_google_auth_file;

TEST(TotpGoogleAuthFile, ParsesEveryOptionAndScratchCodes) {
  std::string error;
  auto file = parse_google_auth_file(totp_test::kSecret +
                                         "\n\" RATE_LIMIT 3 30 1700000000 1700000010\n"
                                         "\" WINDOW_SIZE 5\n\" DISALLOW_REUSE 56666666 56666667\n"
                                         "\" TOTP_AUTH\n\" STEP_SIZE 60\n\" TIME_SKEW 0\n"
                                         "11111111\n22222222\n",
                                     &error);
  ASSERT_TRUE(file) << error;
  EXPECT_TRUE(file->totp_auth);
  EXPECT_EQ(file->window_size, 5);
  EXPECT_EQ(file->step_size, 60);
  ASSERT_TRUE(file->rate_limit);
  EXPECT_EQ(file->rate_limit->attempts, 3);
  EXPECT_EQ(file->rate_limit->seconds, 30);
  EXPECT_EQ(file->rate_limit->attempt_times.size(), 2u);
  EXPECT_TRUE(file->disallow_reuse);
  EXPECT_EQ(file->used_steps, (std::vector<std::uint64_t>{56666666, 56666667}));
  ASSERT_EQ(file->scratch_codes.size(), 2u);
  EXPECT_EQ(file->scratch_codes[1].view(), "22222222");
  EXPECT_EQ(file->kept_options, std::vector<std::string>{"\" TIME_SKEW 0"});
}

TEST(TotpGoogleAuthFile, SerializeThenParseKeepsEverything) {
  std::string error;
  auto file =
      parse_google_auth_file(totp_test::kSecret +
                                 "\n\" RATE_LIMIT 3 30 5\n\" DISALLOW_REUSE 7\n\" TOTP_AUTH\n"
                                 "\" ALGORITHM SHA512\n\" DIGITS 8\n12345678\n",
                             &error);
  ASSERT_TRUE(file) << error;
  std::string text(authpolicy::totp::serialize_google_auth_file(*file).view());
  EXPECT_EQ(text, totp_test::kSecret +
                      "\n\" RATE_LIMIT 3 30 5\n\" DISALLOW_REUSE 7\n\" TOTP_AUTH\n"
                      "\" ALGORITHM SHA512\n\" DIGITS 8\n12345678\n");
}

struct MalformedCase {
  const char* name;
  std::string text;
  const char* expected_error;
};

TEST(TotpGoogleAuthFile, MalformedFilesAreRefusedNamingTheLineButNotItsContent) {
  const MalformedCase cases[] = {
      {"empty", "", "line 1: no secret"},
      {"bad base32", "GEZDGNBV1GY3TQOJQ\n\" TOTP_AUTH\n", "line 1: secret is not base32"},
      {"short secret", "GEZDGNBV\n", "line 1: secret shorter than 80 bits"},
      {"unknown option", totp_test::kSecret + "\n\" TOTP_AUTH\n\" FROBNICATE 1\n",
       "line 3: unknown option FROBNICATE"},
      {"junk line", totp_test::kSecret + "\nsecret-looking-junk\n",
       "line 2: neither an option nor an 8-digit scratch code"},
      {"short scratch", totp_test::kSecret + "\n1234567\n",
       "line 2: neither an option nor an 8-digit scratch code"},
      {"hotp", totp_test::kSecret + "\n\" HOTP_COUNTER 1\n",
       "line 2: counter-based HOTP (HOTP_COUNTER) is not supported"},
      {"window range", totp_test::kSecret + "\n\" WINDOW_SIZE 0\n",
       "line 2: WINDOW_SIZE must be 1..21"},
      {"repeated", totp_test::kSecret + "\n\" TOTP_AUTH\n\" TOTP_AUTH\n",
       "line 3: option TOTP_AUTH repeated"},
      {"bad rate limit", totp_test::kSecret + "\n\" RATE_LIMIT 3\n",
       "line 2: RATE_LIMIT needs attempts (1..100) and seconds (1..3600)"},
      {"bad reuse list", totp_test::kSecret + "\n\" DISALLOW_REUSE x\n",
       "line 2: DISALLOW_REUSE lists time steps (numbers)"},
  };
  for (const auto& c : cases) {
    std::string error;
    EXPECT_FALSE(parse_google_auth_file(c.text, &error)) << c.name;
    EXPECT_EQ(error, c.expected_error) << c.name;
    EXPECT_EQ(error.find("junk"), std::string::npos) << c.name;
  }
}

TEST(TotpOathFile, FindsTheUsersLineAndItsParameters) {
  auto file = authpolicy::totp::split_oath_users_file(
      "# comment\nHOTP/T30/6 alice - 3132333435363738393031323334353637383930\n"
      "HOTP/T60/8 bob - 3132333435363738393031323334353637383930 1234 12345678 "
      "2026-01-01T00:00:00L\n");
  const auto found = authpolicy::totp::find_oath_entry(file, "bob");
  ASSERT_EQ(found.status, authpolicy::totp::OathLookup::found) << found.reason;
  const authpolicy::totp::OathEntry& entry = found.entry;
  EXPECT_EQ(entry.step, 60);
  EXPECT_EQ(entry.digits, 8);
  EXPECT_EQ(entry.last_step, 1234u);
  EXPECT_EQ(entry.line_index, 2u);
  EXPECT_EQ(authpolicy::totp::find_oath_entry(file, "carol").status,
            authpolicy::totp::OathLookup::absent);
}

TEST(TotpOathFile, RefusesEventBasedPinsAndBadSecretsForThatUserOnly) {
  auto file = authpolicy::totp::split_oath_users_file(
      "HOTP alice - 3132333435363738393031323334353637383930\n"
      "HOTP/T30 bob 1234 3132333435363738393031323334353637383930\n"
      "HOTP/T30 carol - 31323g\n"
      "HOTP/T30/9 dave - 3132333435363738393031323334353637383930\n"
      "HOTP/T30 erin - 3132333435363738393031323334353637383930\n");
  std::string error;
  authpolicy::totp::OathEntry entry;
  auto lookup = [&](const char* user) {
    auto found = authpolicy::totp::find_oath_entry(file, user);
    error = found.reason;
    entry = std::move(found.entry);
    return found.status;
  };
  EXPECT_EQ(lookup("alice"), authpolicy::totp::OathLookup::malformed);
  EXPECT_EQ(error, "line 1: event-based HOTP is not supported (use HOTP/T30)");
  EXPECT_EQ(lookup("bob"), authpolicy::totp::OathLookup::malformed);
  EXPECT_EQ(error, "line 2: a PIN in the users file is not supported (use \"-\")");
  EXPECT_EQ(lookup("carol"), authpolicy::totp::OathLookup::malformed);
  EXPECT_EQ(error, "line 3: secret is not hex");
  EXPECT_EQ(lookup("dave"), authpolicy::totp::OathLookup::malformed);
  EXPECT_EQ(error, "line 4: digits in the token type must be 6..8");
  EXPECT_EQ(lookup("erin"), authpolicy::totp::OathLookup::found);
  EXPECT_EQ(entry.digits, 6);
  EXPECT_EQ(entry.step, 30);
}

}  // namespace
