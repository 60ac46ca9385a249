// Many real processes writing the same log at once: every decision stored exactly once.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/wait.h>

#include <chrono>
#include <cstdio>

#include "audit/audit_store.h"
#include "audit_test_support.h"

namespace authpolicy::audit {
namespace {

using testing::sample_record;
using testing::TempFolder;

constexpr int kProcesses = 32;
// 100 in a sanitizer build, where 500 each took 74 s of CI's ASan pass, alone (RUN_SERIAL).
#if defined(AP_TEST_SANITIZER)
constexpr int kDecisionsEach = 100;
#else
constexpr int kDecisionsEach = 500;
#endif

TEST(AuditConcurrency, ThirtyTwoProcessesAtOnceLoseNoDecision) {
  TempFolder temp;
  // The log does not exist yet: the processes race to create and migrate it, too.
  std::string path = temp.file("lib/audit.db");
  int gate[2];
  ASSERT_EQ(pipe(gate), 0);
  std::vector<pid_t> children;
  for (int process = 0; process < kProcesses; ++process) {
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      close(gate[1]);
      char byte;
      // Everyone starts when the parent closes the gate.
      while (read(gate[0], &byte, 1) > 0) {
      }
      int failed = 0;
      for (int i = 0; i < kDecisionsEach; ++i) {
        // One open, write, close per decision, as the PAM module does.
        auto record = sample_record("user" + std::to_string(process), i % 4 ? "permit" : "deny");
        // Built with snprintf: GCC 12 warns falsely (-Wrestrict) on string concatenation here.
        char reason[32];
        std::snprintf(reason, sizeof reason, "p%d-d%d", process, i);
        record.reason = std::string(reason);
        Status status = record_decision(path, {}, record);
        if (!status.ok()) {
          ++failed;
          fprintf(stderr, "process %d decision %d: %s\n", process, i, status.message.c_str());
        }
      }
      _exit(failed == 0 ? 0 : 1);
    }
    children.push_back(pid);
  }
  close(gate[0]);
  auto started = std::chrono::steady_clock::now();
  close(gate[1]);
  int failed_processes = 0;
  for (pid_t pid : children) {
    int status = 0;
    waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) ++failed_processes;
  }
  auto seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  RecordProperty("decisions_per_second", static_cast<int>(kProcesses * kDecisionsEach / seconds));
  EXPECT_EQ(failed_processes, 0) << "no decision may fail because of the log";

  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
  auto single = [&](const char* sql) {
    sqlite3_stmt* statement = nullptr;
    std::int64_t value = -1;
    if (sqlite3_prepare_v2(db, sql, -1, &statement, nullptr) == SQLITE_OK &&
        sqlite3_step(statement) == SQLITE_ROW) {
      value = sqlite3_column_int64(statement, 0);
    }
    sqlite3_finalize(statement);
    return value;
  };
  EXPECT_EQ(single("SELECT count(*) FROM decisions"), kProcesses * kDecisionsEach);
  EXPECT_EQ(single("SELECT count(DISTINCT reason) FROM decisions"), kProcesses * kDecisionsEach)
      << "no decision stored twice";
  EXPECT_EQ(single("SELECT count(DISTINCT pid) FROM decisions"), kProcesses);
  EXPECT_EQ(single("SELECT count(*) FROM factors"),
            kProcesses * (kDecisionsEach / 4 * 1 + kDecisionsEach * 3 / 4 * 2));
  sqlite3_close(db);
  std::printf("[          ] %d decisions from %d processes in %.2f s (%.0f/s)\n",
              kProcesses * kDecisionsEach, kProcesses, seconds,
              kProcesses * kDecisionsEach / seconds);
}

}  // namespace
}  // namespace authpolicy::audit
