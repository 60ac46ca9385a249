// `authpolicy pin` through its run function on swtpm, as root and as an ordinary user.
#include "cli/pin_command.h"

#include <grp.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <deque>
#include <sstream>

#include "cli/command_registry.h"
#include "tests/tpm/swtpm_fixture.h"

namespace authpolicy::cli {
namespace {

using testing::Swtpm;

class ScriptedPins : public PinInput {
 public:
  explicit ScriptedPins(std::vector<std::string> pins, bool interactive = false)
      : pins_(pins.begin(), pins.end()), interactive_(interactive) {}
  bool interactive() const override { return interactive_; }
  std::optional<SecretString> read_pin(std::string_view prompt) override {
    prompts.emplace_back(prompt);
    if (pins_.empty()) return std::nullopt;
    SecretString pin(pins_.front());
    pins_.pop_front();
    return pin;
  }
  std::vector<std::string> prompts;

 private:
  std::deque<std::string> pins_;
  bool interactive_;
};

struct CommandRun {
  int code;
  std::string out;
  std::string err;
};

class PinCommandTest : public ::testing::Test {
 protected:
  CommandRun pin(std::vector<std::string> args, std::vector<std::string> pins = {},
                 bool interactive = false) {
    ScriptedPins input(std::move(pins), interactive);
    return pin_with(std::move(args), input);
  }
  CommandRun pin_with(std::vector<std::string> args, PinInput& input) {
    args.push_back("--tcti");
    args.push_back(swtpm_.tcti());
    std::ostringstream out, err;
    const int code = run_pin_command(args, out, err, input);
    return {code, out.str(), err.str()};
  }

  Swtpm swtpm_;
};

TEST_F(PinCommandTest, IsRegisteredAsPin) {
  EXPECT_EQ(command_registry().count("pin"), 1u);
}

TEST_F(PinCommandTest, SetupTestStatusLockoutDelete) {
  CommandRun r = pin({"setup", "root", "--max-attempts", "3"}, {"2468"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "PIN set for root (3 attempts).\n");
  std::string peer;
  EXPECT_EQ(testing::run_tpm2_tool(swtpm_.tcti(), "tpm2_nvreadpublic 0x1000000", &peer), 0);
  EXPECT_NE(peer.find("0x22060088"), std::string::npos) << peer;

  r = pin({"test", "root"}, {"2468"});
  EXPECT_EQ(r.code, 0);
  EXPECT_EQ(r.out, "PIN correct.\n");
  r = pin({"test", "root"}, {"1111"});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err, "Wrong PIN (1 of 3 attempts used).\n");
  r = pin({"status", "root"});
  EXPECT_EQ(r.code, 0);
  EXPECT_EQ(r.out, "root: PIN set up, 1 of 3 attempts used, not locked.\n");
  r = pin({"status", "root", "--json"});
  EXPECT_EQ(r.out,
            "{\"user\":\"root\",\"command\":\"status\",\"result\":\"ok\",\"enrolled\":true,"
            "\"attempts_used\":1,\"attempt_limit\":3,\"locked\":false,\"message\":\"root: PIN set "
            "up, 1 of 3 attempts used, not locked.\"}\n");

  EXPECT_EQ(pin({"test", "root"}, {"1111"}).code, 1);
  r = pin({"test", "root"}, {"1111"});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("Wrong PIN. PIN locked for root (3 of 3 attempts used)"), std::string::npos)
      << r.err;
  // Locked: said without asking for the PIN, and the right PIN does not help.
  ScriptedPins unused({"2468"});
  r = pin_with({"test", "root", "--json"}, unused);
  EXPECT_EQ(r.code, 1);
  EXPECT_TRUE(unused.prompts.empty());
  EXPECT_NE(r.out.find("\"result\":\"locked\""), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\"locked\":true"), std::string::npos) << r.out;

  r = pin({"delete", "root"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "PIN deleted for root.\n");
  r = pin({"status", "root", "--json"});
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.out.find("\"enrolled\":false"), std::string::npos);
  EXPECT_EQ(pin({"test", "root"}, {"2468"}).code, 2);
  // The peer sees no index left (tpm2_nvreadpublic of a missing index crashes in tools 5.4).
  ASSERT_EQ(testing::run_tpm2_tool(swtpm_.tcti(), "tpm2_getcap handles-nv-index", &peer), 0);
  EXPECT_EQ(peer.find("0x1000000"), std::string::npos) << peer;
}

