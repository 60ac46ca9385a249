// recent(FACTOR, WINDOW[, rhost | tty]) answered from a real sqlite audit log: which earlier
// passes count (permitted decisions only, same user and service, same source or terminal).
#include <gtest/gtest.h>
#include <sys/stat.h>

#include "audit/audit_store.h"
#include "audit/recent_pass.h"
#include "audit/time_text.h"
#include "audit_test_support.h"

namespace authpolicy::audit {
namespace {

using testing::sample_record;
using testing::TempFolder;

constexpr std::int64_t kHour = 3600LL * 1000000;

class RecentPassTest : public ::testing::Test {
 protected:
  TempFolder folder;
  std::string path = folder.path() + "/audit.db";
  std::int64_t now = now_utc_us();

  void write(const AuditRecord& record) {
    auto opened = AuditStore::open(path, {});
    ASSERT_TRUE(opened.status.ok()) << opened.status.message;
    ASSERT_TRUE(opened.store->write(record).ok());
  }

  // sample_record's permits hold a totp pass; its denies only a failed password.
  RecentPassQuery totp_query(std::int64_t window_seconds = 8 * 3600) const {
    RecentPassQuery q;
    q.user = "alice";
    q.service = "sshd";
    q.factor = "totp";
    q.window_seconds = window_seconds;
    q.now_us = now;
    return q;
  }
  std::optional<bool> found(const RecentPassQuery& q) const {
    return find_recent_pass(path, {}, q).found;
  }
};

TEST_F(RecentPassTest, MissingLogMeansNoPassYet) {
  const RecentPass pass = find_recent_pass(path, {}, totp_query());
  ASSERT_TRUE(pass.found.has_value()) << pass.cause;
  EXPECT_FALSE(*pass.found);
}

TEST_F(RecentPassTest, MissingLogInAFolderOthersCanWriteIsUnknown) {
  ASSERT_EQ(chmod(folder.path().c_str(), 0777), 0);
  const RecentPass pass = find_recent_pass(path, {}, totp_query());
  EXPECT_FALSE(pass.found.has_value()) << "a log anyone could delete proves nothing";
  EXPECT_NE(pass.cause.find("cannot be trusted"), std::string::npos) << pass.cause;
  ASSERT_EQ(chmod(folder.path().c_str(), 0700), 0);
}

TEST_F(RecentPassTest, PermittedPassWithinWindowCountsAndOlderDoesNot) {
  write(sample_record("alice", "permit", now - 9 * kHour));
  EXPECT_EQ(found(totp_query()), false);
  write(sample_record("alice", "permit", now - 2 * kHour));
  const RecentPass pass = find_recent_pass(path, {}, totp_query());
  EXPECT_EQ(pass.found, true);
  EXPECT_EQ(pass.time_us, now - 2 * kHour);
  EXPECT_EQ(found(totp_query(3600)), false);  // recent(totp, 1h): 2 h ago is too old
}

TEST_F(RecentPassTest, PassInDeniedDecisionDoesNotCount) {
  AuditRecord denied = sample_record("alice", "deny", now - kHour);
  denied.factors = {{"password", "fail", "", 1}, {"totp", "pass", "", 1}};
  write(denied);
  EXPECT_EQ(found(totp_query()), false);
}

TEST_F(RecentPassTest, OnlyThisUserServiceAndFactor) {
  write(sample_record("bob", "permit", now - kHour));
  AuditRecord other_service = sample_record("alice", "permit", now - kHour);
  other_service.service = "sudo";
  write(other_service);
  AuditRecord waived = sample_record("alice", "permit", now - kHour);
  waived.factors = {{"password", "pass", "", 1}};  // totp was waived, so it did not pass
  write(waived);
  AuditRecord unavailable = sample_record("alice", "permit", now - kHour);
  unavailable.factors = {{"password", "pass", "", 1}, {"totp", "unavailable", "", 1}};
  write(unavailable);
  EXPECT_EQ(found(totp_query()), false);
  RecentPassQuery password = totp_query();
  password.factor = "password";
  EXPECT_EQ(found(password), true);
}

TEST_F(RecentPassTest, FutureRecordsDoNotCount) {
  write(sample_record("alice", "permit", now + kHour));
  EXPECT_EQ(found(totp_query()), false);
}

TEST_F(RecentPassTest, RhostScopeMatchesSameSourceOnlyAndLocalOnlyLocal) {
  write(sample_record("alice", "permit", now - kHour, "203.0.113.7"));
  RecentPassQuery q = totp_query();
  q.rhost = "203.0.113.7";
  EXPECT_EQ(found(q), true);
  q.rhost = "::ffff:203.0.113.7";  // the same address spelt as mapped IPv6
  EXPECT_EQ(found(q), true);
  q.rhost = "203.0.113.8";
  EXPECT_EQ(found(q), false);
  q.rhost = "";  // a local login is not waived by a remote pass
  EXPECT_EQ(found(q), false);
  write(sample_record("alice", "permit", now - kHour, ""));
  EXPECT_EQ(found(q), true);  // ... but by a local one
  q.rhost = "198.51.100.1";  // and a remote login is not waived by a local pass
  EXPECT_EQ(found(q), false);
}

TEST_F(RecentPassTest, TtyScopeMatchesSameTerminalAndEmptyNever) {
  AuditRecord on_tty = sample_record("alice", "permit", now - kHour, "");
  on_tty.tty = "/dev/tty1";
  write(on_tty);
  RecentPassQuery q = totp_query();
  q.tty = "/dev/tty1";
  EXPECT_EQ(found(q), true);
  q.tty = "/dev/tty2";
  EXPECT_EQ(found(q), false);
  q.tty = "";
  EXPECT_EQ(found(q), false);
}

TEST_F(RecentPassTest, UnsafeLogIsUnknownWithCause) {
  write(sample_record("alice", "permit", now - kHour));
  ASSERT_EQ(chmod(path.c_str(), 0666), 0);  // writable by anyone: anyone could forge a pass
  const RecentPass pass = find_recent_pass(path, {}, totp_query());
  EXPECT_FALSE(pass.found.has_value());
  EXPECT_FALSE(pass.cause.empty());
}

}  // namespace
}  // namespace authpolicy::audit
