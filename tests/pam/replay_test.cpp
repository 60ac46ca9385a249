// `authpolicy replay` on a log of 1,200 real decisions made through libpam (pam_policy.so, two
// pam_matrix factors, a failures() lockout that really locks alice out half way), against three
// candidate policies. What replay reports is checked against `authpolicy eval`, run on every
// recorded request one by one with the situation and factor outcomes the log holds for it. The
// same check on a rollout log made by an enrolled(totp) policy (PamReplayEnrolled).
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "tests/pam/harness.h"
#include "tests/support/temp_folder.h"

namespace authpolicy::pam_test {
namespace {

constexpr int kDecisions = 1200;
// Rows checked against `authpolicy eval` one by one: every one, but in a sanitizer build (where
// one ASan eval process takes ~0.3 s, and 3,600 of them would outlast ctest's timeout) every
// twelfth, 100 per candidate. Replay itself always decides all 1,200.
#if defined(AP_TEST_SANITIZER)
constexpr std::int64_t kEvalEvery = 12;
#else
constexpr std::int64_t kEvalEvery = 1;
#endif

ProcessResult authpolicy(std::vector<std::string> arguments) {
  arguments.insert(arguments.begin(), AP_TEST_AUTHPOLICY);
  return run_process(arguments, {{"LD_PRELOAD", ""}, {"PAM_WRAPPER", "0"}}, "");
}

// The JSON a command printed on stdout (run_process mixes stderr in after it: nothing here).
nlohmann::json json_of(const ProcessResult& r) {
  const std::size_t first = r.output.find_first_of("[{");
  const std::size_t last = r.output.find_last_of("]}");
  if (first == std::string::npos || last == std::string::npos || last < first) {
    throw std::runtime_error("no JSON in: " + r.output);
  }
  return nlohmann::json::parse(r.output.substr(first, last - first + 1));
}

// `groups = true`: these policies have no group condition, and the candidates replayed may.
std::string policy_text(const std::string& db, const std::string& rules) {
  return matrix_password_factor() + matrix_fingerprint_factor() + "audit { db = \"" + db +
         "\"; groups = true }\n" + rules;
}

// What eval says about one recorded request: its decision, and whether it consulted a factor
// the log does not hold (eval counts that factor unavailable; replay cannot decide it).
struct EvalVerdict {
  std::string decision;
  bool needs_unasked_factor = false;
};

// `unrecorded_enrolled`: factor names given to eval as `--enrolled NAME=unknown` when the row's
// situation holds no answer for them; eval then lists enrolled(NAME) as unknown "given as
// unknown" exactly when the policy consults it, which replay reports as not recorded.
EvalVerdict eval_recorded(const std::string& policy, const nlohmann::json& row,
                          const std::vector<std::string>& unrecorded_enrolled = {}) {
  std::vector<std::string> args{"eval", policy, "--json", "--service", row["service"], "--user",
                                row["user"], "--tty", row["tty"], "--ruser", row["ruser"]};
  if (!row["rhost"].get<std::string>().empty()) {
    args.push_back("--rhost");
    args.push_back(row["rhost"]);
  }
  // The situation is eval's own knobs, one "KNOB VALUE" a line.
  const std::string situation = row["situation"];
  std::size_t start = 0;
  while (start < situation.size()) {
    const std::size_t end = situation.find('\n', start);
    const std::string line = situation.substr(start, end - start);
    start = end == std::string::npos ? situation.size() : end + 1;
    const auto space = line.find(' ');
    args.push_back("--" + line.substr(0, space));
    args.push_back(line.substr(space + 1));
  }
  std::set<std::string> injected;
  for (const auto& name : unrecorded_enrolled) {
    if (situation.find("enrolled " + name + "=") != std::string::npos) continue;
    injected.insert(name);
    args.push_back("--enrolled");
    args.push_back(name + "=unknown");
  }
  std::set<std::string> recorded;
  for (const auto& f : row["factors"]) {
    if (!recorded.insert(f["name"].get<std::string>()).second) continue;  // the first one counts
    args.push_back("--factor");
    args.push_back(f["name"].get<std::string>() + "=" + f["outcome"].get<std::string>());
  }
  const ProcessResult r = authpolicy(args);
  EXPECT_TRUE(r.exit_code == 0 || r.exit_code == 1) << r.output;
  const nlohmann::json verdict = json_of(r);
  EvalVerdict out{verdict["decision"], false};
  // A factor eval consulted that the log does not hold, unless the evaluator settled it without
  // its provider (a presence factor is unavailable for a remote request: nobody is asked).
  for (const auto& f : verdict["factors"]) {
    if (!recorded.contains(f["name"].get<std::string>()) && f["detail"] != "remote request") {
      out.needs_unasked_factor = true;
    }
  }
  for (const auto& u : verdict["unknown"]) {
    for (const auto& name : injected) {
      if (u["condition"] == "enrolled(" + name + ")") out.needs_unasked_factor = true;
    }
  }
  return out;
}

class PamReplay : public ::testing::Test {
 protected:
  test_support::TempFolder folder_{"ap-replay"};
  std::string db_ = folder_.file("audit.db");