TEST_F(PinCommandTest, UsageErrorsExitTwo) {
  EXPECT_EQ(pin({}).code, 2);
  const CommandRun help = pin({"--help"});
  EXPECT_EQ(help.code, 0);
  EXPECT_EQ(help.out.rfind("usage: authpolicy pin", 0), 0u);
  EXPECT_EQ(pin({"frobnicate"}).code, 2);
  EXPECT_EQ(pin({"setup", "--max-attempts", "0"}).code, 2);
  EXPECT_EQ(pin({"test", "--max-attempts", "3"}).code, 2);
  EXPECT_EQ(pin({"status", "root", "extra"}).code, 2);
  EXPECT_EQ(pin({"status", "no-such-user-ap"}).code, 2);
  const CommandRun bad = pin({"setup", "root"}, {"12ab"});
  EXPECT_EQ(bad.code, 2);
  EXPECT_NE(bad.err.find("digits"), std::string::npos);
  EXPECT_EQ(pin({"setup", "root"}, {"123"}).code, 2);
  EXPECT_EQ(pin({"status", "root", "--json"}).out.find("\"enrolled\":false") != std::string::npos,
            true);
}

// pin reads its arguments as every authpolicy command does (cli/args.h): --help anywhere,
// --opt=VALUE, and usage errors worded "authpolicy pin: why" followed by the usage.
TEST_F(PinCommandTest, ReadsArgumentsLikeEveryCommand) {
  for (const char* help : {"--help", "-h"}) {
    const CommandRun r = pin({"status", "root", help});
    EXPECT_EQ(r.code, 0) << help;
    EXPECT_EQ(r.out.rfind("usage: authpolicy pin", 0), 0u) << r.out;
    EXPECT_EQ(r.err, "");
  }
  const CommandRun help_word = pin({"help"});  // as "authpolicy totp help" and "u2f help"
  EXPECT_EQ(help_word.code, 0);
  EXPECT_EQ(help_word.out.rfind("usage: authpolicy pin", 0), 0u) << help_word.out;
  // --tcti=STRING is --tcti STRING: status reaches the software TPM and answers.
  ScriptedPins none({}, false);
  std::ostringstream out, err;
  EXPECT_EQ(
      run_pin_command({"status", "root", "--json", "--tcti=" + swtpm_.tcti()}, out, err, none), 0)
      << err.str();
  EXPECT_NE(out.str().find("\"enrolled\":false"), std::string::npos) << out.str();

  const CommandRun unknown = pin({"status", "--colour"});
  EXPECT_EQ(unknown.code, 2);
  EXPECT_EQ(unknown.err.rfind("authpolicy pin: unknown option --colour\nusage: authpolicy pin", 0),
            0u)
      << unknown.err;
  std::ostringstream missing_out, missing_err;
  EXPECT_EQ(run_pin_command({"status", "--tcti"}, missing_out, missing_err, none), 2);
  EXPECT_EQ(missing_err.str().rfind("authpolicy pin: --tcti needs a value\nusage:", 0), 0u)
      << missing_err.str();
  const CommandRun flag_value = pin({"status", "--json=yes"});
  EXPECT_EQ(flag_value.code, 2);
  EXPECT_EQ(flag_value.err.rfind("authpolicy pin: --json takes no value\n", 0), 0u)
      << flag_value.err;
}

TEST_F(PinCommandTest, SetupTwiceIsRefusedAndChangeReplacesThePin) {
  ASSERT_EQ(pin({"setup", "root"}, {"1234"}).code, 0);
  EXPECT_EQ(pin({"setup", "root"}, {"5678"}).code, 2);
  // On a terminal the new PIN is asked twice and must match.
  CommandRun r = pin({"change", "root"}, {"5678", "5679"}, true);
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("differ"), std::string::npos);
  r = pin({"change", "root"}, {"5678", "5678"}, true);  // root needs no current PIN
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(pin({"test", "root"}, {"1234"}).code, 1);
  EXPECT_EQ(pin({"test", "root"}, {"5678"}).code, 0);
}

// An index at the user's place that PIN setup did not make is left alone by change, as by
// delete: nothing is replaced, so `change` must not say the PIN changed.
TEST_F(PinCommandTest, ChangeLeavesAnIndexThatIsNotAPinAloneAndSaysSo) {
  std::string out;
  ASSERT_EQ(testing::run_tpm2_tool(swtpm_.tcti(),
                                   "tpm2_nvdefine 0x1000000 -C o -s 8 -a 'ownerread|ownerwrite'",
                                   &out),
            0)
      << out;
  CommandRun r = pin({"change", "root"}, {"5678"});
  EXPECT_EQ(r.code, 2) << r.out << r.err;
  EXPECT_EQ(r.out.find("PIN changed"), std::string::npos) << r.out;
  EXPECT_NE(r.err.find("is not a PIN index; left alone"), std::string::npos) << r.err;
  EXPECT_EQ(pin({"test", "root"}, {"5678"}).code, 2) << "the new PIN must not work";
  r = pin({"status", "root"});
  EXPECT_NE((r.out + r.err).find("altered"), std::string::npos) << r.out << r.err;
}

