// Decisions as structured journal entries, through real libpam into a real systemd-journald (in
// its own mount namespace, listening in the test's folder): `journalctl -o json` shows each
// decision's fields exactly as `authpolicy audit` shows them, hostile PAM_USER and PAM_RHOST
// values included, which stay one field each.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "audit/journal_entry.h"
#include "tests/pam/harness.h"
#include "tests/pam/journald.h"
#include "tests/support/temp_folder.h"

namespace authpolicy::pam_test {
namespace {

class PamJournal : public ::testing::Test {
 protected:
  void SetUp() override {
    journald_ = std::make_unique<TestJournald>(folder_.file("host"), "ap-journal-test",
                                               "0123456789abcdef0123456789abcdef");
    ASSERT_TRUE(journald_->running()) << journald_->problem();
    mkdir(folder_.file("audit").c_str(), 0700);
    db_ = folder_.file("audit/audit.db");
  }
  void TearDown() override { write_common_settings(); }

  std::string audit_block() const {
    return "audit { db = \"" + db_ + "\"; journal = \"" + journald_->socket() + "\" }\n";
  }

  static int login(const char* user, const char* password, const char* rhost) {
    Script script({password});
    Session session("ap_policy", user, &script);
    if (rhost) session.set_item(PAM_RHOST, rhost);
    return session.authenticate();
  }