  std::string write_candidate(const std::string& name, const std::string& rules) {
    const std::string path = folder_.file(name);
    // The candidate names another log: replay never writes, but a policy always says where.
    write_file(path, policy_text(folder_.file("candidate.db"), rules));
    return path;
  }

  // 1,200 logins of alice and bob from six places, with right and wrong answers, in a fixed
  // pseudo-random order. Returns how many of them were permitted.
  int make_decisions() {
    write_passdbs();
    write_policy(policy_text(db_, "deny if failures(1h) >= 300\n"
                                  "auth password && (fingerprint unless user in { bob })\n"));
    std::mt19937 random(24);
    const std::vector<std::optional<std::string>> places{
        std::nullopt, "10.1.2.3", "203.0.113.9", "203.0.113.77", "198.51.100.4", "::ffff:10.9.9.9"};
    int permitted = 0;
    for (int i = 0; i < kDecisions; ++i) {
      const bool alice = random() % 10 < 6;
      const auto& place = places[random() % places.size()];
      const bool right_password = random() % 10 < 8;
      const bool right_finger = random() % 10 < 7;
      const std::string user = alice ? "alice" : "bob";
      Script script({right_password ? user + "-pass" : "wrong",
                     right_finger ? user + "-finger" : "wrong"});
      Session session("ap_policy", user, &script);
      if (place) session.set_item(PAM_RHOST, place->c_str());
      session.set_item(PAM_TTY, i % 3 == 0 ? "pts/1" : "ssh");
      if (session.authenticate() == PAM_SUCCESS) ++permitted;
    }
    return permitted;
  }
};

TEST_F(PamReplay, ReportsExactlyTheDecisionsEvalSaysWouldChange) {
  const int permitted = make_decisions();
  // The lockout really happened, and the log holds every decision with its situation.
  ASSERT_GT(permitted, 100);
  ASSERT_LT(permitted, kDecisions - 100);
  const ProcessResult listed = authpolicy({"audit", "--db", db_, "--limit", "0", "--format", "json"});
  ASSERT_EQ(listed.exit_code, 0) << listed.output;
  const nlohmann::json rows = json_of(listed);
  ASSERT_EQ(rows.size(), static_cast<std::size_t>(kDecisions));
  int locked_out = 0;
  for (const auto& row : rows) {
    ASSERT_FALSE(row["situation"].get<std::string>().empty()) << row.dump();
    if (row["reason"].get<std::string>().find("failures(1h)") != std::string::npos) ++locked_out;
  }
  ASSERT_GT(locked_out, 0) << "alice was never locked out: the lockout is not exercised";

  // The live policy itself: every request decides as it did.
  {
    const ProcessResult same = authpolicy({"replay", current_policy_path(), "--db", db_, "--format", "json"});
    EXPECT_EQ(same.exit_code, 0) << same.output;
    const nlohmann::json report = json_of(same);
    EXPECT_EQ(report["unchanged"], kDecisions);
    EXPECT_EQ(report["changed"], 0);
    EXPECT_EQ(report["undecidable"], 0);
  }

  const std::vector<std::string> candidates{
      // Tightens: nobody from 203.0.113.0/24.
      write_candidate("tighter.pol",
                      "deny if failures(1h) >= 300\ndeny if rhost in { 203.0.113.0/24 }\n"
                      "auth password && (fingerprint unless user in { bob })\n"),
      // Locks out earlier, and drops the fingerprint: changes both ways.
      write_candidate("password-only.pol", "deny if failures(1h) >= 200\nauth password\n"),
      // Asks everyone the fingerprint: bob was never asked it.
      write_candidate("fingerprint-everywhere.pol",
                      "deny if failures(1h) >= 300\nauth password && fingerprint\n"),
  };
  for (const auto& candidate : candidates) {
    SCOPED_TRACE(candidate);
    std::map<std::pair<std::string, std::string>, std::set<std::int64_t>> expected_changes;
    std::set<std::int64_t> expected_undecidable;
    std::set<std::int64_t> checked;
    for (const auto& row : rows) {
      const std::int64_t id = row["id"];
      if (id % kEvalEvery != 0) continue;
      checked.insert(id);
      const EvalVerdict verdict = eval_recorded(candidate, row);
      if (verdict.needs_unasked_factor) {
        expected_undecidable.insert(id);
      } else if (verdict.decision != row["decision"]) {
        expected_changes[{row["decision"], verdict.decision}].insert(id);
      }
    }
    const ProcessResult replayed =
        authpolicy({"replay", candidate, "--db", db_, "--format", "json"});
    ASSERT_EQ(replayed.exit_code, 1) << replayed.output;
    const nlohmann::json report = json_of(replayed);
    std::map<std::pair<std::string, std::string>, std::set<std::int64_t>> changes;
    for (const auto& group : report["changes"]) {
      std::set<std::int64_t> ids;
      for (const auto& id : group["ids"]) ids.insert(id.get<std::int64_t>());
      EXPECT_EQ(group["count"], ids.size());
      for (const std::int64_t id : ids) {
        if (checked.contains(id)) changes[{group["old"], group["new"]}].insert(id);
      }
      // The example is a real request of the group, with its time.
      EXPECT_TRUE(ids.contains(group["example"]["id"].get<std::int64_t>()));
      EXPECT_FALSE(group["example"]["time"].get<std::string>().empty());
    }
    std::set<std::int64_t> undecidable;
    for (const auto& group : report["cannot_decide"]) {
      for (const auto& id : group["ids"]) {
        if (checked.contains(id.get<std::int64_t>())) undecidable.insert(id.get<std::int64_t>());
      }
    }
    EXPECT_EQ(changes, expected_changes);
    EXPECT_EQ(undecidable, expected_undecidable);
    EXPECT_EQ(report["unchanged"].get<std::size_t>() + report["changed"].get<std::size_t>() +
                  report["undecidable"].get<std::size_t>(),
              static_cast<std::size_t>(kDecisions));
  }

  // What each candidate does, in numbers a reader can check against the policies: the first
  // only turns permits into denies, the third cannot decide bob's local logins whose password
  // passed (his fingerprint was never asked; remotely it is unavailable without asking).
  const nlohmann::json tighter =
      json_of(authpolicy({"replay", candidates[0], "--db", db_, "--format", "json"}));
  ASSERT_EQ(tighter["changes"].size(), 1u);
  EXPECT_EQ(tighter["changes"][0]["old"], "permit");
  EXPECT_EQ(tighter["changes"][0]["new"], "deny");
  EXPECT_EQ(tighter["undecidable"], 0);
  const nlohmann::json everywhere =
      json_of(authpolicy({"replay", candidates[2], "--db", db_, "--format", "json"}));
  ASSERT_EQ(everywhere["cannot_decide"].size(), 1u);
  EXPECT_EQ(everywhere["cannot_decide"][0]["needs"], "fingerprint, which was not asked");
  EXPECT_GT(everywhere["undecidable"].get<int>(), 0);

  // --service narrows it: nothing was decided for another service.
  const ProcessResult other =
      authpolicy({"replay", candidates[0], "--db", db_, "--service", "sshd"});
  EXPECT_EQ(other.exit_code, 0) << other.output;
  EXPECT_NE(other.output.find("replayed 0 requests"), std::string::npos) << other.output;
}

TEST_F(PamReplay, TextReportGroupsLikeDiffAndErrorsExitTwo) {
  write_passdbs();
  write_policy(policy_text(db_, "auth password\n"));
  for (const char* place : {"203.0.113.9", "203.0.113.10", "10.1.2.3"}) {
    Script script({"alice-pass"});
    Session session("ap_policy", "alice", &script);
    session.set_item(PAM_RHOST, place);
    ASSERT_EQ(session.authenticate(), PAM_SUCCESS);
  }
  const std::string tighter =
      write_candidate("tighter.pol", "deny if rhost in { 203.0.113.0/24 }\nauth password\n");
  const ProcessResult text = authpolicy({"replay", tighter, "--db", db_});
  EXPECT_EQ(text.exit_code, 1) << text.output;
  EXPECT_NE(text.output.find("permit -> deny: 2 requests\n"), std::string::npos) << text.output;
  EXPECT_NE(text.output.find("alice on ap_policy from 203.0.113.9"), std::string::npos)
      << text.output;
  // The lines docs/audit.md shows.
  EXPECT_NE(text.output.find("  was: permit (auth passed: password)\n"
                             "  now: deny (denied by 'deny if rhost in { 203.0.113.0/24 }')\n"),
            std::string::npos)
      << text.output;
  EXPECT_NE(text.output.find("replayed 3 requests through " + tighter +
                             ": 1 unchanged, 2 would change, 0 cannot be decided"),
            std::string::npos)
      << text.output;
  // With `audit { groups = false }` the groups are not looked up: a policy that asks a group
  // cannot decide that request; the earlier ones (groups recorded: alice is in none) it can.
  write_policy(matrix_password_factor() + matrix_fingerprint_factor() + "audit { db = \"" + db_ +
               "\"; groups = false }\nauth password\n");
  {
    Script script({"alice-pass"});
    Session session("ap_policy", "alice", &script);
    ASSERT_EQ(session.authenticate(), PAM_SUCCESS);
  }
  const std::string by_group =
      write_candidate("by-group.pol", "deny if user in group(\"adm\")\nauth password\n");
  const ProcessResult grouped = authpolicy({"replay", by_group, "--db", db_});
  EXPECT_EQ(grouped.exit_code, 1) << grouped.output;
  EXPECT_NE(grouped.output.find("cannot decide: 1 request needs the user's groups, which was not "
                                "recorded\n"),
            std::string::npos)
      << grouped.output;
  EXPECT_NE(grouped.output.find(": 3 unchanged, 0 would change, 1 cannot be decided"),
            std::string::npos)
      << grouped.output;
  // --since in the future: nothing to replay, nothing changes.
  EXPECT_EQ(authpolicy({"replay", tighter, "--db", db_, "--since", "2999-01-01"}).exit_code, 0);
  // A policy with errors, a missing log, a bad --since: exit 2.
  write_file(folder_.file("broken.pol"), "auth password &&\n");
  EXPECT_EQ(authpolicy({"replay", folder_.file("broken.pol"), "--db", db_}).exit_code, 2);
  EXPECT_EQ(authpolicy({"replay", tighter, "--db", folder_.file("absent.db")}).exit_code, 2);
  EXPECT_EQ(authpolicy({"replay", tighter, "--db", db_, "--since", "soon"}).exit_code, 2);
}

// Without `audit { groups }` the groups are recorded only when the live policy may ask one (their
// lookup costs more than the rest of a login): a group candidate is then decided exactly for a
// policy that already has group conditions, and "cannot decide" for one that has none.
TEST_F(PamReplay, GroupsAreRecordedByDefaultOnlyForAPolicyWithAGroupCondition) {
  write_passdbs();
  const std::string plain = matrix_password_factor() + "audit { db = \"" + db_ + "\" }\n";
  write_policy(plain + "auth password\n");
  {
    Script script({"alice-pass"});
    Session session("ap_policy", "alice", &script);
    ASSERT_EQ(session.authenticate(), PAM_SUCCESS);
  }
  write_policy(plain + "deny if user in group(\"no-such-group-here\")\nauth password\n");
  {
    Script script({"alice-pass"});
    Session session("ap_policy", "alice", &script);
    ASSERT_EQ(session.authenticate(), PAM_SUCCESS);
  }
  const nlohmann::json rows =
      json_of(authpolicy({"audit", "--db", db_, "--limit", "0", "--format", "json"}));
  ASSERT_EQ(rows.size(), 2u);
  // Newest first: the group policy's decision, then the plain one's.
  EXPECT_EQ(rows[0]["situation"].get<std::string>().find("groups unknown"), std::string::npos)
      << rows[0].dump();
  EXPECT_NE(rows[1]["situation"].get<std::string>().find("groups unknown\n"), std::string::npos)
      << rows[1].dump();
  const std::string by_group = folder_.file("by-group.pol");
  write_file(by_group, matrix_password_factor() + "deny if user in group(\"adm\")\nauth password\n");
  const ProcessResult replayed = authpolicy({"replay", by_group, "--db", db_});
  EXPECT_NE(replayed.output.find(": 1 unchanged, 0 would change, 1 cannot be decided"),
            std::string::npos)
      << replayed.output;
}

// A rollout log: decisions made through libpam by `auth password && (totp if enrolled(totp))`
// with the real totp plugin and oathtool's codes, for alice (enrolled), and bob with no secret
// file, an unsafe one (enrolled() unknown) or a safe one, with right and wrong answers. Replay of
// the live policy changes nothing; for three candidates, what replay reports is exactly what
// `authpolicy eval` says of each recorded request (with the recorded enrolled() answers).
class PamReplayEnrolled : public PamReplay {
 protected:
  static constexpr const char* kSecret = "JBSWY3DPEHPK3PXP";
  std::string totp_ = std::string(Paths::run_dir()) + "/totp-replay-" + std::to_string(getpid());

