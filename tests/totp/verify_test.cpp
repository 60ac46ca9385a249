// Verification against real files: window edges, replay, scratch codes, rate limit, malformed
// and unsafe files, atomic update, and several processes racing for one code.
#include <gtest/gtest.h>
#include <pwd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>

#include "factors/totp/secret_files.h"
#include "factors/totp/totp_store.h"
#include "test_support.h"

namespace {

using authpolicy::totp::Verdict;
using totp_test::code_for;
using totp_test::kSecret;

constexpr std::int64_t kNow = 1700000015;  // mid-step: step 56666667 began at 1700000010

class TotpVerify : public ::testing::Test {
 protected:
  void SetUp() override { config_.secrets = dir_.path() + "/%u"; }

  void enrol(const std::string& user, const std::string& options = "\" TOTP_AUTH\n",
             mode_t mode = 0600) {
    totp_test::write_file(dir_.file(user), kSecret + "\n" + options, mode);
  }
  authpolicy::totp::Verification verify(const std::string& user, const std::string& code,
                                        std::int64_t now = kNow) {
    return authpolicy::totp::verify_code(config_, user, code, now);
  }
  std::optional<authpolicy::totp::GoogleAuthFile> parsed(const std::string& user) {
    std::string error;
    auto file =
        authpolicy::totp::parse_google_auth_file(totp_test::read_file(dir_.file(user)), &error);
    EXPECT_TRUE(file) << error;
    return file;
  }

