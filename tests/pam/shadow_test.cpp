// A shadow policy (module argument shadow=PATH) through real libpam: decided beside the live
// policy on the same request and factor outcomes, recorded, and never changing what the live
// policy decides, asks or answers — also when the shadow policy is broken.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "tests/pam/harness.h"
#include "tests/support/temp_folder.h"

namespace authpolicy::pam_test {
namespace {

struct Login {
  std::string user;
  std::optional<std::string> rhost;
  bool right_password;
  bool right_finger;
};

// What one login looked like from outside: the PAM code and the prompts shown.
struct Seen {
  int code;
  std::vector<std::string> prompts;
  bool operator==(const Seen&) const = default;
};

class PamShadow : public ::testing::Test {
 protected:
  test_support::TempFolder folder_{"ap-shadow"};
  // The fingerprint (local only: unavailable for a remote request) for everyone but bob.
  const std::string live_rules_ = "auth password && (fingerprint unless user in { bob })\n";

  static std::string policy_text(const std::string& db, const std::string& rules) {
    return matrix_password_factor() + matrix_fingerprint_factor() + "audit { db = \"" + db +
           "\" }\n" + rules;
  }

  static std::vector<Login> logins() {
    std::vector<Login> out;
    const std::vector<std::optional<std::string>> places{std::nullopt, "10.1.2.3", "203.0.113.9",
                                                         "198.51.100.4"};
    int i = 0;
    for (const char* user : {"alice", "bob"}) {
      for (const auto& place : places) {
        for (bool password : {true, false}) {
          for (bool finger : {true, false}) {
            out.push_back({user, place, password, finger});
            ++i;
          }
        }
      }
    }
    return out;
  }

  // Runs every login on `service` with the live policy logging into `db`.
  std::vector<Seen> run(const std::string& service, const std::string& db) {
    write_policy(policy_text(db, live_rules_));
    std::vector<Seen> seen;
    for (const auto& login : logins()) {
      Script script({login.right_password ? login.user + "-pass" : "wrong",
                     login.right_finger ? login.user + "-finger" : "wrong"});
      Session session(service, login.user, &script);
      if (login.rhost) session.set_item(PAM_RHOST, login.rhost->c_str());
      seen.push_back({session.authenticate(), script.prompts()});
    }
    return seen;
  }
};

TEST_F(PamShadow, TighterShadowRecordsDifferentForExactlyTheLoginsItWouldRefuse) {
  write_passdbs();
  // Tightens the live policy: nobody from 203.0.113.0/24.
  write_file(std::string(Paths::run_dir()) + "/shadow.pol",
             policy_text(folder_.file("unused.db"),
                         "deny if rhost in { 203.0.113.0/24 }\n" + live_rules_));
  const std::string with_db = folder_.file("with.db");
  const std::string without_db = folder_.file("without.db");
  const std::vector<Seen> with_shadow = run("ap_shadow", with_db);
  const std::vector<Seen> without_shadow = run("ap_policy", without_db);
  // The live decisions, and what the person saw, are those of a run without the shadow.
  EXPECT_EQ(with_shadow, without_shadow);

  const nlohmann::json rows = audit_rows(with_db);
  const std::vector<Login> all = logins();
  ASSERT_EQ(rows.size(), all.size());
  int different = 0;
  for (std::size_t i = 0; i < all.size(); ++i) {
    SCOPED_TRACE(rows[i].dump());
    const bool refused_by_shadow =
        all[i].rhost == "203.0.113.9" && with_shadow[i].code == PAM_SUCCESS;
    // Only bob can be permitted from there (alice's fingerprint is unavailable remotely).
    if (refused_by_shadow) {
      EXPECT_EQ(all[i].user, "bob");
    }
    EXPECT_EQ(rows[i]["shadow"], refused_by_shadow ? "different" : "same");
    EXPECT_EQ(rows[i]["decision"], with_shadow[i].code == PAM_SUCCESS ? "permit" : "deny");
    different += refused_by_shadow;
  }
  ASSERT_GT(different, 0);
  // `authpolicy audit --shadow-differs` lists those and nothing else.
  EXPECT_EQ(audit_rows(with_db, {"--shadow-differs"}).size(), static_cast<std::size_t>(different));
  // The log of the run without a shadow has no verdicts.
  for (const auto& row : audit_rows(without_db)) EXPECT_TRUE(row["shadow"].is_null());
}

TEST_F(PamShadow, AShadowThatNeedsAFactorNotAskedSaysSoAndAsksNothing) {
  write_passdbs();
  write_file(std::string(Paths::run_dir()) + "/shadow.pol",
             policy_text(folder_.file("unused.db"), "auth password && fingerprint\n"));
  const std::string db = folder_.file("ask.db");
  const std::vector<Seen> with_shadow = run("ap_shadow", db);
  const std::vector<Seen> without_shadow = run("ap_policy", folder_.file("plain.db"));
  EXPECT_EQ(with_shadow, without_shadow);
  const nlohmann::json rows = audit_rows(db);
  const std::vector<Login> all = logins();
  ASSERT_EQ(rows.size(), all.size());
  for (std::size_t i = 0; i < all.size(); ++i) {
    SCOPED_TRACE(rows[i].dump());
    // The live policy never asks bob's fingerprint; once his password passed, the shadow needs
    // it: locally it would ask; remotely a fingerprint is unavailable without asking, so the
    // shadow refuses what the live policy permitted.
    const bool bob_passed = all[i].user == "bob" && all[i].right_password;
    if (bob_passed && !all[i].rhost) {
      EXPECT_EQ(rows[i]["shadow"], "would ask fingerprint");
    } else if (bob_passed) {
      EXPECT_EQ(rows[i]["shadow"], "different");
    } else {
      EXPECT_EQ(rows[i]["shadow"], "same");
    }
  }
}

TEST_F(PamShadow, ABrokenShadowIsRecordedAsSuchAndTheLiveDecisionStands) {
  write_passdbs();
  write_file(std::string(Paths::run_dir()) + "/shadow-broken.pol", "auth password &&\n");
  const std::string db = folder_.file("broken.db");
  const std::vector<Seen> broken = run("ap_shadow_broken", db);
  const std::vector<Seen> plain = run("ap_policy", folder_.file("plain.db"));
  EXPECT_EQ(broken, plain);
  for (const auto& row : audit_rows(db)) {
    EXPECT_TRUE(row["shadow"].get<std::string>().starts_with(
        "error: cannot use shadow policy " + std::string(Paths::run_dir()) + "/shadow-broken.pol"))
        << row.dump();
  }
  // A shadow file that is not root's is refused by the same trusted reading as the live policy.
  write_file(std::string(Paths::run_dir()) + "/shadow-broken.pol", "auth password\n");
  ASSERT_EQ(chown((std::string(Paths::run_dir()) + "/shadow-broken.pol").c_str(), 65534, 65534), 0);
  const std::string unsafe_db = folder_.file("unsafe.db");
  EXPECT_EQ(run("ap_shadow_broken", unsafe_db), plain);
  for (const auto& row : audit_rows(unsafe_db)) {
    EXPECT_NE(row["shadow"].get<std::string>().find("error: cannot use shadow policy"),
              std::string::npos)
        << row.dump();
  }
}

}  // namespace
}  // namespace authpolicy::pam_test