  void TearDown() override {
    std::error_code ignored;
    std::filesystem::remove_all(totp_, ignored);
  }
  std::string rollout_text(const std::string& db, const std::string& rules) const {
    return matrix_password_factor() + "factor totp { secrets = \"" + totp_ + "/%u\" }\n" +
           "audit { db = \"" + db + "\"; groups = true }\n" + rules;
  }
  static std::string current_code() {
    const auto r = run_process({"/usr/bin/oathtool", "--totp", "-b", kSecret},
                               {{"LD_PRELOAD", ""}, {"PAM_WRAPPER", "0"}}, "");
    if (r.exit_code != 0) throw std::runtime_error("oathtool failed (apt-get install oathtool)");
    return r.output.substr(0, r.output.find('\n'));
  }
};

TEST_F(PamReplayEnrolled, ReplayOfARolloutLogMatchesEvalRowByRow) {
  constexpr int kLogins = 90;
  write_passdbs();
  std::filesystem::remove_all(totp_);
  mkdir(totp_.c_str(), 0700);
  const std::string secret = std::string(kSecret) + "\n\" TOTP_AUTH\n";
  write_file(totp_ + "/alice", secret, 0600);
  const std::string live = "auth password && (totp if enrolled(totp))\n";
  write_policy(rollout_text(db_, live));
  std::mt19937 random(2027);
  std::map<std::string, int> bob_states;
  for (int i = 0; i < kLogins; ++i) {
    const bool alice = random() % 10 < 4;
    const std::string user = alice ? "alice" : "bob";
    if (!alice) {
      // bob: no secret file, an unsafe one, or a safe one.
      const int state = static_cast<int>(random() % 3);
      ++bob_states[state == 0 ? "none" : state == 1 ? "unsafe" : "safe"];
      unlink((totp_ + "/bob").c_str());
      if (state != 0) write_file(totp_ + "/bob", secret, state == 1 ? 0644 : 0600);
    }
    const bool right_password = random() % 10 < 8;
    const bool right_code = random() % 10 < 6;
    Script script({right_password ? user + "-pass" : "wrong",
                   right_code ? current_code() : std::string("000000")});
    Session session("ap_policy", user, &script);
    session.authenticate();
  }
  ASSERT_EQ(bob_states.size(), 3u) << "every state of bob's enrolment is exercised";
  const nlohmann::json rows =
      json_of(authpolicy({"audit", "--db", db_, "--limit", "0", "--format", "json"}));
  ASSERT_EQ(rows.size(), static_cast<std::size_t>(kLogins));
  std::map<std::string, int> answers;
  for (const auto& row : rows) {
    const std::string situation = row["situation"];
    for (const char* answer : {"enrolled totp=yes", "enrolled totp=no", "enrolled totp=unknown"}) {
      if (situation.find(answer) != std::string::npos) ++answers[answer];
    }
  }
  ASSERT_EQ(answers.size(), 3u) << "the log holds yes, no and unknown enrolled() answers";

  {
    const ProcessResult same =
        authpolicy({"replay", current_policy_path(), "--db", db_, "--format", "json"});
    EXPECT_EQ(same.exit_code, 0) << same.output;
    const nlohmann::json report = json_of(same);
    EXPECT_EQ(report["unchanged"], kLogins) << report.dump(1);
  }

  auto candidate = [&](const std::string& name, const std::string& rules) {
    const std::string path = folder_.file(name);
    write_file(path, rollout_text(folder_.file("candidate.db"), rules));
    return path;
  };
  const std::vector<std::string> candidates{
      // The flag day: bob was never asked a code.
      candidate("flag-day.pol", "auth password && totp\n"),
      // Refuse whoever has not enrolled: decided from the recorded answers alone.
      candidate("enrolled-only.pol", "deny if !enrolled(totp)\n" + live),
      // Back to the password alone.
      candidate("password-only.pol", "auth password\n"),
  };
  for (const auto& path : candidates) {
    SCOPED_TRACE(path);
    std::map<std::pair<std::string, std::string>, std::set<std::int64_t>> expected_changes;
    std::set<std::int64_t> expected_undecidable;
    for (const auto& row : rows) {
      const EvalVerdict verdict = eval_recorded(path, row, {"totp"});
      if (verdict.needs_unasked_factor) {
        expected_undecidable.insert(row["id"].get<std::int64_t>());
      } else if (verdict.decision != row["decision"]) {
        expected_changes[{row["decision"], verdict.decision}].insert(row["id"].get<std::int64_t>());
      }
    }
    EXPECT_FALSE(expected_changes.empty() && expected_undecidable.empty())
        << "the candidate changes nothing: it tests nothing";
    const ProcessResult replayed = authpolicy({"replay", path, "--db", db_, "--format", "json"});
    ASSERT_EQ(replayed.exit_code, 1) << replayed.output;
    const nlohmann::json report = json_of(replayed);
    std::map<std::pair<std::string, std::string>, std::set<std::int64_t>> changes;
    for (const auto& group : report["changes"]) {
      for (const auto& id : group["ids"]) {
        changes[{group["old"], group["new"]}].insert(id.get<std::int64_t>());
      }
    }
    std::set<std::int64_t> undecidable;
    for (const auto& group : report["cannot_decide"]) {
      for (const auto& id : group["ids"]) undecidable.insert(id.get<std::int64_t>());
    }
    EXPECT_EQ(changes, expected_changes);
    EXPECT_EQ(undecidable, expected_undecidable);
    EXPECT_EQ(report["unchanged"].get<std::size_t>() + report["changed"].get<std::size_t>() +
                  report["undecidable"].get<std::size_t>(),
              static_cast<std::size_t>(kLogins));
    // What each candidate does, as a reader of the policies expects it.
    if (path == candidates[0]) {
      EXPECT_FALSE(undecidable.empty()) << "bob's logins without a code cannot be decided";
    } else if (path == candidates[1]) {
      EXPECT_FALSE((changes[{"permit", "deny"}].empty()))
          << "bob's permits without an enrolment become denies, from the recorded answer";
    } else {
      EXPECT_FALSE((changes[{"deny", "permit"}].empty()))
          << "wrong codes and unsafe files no longer refuse";
      EXPECT_TRUE(undecidable.empty());
    }
  }
}

}  // namespace
}  // namespace authpolicy::pam_test
