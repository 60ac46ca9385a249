// recent(totp, 8h, rhost) through real libpam, the real totp plugin and a real audit log: the
// code is asked at the first login and not again from the same address within the window, but
// from another address, and locally, it is.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <stdexcept>
#include <filesystem>
#include <string>

#include "tests/pam/harness.h"

namespace authpolicy::pam_test {
namespace {

class PamRecent : public ::testing::Test {
 protected:
  static constexpr const char* kSecret = "JBSWY3DPEHPK3PXP";
  std::string db_;

  void SetUp() override {
    const std::string folder = std::string(Paths::run_dir()) + "/totp";
    mkdir(folder.c_str(), 0700);
    write_file(folder + "/alice", std::string(kSecret) + "\n\" TOTP_AUTH\n", 0600);
    mkdir((std::string(Paths::run_dir()) + "/audit").c_str(), 0700);
    db_ = std::string(Paths::run_dir()) + "/audit/recent-" + std::to_string(getpid()) + ".db";
    remove_log();
    write_policy(matrix_password_factor() + "factor totp { secrets = \"" + folder + "/%u\" }\n" +
                 "audit { db = \"" + db_ + "\" }\n" +
                 "auth password && (totp unless recent(totp, 8h, rhost))\n");
  }
  void TearDown() override { remove_log(); }

  // The database and every file beside it: a -wal left behind would be replayed into the next
  // test's new database of the same name (all tests of one process share the pid in the name).
  void remove_log() const {
    for (const char* suffix : {"", "-wal", "-shm", "-journal", "-spool", "-tally"}) {
      std::error_code ignored;
      std::filesystem::remove_all(db_ + suffix, ignored);  // -tally is a folder
    }
  }

  static std::string current_code() {
    const auto r = run_process({"/usr/bin/oathtool", "--totp", "-b", kSecret},
                               {{"LD_PRELOAD", ""}, {"PAM_WRAPPER", "0"}}, "");
    if (r.exit_code != 0) throw std::runtime_error("oathtool failed (apt-get install oathtool)");
    return r.output.substr(0, r.output.find('\n'));
  }

  // One login of alice; `code` empty gives only the password. Returns the PAM code and how
  // many prompts she saw.
  std::pair<int, std::size_t> login(const char* rhost, const std::string& code,
                                    const std::string& service = "ap_policy") {
    Script script(code.empty() ? std::vector<std::string>{"alice-pass"}
                               : std::vector<std::string>{"alice-pass", code});
    Session session(service, "alice", &script);
    if (rhost) session.set_item(PAM_RHOST, rhost);
    const int rc = session.authenticate();
    return {rc, script.prompts().size()};
  }
};

TEST_F(PamRecent, SecondLoginFromTheSameAddressSkipsTheCodeAnotherAddressDoesNot) {
  const auto ask_code = std::make_pair(PAM_AUTH_ERR, std::size_t{2});
  const auto skip_code = std::make_pair(PAM_SUCCESS, std::size_t{1});
  // Nothing passed yet (no log at all): the code is asked.
  EXPECT_EQ(login("203.0.113.9", ""), ask_code);
  EXPECT_EQ(login("203.0.113.9", current_code()), std::make_pair(PAM_SUCCESS, std::size_t{2}));
  // Same address within 8 h: the password alone, the code is not asked.
  EXPECT_EQ(login("203.0.113.9", ""), skip_code);
  EXPECT_EQ(login("::ffff:203.0.113.9", ""), skip_code);
  // Another address, and a local login, are not waived by that pass.
  EXPECT_EQ(login("198.51.100.4", ""), ask_code);
  EXPECT_EQ(login(nullptr, ""), ask_code);
  // A waived login did not pass the code, so it is not what the window counts from; and the
  // decisions above did not disturb the remembered pass.
  EXPECT_EQ(login("203.0.113.9", ""), skip_code);
}

TEST_F(PamRecent, AWrongPasswordAfterTheCodeIsNotRemembered) {
  // The code passes but the decision is denied (password asked after it here): not remembered.
  write_policy(matrix_password_factor() + "factor totp { secrets = \"" +
               std::string(Paths::run_dir()) + "/totp/%u\" }\n" + "audit { db = \"" + db_ +
               "\" }\n" + "auth (totp unless recent(totp, 8h, rhost)) && password\n");
  {
    Script script({current_code(), "wrong-pass"});
    Session session("ap_policy", "alice", &script);
    session.set_item(PAM_RHOST, "203.0.113.9");
    EXPECT_EQ(session.authenticate(), PAM_AUTH_ERR);
    EXPECT_EQ(script.prompts().size(), 2u);
  }
  Script script({"alice-pass"});
  Session session("ap_policy", "alice", &script);
  session.set_item(PAM_RHOST, "203.0.113.9");
  // Remembered, the first prompt would be the password and the login would pass; asked, the
  // code prompt takes the password as a code and the login is denied.
  EXPECT_EQ(session.authenticate(), PAM_AUTH_ERR) << "the code must be asked again";
  EXPECT_EQ(script.prompts().size(), 1u);
}

// `sudo` then `sudo -i`: two PAM services that `authpolicy enable sudo` wires to one policy file.
// A pass under that file counts for both; the same text in another file (a policy that may define
// its factors differently) does not share it.
TEST_F(PamRecent, ServicesOnOnePolicyFileShareThePassOthersDoNot) {
  const std::string text = read_file(current_policy_path());
  write_file(std::string(Paths::run_dir()) + "/other.pol", text);
  EXPECT_EQ(login(nullptr, current_code(), "ap_policy"),
            std::make_pair(PAM_SUCCESS, std::size_t{2}));
  EXPECT_EQ(login(nullptr, "", "ap_policy_twin"), std::make_pair(PAM_SUCCESS, std::size_t{1}))
      << "the code typed for the first service is not asked again for its twin";
  EXPECT_EQ(login(nullptr, "", "ap_policy_other_file"),
            std::make_pair(PAM_AUTH_ERR, std::size_t{2}))
      << "another policy file does not see the pass";
}

TEST_F(PamRecent, AnUnsafeLogIsUnknownAndTheCodeIsAsked) {
  EXPECT_EQ(login("203.0.113.9", current_code()), std::make_pair(PAM_SUCCESS, std::size_t{2}));
  ASSERT_EQ(chmod(db_.c_str(), 0666), 0);  // anyone could forge a pass now
  SyslogCapture capture;
  EXPECT_EQ(login("203.0.113.9", ""), std::make_pair(PAM_AUTH_ERR, std::size_t{2}));
}

}  // namespace
}  // namespace authpolicy::pam_test
