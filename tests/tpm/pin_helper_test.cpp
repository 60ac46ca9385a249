// authpolicy-pin-helper: verifies only its real user's PIN, PIN from stdin, TCTI never from caller.
#include <fcntl.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>

#include "factors/tpm/pin_backend.h"
#include "factors/tpm/pin_helper_client.h"
#include "factors/tpm/pin_store.h"
#include "tests/tpm/swtpm_fixture.h"

namespace authpolicy::tpm {
namespace {

using testing::Swtpm;

constexpr uid_t kNobody = 65534;
constexpr uid_t kOther = 4242;

class PinHelperTest : public ::testing::Test {
 protected:
  PinHelperTest() {
    TpmConfig config;
    config.tcti = swtpm_.tcti();
    store_.emplace(config);
    helper_.path = AP_PIN_HELPER_TEST_VARIANT;
    helper_.environment = {"AUTHPOLICY_TEST_TCTI=" + swtpm_.tcti()};
  }
  HelperReply run(const std::string& mode, uid_t uid, const char* pin) {
    return run_with(helper_, mode, uid, pin);
  }
  // The reply of a helper that ran; a test failure (and a tpm_error reply) when it did not.
  static HelperReply run_with(const HelperOptions& helper, const std::string& mode, uid_t uid,
                              const char* pin) {
    SecretString secret(pin ? pin : "");
    std::string error;
    const auto reply = run_pin_helper(helper, mode, uid, pin ? &secret : nullptr, &error);
    EXPECT_TRUE(reply) << error;
    return reply ? *reply : HelperReply{};
  }
  // Runs body in a child process whose real and effective ids are nobody's; returns its exit code.
  template <typename Body>
  int as_nobody(Body body) {
    const pid_t child = ::fork();
    if (child == 0) {
      if (::setgroups(0, nullptr) != 0 || ::setresgid(kNobody, kNobody, kNobody) != 0 ||
          ::setresuid(kNobody, kNobody, kNobody) != 0) {
        _exit(100);
      }
      _exit(body());
    }
    int status = 0;
    ::waitpid(child, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

  Swtpm swtpm_;
  std::optional<PinStore> store_;
  HelperOptions helper_;
};

TEST_F(PinHelperTest, VerifiesTheCallersOwnPinReadFromStdin) {
  ASSERT_EQ(store_->setup(0, SecretString("1234"), 5).result, SetupResult::created);
  EXPECT_EQ(run("verify", 0, "1234").exit, HelperExit::ok);
  const HelperReply wrong = run("verify", 0, "0000\n");
  EXPECT_EQ(wrong.exit, HelperExit::wrong);
  EXPECT_EQ(wrong.used, 1u);
  EXPECT_EQ(wrong.limit, 5u);
  const HelperReply status = run("status", 0, nullptr);
  EXPECT_EQ(status.exit, HelperExit::ok);
  EXPECT_EQ(status.used, 1u);
  EXPECT_EQ(run("verify", 0, nullptr).exit, HelperExit::usage);  // no PIN on stdin
  EXPECT_EQ(run("verify", 0, "123456789012345678901234567890123").exit, HelperExit::usage);
  EXPECT_EQ(store_->status(0).counter->used, 1u);
}

TEST_F(PinHelperTest, RefusesAnotherUsersPinAndSpendsNothing) {
  ASSERT_EQ(store_->setup(kOther, SecretString("1234"), 3).result, SetupResult::created);
  ASSERT_EQ(store_->setup(kNobody, SecretString("5678"), 3).result, SetupResult::created);
  const int code = as_nobody([this] {
    int failures = 0;
    if (run("verify", kOther, "0000").exit != HelperExit::refused) failures |= 1;
    if (run("verify", kOther, "1234").exit != HelperExit::refused) failures |= 2;
    if (run("status", kOther, nullptr).exit != HelperExit::refused) failures |= 4;
    if (run("verify", kNobody, "5678").exit != HelperExit::ok) failures |= 8;  // its own PIN
    if (run("verify", kNobody, "0000").exit != HelperExit::wrong) failures |= 16;
    return failures;
  });
  EXPECT_EQ(code, 0);
  EXPECT_EQ(store_->status(kOther).counter->used, 0u);
  EXPECT_EQ(store_->status(kNobody).counter->used, 1u);
  // Even root's helper run answers only for root.
  EXPECT_EQ(run("verify", kOther, "0000").exit, HelperExit::refused);
  EXPECT_EQ(store_->status(kOther).counter->used, 0u);
}

TEST_F(PinHelperTest, PinIsNeverTakenFromArguments) {
  ASSERT_EQ(store_->setup(0, SecretString("1234"), 5).result, SetupResult::created);
  std::string path = AP_PIN_HELPER_TEST_VARIANT;
  std::string env = "AUTHPOLICY_TEST_TCTI=" + swtpm_.tcti();
  char* argv[] = {path.data(), const_cast<char*>("verify"), const_cast<char*>("0"),
                  const_cast<char*>("1234"), nullptr};
  char* envp[] = {env.data(), nullptr};
  pid_t child;
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  ASSERT_EQ(posix_spawn(&child, path.c_str(), &actions, nullptr, argv, envp), 0);
  posix_spawn_file_actions_destroy(&actions);
  int status = 0;
  ::waitpid(child, &status, 0);
  EXPECT_EQ(WEXITSTATUS(status), static_cast<int>(HelperExit::usage));
}

TEST_F(PinHelperTest, ProductionHelperIgnoresTctiFromTheEnvironment) {
  ASSERT_EQ(store_->setup(0, SecretString("1234"), 5).result, SetupResult::created);
  HelperOptions production{
      AP_PIN_HELPER_PRODUCTION,
      {"AUTHPOLICY_TEST_TCTI=" + swtpm_.tcti(), "TPM2TOOLS_TCTI=" + swtpm_.tcti(),
       "TSS2_TCTI=" + swtpm_.tcti(), "TCTI=" + swtpm_.tcti()},
      std::chrono::milliseconds(10000)};
  const HelperReply reply = run_with(production, "verify", 0, "0000");
  // It went to its built-in device:/dev/tpmrm0 (absent here), not to the test's swtpm.
  if (!std::filesystem::exists("/dev/tpmrm0")) {
    EXPECT_EQ(reply.exit, HelperExit::tpm_error);
  }
  EXPECT_EQ(store_->status(0).counter->used, 0u);
}

TEST_F(PinHelperTest, AHelperThatCannotRunGivesItsReasonAndTheBackendATpmError) {
  HelperOptions missing{(swtpm_.state_dir() / "no-such-helper").string(), helper_.environment,
                        std::chrono::milliseconds(10000)};
  const std::string why = "pin helper: cannot run " + missing.path;
  std::string error;
  EXPECT_FALSE(run_pin_helper(missing, "status", 0, nullptr, &error));
  EXPECT_EQ(error, why);
  HelperPinBackend backend(missing);
  const PinStatus status = backend.status(0);
  EXPECT_EQ(status.state, PinStatus::State::tpm_error);
  EXPECT_EQ(status.reason, why);
  EXPECT_EQ(backend.enrolment(0).state, PinStatus::State::tpm_error);
  const VerifyOutcome outcome = backend.verify(0, SecretString("1234"));
  EXPECT_EQ(outcome.result, VerifyResult::tpm_error);
  EXPECT_EQ(outcome.reason, why);
}

TEST_F(PinHelperTest, AHelperThatDoesNotAnswerInTimeIsStopped) {
  ASSERT_EQ(store_->setup(0, SecretString("1234"), 5).result, SetupResult::created);
  HelperOptions hasty = helper_;
  hasty.timeout = std::chrono::milliseconds(300);
  swtpm_.pause();  // the helper connects and waits for an answer that does not come
  std::string error;
  SecretString pin("1234");
  EXPECT_FALSE(run_pin_helper(hasty, "verify", 0, &pin, &error));
  EXPECT_EQ(error, "pin helper: no answer in time");
  const VerifyOutcome outcome = HelperPinBackend(hasty).verify(0, pin);
  EXPECT_EQ(outcome.result, VerifyResult::tpm_error);
  EXPECT_EQ(outcome.reason, "pin helper: no answer in time");
}

TEST_F(PinHelperTest, TestVariantRefusesTheTestTctiWhenSetId) {
  // Copy the test variant, make it setgid to another group and run it as nobody.
  const auto copy = swtpm_.state_dir() / "helper-setgid";
  std::filesystem::copy_file(AP_PIN_HELPER_TEST_VARIANT, copy);
  ::chmod(swtpm_.state_dir().c_str(), 0755);
  ASSERT_EQ(::chown(copy.c_str(), 0, 0), 0);
  ASSERT_EQ(::chmod(copy.c_str(), 02755), 0);
  ASSERT_EQ(store_->setup(kNobody, SecretString("5678"), 3).result, SetupResult::created);
  HelperOptions setgid{copy.string(), helper_.environment, std::chrono::milliseconds(10000)};
  const int code = as_nobody([&] {
    SecretString pin("5678");
    std::string error;
    const auto reply = run_pin_helper(setgid, "verify", kNobody, &pin, &error);
    return reply ? static_cast<int>(reply->exit) : 99;
  });
  EXPECT_EQ(code, static_cast<int>(HelperExit::usage));
}

}  // namespace
}  // namespace authpolicy::tpm
