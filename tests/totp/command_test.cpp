// `authpolicy totp` through its run function: enrolment files that oathtool agrees with.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <ctime>
#include <regex>
#include <sstream>

#include "cli/command_registry.h"
#include "cli/totp_command.h"
#include "factors/totp/secret_files.h"
#include "test_support.h"

namespace {

struct CommandRun {
  int exit_code;
  std::string out;
  std::string err;
};

CommandRun totp_command(const std::vector<std::string>& args, const std::string& input = "") {
  std::istringstream in(input);
  std::ostringstream out, err;
  int code = authpolicy::cli::run_totp_with_input(args, in, out, err);
  return {code, out.str(), err.str()};
}

std::string first_line(const std::string& text) {
  return text.substr(0, text.find('\n'));
}

class TotpCommand : public ::testing::Test {
 protected:
  std::string pattern() const { return dir_.path() + "/%u"; }
  totp_test::TempDir dir_;
};

TEST_F(TotpCommand, RegistersItself) {
  EXPECT_EQ(authpolicy::cli::command_registry().count("totp"), 1u);
}

TEST_F(TotpCommand, EnrollWritesAPrivateFileThatOathtoolAgreesWith) {
  CommandRun run =
      totp_command({"enroll", "daemon", "--secrets", pattern(), "--issuer", "Example Co"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  struct stat info {};
  ASSERT_EQ(stat(dir_.file("daemon").c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 07777, 0600u);
  EXPECT_EQ(info.st_uid, geteuid());

  std::string error;
  auto file =
      authpolicy::totp::parse_google_auth_file(totp_test::read_file(dir_.file("daemon")), &error);
  ASSERT_TRUE(file) << error;
  std::string secret(file->secret_base32.view());
  EXPECT_EQ(secret.size(), 32u);  // 160 bits
  EXPECT_TRUE(file->totp_auth);
  EXPECT_TRUE(file->disallow_reuse);
  ASSERT_TRUE(file->rate_limit);
  EXPECT_EQ(file->scratch_codes.size(), 5u);

  EXPECT_NE(run.out.find("otpauth://totp/Example%20Co:daemon?secret=" + secret +
                         "&issuer=Example%20Co&algorithm=SHA1&digits=6&period=30"),
            std::string::npos)
      << run.out;
  EXPECT_NE(run.out.find("\u2588"), std::string::npos) << "a QR code drawn with blocks";
  for (const auto& code : file->scratch_codes) {
    EXPECT_NE(run.out.find("  " + std::string(code.view()) + "\n"), std::string::npos);
  }

  // oathtool, given the enrolled secret, produces the code `totp code` shows and `verify` takes.
  const std::int64_t now = std::time(nullptr);
  std::string expected = totp_test::oathtool_totp(totp_test::hex_of_base32(secret), now,
                                                  authpolicy::totp::HashAlgorithm::sha1, 6);
  CommandRun code =
      totp_command({"code", "daemon", "--secrets", pattern(), "--now", std::to_string(now)});
  ASSERT_EQ(code.exit_code, 0) << code.err;
  EXPECT_EQ(first_line(code.out), expected);
  CommandRun verify = totp_command({"verify", "daemon", "--secrets", pattern()}, expected + "\n");
  EXPECT_EQ(verify.exit_code, 0) << verify.out << verify.err;
  CommandRun replay = totp_command({"verify", "daemon", "--secrets", pattern()}, expected + "\n");
  EXPECT_EQ(replay.exit_code, 1);
  EXPECT_EQ(replay.out, "replayed code\n");
}

TEST_F(TotpCommand, EnrollWithSha512AndEightDigitsRecordsThemForTheVerifier) {
  CommandRun run = totp_command({"enroll", "bin", "--secrets", pattern(), "--algorithm", "sha512",
                                 "--digits", "8", "--step", "60", "--no-qr"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(run.out.find("\u2588"), std::string::npos);
  std::string text = totp_test::read_file(dir_.file("bin"));
  EXPECT_NE(text.find("\" ALGORITHM SHA512\n"), std::string::npos);
  EXPECT_NE(text.find("\" DIGITS 8\n"), std::string::npos);
  EXPECT_NE(text.find("\" STEP_SIZE 60\n"), std::string::npos);
  std::string secret = first_line(text);
  const std::int64_t when = 1800000000;
  std::string expected = totp_test::oathtool_totp(totp_test::hex_of_base32(secret), when,
                                                  authpolicy::totp::HashAlgorithm::sha512, 8, 60);
  CommandRun code =
      totp_command({"code", "bin", "--secrets", pattern(), "--now", std::to_string(when)});
  EXPECT_EQ(first_line(code.out), expected);
}

TEST_F(TotpCommand, EnrollNeverReplacesAnEnrolmentWithoutForce) {
  ASSERT_EQ(totp_command({"enroll", "daemon", "--secrets", pattern()}).exit_code, 0);
  std::string before = totp_test::read_file(dir_.file("daemon"));
  CommandRun again = totp_command({"enroll", "daemon", "--secrets", pattern()});
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_NE(again.err.find("already enrolled"), std::string::npos);
  EXPECT_EQ(totp_test::read_file(dir_.file("daemon")), before);
  CommandRun forced = totp_command({"enroll", "daemon", "--secrets", pattern(), "--force"});
  EXPECT_EQ(forced.exit_code, 0) << forced.err;
  EXPECT_NE(totp_test::read_file(dir_.file("daemon")), before);
  EXPECT_EQ(dir_.entries(), std::vector<std::string>{"daemon"});
}

TEST_F(TotpCommand, EnrollIntoAnOathUsersFile) {
  const std::string users = dir_.file("users.oath");
  CommandRun run =
      totp_command({"enroll", "games", "--format", "oath", "--secrets", users, "--no-qr"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  ASSERT_EQ(totp_command({"enroll", "sys", "--format", "oath", "--secrets", users, "--digits", "8",
                          "--no-qr"})
                .exit_code,
            0);
  std::string text = totp_test::read_file(users);
  EXPECT_TRUE(text.starts_with("HOTP/T30/6 games - ")) << text;
  EXPECT_NE(text.find("\nHOTP/T30/8 sys - "), std::string::npos) << text;
  std::string hex = text.substr(19, 40);
  const std::int64_t when = 1750000000;
  CommandRun code = totp_command(
      {"code", "games", "--format", "oath", "--secrets", users, "--now", std::to_string(when)});
  EXPECT_EQ(first_line(code.out),
            totp_test::oathtool_totp(hex, when, authpolicy::totp::HashAlgorithm::sha1, 6));
  EXPECT_EQ(totp_command({"enroll", "games", "--format", "oath", "--secrets", users}).exit_code, 1);
}

TEST_F(TotpCommand, VerifyRefusesAWrongCodeAndUnknownUsers) {
  ASSERT_EQ(totp_command({"enroll", "daemon", "--secrets", pattern()}).exit_code, 0);
  CommandRun wrong = totp_command({"verify", "daemon", "--secrets", pattern()}, "12345\n");
  EXPECT_EQ(wrong.exit_code, 1);
  EXPECT_EQ(wrong.out, "wrong code\n");
  CommandRun nobody = totp_command({"verify", "zed", "--secrets", pattern()}, "123456\n");
  EXPECT_EQ(nobody.exit_code, 1);
  EXPECT_EQ(nobody.out, "not enrolled\n");
}

TEST_F(TotpCommand, VerifySaysTheRateLimitWait) {
  // enroll writes RATE_LIMIT 3 30: the third wrong code uses the last attempt, the fourth is
  // refused without being looked at; both say how long to wait (30 s or a second less).
  ASSERT_EQ(totp_command({"enroll", "daemon", "--secrets", pattern()}).exit_code, 0);
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(totp_command({"verify", "daemon", "--secrets", pattern()}, "000000\n").out,
              "wrong code\n");
  }
  const std::regex last("wrong code \\(rate limit: wait (30|29) s\\)\n");
  const std::regex refused("rate limited \\(rate limit: wait (30|29|28) s\\)\n");
  CommandRun third = totp_command({"verify", "daemon", "--secrets", pattern()}, "000000\n");
  EXPECT_TRUE(std::regex_match(third.out, last)) << third.out;
  CommandRun fourth = totp_command({"verify", "daemon", "--secrets", pattern()}, "000000\n");
  EXPECT_EQ(fourth.exit_code, 1);
  EXPECT_TRUE(std::regex_match(fourth.out, refused)) << fourth.out;
}

TEST_F(TotpCommand, UsageErrorsExitTwo) {
  EXPECT_EQ(totp_command({}).exit_code, 2);
  EXPECT_EQ(totp_command({"frobnicate"}).exit_code, 2);
  EXPECT_EQ(totp_command({"enroll", "a", "--digits", "9"}).exit_code, 2);
  EXPECT_EQ(totp_command({"enroll", "a", "--algorithm", "md5"}).exit_code, 2);
  EXPECT_EQ(totp_command({"enroll", "a", "--secrets", "relative/%u"}).exit_code, 2);
  EXPECT_EQ(totp_command({"enroll", "a", "b"}).exit_code, 2);
  EXPECT_EQ(totp_command({"verify"}).exit_code, 2);
  EXPECT_EQ(totp_command({"--help"}).exit_code, 0);
}

// totp reads its arguments as every authpolicy command does (cli/args.h): --help anywhere,
// --opt=VALUE, and usage errors worded "authpolicy totp: why" followed by the usage.
TEST_F(TotpCommand, ReadsArgumentsLikeEveryCommand) {
  for (const char* help : {"--help", "-h"}) {
    const CommandRun r = totp_command({"code", "daemon", help});
    EXPECT_EQ(r.exit_code, 0) << help << r.err;
    EXPECT_EQ(r.out.rfind("usage: authpolicy totp", 0), 0u) << r.out;
    EXPECT_EQ(r.err, "");
  }
  ASSERT_EQ(totp_command({"enroll", "daemon", "--secrets=" + pattern(), "--no-qr"}).exit_code, 0);
  const CommandRun code = totp_command({"code", "daemon", "--secrets=" + pattern(), "--now=59"});
  EXPECT_EQ(code.exit_code, 0) << code.err;
  EXPECT_TRUE(std::regex_match(code.out, std::regex("[0-9]{6}\n"))) << code.out;
  // "--" ends the options: what follows is a user name, not an option.
  const CommandRun after = totp_command({"code", "--secrets", pattern(), "--", "--now"});
  EXPECT_EQ(after.exit_code, 1) << after.err;
  EXPECT_EQ(after.err, "authpolicy totp: not enrolled\n");

  const CommandRun unknown = totp_command({"code", "daemon", "--colour"});
  EXPECT_EQ(unknown.exit_code, 2);
  EXPECT_EQ(
      unknown.err.rfind("authpolicy totp: unknown option --colour\nusage: authpolicy totp", 0), 0u)
      << unknown.err;
  const CommandRun missing = totp_command({"code", "daemon", "--secrets"});
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_EQ(missing.err.rfind("authpolicy totp: --secrets needs a value\nusage:", 0), 0u)
      << missing.err;
  const CommandRun flag_value = totp_command({"enroll", "daemon", "--force=yes"});
  EXPECT_EQ(flag_value.exit_code, 2);
  EXPECT_EQ(flag_value.err.rfind("authpolicy totp: --force takes no value\n", 0), 0u)
      << flag_value.err;
}

TEST_F(TotpCommand, EnrollRefusesAUserTheSystemDoesNotKnow) {
  // The module looks every user up before anything else: a secret for an unknown name (a typo)
  // could never be used.
  CommandRun run = totp_command({"enroll", "nosuchuser-ap", "--secrets", pattern(), "--no-qr"});
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_NE(run.err.find("no such user: nosuchuser-ap"), std::string::npos) << run.err;
  EXPECT_TRUE(dir_.entries().empty()) << "nothing may be written";
}

TEST_F(TotpCommand, EnrollRefusesAFolderOthersCanWrite) {
  ASSERT_EQ(chmod(dir_.path().c_str(), 0777), 0);
  CommandRun run = totp_command({"enroll", "daemon", "--secrets", pattern()});
  EXPECT_EQ(run.exit_code, 2);
  // The trust walk's own words, as for every file root writes (base/file_trust.h).
  EXPECT_NE(run.err.find(dir_.path() + " is writable by others (mode 0777)"), std::string::npos)
      << run.err;
  ASSERT_EQ(chmod(dir_.path().c_str(), 0700), 0);
}

}  // namespace
