// 32 processes making 500 decisions each (100 in a sanitizer build) through pam_policy.so on
// real libpam, all at once: every decision gets its expected result and exactly one audit row
// saying so (issue 7).
//
// No pam_wrapper: each client is a plain program using the system's libpam, with a temporary
// /etc/pam.d service of its own, so nothing outside the module and its audit log is shared.
// With `audit { required = true }` a decision whose row could not be written is a deny, so
// "every permit came back permit" is the proof that no decision failed because of the log.
#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "audit/audit_store.h"
#include "tests/support/private_system_view_environment.h"
#include "tests/support/temp_folder.h"

namespace {

// What the module writes at its defaults (refused policies' decisions in
// /var/lib/authpolicy/audit.db, a service file in /etc/pam.d) stays in this program's own view
// of /etc and /var/lib (tests/support/private_system_view.h), entered before the first test.
[[maybe_unused]] ::testing::Environment* const kPrivateSystemView =
    authpolicy::test_support::private_system_view_before_the_first_test();

constexpr int kProcesses = 32;
constexpr int kDecisionsEach = AP_LOAD_DECISIONS_EACH;  // tests/pam_load/CMakeLists.txt
// ctest's TIMEOUT kills without a chance to clean up: stop waiting (and clean up) well before.
constexpr auto kWaitLimit = std::chrono::seconds(780);
constexpr const char* kServicePrefix = "authpolicy-load-";
constexpr const char* kPassword = "alice-load-pass";
constexpr const char* kWrongPassword = "not-alice's-pass";

// ---- The temporary /etc/pam.d service: removed on every exit, including signals -----------------

char g_service_file[256] = "";

void remove_service_file_and_reraise(int signal_number) {
  if (g_service_file[0] != '\0') unlink(g_service_file);
  signal(signal_number, SIG_DFL);
  raise(signal_number);
}

class ServiceFile {
 public:
  explicit ServiceFile(const std::string& content) {
    name_ = kServicePrefix + std::to_string(getpid());
    path_ = "/etc/pam.d/" + name_;
    std::snprintf(g_service_file, sizeof g_service_file, "%s", path_.c_str());
    for (int signal_number : {SIGINT, SIGTERM, SIGHUP}) {
      signal(signal_number, remove_service_file_and_reraise);
    }
    const std::string temporary = path_ + ".tmp";
    std::ofstream out(temporary, std::ios::trunc);
    out << content;
    out.close();
    ok_ =
        out && chmod(temporary.c_str(), 0644) == 0 && rename(temporary.c_str(), path_.c_str()) == 0;
    if (!ok_) unlink(temporary.c_str());
  }
  ~ServiceFile() {
    unlink(path_.c_str());
    g_service_file[0] = '\0';
  }
  ServiceFile(const ServiceFile&) = delete;
  ServiceFile& operator=(const ServiceFile&) = delete;

  bool ok() const { return ok_; }
  const std::string& name() const { return name_; }
  const std::string& path() const { return path_; }

 private:
  std::string name_;
  std::string path_;
  bool ok_ = false;
};

// A process that exited but was not reaped yet (a zombie) counts as gone.
bool process_alive(pid_t pid) {
  if (kill(pid, 0) != 0 && errno == ESRCH) return false;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(stat, line)) return false;
  const auto name_end = line.rfind(')');  // "PID (NAME) STATE ...": NAME may hold spaces
  return name_end == std::string::npos || name_end + 2 >= line.size() || line[name_end + 2] != 'Z';
}

// A run killed by ctest's timeout (SIGKILL) cannot remove its service file: the next run does.
void remove_stale_service_files() {
  DIR* folder = opendir("/etc/pam.d");
  if (folder == nullptr) return;
  const std::string prefix = kServicePrefix;
  while (const dirent* entry = readdir(folder)) {
    const std::string name = entry->d_name;
    if (name.compare(0, prefix.size(), prefix) != 0) continue;
    const std::string digits = name.substr(prefix.size());
    if (digits.empty() || digits.find_first_not_of("0123456789") != std::string::npos) continue;
    const pid_t owner = static_cast<pid_t>(std::stol(digits));
    if (!process_alive(owner)) unlink(("/etc/pam.d/" + name).c_str());
  }
  closedir(folder);
}

// ---- The private folder: policy, password database, audit log, client outputs -------------------

using authpolicy::test_support::TempFolder;

