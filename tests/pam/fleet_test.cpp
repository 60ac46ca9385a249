// A fleet, end to end, with the real components: two "hosts" (each its own journald, host name,
// machine id and audit log) make decisions through real libpam; systemd-journal-upload sends each
// host's journal to systemd-journal-remote listening on loopback; the central journal then holds
// every decision of both hosts, with the fields each host's `authpolicy audit` shows.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "tests/pam/harness.h"
#include "tests/pam/journald.h"
#include "tests/support/temp_folder.h"

extern char** environ;

namespace authpolicy::pam_test {
namespace {

// A loopback port nobody listens on now.
int free_port() {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  if (bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    close(fd);
    return -1;
  }
  close(fd);
  return ntohs(address.sin_port);
}

bool port_listening(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const bool ok = connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
  close(fd);
  return ok;
}

// systemd-journal-remote on 127.0.0.1:port, writing one journal file; stopped by the destructor.
class TestJournalRemote {
 public:
  TestJournalRemote(const std::string& output, const std::string& log) {
    port_ = free_port();
    std::vector<std::string> argv{kJournalRemote,
                                  "--listen-http=127.0.0.1:" + std::to_string(port_),
                                  "--split-mode=none", "--output=" + output};
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    char* envp[] = {const_cast<char*>("PATH=/usr/sbin:/usr/bin:/sbin:/bin"), nullptr};
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log.c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
    if (posix_spawn(&pid_, args[0], &actions, nullptr, args.data(), envp) != 0) pid_ = -1;
    posix_spawn_file_actions_destroy(&actions);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (pid_ > 0 && !port_listening(port_) && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  ~TestJournalRemote() { stop(); }
  void stop() {
    if (pid_ <= 0) return;
    kill(pid_, SIGTERM);  // closes the journal file cleanly
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
  }
  bool listening() const { return pid_ > 0 && port_listening(port_); }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

 private:
  pid_t pid_ = -1;
  int port_ = -1;
};

struct Host {
  std::string name;
  std::unique_ptr<TestJournald> journald;
  std::string db;
};

TEST(PamFleet, TheCentralJournalHoldsEveryDecisionOfBothHostsWithItsFields) {
  for (const char* tool : {kJournald, kJournalRemote, kJournalUpload}) {
    ASSERT_EQ(access(tool, X_OK), 0) << tool << " is missing (apt-get install systemd "
                                     << "systemd-journal-remote)";
  }
  test_support::TempFolder folder("ap-fleet");
  std::vector<Host> hosts;
  const std::map<std::string, int> decisions{{"host-a", 7}, {"host-b", 5}};
  int serial = 0;
  for (const auto& [name, count] : decisions) {
    Host host;
    host.name = name;
    host.journald = std::make_unique<TestJournald>(folder.file(name), name,
                                                   std::string(31, 'a') + std::to_string(++serial));
    ASSERT_TRUE(host.journald->running()) << host.journald->problem();
    mkdir(folder.file(name + "/audit").c_str(), 0700);
    host.db = folder.file(name + "/audit/audit.db");
    write_policy(matrix_password_factor() + "audit { db = \"" + host.db + "\"; journal = \"" +
                 host.journald->socket() + "\" }\nauth password\n");
    for (int i = 0; i < count; ++i) {
      const bool right = i % 2 == 0;
      Script script({right ? "alice-pass" : "wrong"});
      Session session("ap_policy", "alice", &script);
      session.set_item(PAM_RHOST, ("198.51.100." + std::to_string(i + 1)).c_str());
      EXPECT_EQ(session.authenticate(), right ? PAM_SUCCESS : PAM_AUTH_ERR);
    }
    ASSERT_EQ(decision_entries_in_folder(host.journald->journal_folder(), count).size(),
              static_cast<std::size_t>(count));
    hosts.push_back(std::move(host));
  }

  const std::string central = folder.file("central/all.journal");
  mkdir(folder.file("central").c_str(), 0700);
  TestJournalRemote remote(central, folder.file("remote.log"));
  ASSERT_TRUE(remote.listening()) << read_file(folder.file("remote.log"));
  for (const auto& host : hosts) {
    const auto upload = run_process(
        {kJournalUpload, "--url=" + remote.url(), "--directory=" + host.journald->journal_folder(),
         "--follow=no", "--save-state=" + folder.file(host.name + "/upload.state")},
        {{"LD_PRELOAD", ""}}, "");
    EXPECT_EQ(upload.exit_code, 0) << upload.output;
  }
  remote.stop();

  std::size_t total = 0;
  for (const auto& [name, count] : decisions) total += static_cast<std::size_t>(count);
  const auto entries = decision_entries_in_file(central, total);
  ASSERT_EQ(entries.size(), total) << read_file(folder.file("remote.log"));
  std::map<std::string, int> per_host;
  for (const auto& host : hosts) {
    const auto rows = audit_rows(host.db);
    ASSERT_EQ(rows.size(), static_cast<std::size_t>(decisions.at(host.name)));
    for (const auto& entry : entries) {
      if (field_bytes(entry, "_HOSTNAME") != host.name) continue;
      ++per_host[host.name];
      const auto row = row_for_entry(rows, entry);
      ASSERT_FALSE(row.is_null()) << host.name << ": no audit row for " << entry.dump();
      EXPECT_EQ(compare_entry_with_row(entry, row), "") << entry.dump();
    }
  }
  EXPECT_EQ(per_host, decisions);
}

}  // namespace
}  // namespace authpolicy::pam_test
