// `authpolicy audit export` on a real log: ECS lines in id order, --since, a cursor that resumes
// where the last run stopped (spooled decisions included), an --output whose last line a killed
// exporter left half written, and cursors that must not be guessed at.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "audit/audit_store.h"
#include "audit_command_support.h"
#include "audit_test_support.h"
#include "cli/audit_command.h"

namespace authpolicy::cli {
namespace {

using audit::testing::CommandRun;
using audit::testing::kMinute;
using audit::testing::sample_record;

class AuditExport : public audit::testing::AuditLogTest {
 protected:
  void SetUp() override {
    now_ = audit::now_utc_us();
    add(sample_record("carol", "deny", now_ - 40 * 86400LL * 1000000, "192.0.2.9"));
    auto bob = sample_record("bob", "deny", now_ - 5 * kMinute, "10.1.2.3");
    bob.ruser = "admin";
    bob.country = "DE";
    bob.asn = 64500;
    bob.factors = {{"password", "fail", "wrong password", 10}};
    bob.unknowns = {{"rhost.country in { \"DE\" }", "GeoIP database unreadable"}};
    add(bob);
    add(sample_record("alice", "permit", now_ - 4 * kMinute, "gateway.example"));
    add(sample_record("alice", "permit", now_ - 3 * kMinute, ""));
  }

  CommandRun run(std::vector<std::string> args) {
    args.insert(args.begin(), "export");
    return run_on_log(std::move(args));
  }

  static std::vector<nlohmann::json> lines(const std::string& text) {
    std::vector<nlohmann::json> parsed;
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) parsed.push_back(nlohmann::json::parse(line));
    return parsed;
  }
  static std::vector<std::int64_t> ids(const std::vector<nlohmann::json>& parsed) {
    std::vector<std::int64_t> found;
    for (const auto& line : parsed) found.push_back(line["event"]["sequence"]);
    return found;
  }
  static std::string read(const std::string& path) {
    std::ifstream in(path);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }

