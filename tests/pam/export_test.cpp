// `authpolicy audit export --cursor` while logins run: decisions made by concurrent processes
// through real libpam (spooled, as a policy that never reads the log does), an exporter killed and
// restarted five times (SIGKILL and SIGTERM with --output; SIGTERM with stdout), and the union of
// everything it printed holds every decision exactly once.
//
// The count is 400 in ctest (2 cores); AP_EXPORT_DECISIONS=10000 runs the full check
// (scripts/export_check.sh).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "audit/audit_store.h"
#include "tests/pam/harness.h"
#include "tests/support/temp_folder.h"

extern char** environ;

namespace authpolicy::pam_test {
namespace {

// Starts `authpolicy audit export ARGS` with stdout (and stderr) into `output_file`.
pid_t start_exporter(const std::vector<std::string>& arguments, const std::string& output_file) {
  std::vector<std::string> argv{AP_TEST_AUTHPOLICY, "audit", "export"};
  argv.insert(argv.end(), arguments.begin(), arguments.end());
  std::vector<char*> args;
  for (auto& a : argv) args.push_back(a.data());
  args.push_back(nullptr);
  std::vector<std::string> env_strings;
  for (char** e = environ; *e; ++e) {
    if (std::string(*e).rfind("LD_PRELOAD=", 0) != 0) env_strings.emplace_back(*e);
  }
  std::vector<char*> envp;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, output_file.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, (output_file + ".err").c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0600);
  pid_t pid = -1;
  const int rc = posix_spawn(&pid, args[0], &actions, nullptr, args.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  return rc == 0 ? pid : -1;
}

int wait_for(pid_t pid) {
  int status = 0;
  waitpid(pid, &status, 0);
  return status;
}

std::vector<std::string> lines_of(const std::string& path) {
  std::vector<std::string> lines;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) lines.push_back(line);
  return lines;
}

// Decisions made by four login processes while the exporter is stopped and restarted five times,
// then once more after the logins to take the rest. `with_output`: every run appends to one
// --output file and the stops alternate SIGKILL and SIGTERM; otherwise each run prints to its
// own stdout file and is stopped by SIGTERM. Every decision must be printed exactly once.
void export_while_logging_in(bool with_output) {
  const char* configured = std::getenv("AP_EXPORT_DECISIONS");
  const int total = configured ? std::atoi(configured) : 400;
  constexpr int kWorkers = 4;
  ASSERT_EQ(total % kWorkers, 0);
  test_support::TempFolder folder("ap-export");
  mkdir(folder.file("audit").c_str(), 0700);
  const std::string db = folder.file("audit/audit.db");
  write_policy(matrix_password_factor() + "audit { db = \"" + db +
               "\"; journal = \"\" }\nauth password\n");
  {  // the first decision creates the log; the others are spooled beside it
    Script script({"alice-pass"});
    Session session("ap_policy", "alice", &script);
    ASSERT_EQ(session.authenticate(), PAM_SUCCESS);
  }

  std::vector<pid_t> workers;
  for (int w = 0; w < kWorkers; ++w) {
    const pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      int failed = 0;
      for (int i = 0; i < total / kWorkers - (w == 0 ? 1 : 0); ++i) {
        const bool right = (i % 3) != 0;
        Script script({right ? "bob-pass" : "wrong"});
        Session session("ap_policy", "bob", &script);
        const int rc = session.authenticate();
        failed += rc != (right ? PAM_SUCCESS : PAM_AUTH_ERR);
      }
      _exit(failed == 0 ? 0 : 1);
    }
    workers.push_back(pid);
  }