bool write_root_file(const std::string& path, const std::string& content, mode_t mode) {
  std::ofstream out(path, std::ios::trunc);
  out << content;
  out.close();
  return out && chown(path.c_str(), 0, 0) == 0 && chmod(path.c_str(), mode) == 0;
}

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string tag_of(int child, int seq) {
  return "load-" + std::to_string(child) + "-" + std::to_string(seq);
}
std::string expected_result(int seq) {
  return seq % 5 == 4 ? "deny" : "permit";
}

// ---- Starting the clients together --------------------------------------------------------------

struct Client {
  pid_t pid = -1;
  int exit_code = -1;  // -1 while running; 128+N when killed by signal N
  std::string output_path;
};

// Forks and executes every client; they block on `barrier_read` until its last writer closes.
bool spawn_clients(const std::string& folder, const std::string& service, int barrier_read,
                   int barrier_write, std::vector<Client>* clients) {
  const pid_t parent = getpid();
  for (int child = 0; child < kProcesses; ++child) {
    Client client;
    client.output_path = folder + "/client-" + std::to_string(child) + ".out";
    const std::vector<std::string> arguments = {AP_LOAD_CLIENT,
                                                service,
                                                "alice",
                                                kPassword,
                                                kWrongPassword,
                                                std::to_string(kDecisionsEach),
                                                std::to_string(child),
                                                std::to_string(barrier_read)};
    std::vector<char*> argv;
    for (const auto& argument : arguments) argv.push_back(const_cast<char*>(argument.c_str()));
    argv.push_back(nullptr);
    const int output =
        open(client.output_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (output < 0) return false;
    const pid_t pid = fork();
    if (pid < 0) {
      close(output);
      return false;
    }
    if (pid == 0) {
      // Only async-signal-safe calls between fork and exec. A client outlives a killed test
      // only until the kernel notices: no orphans keep hammering a removed service.
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (getppid() != parent) _exit(126);
      close(barrier_write);
      dup2(output, STDOUT_FILENO);
      execv(AP_LOAD_CLIENT, argv.data());
      _exit(127);
    }
    close(output);
    client.pid = pid;
    clients->push_back(client);
  }
  return true;
}

// Waits for every client until `limit`; then kills what still runs. Returns false on timeout.
bool wait_for_clients(std::vector<Client>* clients, std::chrono::steady_clock::time_point limit) {
  std::size_t running = clients->size();
  while (running > 0) {
    int status = 0;
    const pid_t pid = waitpid(-1, &status, WNOHANG);
    if (pid > 0) {
      for (auto& client : *clients) {
        if (client.pid != pid) continue;
        client.exit_code = WIFEXITED(status) ? WEXITSTATUS(status)
                                             : 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
        --running;
      }
      continue;
    }
    if (pid < 0 && errno != EINTR) break;
    if (std::chrono::steady_clock::now() > limit) {
      for (auto& client : *clients) {
        if (client.exit_code == -1) kill(client.pid, SIGKILL);
      }
      for (auto& client : *clients) {
        if (client.exit_code == -1) waitpid(client.pid, nullptr, 0);
      }
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

// ---- Reading the audit log ----------------------------------------------------------------------

struct Row {
  std::string decision;
  std::string service;
  std::string user;
  long long pid = 0;
  long long time_us = 0;      // UTC, taken just before the write's first lock attempt
  long long duration_us = 0;  // the decision itself, without its audit write
  std::string factors;        // "name:outcome,..." in asking order
};

// tty -> every row carrying it (more than one is a duplicate).
using RowsByTag = std::map<std::string, std::vector<Row>>;

bool read_rows(const std::string& db_path, RowsByTag* rows, long long* total, std::string* error) {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    *error = "cannot open " + db_path + ": " + (db ? sqlite3_errmsg(db) : "out of memory");
    sqlite3_close(db);
    return false;
  }
  const char* sql =
      "SELECT d.tty, d.decision, d.service, d.user, d.pid, d.time_us, d.duration_us, "
      "  (SELECT group_concat(name || ':' || outcome, ',') FROM "
      "     (SELECT name, outcome FROM factors f WHERE f.decision_id = d.id ORDER BY f.seq)) "
      "FROM decisions d";
  sqlite3_stmt* statement = nullptr;
  int rc = sqlite3_prepare_v2(db, sql, -1, &statement, nullptr);
  *total = 0;
  while (rc == SQLITE_OK || rc == SQLITE_ROW) {
    rc = sqlite3_step(statement);
    if (rc != SQLITE_ROW) break;
    auto text = [statement](int column) {
      const unsigned char* value = sqlite3_column_text(statement, column);
      return value ? std::string(reinterpret_cast<const char*>(value)) : std::string();
    };
    Row row{text(1),
            text(2),
            text(3),
            sqlite3_column_int64(statement, 4),
            sqlite3_column_int64(statement, 5),
            sqlite3_column_int64(statement, 6),
            text(7)};
    (*rows)[text(0)].push_back(row);
    ++*total;
  }
  const bool done = rc == SQLITE_DONE;
  if (!done) *error = std::string("reading ") + db_path + ": " + sqlite3_errmsg(db);
  sqlite3_finalize(statement);
  sqlite3_close(db);
  return done;
}

std::string percentiles(std::vector<long long>* values) {
  if (values->empty()) return "no values";
  std::sort(values->begin(), values->end());
  auto at = [values](double fraction) {
    return (*values)[static_cast<std::size_t>(fraction * static_cast<double>(values->size() - 1))] /
           1000.0;
  };
  char text[160];
  std::snprintf(text, sizeof text, "median %.2f ms, p99 %.2f ms, p99.9 %.2f ms, max %.2f ms",
                at(0.5), at(0.99), at(0.999), at(1.0));
  return text;
}

// ---- The test -----------------------------------------------------------------------------------

TEST(PamAuditLoad, ThirtyTwoProcessesAtOnceEveryDecisionLoggedOnce) {
  ASSERT_EQ(geteuid(), 0u)
      << "this test must run as root: it writes a service file into /etc/pam.d, and pam_policy.so "
         "accepts only root-owned policy files and writes only a root-owned audit log";
  remove_stale_service_files();

  TempFolder folder("authpolicy-load");
  ASSERT_FALSE(folder.path().empty()) << "mkdtemp: " << std::strerror(errno);
  const std::string passdb = folder.path() + "/passdb";
  const std::string policy = folder.path() + "/load.pol";
  const std::string db = folder.path() + "/audit.db";

  ServiceFile service("auth required " + std::string(AP_LOAD_MODULE) + " policy=" + policy +
                      "\naccount required pam_permit.so\n");
  ASSERT_TRUE(service.ok()) << "cannot write " << service.path() << ": " << std::strerror(errno);

  // pam_matrix stands in for pam_unix (user:password:service); a log that cannot be written turns
  // a permit into a deny.
  const std::string passdb_text = "alice:" + std::string(kPassword) + ":" + service.name() + "\n";
  const std::string policy_text = "factor password { module = \"" + std::string(AP_LOAD_MATRIX) +
                                  "\"; arguments = \"passdb=" + passdb + "\" }\n" +
                                  "audit { db = \"" + db + "\"; required = true }\n" +
                                  "auth password\n";
  ASSERT_TRUE(write_root_file(passdb, passdb_text, 0600)) << passdb << ": " << std::strerror(errno);
  ASSERT_TRUE(write_root_file(policy, policy_text, 0644)) << policy << ": " << std::strerror(errno);

  int barrier[2];
  ASSERT_EQ(pipe2(barrier, O_CLOEXEC), 0);
  // The read end must survive exec in the clients; the write end must not.
  ASSERT_EQ(fcntl(barrier[0], F_SETFD, 0), 0);
  std::vector<Client> clients;
  const bool spawned =
      spawn_clients(folder.path(), service.name(), barrier[0], barrier[1], &clients);
  close(barrier[0]);
  const auto started = std::chrono::steady_clock::now();
  close(barrier[1]);  // end-of-file releases every client at once
  const bool finished = wait_for_clients(&clients, started + kWaitLimit);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  ASSERT_TRUE(spawned) << "could not start all " << kProcesses
                       << " clients: " << std::strerror(errno);
  ASSERT_TRUE(finished) << "clients still running after " << kWaitLimit.count() << " s (killed)";
  std::printf("%d decisions by %d processes in %.2f s (%.0f decisions/s)\n",
              kProcesses * kDecisionsEach, kProcesses, seconds,
              kProcesses * kDecisionsEach / seconds);
  RecordProperty("seconds", std::to_string(seconds));

  // What every client got, decision by decision.
  struct Result {
    std::string result;  // permit|deny|error=N
    long long authenticate_us = -1;
    long long returned_at_us = -1;
  };
  std::map<std::string, Result> results;  // by tag
  std::set<long long> client_pids;
  for (int child = 0; child < kProcesses; ++child) {
    const Client& client = clients[child];
    client_pids.insert(client.pid);
    EXPECT_EQ(client.exit_code, 0) << "client " << child << " (pid " << client.pid
                                   << ") reported decisions that were not as expected";
    std::istringstream lines(read_text(client.output_path));
    std::string tag, result;
    long long authenticate_us = 0, returned_at_us = 0;
    int seen = 0;
    while (lines >> tag >> result >> authenticate_us >> returned_at_us) {
      ++seen;
      results[tag] = {result, authenticate_us, returned_at_us};
    }
    EXPECT_EQ(seen, kDecisionsEach) << "client " << child << " printed " << seen << " results";
  }

  // The policy never reads the log, so its decisions were appended to the spool and moved into
  // the tables by the writers that found enough waiting; the rest move in when a reader opens
  // the log, as `authpolicy audit` does (docs/audit.md, "The spool").
  struct stat spool_info {};
  EXPECT_EQ(lstat((db + "-spool").c_str(), &spool_info), 0) << "the module did not use the spool";
  {
    authpolicy::audit::OpenOptions reading;
    reading.create_if_missing = false;
    auto opened = authpolicy::audit::AuditStore::open(db, reading);
    ASSERT_TRUE(opened.status.ok()) << opened.status.message;
    std::printf("%lld decisions were still in the spool; the reader moved them into the log\n",
                static_cast<long long>(opened.store->folded()));
  }
  RowsByTag rows;
  long long total = 0;
  std::string error;
  ASSERT_TRUE(read_rows(db, &rows, &total, &error)) << error;
  EXPECT_EQ(total, kProcesses * kDecisionsEach) << "decision rows in the audit log";

  int wrong_result = 0, missing = 0, duplicated = 0, wrong_row = 0;
  std::vector<long long> authenticate_us, outside_decision_us, write_us;
  std::vector<std::string> examples;
  auto note = [&examples](const std::string& text) {
    if (examples.size() < 10) examples.push_back(text);
  };
  for (int child = 0; child < kProcesses; ++child) {
    for (int seq = 0; seq < kDecisionsEach; ++seq) {
      const std::string tag = tag_of(child, seq);
      const std::string expected = expected_result(seq);
      const auto got = results.find(tag);
      const std::string client_result = got == results.end() ? "(none)" : got->second.result;
      if (client_result != expected) {
        ++wrong_result;
        note(tag + ": client got " + client_result + ", expected " + expected);
      }
      const auto logged = rows.find(tag);
      if (logged == rows.end()) {
        ++missing;
        note(tag + ": no audit row");
        continue;
      }
      if (logged->second.size() != 1) {
        ++duplicated;
        note(tag + ": " + std::to_string(logged->second.size()) + " audit rows");
      }
      const Row& row = logged->second.front();
      const std::string factors =
          std::string("password:") + (expected == "permit" ? "pass" : "fail");
      if (row.decision != client_result || row.service != service.name() || row.user != "alice" ||
          client_pids.count(row.pid) == 0 || row.factors != factors) {
        ++wrong_row;
        note(tag + ": row says " + row.decision + " for " + row.user + "@" + row.service + " pid " +
             std::to_string(row.pid) + " factors [" + row.factors + "], client got " +
             client_result);
      }
      if (got != results.end() && got->second.authenticate_us >= 0) {
        authenticate_us.push_back(got->second.authenticate_us);
        outside_decision_us.push_back(got->second.authenticate_us - row.duration_us);
        write_us.push_back(got->second.returned_at_us - row.time_us);
      }
      rows.erase(logged);
    }
  }
  // How close the audit writes came to their bound (2 s, which also covers opening the log):
  // pam_authenticate as a whole; its part outside the decision (policy load, opening the log,
  // writing it); and the write alone, from just before its first lock attempt until
  // pam_authenticate returned (the clock is the wall clock: a step during the run skews it).
  std::printf(
      "pam_authenticate: %s\n  outside the decision (policy load, audit open and write): %s\n"
      "  audit write (first lock attempt to return): %s\n",
      percentiles(&authenticate_us).c_str(), percentiles(&outside_decision_us).c_str(),
      percentiles(&write_us).c_str());
  std::string stray;
  for (const auto& [tag, list] : rows) {
    if (stray.size() < 200) stray += " '" + tag + "' x" + std::to_string(list.size());
  }
  std::string first_problems;
  for (const auto& example : examples) first_problems += "\n  " + example;
  EXPECT_EQ(wrong_result, 0) << "decisions not as expected (a log failure turns permit into deny)"
                             << first_problems;
  EXPECT_EQ(missing, 0) << "decisions without an audit row" << first_problems;
  EXPECT_EQ(duplicated, 0) << "decisions with more than one audit row" << first_problems;
  EXPECT_EQ(wrong_row, 0) << "audit rows that disagree with what the client got" << first_problems;
  EXPECT_TRUE(rows.empty()) << "audit rows no client made:" << stray;
  if (HasFailure()) folder.keep();
}

}  // namespace