  std::int64_t now_ = 0;
};

TEST_F(AuditExport, OneEcsObjectPerLineInTheOrderTheyWereWritten) {
  const CommandRun result = run({});
  ASSERT_EQ(result.code, 0) << result.err;
  const auto parsed = lines(result.out);
  ASSERT_EQ(ids(parsed), (std::vector<std::int64_t>{1, 2, 3, 4}));
  const auto& bob = parsed[1];
  {  // event.id is the decision's own id, as the log (and the journal entry) name it
    auto opened = audit::AuditStore::open(db_, {});
    ASSERT_TRUE(opened.store) << opened.status.message;
    audit::DecisionFilter all;
    all.limit = 0;
    all.oldest_first = true;
    std::vector<audit::StoredDecision> rows;
    ASSERT_TRUE(opened.store->list(all, &rows).ok());
    ASSERT_EQ(rows.size(), 4u);
    for (std::size_t i = 0; i < rows.size(); ++i) {
      ASSERT_EQ(rows[i].record.decision_id.size(), 32u);
      EXPECT_EQ(parsed[i]["event"]["id"], rows[i].record.decision_id);
    }
  }
  EXPECT_EQ(bob["@timestamp"], audit::format_utc_iso(now_ - 5 * kMinute));
  EXPECT_EQ(bob["ecs"]["version"], "8.11.0");
  EXPECT_EQ(bob["event"]["category"], nlohmann::json::array({"authentication"}));
  EXPECT_EQ(bob["event"]["outcome"], "failure");
  EXPECT_EQ(bob["event"]["reason"], "password failed");
  EXPECT_EQ(bob["event"]["duration"], 12345000);
  EXPECT_EQ(bob["user"]["name"], "bob");
  EXPECT_EQ(bob["service"]["name"], "sshd");
  EXPECT_EQ(bob["source"]["ip"], "10.1.2.3");
  EXPECT_EQ(bob["source"]["address"], "10.1.2.3");
  EXPECT_EQ(bob["source"]["user"]["name"], "admin");
  EXPECT_EQ(bob["source"]["geo"]["country_iso_code"], "DE");
  EXPECT_EQ(bob["source"]["as"]["number"], 64500);
  EXPECT_EQ(bob["authpolicy"]["decision"], "deny");
  EXPECT_EQ(bob["authpolicy"]["factors"][0]["detail"], "wrong password");
  EXPECT_EQ(bob["authpolicy"]["unknowns"][0]["cause"], "GeoIP database unreadable");
  EXPECT_EQ(bob["authpolicy"]["policy"]["path"], "/etc/authpolicy/sshd.pol");
  EXPECT_EQ(parsed[2]["event"]["outcome"], "success");
  EXPECT_EQ(parsed[2]["source"]["domain"], "gateway.example");
  EXPECT_FALSE(parsed[2]["source"].contains("ip"));
  EXPECT_FALSE(parsed[3].contains("source")) << "a local request has no source";
}

TEST_F(AuditExport, SinceLeavesOutOlderDecisions) {
  const CommandRun result = run({"--since", "1h"});
  ASSERT_EQ(result.code, 0) << result.err;
  EXPECT_EQ(ids(lines(result.out)), (std::vector<std::int64_t>{2, 3, 4}));
}

TEST_F(AuditExport, ACursorResumesAfterTheLastDecisionPrintedSpooledOnesIncluded) {
  const std::string cursor = temp_.file("cursor");
  ASSERT_EQ(ids(lines(run({"--cursor", cursor}).out)), (std::vector<std::int64_t>{1, 2, 3, 4}));
  EXPECT_TRUE(run({"--cursor", cursor}).out.empty()) << "nothing new, nothing printed";
  add(sample_record("dave", "deny", now_));
  // Appended to the spool beside the database, as the PAM module does: moved in by the export.
  std::string fold_problem;
  audit::OpenOptions options;
  ASSERT_TRUE(
      audit::append_decision(db_, options, sample_record("erin", "permit", now_ + 1), &fold_problem)
          .ok());
  struct stat spool {};
  ASSERT_EQ(stat((db_ + "-spool").c_str(), &spool), 0);
  ASSERT_GT(spool.st_size, 0) << "the decision waits in the spool";
  const auto parsed = lines(run({"--cursor", cursor}).out);
  ASSERT_EQ(ids(parsed), (std::vector<std::int64_t>{5, 6}));
  EXPECT_EQ(parsed[1]["user"]["name"], "erin");
}

TEST_F(AuditExport, AnOutputLeftHalfWrittenByAKilledExporterIsCompletedNotRepeated) {
  const std::string cursor = temp_.file("cursor");
  const std::string output = temp_.file("export.jsonl");
  ASSERT_EQ(run({"--cursor", cursor, "--output", output}).code, 0);
  const std::string first = read(output);
  ASSERT_EQ(lines(first).size(), 4u);
  // Killed after writing lines 3 and 4 and half of a fifth, before the cursor said so.
  {
    std::ofstream stale(cursor, std::ios::trunc);
    stale << "authpolicy-export-cursor 1\nid=2\ntime_us=" << now_ - 5 * kMinute << "\n";
    std::ofstream more(output, std::ios::app);
    more << "{\"@timestamp\":\"2026-01-01T00:00:00Z\",\"event\":{\"sequence\":5,\"ki";
  }
  add(sample_record("dave", "deny", now_));
  ASSERT_EQ(run({"--cursor", cursor, "--output", output}).code, 0);
  const std::string after = read(output);
  ASSERT_EQ(after.substr(0, first.size()), first);
  EXPECT_EQ(ids(lines(after)), (std::vector<std::int64_t>{1, 2, 3, 4, 5}));
  EXPECT_NE(read(cursor).find("id=5\n"), std::string::npos);
}

// Export often runs as root from a timer. Its cursor is replaced through the folder it checked,
// with a fresh temporary name: a name planted beside the cursor (here "cursor.tmp", a hard link
// to another file) is never opened, so that file is not truncated and overwritten. And a folder
// reached through a symbolic link someone else owns is refused, as for every file root writes.
TEST_F(AuditExport, TheCursorIsWrittenThroughItsCheckedFolderNeverThroughAPlantedName) {
  const std::string victim = temp_.write("victim", "precious\n", 0644);
  ASSERT_EQ(link(victim.c_str(), temp_.file("cursor.tmp").c_str()), 0) << std::strerror(errno);
  const std::string cursor = temp_.file("cursor");
  const CommandRun result = run({"--cursor", cursor});
  ASSERT_EQ(result.code, 0) << result.err;
  EXPECT_EQ(read(victim), "precious\n") << "the planted name was written through";
  EXPECT_NE(read(cursor).find("id=4\n"), std::string::npos);
  struct stat written {};
  ASSERT_EQ(stat(cursor.c_str(), &written), 0);
  EXPECT_EQ(written.st_mode & 0777, 0600u);

  const std::string elsewhere = temp_.file("elsewhere");
  ASSERT_EQ(mkdir(elsewhere.c_str(), 0700), 0);
  const std::string link_path = temp_.file("theirs");
  ASSERT_EQ(symlink(elsewhere.c_str(), link_path.c_str()), 0);
  ASSERT_EQ(lchown(link_path.c_str(), 65534, 65534), 0) << std::strerror(errno);
  const CommandRun refused = run({"--cursor", link_path + "/cursor"});
  EXPECT_EQ(refused.code, 2);
  EXPECT_TRUE(refused.out.empty()) << "nothing printed that the cursor would not remember";
  EXPECT_NE(refused.err.find("cannot open the folder of the cursor"), std::string::npos)
      << refused.err;
  EXPECT_FALSE(std::filesystem::exists(elsewhere + "/cursor"));
  const CommandRun output = run({"--output", link_path + "/export.jsonl"});
  EXPECT_EQ(output.code, 2);
  EXPECT_NE(output.err.find("cannot open the folder of the output"), std::string::npos)
      << output.err;
  EXPECT_FALSE(std::filesystem::exists(elsewhere + "/export.jsonl"));
}

TEST_F(AuditExport, ACursorThatIsNotOneIsRefusedAReplacedLogIsExportedFromTheStart) {
  const std::string cursor = temp_.file("cursor");
  {
    std::ofstream junk(cursor);
    junk << "id=3\n";
  }
  CommandRun result = run({"--cursor", cursor});
  EXPECT_EQ(result.code, 2);
  EXPECT_TRUE(result.out.empty());
  EXPECT_NE(result.err.find("is not one"), std::string::npos) << result.err;
  {
    std::ofstream other(cursor, std::ios::trunc);
    other << "authpolicy-export-cursor 1\nid=3\ntime_us=12345\n";  // not decision 3's time
  }
  result = run({"--cursor", cursor});
  EXPECT_EQ(result.code, 0);
  EXPECT_EQ(ids(lines(result.out)), (std::vector<std::int64_t>{1, 2, 3, 4}));
  EXPECT_NE(result.err.find("replaced"), std::string::npos) << result.err;
}

TEST_F(AuditExport, FollowPrintsNewDecisionsWithinTheIntervalAndStopsOnSigterm) {
  const std::string output = temp_.file("export.jsonl");
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    std::ostringstream out, err;
    _exit(run_audit_command(
        {"export", "--db", db_, "--output", output, "--follow", "--interval", "100ms"}, out, err));
  }
  auto wait_lines = [&](std::size_t count) {
    for (int i = 0; i < 100 && lines(read(output)).size() < count; ++i) usleep(20000);
    return lines(read(output)).size();
  };
  EXPECT_EQ(wait_lines(4), 4u);
  add(sample_record("dave", "deny", now_));
  const auto added = std::chrono::steady_clock::now();
  EXPECT_EQ(wait_lines(5), 5u);
  EXPECT_LT(std::chrono::steady_clock::now() - added, std::chrono::seconds(1));
  kill(child, SIGTERM);
  int status = 0;
  waitpid(child, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
}

}  // namespace
}  // namespace authpolicy::cli