  const std::string cursor = folder.file("cursor");
  const std::string shared_output = folder.file("export.jsonl");
  std::vector<std::string> outputs;
  if (with_output) outputs.push_back(shared_output);
  std::mt19937 random(12345);
  int kills_ahead_of_cursor = 0;
  for (int run = 0; run < 5; ++run) {
    const bool hard = with_output && run % 2 == 0;
    const std::string stdout_file = folder.file("stdout." + std::to_string(run));
    std::vector<std::string> arguments{"--db",     db,           "--cursor", cursor,
                                       "--follow", "--interval", "100ms"};
    if (with_output) {
      arguments.insert(arguments.end(), {"--output", shared_output});
    } else {
      outputs.push_back(stdout_file);
    }
    const pid_t exporter = start_exporter(arguments, stdout_file);
    ASSERT_GT(exporter, 0);
    // Killed while it works: once it has written (a stop before it has even started up is not
    // what this tests), then at a random point.
    const std::string& written = with_output ? shared_output : stdout_file;
    const auto before = lines_of(written).size();
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (lines_of(written).size() == before && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    if (hard) {
      // SIGKILL right as the output grows: most such kills fall while the batch is being written
      // or before the cursor is replaced, the window the output's own recovery is for.
      struct stat seen {};
      stat(shared_output.c_str(), &seen);
      const off_t size = seen.st_size;
      const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
      while (stat(shared_output.c_str(), &seen) == 0 && seen.st_size == size &&
             std::chrono::steady_clock::now() < until) {
        std::this_thread::sleep_for(std::chrono::microseconds(100));
      }
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(random() % 300));
    }
    kill(exporter, hard ? SIGKILL : SIGTERM);
    const int status = wait_for(exporter);
    if (hard) {
      EXPECT_TRUE(WIFSIGNALED(status)) << "run " << run << " ended before it was killed";
      // Whether this kill fell between writing and the cursor's update (the case --output's
      // recovery is for): the file holds a later decision than the cursor, or half a line.
      const std::string text = read_file(shared_output);
      // No cursor yet is the first run killed before its first cursor write: position 0.
      const std::string saved = access(cursor.c_str(), F_OK) == 0 ? read_file(cursor) : "";
      const auto at = saved.find("id=");
      const std::int64_t cursor_id =
          at == std::string::npos ? 0 : std::atoll(saved.c_str() + at + 3);
      const auto lines = lines_of(shared_output);
      const bool half_line = !text.empty() && text.back() != '\n';
      const auto& last_whole = half_line && lines.size() >= 2 ? lines[lines.size() - 2]
                               : !lines.empty() && !half_line ? lines.back()
                                                              : std::string();
      const auto seq = last_whole.find("\"sequence\":");
      const std::int64_t file_id =
          seq == std::string::npos ? 0 : std::atoll(last_whole.c_str() + seq + 11);
      kills_ahead_of_cursor += half_line || file_id > cursor_id;
    } else {
      EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
          << "run " << run << " status " << status << ": " << read_file(stdout_file + ".err");
    }
  }
  for (pid_t pid : workers) {
    const int status = wait_for(pid);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "a login ended unexpectedly";
  }
  // The last run, after the logins: whatever is left, then it ends by itself.
  const std::string last = folder.file("stdout.last");
  std::vector<std::string> arguments{"--db", db, "--cursor", cursor};
  if (with_output) {
    arguments.insert(arguments.end(), {"--output", shared_output});
  } else {
    outputs.push_back(last);
  }
  const pid_t exporter = start_exporter(arguments, last);
  const int status = wait_for(exporter);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << read_file(last + ".err");

  std::vector<audit::StoredDecision> rows;
  {
    audit::OpenOptions options;
    options.create_if_missing = false;
    auto opened = audit::AuditStore::open(db, options);
    ASSERT_TRUE(opened.store) << opened.status.message;
    audit::DecisionFilter all;
    all.limit = 0;
    ASSERT_TRUE(opened.store->list(all, &rows).ok());
  }
  ASSERT_EQ(rows.size(), static_cast<std::size_t>(total));
  std::map<std::int64_t, std::int64_t> time_of;
  for (const auto& row : rows) time_of[row.id] = row.record.time_us;

  std::map<std::int64_t, int> printed;
  std::size_t lines = 0;
  for (const auto& output : outputs) {
    for (const auto& line : lines_of(output)) {
      ++lines;
      const auto object = nlohmann::json::parse(line);  // every line whole and valid
      const std::int64_t id = object.at("event").at("sequence").get<std::int64_t>();
      ++printed[id];
      ASSERT_TRUE(time_of.contains(id)) << line;
      EXPECT_EQ(object.at("authpolicy").at("time_us").get<std::int64_t>(), time_of[id]) << line;
    }
  }
  std::size_t missing = 0;
  std::size_t twice = 0;
  for (const auto& [id, time] : time_of) {
    missing += !printed.contains(id);
    twice += printed.contains(id) && printed[id] > 1;
  }
  EXPECT_EQ(missing, 0u) << "decisions never exported";
  EXPECT_EQ(twice, 0u) << "decisions exported more than once";
  EXPECT_EQ(lines, static_cast<std::size_t>(total));
  // Each run really exported something: the kills fell while it was working.
  std::size_t runs_with_output = 0;
  for (const auto& output : outputs) runs_with_output += !lines_of(output).empty();
  if (!with_output) {
    EXPECT_GE(runs_with_output, 2u);
  }
  std::printf("SIGKILLs that left the output ahead of the cursor: %d\n", kills_ahead_of_cursor);
  ::testing::Test::RecordProperty("kills_ahead_of_cursor", kills_ahead_of_cursor);
}

TEST(PamExport, KilledFiveTimesWithOutputAndCursorEveryDecisionIsInTheFileExactlyOnce) {
  export_while_logging_in(true);
}

TEST(PamExport, StoppedFiveTimesOnStdoutWithCursorTheOutputsHoldEveryDecisionExactlyOnce) {
  export_while_logging_in(false);
}

}  // namespace
}  // namespace authpolicy::pam_test