  test_support::TempFolder folder_{"ap-journal"};
  std::unique_ptr<TestJournald> journald_;
  std::string db_;
};

TEST_F(PamJournal, EachDecisionIsOneEntryWithTheFieldsTheAuditLogShows) {
  // Spooled decisions (the policy never reads the log) and direct writes (it does) alike.
  const std::string hostile_rhost = "evil\nAUTHPOLICY_DECISION=permit\nMESSAGE_ID=0";
  for (const bool reads_log : {false, true}) {
    write_policy(matrix_password_factor() + audit_block() +
                 (reads_log ? "deny if failures(1h) >= 100\n" : "") + "auth password\n");
    EXPECT_EQ(login("alice", "alice-pass", "203.0.113.7"), PAM_SUCCESS);
    EXPECT_EQ(login("alice", "wrong", "2001:db8::7"), PAM_AUTH_ERR);
    EXPECT_EQ(login("bob", "bob-pass", nullptr), PAM_SUCCESS);
    EXPECT_EQ(login("bob", "wrong", hostile_rhost.c_str()), PAM_AUTH_ERR);
    EXPECT_EQ(login("alice", "alice-pass", "host\x01\x1b[31m=\tname"), PAM_SUCCESS);
  }
  const auto rows = audit_rows(db_);
  ASSERT_EQ(rows.size(), 10u);
  const auto entries = decision_entries_in_folder(journald_->journal_folder(), rows.size());
  ASSERT_EQ(entries.size(), rows.size()) << "one journal entry per decision, no more";
  std::size_t denials = 0;
  std::size_t hostile = 0;
  for (const auto& entry : entries) {
    const auto row = row_for_entry(rows, entry);
    ASSERT_FALSE(row.is_null()) << "no audit row for " << entry.dump();
    EXPECT_EQ(compare_entry_with_row(entry, row), "") << entry.dump();
    denials += row.at("decision") == "deny";
    if (field_bytes(entry, "AUTHPOLICY_RHOST") == hostile_rhost) {
      ++hostile;
      EXPECT_EQ(field_bytes(entry, "AUTHPOLICY_DECISION"), "deny") << "a field was forged";
      EXPECT_EQ(field_bytes(entry, "MESSAGE_ID"), audit::kDecisionMessageId);
      EXPECT_EQ(field_bytes(entry, "PRIORITY"), "5");
    }
    EXPECT_EQ(field_bytes(entry, "_HOSTNAME"), "ap-journal-test");
    EXPECT_EQ(field_bytes(entry, "_TRANSPORT"), "journal");
  }
  EXPECT_EQ(denials, 4u);
  EXPECT_EQ(hostile, 2u);
  // journalctl's own matching works on the fields.
  const auto run =
      run_process({"/usr/bin/journalctl", "-D", journald_->journal_folder(), "-o", "json",
                   "--no-pager", std::string("MESSAGE_ID=") + audit::kDecisionMessageId,
                   "AUTHPOLICY_DECISION=deny", "AUTHPOLICY_USER=bob"},
                  {{"LD_PRELOAD", ""}}, "");
  std::size_t bob_denials = 0;
  for (std::size_t at = 0; (at = run.output.find("\n{", at)) != std::string::npos; ++at) {
    ++bob_denials;
  }
  bob_denials += run.output.starts_with("{");
  EXPECT_EQ(bob_denials, 2u) << run.output;
}

TEST_F(PamJournal, AHostileUserNameOfAnUnusablePolicyStaysOneField) {
  // An unusable policy records the name as typed (escaped, as the log keeps it): the one place a
  // PAM_USER that is no account's name reaches the log, and so the journal.
  write_file(std::string(Paths::run_dir()) + "/common.pol", audit_block());
  const std::string user = "eve\nAUTHPOLICY_DECISION=permit\nAUTHPOLICY_USER=root";
  Script script({"x"});
  Session session("ap_missing_fail", user, &script);
  EXPECT_EQ(session.authenticate(PAM_SILENT), PAM_AUTH_ERR);
  const auto rows = audit_rows(db_);
  ASSERT_EQ(rows.size(), 1u);
  const auto entries = decision_entries_in_folder(journald_->journal_folder(), 1);
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(compare_entry_with_row(entries[0], rows[0]), "");
  EXPECT_EQ(field_bytes(entries[0], "AUTHPOLICY_USER"), rows[0].at("user").get<std::string>());
  EXPECT_NE(field_bytes(entries[0], "AUTHPOLICY_USER").find("eve"), std::string::npos);
  EXPECT_EQ(field_bytes(entries[0], "AUTHPOLICY_DECISION"), "deny") << "a field was forged";
  EXPECT_EQ(field_bytes(entries[0], "MESSAGE_ID"), audit::kDecisionMessageId);
}

TEST_F(PamJournal, NoJournaldThereIsNoEntryAndNoComplaintAnUntrustedSocketIsRefused) {
  // A socket path where nothing listens: the decision stands, nothing is said.
  write_policy(matrix_password_factor() + "audit { db = \"" + db_ + "\"; journal = \"" +
               folder_.file("nothing/socket") + "\" }\nauth password\n");
  {
    SyslogCapture syslog;
    EXPECT_EQ(login("alice", "alice-pass", nullptr), PAM_SUCCESS);
    for (const auto& line : syslog.module_lines()) {
      EXPECT_EQ(line.find("journal"), std::string::npos) << line;
    }
  }
  // journald's socket in a folder others may write: refused, said once, the decision stands.
  const std::string loose = folder_.file("loose");
  mkdir(loose.c_str(), 0777);
  chmod(loose.c_str(), 0777);
  symlink(journald_->socket().c_str(), (loose + "/socket").c_str());
  write_policy(matrix_password_factor() + "audit { db = \"" + db_ + "\"; journal = \"" + loose +
               "/socket\" }\nauth password\n");
  {
    SyslogCapture syslog;
    EXPECT_EQ(login("alice", "alice-pass", nullptr), PAM_SUCCESS);
    std::size_t warnings = 0;
    for (const auto& line : syslog.module_lines()) {
      warnings += line.find("journal socket folder refused") != std::string::npos;
    }
    EXPECT_EQ(warnings, 1u) << syslog.all_text();
  }
  EXPECT_EQ(audit_rows(db_).size(), 2u);
  EXPECT_EQ(decision_entries_in_folder(journald_->journal_folder(), 0).size(), 0u);
}

TEST_F(PamJournal, AnEntryTooLargeForOneDatagramArrivesWhole) {
  // Larger than a datagram may be (the socket's send buffer): sent as a sealed memfd instead.
  audit::AuditRecord record;
  record.time_us = 1796600000000000;
  record.pid = 4242;
  record.service = "sshd";
  record.user = "alice";
  record.decision = "deny";
  record.reason = std::string(300000, 'r') + "\nend";
  const audit::JournalDelivery delivery = audit::send_journal_entry(journald_->socket(), record);
  EXPECT_EQ(delivery.outcome, audit::JournalOutcome::sent) << delivery.reason;
  const auto entries = decision_entries_in_folder(journald_->journal_folder(), 1);
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(field_bytes(entries[0], "AUTHPOLICY_REASON"), record.reason);
  EXPECT_EQ(field_bytes(entries[0], "AUTHPOLICY_PID"), "4242");
}

TEST(JournalDelivery, NoJournaldIsAbsentWithoutAReasonAnUntrustedPlaceIsRefusedWithOne) {
  audit::AuditRecord record;
  record.time_us = 1796600000000000;
  record.service = "sudo";
  record.user = "alice";
  record.decision = "permit";
  for (const std::string& nowhere :
       {std::string(), std::string("/nonexistent-ap-journal/socket")}) {
    const audit::JournalDelivery delivery = audit::send_journal_entry(nowhere, record);
    EXPECT_EQ(delivery.outcome, audit::JournalOutcome::absent) << nowhere;
    EXPECT_EQ(delivery.reason, "") << nowhere;
  }
  const audit::JournalDelivery relative = audit::send_journal_entry("journal.sock", record);
  EXPECT_EQ(relative.outcome, audit::JournalOutcome::refused);
  EXPECT_NE(relative.reason.find("not an absolute path"), std::string::npos) << relative.reason;
  test_support::TempFolder folder{"ap-journal"};
  chmod(folder.path().c_str(), 0777);  // others may write it, whoever runs the test
  const audit::JournalDelivery loose = audit::send_journal_entry(folder.file("socket"), record);
  EXPECT_EQ(loose.outcome, audit::JournalOutcome::refused);
  EXPECT_NE(loose.reason.find("journal socket folder refused"), std::string::npos) << loose.reason;
}

}  // namespace
}  // namespace authpolicy::pam_test