  totp_test::TempDir dir_;
  authpolicy::totp::TotpConfig config_;
};

TEST_F(TotpVerify, AcceptsTheCurrentCode) {
  enrol("alice");
  auto result = verify("alice", code_for(kSecret, kNow));
  EXPECT_EQ(result.verdict, Verdict::accepted) << result.detail;
}

TEST_F(TotpVerify, AcceptsCodesTypedWithSpaces) {
  enrol("alice");
  std::string code = code_for(kSecret, kNow);
  EXPECT_EQ(verify("alice", code.substr(0, 3) + " " + code.substr(3)).verdict, Verdict::accepted);
}

TEST_F(TotpVerify, WindowAcceptsExactlyOneStepEitherSideAndNotTwo) {
  for (int offset : {-1, 1}) {
    enrol("alice");
    EXPECT_EQ(verify("alice", code_for(kSecret, kNow + 30 * offset)).verdict, Verdict::accepted)
        << "offset " << offset;
  }
  for (int offset : {-2, 2}) {
    enrol("alice");
    EXPECT_EQ(verify("alice", code_for(kSecret, kNow + 30 * offset)).verdict, Verdict::wrong_code)
        << "offset " << offset;
  }
}

TEST_F(TotpVerify, WindowSizeInTheFileIsTheTotalNumberOfCodes) {
  // WINDOW_SIZE 5 = the current code and two either side.
  for (int offset : {-2, 2}) {
    enrol("alice", "\" TOTP_AUTH\n\" WINDOW_SIZE 5\n");
    EXPECT_EQ(verify("alice", code_for(kSecret, kNow + 30 * offset)).verdict, Verdict::accepted)
        << "offset " << offset;
  }
  for (int offset : {-3, 3}) {
    enrol("alice", "\" TOTP_AUTH\n\" WINDOW_SIZE 5\n");
    EXPECT_EQ(verify("alice", code_for(kSecret, kNow + 30 * offset)).verdict, Verdict::wrong_code)
        << "offset " << offset;
  }
  // WINDOW_SIZE 1 = only the current code.
  enrol("alice", "\" WINDOW_SIZE 1\n");
  EXPECT_EQ(verify("alice", code_for(kSecret, kNow - 30)).verdict, Verdict::wrong_code);
  EXPECT_EQ(verify("alice", code_for(kSecret, kNow)).verdict, Verdict::accepted);
}

TEST_F(TotpVerify, WindowSettingAppliesWhenTheFileHasNoWindowSize) {
  config_.window = 0;
  enrol("alice");
  EXPECT_EQ(verify("alice", code_for(kSecret, kNow + 30)).verdict, Verdict::wrong_code);
  config_.window = 3;
  EXPECT_EQ(verify("alice", code_for(kSecret, kNow + 90)).verdict, Verdict::accepted);
}

TEST_F(TotpVerify, ReplayOfTheSameCodeIsRefused) {
  enrol("alice", "\" TOTP_AUTH\n\" DISALLOW_REUSE\n");
  std::string code = code_for(kSecret, kNow);
  EXPECT_EQ(verify("alice", code).verdict, Verdict::accepted);
  auto again = verify("alice", code, kNow + 5);
  EXPECT_EQ(again.verdict, Verdict::replayed);
  EXPECT_EQ(again.detail, "replayed code");
  auto file = parsed("alice");
  ASSERT_TRUE(file);
  EXPECT_EQ(file->used_steps, std::vector<std::uint64_t>{56666667});
}

TEST_F(TotpVerify, ReplayIsRefusedEvenWithoutDisallowReuseInTheFile) {
  enrol("alice");  // no DISALLOW_REUSE: authpolicy records the step anyway and adds the line
  std::string code = code_for(kSecret, kNow);
  EXPECT_EQ(verify("alice", code).verdict, Verdict::accepted);
  EXPECT_EQ(verify("alice", code).verdict, Verdict::replayed);
  EXPECT_NE(totp_test::read_file(dir_.file("alice")).find("\" DISALLOW_REUSE 56666667\n"),
            std::string::npos);
}

TEST_F(TotpVerify, AnOlderCodeAfterANewerOneIsRefused) {
  enrol("alice");
  EXPECT_EQ(verify("alice", code_for(kSecret, kNow + 30)).verdict, Verdict::accepted);
  EXPECT_EQ(verify("alice", code_for(kSecret, kNow)).verdict, Verdict::replayed);
  // The next step's code is fine once it comes.
  EXPECT_EQ(verify("alice", code_for(kSecret, kNow + 60), kNow + 60).verdict, Verdict::accepted);
}

TEST_F(TotpVerify, ScratchCodeWorksOnceAndIsRemovedFromTheFile) {
  enrol("alice", "\" TOTP_AUTH\n11112222\n33334444\n");
  auto result = verify("alice", "33334444");
  EXPECT_EQ(result.verdict, Verdict::accepted_scratch);
  EXPECT_EQ(totp_test::read_file(dir_.file("alice")), kSecret + "\n\" TOTP_AUTH\n11112222\n");
  EXPECT_EQ(verify("alice", "33334444").verdict, Verdict::wrong_code);
  EXPECT_EQ(verify("alice", "11112222").verdict, Verdict::accepted_scratch);
  EXPECT_EQ(verify("alice", "99998888").verdict, Verdict::wrong_code);
}

TEST_F(TotpVerify, RateLimitRefusesEvenTheRightCodeUntilAttemptsAge) {
  enrol("alice", "\" TOTP_AUTH\n\" RATE_LIMIT 3 30\n");
  EXPECT_EQ(verify("alice", "000000", kNow).verdict, Verdict::wrong_code);
  EXPECT_EQ(verify("alice", "000001", kNow + 1).verdict, Verdict::wrong_code);
  EXPECT_EQ(verify("alice", "000002", kNow + 2).verdict, Verdict::wrong_code);
  auto limited = verify("alice", code_for(kSecret, kNow + 3), kNow + 3);
  EXPECT_EQ(limited.verdict, Verdict::rate_limited);
  EXPECT_EQ(limited.detail, "rate limited");
  EXPECT_EQ(verify("alice", code_for(kSecret, kNow + 40), kNow + 40).verdict, Verdict::accepted);
}

// How long to wait, exactly: until the oldest attempt that still blocks leaves the window. The
// attempt that uses the last try already says it, and a read-only look says it without
// spending anything.
TEST_F(TotpVerify, RateLimitSaysHowLongToWaitAndPeekingSpendsNothing) {
  namespace totp = authpolicy::totp;
  enrol("alice", "\" TOTP_AUTH\n\" RATE_LIMIT 3 30\n");
  EXPECT_EQ(totp::check_enrolment(config_, "alice", kNow).rate_limit_wait, 0);
  EXPECT_EQ(verify("alice", "000000", kNow).rate_limit_wait, 0);
  EXPECT_EQ(verify("alice", "000001", kNow + 1).rate_limit_wait, 0);
  const auto last = verify("alice", "000002", kNow + 2);
  EXPECT_EQ(last.verdict, Verdict::wrong_code);
  EXPECT_EQ(last.rate_limit_wait, 28);  // kNow + 30 - (kNow + 2)
  const std::string before = totp_test::read_file(dir_.file("alice"));
  EXPECT_EQ(totp::check_enrolment(config_, "alice", kNow + 10).rate_limit_wait, 20);
  EXPECT_EQ(totp::check_enrolment(config_, "alice").rate_limit_wait, 0) << "no time, no look";
  EXPECT_EQ(totp_test::read_file(dir_.file("alice")), before) << "a look writes nothing";
  EXPECT_EQ(verify("alice", "000003", kNow + 29).rate_limit_wait, 1);
  // At kNow + 30 the first attempt leaves the window; the second blocks until kNow + 31.
  EXPECT_EQ(totp::check_enrolment(config_, "alice", kNow + 30).rate_limit_wait, 0);
  const auto fourth = verify("alice", "000004", kNow + 30);
  EXPECT_EQ(fourth.verdict, Verdict::wrong_code);
  EXPECT_EQ(fourth.rate_limit_wait, 1);
  // Attempt times out of order (a clock set back) still give the earliest release.
  enrol("bob", "\" TOTP_AUTH\n\" RATE_LIMIT 2 60 " + std::to_string(kNow - 5) + " " +
                   std::to_string(kNow - 50) + " " + std::to_string(kNow - 20) + "\n");
  EXPECT_EQ(totp::check_enrolment(config_, "bob", kNow).rate_limit_wait, 40);  // kNow - 20 + 60
}

TEST_F(TotpVerify, WrongAndMalformedInputIsAWrongCode) {
  enrol("alice");
  for (const char* code : {"", "12345", "1234567", "abcdef", "12345678901"}) {
    EXPECT_EQ(verify("alice", code).verdict, Verdict::wrong_code) << "'" << code << "'";
  }
}

TEST_F(TotpVerify, NoFileMeansNotEnrolled) {
  EXPECT_EQ(verify("nobody-here", "123456").verdict, Verdict::not_enrolled);
  EXPECT_EQ(authpolicy::totp::check_enrolment(config_, "nobody-here").status,
            authpolicy::totp::EnrolmentStatus::not_enrolled);
  config_.secrets = dir_.path() + "/missing-folder/%u";
  EXPECT_EQ(authpolicy::totp::check_enrolment(config_, "alice").status,
            authpolicy::totp::EnrolmentStatus::not_enrolled);
}

TEST_F(TotpVerify, MalformedFilesAreErrorsWithTheLine) {
  enrol("alice", "\" TOTP_AUTH\n\" SOMETHING_NEW\n");
  auto result = verify("alice", code_for(kSecret, kNow));
  EXPECT_EQ(result.verdict, Verdict::malformed);
  EXPECT_EQ(result.detail, "malformed secret file: line 3: unknown option SOMETHING_NEW");
  auto check = authpolicy::totp::check_enrolment(config_, "alice");
  EXPECT_EQ(check.status, authpolicy::totp::EnrolmentStatus::error);
  totp_test::write_file(dir_.file("bob"), "");
  EXPECT_EQ(verify("bob", "123456").verdict, Verdict::malformed);
}

TEST_F(TotpVerify, GroupOrOtherAccessIsRefused) {
  for (mode_t mode : {0640, 0604, 0620, 0602, 0660}) {
    enrol("alice", "\" TOTP_AUTH\n", mode);
    auto result = verify("alice", code_for(kSecret, kNow));
    EXPECT_EQ(result.verdict, Verdict::error) << std::oct << mode;
    EXPECT_NE(result.detail.find("must not be accessible by group or others"), std::string::npos)
        << result.detail;
    EXPECT_EQ(authpolicy::totp::check_enrolment(config_, "alice").status,
              authpolicy::totp::EnrolmentStatus::error);
  }
  enrol("alice", "\" TOTP_AUTH\n", 0400);  // read-only for root is fine, and stays so
  EXPECT_EQ(verify("alice", code_for(kSecret, kNow)).verdict, Verdict::accepted);
  struct stat info {};
  ASSERT_EQ(stat(dir_.file("alice").c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 07777, 0400u);
}

TEST_F(TotpVerify, FileOwnedBySomeoneElseIsRefusedButTheUsersOwnIsFine) {
  ASSERT_EQ(geteuid(), 0u) << "ownership tests need root (CI runs as root)";
  struct passwd* nobody = getpwnam("nobody");
  ASSERT_NE(nobody, nullptr) << "needs the 'nobody' account";
  enrol("alice");
  ASSERT_EQ(chown(dir_.file("alice").c_str(), nobody->pw_uid, nobody->pw_gid), 0);
  auto result = verify("alice", code_for(kSecret, kNow));
  EXPECT_EQ(result.verdict, Verdict::error);
  EXPECT_NE(result.detail.find("is owned by uid " + std::to_string(nobody->pw_uid)), std::string::npos);

  enrol("nobody");
  ASSERT_EQ(chown(dir_.file("nobody").c_str(), nobody->pw_uid, nobody->pw_gid), 0);
  EXPECT_EQ(verify("nobody", code_for(kSecret, kNow)).verdict, Verdict::accepted);
  struct stat info {};
  ASSERT_EQ(stat(dir_.file("nobody").c_str(), &info), 0);
  EXPECT_EQ(info.st_uid, nobody->pw_uid) << "the rewritten file keeps its owner";
}

TEST_F(TotpVerify, SymlinksDirectoriesAndUnsafeFoldersAreRefused) {
  enrol("real");
  ASSERT_EQ(symlink(dir_.file("real").c_str(), dir_.file("alice").c_str()), 0);
  auto result = verify("alice", code_for(kSecret, kNow));
  EXPECT_EQ(result.verdict, Verdict::error);
  EXPECT_NE(result.detail.find("symbolic link"), std::string::npos);

  ASSERT_EQ(mkdir(dir_.file("bob").c_str(), 0700), 0);
  EXPECT_EQ(verify("bob", "123456").verdict, Verdict::error);

  ASSERT_EQ(chmod(dir_.path().c_str(), 0777), 0);
  result = verify("real", code_for(kSecret, kNow));
  EXPECT_EQ(result.verdict, Verdict::error);
  EXPECT_NE(result.detail.find("is writable by others (mode 0777)"), std::string::npos)
      << result.detail;
  ASSERT_EQ(chmod(dir_.path().c_str(), 0700), 0);
}

// Issue #21 H1: the file is rewritten after every code, so the way to its folder may follow
// root's symlinks only. A per-user secret reached through the user's own symlink (here to a root
// folder holding a root file of that name, which would otherwise be replaced by hers) is refused
// and nothing is written; the same file through the real folder is used.
TEST_F(TotpVerify, SecretBehindTheUsersOwnSymlinkIsRefusedAndNothingIsWritten) {
  const passwd* nobody = getpwnam("nobody");
  ASSERT_NE(nobody, nullptr);
  ASSERT_EQ(chmod(dir_.path().c_str(), 0755), 0);
  ASSERT_EQ(mkdir(dir_.file("home").c_str(), 0755), 0);
  ASSERT_EQ(mkdir(dir_.file("home/real").c_str(), 0700), 0);
  ASSERT_EQ(mkdir(dir_.file("rootdir").c_str(), 0755), 0);
  for (const char* folder : {"home", "home/real"}) {
    ASSERT_EQ(chown(dir_.file(folder).c_str(), nobody->pw_uid, nobody->pw_gid), 0);
  }
  totp_test::write_file(dir_.file("home/real/nobody"), kSecret + "\n\" TOTP_AUTH\n", 0600);
  ASSERT_EQ(chown(dir_.file("home/real/nobody").c_str(), nobody->pw_uid, nobody->pw_gid), 0);
  totp_test::write_file(dir_.file("rootdir/nobody"), kSecret + "\n\" TOTP_AUTH\n", 0600);
  ASSERT_EQ(symlink(dir_.file("rootdir").c_str(), dir_.file("home/link").c_str()), 0);
  ASSERT_EQ(lchown(dir_.file("home/link").c_str(), nobody->pw_uid, nobody->pw_gid), 0);
  struct stat before {};
  ASSERT_EQ(stat(dir_.file("rootdir/nobody").c_str(), &before), 0);

  config_.secrets = dir_.file("home/link") + "/%u";
  auto result = verify("nobody", code_for(kSecret, kNow));
  EXPECT_EQ(result.verdict, Verdict::error);
  EXPECT_NE(result.detail.find("reached through root's symbolic links only"), std::string::npos)
      << result.detail;
  struct stat after {};
  ASSERT_EQ(stat(dir_.file("rootdir/nobody").c_str(), &after), 0);
  EXPECT_EQ(after.st_ino, before.st_ino) << "the root folder's file was replaced";
  EXPECT_EQ(after.st_uid, 0u);

  config_.secrets = dir_.file("home/real") + "/%u";
  EXPECT_EQ(verify("nobody", code_for(kSecret, kNow)).verdict, Verdict::accepted);
}

TEST_F(TotpVerify, UserNamesThatCouldEscapeTheFolderAreRefused) {
  for (const char* user : {"../alice", "a/b", "..", "", "al ice", "al%uce"}) {
    EXPECT_EQ(verify(user, "123456").verdict, Verdict::error) << "'" << user << "'";
  }
}

TEST_F(TotpVerify, UpdateIsAtomicAndLeavesNoTemporaryFiles) {
  enrol("alice");
  struct stat before {
  }, after{};
  ASSERT_EQ(stat(dir_.file("alice").c_str(), &before), 0);
  EXPECT_EQ(verify("alice", code_for(kSecret, kNow)).verdict, Verdict::accepted);
  ASSERT_EQ(stat(dir_.file("alice").c_str(), &after), 0);
  EXPECT_NE(before.st_ino, after.st_ino) << "replaced by rename, not edited in place";
  EXPECT_EQ(after.st_mode & 07777, 0600u);
  EXPECT_EQ(dir_.entries(), std::vector<std::string>{"alice"});
}

// Forks `count` processes that all verify at once (released together through a pipe), and
// returns their verdicts.
std::vector<Verdict> race(const authpolicy::totp::TotpConfig& config, const std::string& user,
                          const std::vector<std::string>& codes) {
  int gate[2];
  EXPECT_EQ(pipe(gate), 0);
  std::vector<pid_t> children;
  for (const std::string& code : codes) {
    pid_t pid = fork();
    if (pid == 0) {
      close(gate[1]);
      char go = 0;
      if (read(gate[0], &go, 1) != 1) _exit(100);
      auto result = authpolicy::totp::verify_code(config, user, code, kNow);
      _exit(static_cast<int>(result.verdict));
    }
    children.push_back(pid);
  }
  close(gate[0]);
  std::string go(codes.size(), 'x');
  EXPECT_EQ(write(gate[1], go.data(), go.size()), static_cast<ssize_t>(go.size()));
  close(gate[1]);
  std::vector<Verdict> verdicts;
  for (pid_t pid : children) {
    int status = 0;
    waitpid(pid, &status, 0);
    EXPECT_TRUE(WIFEXITED(status));
    verdicts.push_back(static_cast<Verdict>(WEXITSTATUS(status)));
  }
  return verdicts;
}

TEST_F(TotpVerify, ConcurrentProcessesWithTheSameCodeExactlyOneSucceeds) {
  for (int round = 0; round < 3; ++round) {
    enrol("alice");
    auto verdicts = race(config_, "alice", std::vector<std::string>(8, code_for(kSecret, kNow)));
    EXPECT_EQ(std::count(verdicts.begin(), verdicts.end(), Verdict::accepted), 1)
        << "round " << round;
    EXPECT_EQ(std::count(verdicts.begin(), verdicts.end(), Verdict::replayed), 7)
        << "round " << round;
    EXPECT_TRUE(parsed("alice"));
    EXPECT_EQ(dir_.entries(), std::vector<std::string>{"alice"});
  }
}

TEST_F(TotpVerify, ConcurrentScratchCodesAreAllConsumedWithoutLostUpdates) {
  enrol("alice", "\" TOTP_AUTH\n10000001\n10000002\n10000003\n10000004\n10000005\n10000006\n");
  auto verdicts = race(config_, "alice",
                       {"10000001", "10000002", "10000003", "10000004", "10000005", "10000006"});
  EXPECT_EQ(std::count(verdicts.begin(), verdicts.end(), Verdict::accepted_scratch), 6);
  auto file = parsed("alice");
  ASSERT_TRUE(file);
  EXPECT_TRUE(file->scratch_codes.empty());
}

TEST_F(TotpVerify, SettingsDigitsAndAlgorithmApplyUnlessTheFileSaysOtherwise) {
  config_.digits = 8;
  config_.algorithm = authpolicy::totp::HashAlgorithm::sha256;
  enrol("alice");
  EXPECT_EQ(
      verify("alice", code_for(kSecret, kNow, authpolicy::totp::HashAlgorithm::sha256, 8)).verdict,
      Verdict::accepted);
  enrol("bob", "\" ALGORITHM SHA512\n\" DIGITS 7\n\" STEP_SIZE 60\n");
  EXPECT_EQ(verify("bob", code_for(kSecret, kNow, authpolicy::totp::HashAlgorithm::sha512, 7, 60))
                .verdict,
            Verdict::accepted);
}

TEST_F(TotpVerify, CurrentCodeMatchesOathtool) {
  enrol("alice");
  std::string error;
  auto code = authpolicy::totp::current_code(config_, "alice", kNow, &error);
  ASSERT_TRUE(code) << error;
  EXPECT_EQ(code->view(), totp_test::oathtool_totp(totp_test::hex_of_base32(kSecret), kNow,
                                                   authpolicy::totp::HashAlgorithm::sha1, 6));
}

TEST(TotpPaths, UserFilesNeedAllowUserFiles) {
  authpolicy::totp::TotpConfig config;
  config.secrets = "~/.google_authenticator";
  std::string error;
  EXPECT_FALSE(authpolicy::totp::secret_path_for(config, "root", &error));
  config.allow_user_files = true;
  struct passwd* root = getpwnam("root");
  ASSERT_NE(root, nullptr);
  EXPECT_EQ(authpolicy::totp::secret_path_for(config, "root", &error),
            std::string(root->pw_dir) + "/.google_authenticator");
  config.secrets = "%h/.config/totp-%u";
  EXPECT_EQ(authpolicy::totp::secret_path_for(config, "root", &error),
            std::string(root->pw_dir) + "/.config/totp-root");
  // A user without an account has no home folder, so no enrolment there.
  EXPECT_EQ(authpolicy::totp::check_enrolment(config, "no-such-user-xyz").status,
            authpolicy::totp::EnrolmentStatus::not_enrolled);
}

class TotpOathVerify : public ::testing::Test {
 protected:
  void SetUp() override {
    config_.format = authpolicy::totp::SecretFormat::oath;
    config_.secrets = dir_.file("users.oath");
    totp_test::write_file(config_.secrets, "# users\nHOTP/T30/6 alice - " + kHex +
                                               "\nHOTP/T60/8 bob - " + kHex + "\n");
  }
  const std::string kHex = totp_test::hex_of_base32(kSecret);
  totp_test::TempDir dir_;
  authpolicy::totp::TotpConfig config_;
};

TEST_F(TotpOathVerify, OathtoolCodeIsAcceptedOnceAndOnlyThatUsersLineChanges) {
  std::string code =
      totp_test::oathtool_totp(kHex, kNow, authpolicy::totp::HashAlgorithm::sha1, 8, 60);
  auto result = authpolicy::totp::verify_code(config_, "bob", code, kNow);
  EXPECT_EQ(result.verdict, Verdict::accepted) << result.detail;
  std::string text = totp_test::read_file(config_.secrets);
  EXPECT_TRUE(text.starts_with("# users\nHOTP/T30/6 alice - " + kHex + "\nHOTP/T60/8 bob - " +
                               kHex + " " + std::to_string(kNow / 60) + " " + code + " "))
      << text;
  EXPECT_EQ(authpolicy::totp::verify_code(config_, "bob", code, kNow).verdict, Verdict::replayed);
  EXPECT_EQ(authpolicy::totp::verify_code(config_, "alice", code_for(kSecret, kNow), kNow).verdict,
            Verdict::accepted);
  EXPECT_EQ(authpolicy::totp::verify_code(config_, "carol", "123456", kNow).verdict,
            Verdict::not_enrolled);
}

TEST_F(TotpOathVerify, SharedUsersFileMustBeRootOwnedAndPrivate) {
  ASSERT_EQ(chmod(config_.secrets.c_str(), 0644), 0);
  EXPECT_EQ(authpolicy::totp::verify_code(config_, "alice", code_for(kSecret, kNow), kNow).verdict,
            Verdict::error);
  ASSERT_EQ(chmod(config_.secrets.c_str(), 0600), 0);
  struct passwd* nobody = getpwnam("nobody");
  ASSERT_NE(nobody, nullptr);
  ASSERT_EQ(chown(config_.secrets.c_str(), nobody->pw_uid, 0), 0);
  // Even for the user "nobody": one user must not own everyone's secrets.
  EXPECT_EQ(authpolicy::totp::check_enrolment(config_, "nobody").status,
            authpolicy::totp::EnrolmentStatus::error);
}

}  // namespace