TEST_F(PinCommandTest, UnreachableTpmExitsTwo) {
  swtpm_.kill();
  const CommandRun r = pin({"status", "root"});
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(r.err.rfind("TPM error: ", 0), 0u) << r.err;
}

TEST_F(PinCommandTest, OwnerPasswordWithoutItsFileIsReportedAsATpmError) {
  ASSERT_EQ(pin({"setup", "root"}, {"1234"}).code, 0);
  std::string out;
  ASSERT_EQ(testing::run_tpm2_tool(swtpm_.tcti(), "tpm2_changeauth -c o s3cret", &out), 0) << out;
  const std::string why =
      "TPM error: owner authorisation: the TPM owner has a password; set tpm { owner_auth_file = "
      "… }\n";
  CommandRun r = pin({"delete", "root"});
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(r.err, why);
  r = pin({"change", "root"}, {"5678"});
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(r.err, why);
  // The PIN is still there and still the old one.
  EXPECT_EQ(pin({"test", "root"}, {"1234"}).code, 0);
}

TEST_F(PinCommandTest, OrdinaryUserManagesOnlyTheirOwnPin) {
  ASSERT_EQ(pin({"setup", "root"}, {"1234"}).code, 0);
  ASSERT_EQ(pin({"setup", "nobody"}, {"4321"}).code, 0);
  const pid_t child = ::fork();
  if (child == 0) {
    if (::setgroups(0, nullptr) != 0 || ::setresgid(65534, 65534, 65534) != 0 ||
        ::setresuid(65534, 65534, 65534) != 0) {
      _exit(100);
    }
    int failures = 0;
    if (pin({"test", "root"}, {"1234"}).code != 2) failures |= 1;  // another user's PIN
    if (pin({"delete", "root"}).code != 2) failures |= 2;
    if (pin({"test"}, {"4321"}).code != 0) failures |= 4;            // their own
    if (pin({"change"}, {"0000", "8642"}).code != 1) failures |= 8;  // wrong current PIN
    if (pin({"change"}, {"4321", "8642"}).code != 0) failures |= 16;
    if (pin({"delete"}, {"1111"}).code != 1) failures |= 32;
    if (pin({"delete"}, {"8642"}).code != 0) failures |= 64;
    _exit(failures);
  }
  int status = 0;
  ::waitpid(child, &status, 0);
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_EQ(pin({"test", "root"}, {"1234"}).code, 0);  // untouched
  EXPECT_NE(pin({"status", "nobody"}).out.find("no PIN"), std::string::npos);
}

TEST_F(PinCommandTest, PinsComeFromStandardInputWhenItIsNotATerminal) {
  int pipe_fds[2];
  ASSERT_EQ(::pipe(pipe_fds), 0);
  const std::string lines = "1357\n1357\n2468\n";
  ASSERT_EQ(::write(pipe_fds[1], lines.data(), lines.size()), static_cast<ssize_t>(lines.size()));
  ::close(pipe_fds[1]);
  const int saved_stdin = ::dup(STDIN_FILENO);
  ::dup2(pipe_fds[0], STDIN_FILENO);
  ::close(pipe_fds[0]);
  std::ostringstream out, err;
  const std::vector<std::string> tcti = {"--tcti", swtpm_.tcti()};
  auto run = [&](std::vector<std::string> args) {
    args.insert(args.end(), tcti.begin(), tcti.end());
    return run_pin_command(args, out, err);
  };
  const int setup = run({"setup", "root"});  // one line: no repeat when not a terminal
  const int right = run({"test", "root"});
  const int wrong = run({"test", "root"});
  const int eof = run({"test", "root"});
  ::dup2(saved_stdin, STDIN_FILENO);
  ::close(saved_stdin);
  EXPECT_EQ(setup, 0) << err.str();
  EXPECT_EQ(right, 0) << err.str();
  EXPECT_EQ(wrong, 1) << err.str();
  EXPECT_EQ(eof, 2) << err.str();
  EXPECT_EQ(out.str().find("1357"), std::string::npos);
  EXPECT_EQ(err.str().find("1357"), std::string::npos);
}

}  // namespace
}  // namespace authpolicy::cli
