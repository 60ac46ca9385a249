// One user name for `user in`, failures() and the audit row: the name service's own name for the
// typed one (issue #13 item 9), checked against the real passwd database and a real sqlite log.
#include <gtest/gtest.h>

#include <cctype>

#include "audit/audit_store.h"
#include "audit/decision_log.h"
#include "audit_test_support.h"
#include "engine/load.h"
#include "engine/scripted.h"
#include "engine/system_subjects.h"

namespace authpolicy::audit {
namespace {

using testing::sample_record;
using testing::TempFolder;

// Stand-in for a case-insensitive directory (LDAP, SSSD, winbind): glibc's files service matches
// names exactly, so nothing on this machine maps "Alice" to "alice" by itself.
UserNameLookup CaseFoldingDirectoryStandIn(const std::string& typed) {
  std::string folded = typed;
  for (char& c : folded) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (folded == "alice") return {UserNameLookup::Status::found, "alice"};
  return {UserNameLookup::Status::unknown, {}};
}

TEST(CanonicalUser, RealPasswdKnowsRootAndLeavesUnknownNamesAsTyped) {
  EXPECT_EQ(canonical_user_name("root"), "root");
  EXPECT_EQ(canonical_user_name("no-such-user-ap13-9"), "no-such-user-ap13-9");
  // glibc's files service is exact: "ROOT" is no account, so it stays as typed (not root).
  EXPECT_EQ(canonical_user_name("ROOT"), "ROOT");
}

TEST(CanonicalUser, NameServiceFailureIsNoNameAtAll) {
  std::string cause;
  auto broken = [](const std::string&) {
    return UserNameLookup{UserNameLookup::Status::error, "user database unavailable: timeout"};
  };
  EXPECT_EQ(canonical_user_name("Alice", broken, &cause), std::nullopt);
  EXPECT_EQ(cause, "user database unavailable: timeout");
}

class CanonicalUserDecision : public ::testing::Test {
 protected:
  Decision decide_for(const std::string& policy_text, const std::string& user) {
    LoadOptions options;
    options.check_ownership = false;
    LoadResult loaded = load_policy_text(policy_text + "\naudit { db = \"" + db_ + "\" }\n",
                                         temp_.file("sshd.pol"), options);
    EXPECT_TRUE(loaded.policy) << policy_text;
    if (!loaded.policy) return {};
    policy_ = loaded.policy;
    RequestInfo request;
    request.user = user;
    request.service = "sshd";
    request.rhost = "203.0.113.7";
    SystemSubjects subjects(loaded.policy->geoip, failure_counter(loaded.policy->audit));
    ScriptedFactors factors;
    factors.set("password", Outcome::pass);
    SilentConversation conversation;
    return decide(*loaded.policy, request, subjects, factors, conversation);
  }

  static std::string canonical(const std::string& typed) {
    return canonical_user_name(typed, CaseFoldingDirectoryStandIn).value_or("lookup failed");
  }

  TempFolder temp_;
  std::string db_ = temp_.file("audit.db");
  std::shared_ptr<const Policy> policy_;
};

TEST_F(CanonicalUserDecision, UserInSetMatchesTheDirectorysName) {
  const std::string policy = "deny if user in { alice }\nauth password";
  EXPECT_FALSE(decide_for(policy, canonical("Alice")).permit);
  EXPECT_FALSE(decide_for(policy, canonical("ALICE")).permit);
  EXPECT_TRUE(decide_for(policy, canonical("bob")).permit);
  // What the raw name did before: "Alice" slipped past a deny rule naming alice.
  EXPECT_TRUE(decide_for(policy, "Alice").permit);
}

TEST_F(CanonicalUserDecision, FailuresCountEverySpellingOfOneAccount) {
  // Two failures typed as "alice" and one as "Alice", all recorded under the directory's name.
  ASSERT_TRUE(record_decision(db_, {}, sample_record(canonical("alice"), "deny")).ok());
  ASSERT_TRUE(record_decision(db_, {}, sample_record(canonical("Alice"), "deny")).ok());
  ASSERT_TRUE(record_decision(db_, {}, sample_record(canonical("ALICE"), "deny")).ok());
  const std::string policy = "deny if failures(1h) >= 3\nauth password";
  const Decision decision = decide_for(policy, canonical("aLiCe"));
  EXPECT_FALSE(decision.permit) << decision.reason;
  EXPECT_TRUE(decision.deny_rule.has_value());
  // The row this decision writes carries the same name, so the next count includes it.
  ASSERT_TRUE(policy_);
  RequestInfo request;
  request.user = canonical("Alice");
  request.service = "sshd";
  EXPECT_EQ(make_record(*policy_, request, decision, std::chrono::microseconds(0)).user, "alice");
  // Raw names split the account: "Alice" alone has no failures, so it was let through.
  EXPECT_TRUE(decide_for(policy, "Alice").permit);
  EXPECT_EQ(count_failures(db_, {}, {"alice", 3600, std::nullopt, 0}).count, 3);
}

// The digest in each record is the policy text's own, as `sha256sum` prints it: computed when the
// policy is read, so a policy that changes between two decisions of one process gets its new one.
TEST(PolicyDigest, EveryRecordCarriesItsOwnPolicysDigest) {
  const RequestInfo request;
  const Decision decision;
  auto digest = [&](const std::string& text) {
    LoadOptions options;
    options.check_ownership = false;
    const LoadResult loaded = load_policy_text(text, "/etc/authpolicy/sshd.pol", options);
    EXPECT_TRUE(loaded.policy) << text;
    if (!loaded.policy) return std::string();
    return make_record(*loaded.policy, request, decision, std::chrono::microseconds(0))
        .policy_sha256;
  };
  const std::string first = "a1946a048fef6c391407a4bd1d7df89a3731cde252950f111d37a952266a9a66";
  const std::string second = "673d3e0483ce0de9a6b01427ebd22a5edefb6dcd6512a7a25159f63d6237f1c2";
  EXPECT_EQ(digest("auth password\n"), first);  // printf 'auth password\n' | sha256sum
  EXPECT_EQ(digest("auth password\n"), first);
  EXPECT_EQ(digest("auth password\n# changed\n"), second);
  EXPECT_EQ(digest("auth password\n"), first);
}

}  // namespace
}  // namespace authpolicy::audit
