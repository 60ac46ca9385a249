// The tally beside the audit log (audit/tally.h): whenever it answers failures() or recent(), it
// answers what the tables and the spool say; when it cannot prove that, it does not answer.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "audit/audit_store.h"
#include "audit/recent_pass.h"
#include "audit/tally.h"
#include "tests/audit/audit_test_support.h"

namespace authpolicy::audit {
namespace {

using testing::sample_record;
using testing::TempFolder;

constexpr std::int64_t kMinuteUs = 60LL * 1000000;

// The log's own answer (sqlite; this opens the log, which folds the spool).
std::int64_t logged_failures(const std::string& db, const FailureQuery& query) {
  const FailureCount count = count_failures(db, {}, query);
  EXPECT_TRUE(count.known()) << count.cause;
  return count.count.value_or(-1);
}

std::optional<std::int64_t> tallied_failures(const std::string& db, const FailureQuery& query) {
  const auto count = tally::count_failures(db, {}, query);
  if (!count) return std::nullopt;
  EXPECT_TRUE(count->known());
  return count->count;
}

FailureQuery failures_of(const std::string& user, std::int64_t window_seconds, std::int64_t now_us,
                         std::optional<std::string> rhost = std::nullopt) {
  FailureQuery query;
  query.user = user;
  query.window_seconds = window_seconds;
  query.now_us = now_us;
  query.rhost = std::move(rhost);
  return query;
}

// The first decision creates the log; the second finds no tally and folds, which builds it.
void start_log(const std::string& db) {
  ASSERT_TRUE(record_decision(db, {}, sample_record("starter", "permit")).ok());
  ASSERT_TRUE(append_decision(db, {}, sample_record("starter", "permit"), nullptr).ok());
}

TEST(AuditTally, BuiltByTheFirstFoldThenKeptByEverySpooledDecision) {
  TempFolder temp;
  const std::string db = temp.file("audit.db");
  start_log(db);
  const std::int64_t now = now_utc_us();
  EXPECT_EQ(tallied_failures(db, failures_of("alice", 900, now)), 0);
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(append_decision(db, {}, sample_record("alice", "deny"), nullptr).ok());
  }
  // Still in the spool: the tally counts them without sqlite.
  EXPECT_GT(std::filesystem::file_size(db + "-spool"), 24u);
  EXPECT_EQ(tallied_failures(db, failures_of("alice", 900, now_utc_us())), 3);
  EXPECT_EQ(logged_failures(db, failures_of("alice", 900, now_utc_us())), 3);
}

TEST(AuditTally, ADirectWriteToTheTablesMakesItStepAsideUntilTheNextFoldRebuildsIt) {
  TempFolder temp;
  const std::string db = temp.file("audit.db");
  start_log(db);
  ASSERT_TRUE(append_decision(db, {}, sample_record("bob", "deny"), nullptr).ok());
  EXPECT_EQ(tallied_failures(db, failures_of("bob", 900, now_utc_us())), 1);
  // Written to sqlite by something that does not keep the tally (an older module, a tool).
  ASSERT_TRUE(record_decision(db, {}, sample_record("bob", "deny")).ok());
  tally::Miss why = tally::Miss::window;
  EXPECT_EQ(tally::count_failures(db, {}, failures_of("bob", 900, now_utc_us()), &why),
            std::nullopt)
      << "the tally must not answer once the tables changed behind it";
  EXPECT_EQ(why, tally::Miss::unusable);
  // The next spooled decision sees it stale and folds; the fold rebuilds it from the tables.
  ASSERT_TRUE(append_decision(db, {}, sample_record("bob", "deny"), nullptr).ok());
  EXPECT_EQ(tallied_failures(db, failures_of("bob", 900, now_utc_us())), 3);
  EXPECT_EQ(logged_failures(db, failures_of("bob", 900, now_utc_us())), 3);
}

TEST(AuditTally, AnsweredByTheLogWhenItsFilesAreNotWhatTheChecksWant) {
  TempFolder temp;
  const std::string db = temp.file("audit.db");
  start_log(db);
  ASSERT_TRUE(append_decision(db, {}, sample_record("carol", "deny"), nullptr).ok());
  const FailureQuery query = failures_of("carol", 900, now_utc_us());
  ASSERT_EQ(tallied_failures(db, query), 1);
  const std::string folder = db + "-tally";
  const std::string state = folder + "/state";

  ASSERT_EQ(chmod(state.c_str(), 0644), 0);
  EXPECT_EQ(tallied_failures(db, query), std::nullopt) << "state readable by others";
  ASSERT_EQ(chmod(state.c_str(), 0600), 0);
  ASSERT_EQ(tallied_failures(db, query), 1);

  ASSERT_EQ(chmod(folder.c_str(), 0755), 0);
  EXPECT_EQ(tallied_failures(db, query), std::nullopt) << "tally folder open to others";
  ASSERT_EQ(chmod(folder.c_str(), 0700), 0);

  // Another owner's file in the user's name.
  std::string user_file;
  for (const auto& entry : std::filesystem::directory_iterator(folder)) {
    if (entry.path().filename().string().rfind("u-", 0) == 0) {
      std::ifstream in(entry.path(), std::ios::binary);
      const std::string bytes(std::istreambuf_iterator<char>(in), {});
      if (bytes.find("carol") != std::string::npos) user_file = entry.path();
    }
  }
  ASSERT_FALSE(user_file.empty());
  ASSERT_EQ(chown(user_file.c_str(), 65534, 65534), 0);
  EXPECT_EQ(tallied_failures(db, query), std::nullopt) << "user file owned by nobody";
  ASSERT_EQ(chown(user_file.c_str(), 0, 0), 0);

  // The log itself made writable by others: the tally steps aside, and the log refuses.
  ASSERT_EQ(chmod(db.c_str(), 0666), 0);
  EXPECT_EQ(tallied_failures(db, query), std::nullopt);
  EXPECT_FALSE(count_failures(db, {}, query).known());
  ASSERT_EQ(chmod(db.c_str(), 0600), 0);
  EXPECT_EQ(tallied_failures(db, query), 1);
}

TEST(AuditTally, ASpoolRecordTheTallyNeverSawMakesItStepAside) {
  TempFolder temp;
  const std::string db = temp.file("audit.db");
  start_log(db);
  ASSERT_TRUE(append_decision(db, {}, sample_record("dave", "deny"), nullptr).ok());
  ASSERT_EQ(tallied_failures(db, failures_of("dave", 900, now_utc_us())), 1);
  // As if a writer died between its spool record and the tally (or an older module appended).
  {
    std::ofstream spool(db + "-spool", std::ios::binary | std::ios::app);
    spool << "APR1";
  }
  EXPECT_EQ(tallied_failures(db, failures_of("dave", 900, now_utc_us())), std::nullopt);
}

TEST(AuditTally, AWindowReachingBeforeWhatItHoldsGoesToTheLog) {
  TempFolder temp;
  const std::string db = temp.file("audit.db");
  start_log(db);
  ASSERT_TRUE(append_decision(db, {}, sample_record("erin", "deny"), nullptr).ok());
  const std::int64_t now = now_utc_us();
  EXPECT_EQ(tallied_failures(db, failures_of("erin", 3600, now)), 1);
  tally::Miss why = tally::Miss::unusable;
  EXPECT_EQ(tally::count_failures(db, {}, failures_of("erin", 30 * 86400, now), &why), std::nullopt)
      << "30 days reach before the tally's 24 hours";
  EXPECT_EQ(why, tally::Miss::window) << "the tally is current: that decision still spools";
}

// Random decisions (users, sources in several spellings, terminals, services, factors, times)
// through the spool, with direct writes and folds among them; every answer the tally gives is the
// log's answer, and it gives most of them.
TEST(AuditTally, EveryAnswerIsTheLogsAnswer) {
  TempFolder temp;
  const std::string db = temp.file("audit.db");
  start_log(db);
  std::mt19937 random(23);
  const std::vector<std::string> users = {"u0", "u1", "u2", "u3"};
  const std::vector<std::string> sources = {"10.0.0.1", "::ffff:10.0.0.1", "10.0.0.2",
                                            "host.example", ""};
  const std::vector<std::string> ttys = {"pts/1", "ssh", ""};
  const std::vector<std::string> services = {"sshd", "sudo"};
  const std::vector<std::string> factors = {"password", "totp", "u2f"};
  const std::vector<std::string> policies = {"/etc/authpolicy/sudo.pol",
                                             "/etc/authpolicy/sshd.pol"};
  auto pick = [&](const std::vector<std::string>& from) {
    return from[random() % from.size()];
  };
  int answered = 0;
  int asked = 0;
  for (int round = 0; round < 12; ++round) {
    const std::int64_t base = now_utc_us();
    for (int i = 0; i < 40; ++i) {
      AuditRecord record = sample_record(pick(users), random() % 3 == 0 ? "permit" : "deny",
                                         base - static_cast<std::int64_t>(random() % 120) * kMinuteUs,
                                         pick(sources));
      record.tty = pick(ttys);
      record.service = pick(services);
      record.policy_path = pick(policies);
      record.factors.clear();
      for (const auto& factor : factors) {
        if (random() % 2 == 0) record.factors.push_back({factor, random() % 3 ? "pass" : "fail", "", 1});
      }
      const bool direct = random() % 50 == 0;
      ASSERT_TRUE(direct ? record_decision(db, {}, record).ok()
                         : append_decision(db, {}, record, nullptr).ok());
    }
    const std::int64_t now = now_utc_us();
    for (int q = 0; q < 40; ++q) {
      const std::string user = pick(users);
      const std::int64_t window = 60 * (1 + static_cast<std::int64_t>(random() % 150));
      std::optional<std::string> source;
      if (random() % 2) source = pick(sources);
      ++asked;
      const auto tallied = tallied_failures(db, failures_of(user, window, now, source));
      if (tallied) {
        ++answered;
        FailureQuery query = failures_of(user, window, now, source);
        EXPECT_EQ(*tallied, logged_failures(db, query))
            << "failures(" << window << "s) of " << user << " from " << source.value_or("(any)");
      }
      RecentPassQuery recent;
      recent.user = user;
      recent.service = pick(services);
      if (random() % 2) recent.policy_path = pick(policies);  // else matched by service
      recent.factor = pick(factors);
      recent.window_seconds = window;
      recent.now_us = now;
      const int scope = static_cast<int>(random() % 3);
      if (scope == 1) recent.rhost = pick(sources);
      if (scope == 2) recent.tty = pick(ttys);
      ++asked;
      const auto fast = tally::find_recent_pass(db, {}, recent);
      if (fast) {
        ++answered;
        const RecentPass slow = find_recent_pass(db, {}, recent);
        ASSERT_TRUE(slow.found.has_value()) << slow.cause;
        EXPECT_EQ(*fast->found, *slow.found) << "recent(" << recent.factor << ") of " << user;
        if (*fast->found && *slow.found) {
          EXPECT_EQ(fast->time_us, slow.time_us);
        }
      }
    }
    // One more spooled decision: a tally made stale by a direct write is rebuilt by its fold.
    ASSERT_TRUE(append_decision(db, {}, sample_record("starter", "permit"), nullptr).ok());
  }
  std::printf("[          ] the tally answered %d of %d queries\n", answered, asked);
  EXPECT_GT(answered, asked / 2) << "the tally answered too few queries to be tested";
}

// Processes appending at once, each reading its own failures through the tally as it goes: at
// the end the tally and the log agree for every user, and the tally still answers.
TEST(AuditTally, ManyWritersAtOnceLoseNothingAndCountNothingTwice) {
  TempFolder temp;
  const std::string db = temp.file("audit.db");
  start_log(db);
  constexpr int kProcesses = 16;
  constexpr int kDecisionsEach = 100;
  std::vector<pid_t> children;
  for (int process = 0; process < kProcesses; ++process) {
    const pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      int failed = 0;
      const std::string user = "w" + std::to_string(process % 4);
      for (int i = 0; i < kDecisionsEach; ++i) {
        if (!append_decision(db, {}, sample_record(user, i % 3 ? "deny" : "permit"), nullptr).ok()) {
          ++failed;
        }
        tally::count_failures(db, {}, failures_of(user, 3600, 0));
      }
      _exit(failed == 0 ? 0 : 1);
    }
    children.push_back(pid);
  }
  for (pid_t pid : children) {
    int status = 0;
    waitpid(pid, &status, 0);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  // A last spooled decision rebuilds the tally if a fold in the rush left it stale.
  ASSERT_TRUE(append_decision(db, {}, sample_record("starter", "permit"), nullptr).ok());
  const std::int64_t now = now_utc_us();
  std::int64_t total = 0;
  for (int u = 0; u < 4; ++u) {
    const std::string user = "w" + std::to_string(u);
    const auto tallied = tallied_failures(db, failures_of(user, 3600, now));
    const std::int64_t logged = logged_failures(db, failures_of(user, 3600, now));
    ASSERT_TRUE(tallied.has_value()) << "the tally must answer after the rush";
    EXPECT_EQ(*tallied, logged) << user;
    total += logged;
  }
  const int denies_each = kDecisionsEach - (kDecisionsEach + 2) / 3;
  EXPECT_EQ(total, kProcesses * denies_each);
}

}  // namespace
}  // namespace authpolicy::audit
