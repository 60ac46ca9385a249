// A policy that cannot be used (missing, broken, unsafe) on real libpam: refused, but never
// silently: one line on screen, a decision with its cause in the audit log, and no account-phase
// lockout of root acting as root.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "audit/audit_store.h"
#include "tests/pam/harness.h"

namespace authpolicy::pam_test {
namespace {

constexpr const char* kMessage = "authentication policy unavailable \u2014 see the system log";

class PamUnavailable : public ::testing::Test {
 protected:
  void SetUp() override {
    // run/common.pol names the log failures go to: the folder of the policies in these stacks.
    static int serial = 0;
    db_ = std::string(Paths::run_dir()) + "/audit/unavailable-" + std::to_string(getpid()) + "-" +
          std::to_string(++serial) + ".db";
    write_file(std::string(Paths::run_dir()) + "/common.pol", "audit { db = \"" + db_ + "\" }\n");
    write_policy("auth password &&\n");  // a syntax error
  }
  void TearDown() override { write_common_settings(); }

  std::vector<audit::StoredDecision> decisions() const {
    std::vector<audit::StoredDecision> rows;
    audit::OpenOptions options;
    options.read_only = true;
    options.create_if_missing = false;
    auto opened = audit::AuditStore::open(db_, options);
    if (!opened.store) return rows;
    opened.store->list(audit::DecisionFilter{}, &rows);
    return rows;
  }

  static std::size_t errors_shown(const Script& script) {
    std::size_t count = 0;
    for (const auto& [kind, text] : script.shown) {
      if (kind == "error" && text == kMessage) ++count;
    }
    return count;
  }

  std::string db_;
};

TEST_F(PamUnavailable, BrokenPolicyIsOneLineOnScreenAndADenyInTheAuditLog) {
  Script script({"alice-pass"});
  Session session("ap_policy", "alice", &script);
  EXPECT_EQ(session.authenticate(), PAM_AUTH_ERR);
  EXPECT_TRUE(script.prompts().empty()) << "nothing may be asked under an unusable policy";
  EXPECT_EQ(errors_shown(script), 1u);
  EXPECT_EQ(script.shown.size(), 1u);
  const auto rows = decisions();
  ASSERT_EQ(rows.size(), 1u) << "the refusal must be in the audit log";
  EXPECT_EQ(rows[0].record.decision, "deny");
  EXPECT_EQ(rows[0].record.service, "ap_policy");
  EXPECT_EQ(rows[0].record.user, "alice");
  EXPECT_EQ(rows[0].record.policy_path, current_policy_path());
  EXPECT_NE(rows[0].record.reason.find("policy unavailable: cannot use policy"), std::string::npos)
      << rows[0].record.reason;
}

TEST_F(PamUnavailable, UnsafePolicyAndMissingPolicyAreRecordedWithTheirCause) {
  write_policy(matrix_password_factor() + "auth password\n", 0666);
  {
    Script script({"alice-pass"});
    Session session("ap_policy", "alice", &script);
    EXPECT_EQ(session.authenticate(), PAM_AUTH_ERR);
    EXPECT_EQ(errors_shown(script), 1u);
  }
  {
    Script script({"alice-pass"});
    Session session("ap_missing_fail", "bob", &script);
    EXPECT_EQ(session.authenticate(), PAM_AUTH_ERR);
    EXPECT_EQ(errors_shown(script), 1u);
  }
  const auto rows = decisions();  // newest first
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].record.user, "bob");
  EXPECT_NE(rows[0].record.reason.find("no policy file (missing=fail)"), std::string::npos)
      << rows[0].record.reason;
  EXPECT_EQ(rows[1].record.user, "alice");
  EXPECT_NE(rows[1].record.reason.find("writable"), std::string::npos) << rows[1].record.reason;
}

// sudo passes PAM_SILENT by default and shows every PAM_ERROR_MSG: the line must reach the
// person there too. It says nothing about the account (every login through the policy gets it).
TEST_F(PamUnavailable, SilentFlagStillShowsTheLine) {
  Script script({"alice-pass"});
  Session session("ap_policy", "alice", &script);
  EXPECT_EQ(session.authenticate(PAM_SILENT), PAM_AUTH_ERR);
  EXPECT_EQ(errors_shown(script), 1u);
  EXPECT_EQ(script.shown.size(), 1u);
  EXPECT_EQ(decisions().size(), 1u);
}

// `quiet` is for sites that must show nothing after a failed logon: no line, the record stays.
TEST_F(PamUnavailable, QuietArgumentHidesTheLineButNotTheRecord) {
  for (const int flags : {0, static_cast<int>(PAM_SILENT)}) {
    Script script({"alice-pass"});
    Session session("ap_quiet", "alice", &script);
    EXPECT_EQ(session.authenticate(flags), PAM_AUTH_ERR);
    EXPECT_TRUE(script.shown.empty());
    Script account_script;
    Session account_session("ap_quiet", "alice", &account_script);
    EXPECT_EQ(account_session.account(flags), PAM_AUTH_ERR);
    EXPECT_TRUE(account_script.shown.empty());
  }
  EXPECT_EQ(decisions().size(), 4u);
}

