// 16,000 decisions through pam_policy.so from 8 processes at once: every decision succeeds, and
// the audit log holds every one exactly once (no decision fails because of the log, nothing lost,
// nothing duplicated). 8, not 32: pam_wrapper names each process's config folder with one random
// character, and 32 processes collide there (a failure of the test harness, not of the module).
// The 32 x 500 run against the store itself is tests/audit/concurrency_test.cpp.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <string>

#include "tests/pam/harness.h"

namespace authpolicy::pam_test {
namespace {

constexpr int kProcesses = 8;
constexpr int kDecisions = 2000;

std::string query(const std::string& db, const std::string& sql) {
  const std::string command =
      "env -u LD_PRELOAD sqlite3 -batch -noheader '" + db + "' \"" + sql + "\" 2>/dev/null";
  std::string out;
  FILE* pipe = popen(command.c_str(), "r");
  if (!pipe) return "popen failed";
  char buffer[256];
  while (fgets(buffer, sizeof buffer, pipe)) out += buffer;
  pclose(pipe);
  while (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

TEST(PamAuditLoad, EightProcessesTwoThousandDecisionsEach) {
  const std::string db = std::string(Paths::run_dir()) + "/audit-load-" + std::to_string(getpid()) +
                         "/audit.db";
  write_passdbs();
  write_policy(matrix_password_factor() + "audit { db = \"" + db + "\" }\nauth password\n");
  {
    // pam_wrapper sets itself up lazily on the first pam_start and names its folder with one
    // random letter: 32 children doing that at once collide. Set it up once, before forking.
    Script warm_up({"alice-pass"});
    Session session("ap_policy", std::string("alice"), &warm_up);
    ASSERT_EQ(session.authenticate(), PAM_SUCCESS);
  }
  const std::string before = query(db, "SELECT count(*) FROM decisions");
  ASSERT_EQ(before, "1");
  // pam_wrapper gives each process a config folder under a short random name and deletes it when
  // the process exits; under load two children can end up on one folder. So nobody exits (and
  // deletes) before everybody is done: `done` collects one byte per child, `release` lets go.
  int ready[2], done[2], release[2];
  ASSERT_EQ(pipe(ready), 0);
  ASSERT_EQ(pipe(done), 0);
  ASSERT_EQ(pipe(release), 0);
  std::vector<pid_t> children;
  for (int p = 0; p < kProcesses; ++p) {
    const pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      close(ready[1]);
      close(done[0]);
      close(release[1]);
      char go;
      if (read(ready[0], &go, 1) < 0) _exit(3);  // start together: the log is created in a race
      int succeeded = 0;
      for (int i = 0; i < kDecisions; ++i) {
        Script script({"alice-pass"});
        Session session("ap_policy", std::string("alice"), &script);
        if (session.start_code == PAM_SUCCESS && session.authenticate() == PAM_SUCCESS) ++succeeded;
      }
      if (write(done[1], "x", 1) != 1) _exit(4);
      if (read(release[0], &go, 1) < 0) _exit(5);  // EOF: everybody is done
      _exit(succeeded == kDecisions ? 0 : 1);
    }
    children.push_back(pid);
  }
  close(ready[0]);
  close(ready[1]);  // EOF starts every child at once
  close(done[1]);
  close(release[0]);
  char byte;
  for (int finished = 0; finished < kProcesses && read(done[0], &byte, 1) == 1;) ++finished;
  close(done[0]);
  close(release[1]);  // EOF lets every child exit
  int failed = 0;
  for (pid_t pid : children) {
    int status = 0;
    waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) ++failed;
  }
  EXPECT_EQ(failed, 0) << "processes with a failed decision";
  const std::string children_only = " WHERE pid != " + std::to_string(getpid());
  EXPECT_EQ(query(db, "SELECT count(*) FROM decisions" + children_only),
            std::to_string(kProcesses * kDecisions));
  EXPECT_EQ(query(db, "SELECT count(DISTINCT pid) FROM decisions" + children_only),
            std::to_string(kProcesses));
  EXPECT_EQ(query(db, "SELECT min(n) || ' ' || max(n) FROM (SELECT count(*) AS n FROM decisions" +
                          children_only + " GROUP BY pid)"),
            std::to_string(kDecisions) + " " + std::to_string(kDecisions));
  EXPECT_EQ(query(db, "SELECT count(*) FROM decisions WHERE decision != 'permit'"), "0");
}

}  // namespace
}  // namespace authpolicy::pam_test