TEST_F(PamUnavailable, AccountRefusesOthersLoudly) {
  Script script;
  Session session("ap_account_then_permit", "alice", &script);
  EXPECT_EQ(session.account(), PAM_AUTH_ERR);
  EXPECT_EQ(errors_shown(script), 1u);
  const auto rows = decisions();
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].record.decision, "deny");
  EXPECT_EQ(rows[0].record.reason.rfind("account: policy unavailable", 0), 0u)
      << rows[0].record.reason;
}

// This test runs as root: root's own `sudo` (account only, no auth, no rhost) must keep working.
TEST_F(PamUnavailable, AccountLetsRootActingLocallyAsRootThroughAndRecordsIt) {
  ASSERT_EQ(getuid(), 0u);
  {
    Script script;
    Session session("ap_account_then_permit", "root", &script);
    EXPECT_EQ(session.account(), PAM_SUCCESS);  // ignored; pam_permit decides
    EXPECT_TRUE(script.shown.empty());
  }
  const auto rows = decisions();
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].record.decision, "permit");
  EXPECT_NE(rows[0].record.reason.find("root acting locally as root"), std::string::npos);
}

TEST_F(PamUnavailable, AccountRefusesRootFromElsewhereOrAfterAuth) {
  {
    Script script;
    Session session("ap_account_then_permit", "root", &script);
    session.set_item(PAM_RHOST, "203.0.113.9");  // sshd public-key login as root
    EXPECT_EQ(session.account(), PAM_AUTH_ERR);
    EXPECT_EQ(errors_shown(script), 1u);
  }
  {
    Script script({"x"});
    Session session("ap_policy", "root", &script);
    EXPECT_EQ(session.authenticate(), PAM_AUTH_ERR);
    EXPECT_EQ(session.account(), PAM_AUTH_ERR);
  }
  for (const auto& row : decisions()) EXPECT_EQ(row.record.decision, "deny");
}

// Issue #21 L5: sudo with rootpw/targetpw runs the account check with real uid 0 and PAM_USER
// root for alice; sudo and su name the invoking user in PAM_RUSER. That is not root acting as root.
TEST_F(PamUnavailable, AccountRefusesRootAskedForBySomeoneElse) {
  ASSERT_EQ(getuid(), 0u);
  {
    Script script;
    Session session("ap_account_then_permit", "root", &script);
    session.set_item(PAM_RUSER, "nobody");  // `sudo` by nobody, Defaults rootpw, cached
    EXPECT_EQ(session.account(), PAM_AUTH_ERR);
    EXPECT_EQ(errors_shown(script), 1u);
  }
  {
    Script script;
    Session session("ap_account_then_permit", "root", &script);
    session.set_item(PAM_RUSER, "root");  // root's own sudo: still let through
    EXPECT_EQ(session.account(), PAM_SUCCESS);
  }
  const auto rows = decisions();  // newest first
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].record.decision, "permit");
  EXPECT_EQ(rows[1].record.decision, "deny");
}

// Issue #21 L5: a process of someone else's login session (its login uid is theirs) is not root
// acting as root either, whatever PAM_RUSER says: a caller who leaves PAM_RUSER unset.
TEST_F(PamUnavailable, AccountRefusesRootInSomeoneElsesLoginSession) {
  ASSERT_EQ(getuid(), 0u);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // The login uid can be set once per process (CAP_AUDIT_CONTROL): only in this child.
    const int fd = open("/proc/self/loginuid", O_WRONLY);
    if (fd < 0 || write(fd, "65534", 5) != 5) _exit(3);
    close(fd);
    Script script;
    int code = PAM_SYSTEM_ERR;
    {
      Session session("ap_account_then_permit", "root", &script);
      code = session.account();
    }
    _exit(code == PAM_AUTH_ERR ? 0 : code == PAM_SUCCESS ? 1 : 2);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_NE(WEXITSTATUS(status), 3) << "could not set the child's login uid";
  EXPECT_EQ(WEXITSTATUS(status), 0) << "root in nobody's login session was let through";
}

// Issue #21 L2: the unusable-policy path recorded PAM_USER raw; a name with a newline and ESC
// must reach the log escaped, as every other path shows it.
TEST_F(PamUnavailable, HostileUserNameIsRecordedEscaped) {
  Script script({"x"});
  Session session("ap_policy", std::string("eve\n\x1b[2Jroot"), &script);
  EXPECT_EQ(session.authenticate(), PAM_AUTH_ERR);
  const auto rows = decisions();
  ASSERT_EQ(rows.size(), 1u);
  const std::string& user = rows[0].record.user;
  EXPECT_EQ(user.find('\n'), std::string::npos) << user;
  EXPECT_EQ(user.find('\x1b'), std::string::npos) << user;
  EXPECT_NE(user.find("eve"), std::string::npos) << user;
}

}  // namespace
}  // namespace authpolicy::pam_test
