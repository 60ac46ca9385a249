// Private journald instances for the journal and fleet tests.
#include "tests/pam/journald.h"

#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <sstream>
#include <thread>

#include "audit/journal_entry.h"
#include "tests/pam/harness.h"

namespace authpolicy::pam_test {
namespace {

// The child: a private view of the folders journald uses, then journald itself. Only
// async-signal-safe calls (we forked a threaded test program).
[[noreturn]] void exec_private_journald(const std::string& folder, const std::string& host_name) {
  const std::string run = folder + "/run";
  const std::string runlog = folder + "/log";
  const std::string varlog = folder + "/varlog";
  const std::string machine_id = folder + "/machine-id";
  if (unshare(CLONE_NEWNS | CLONE_NEWUTS) != 0) _exit(10);
  // Nothing mounted here may reach the host's mount table.
  if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) _exit(11);
  if (sethostname(host_name.c_str(), host_name.size()) != 0) _exit(12);
  // Empty tmpfs over /run/systemd and /run/log (mount points that exist on any systemd host),
  // then the test's folders on the mount points made inside them.
  if (mount("tmpfs", "/run/systemd", "tmpfs", 0, "mode=0755") != 0) _exit(13);
  if (mount("tmpfs", "/run/log", "tmpfs", 0, "mode=0755") != 0) _exit(14);
  if (mkdir("/run/systemd/journal", 0755) != 0 || mkdir("/run/log/journal", 0755) != 0) _exit(15);
  if (mount(run.c_str(), "/run/systemd/journal", nullptr, MS_BIND, nullptr) != 0) _exit(16);
  if (mount(runlog.c_str(), "/run/log/journal", nullptr, MS_BIND, nullptr) != 0) _exit(17);
  struct stat info {};
  if (stat("/var/log/journal", &info) == 0 &&
      mount(varlog.c_str(), "/var/log/journal", nullptr, MS_BIND, nullptr) != 0) {
    _exit(18);
  }
  if (mount(machine_id.c_str(), "/etc/machine-id", nullptr, MS_BIND, nullptr) != 0) _exit(19);
  char* const argv[] = {const_cast<char*>(kJournald), nullptr};
  char* const envp[] = {const_cast<char*>("PATH=/usr/sbin:/usr/bin:/sbin:/bin"), nullptr};
  execve(kJournald, argv, envp);
  _exit(20);
}

std::vector<nlohmann::json> json_lines(const std::string& text) {
  std::vector<nlohmann::json> entries;
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.empty() || line.front() != '{') continue;
    entries.push_back(nlohmann::json::parse(line));
  }
  return entries;
}

std::vector<nlohmann::json> decision_entries(const std::vector<std::string>& source,
                                             std::size_t expected) {
  std::vector<std::string> argv{"/usr/bin/journalctl"};
  argv.insert(argv.end(), source.begin(), source.end());
  argv.insert(argv.end(), {"-o", "json", "--no-pager", "--all",
                           std::string("MESSAGE_ID=") + audit::kDecisionMessageId});
  std::vector<nlohmann::json> entries;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  do {
    entries = json_lines(run_process(argv, {{"LD_PRELOAD", ""}}, "").output);
    if (entries.size() >= expected) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  } while (std::chrono::steady_clock::now() < deadline);
  return entries;
}

std::string json_text(const nlohmann::json& value) {
  return value.is_string() ? value.get<std::string>() : value.dump();
}

}  // namespace

TestJournald::TestJournald(const std::string& folder, const std::string& host_name,
                           const std::string& machine_id)
    : folder_(folder) {
  for (const char* sub : {"/run", "/log", "/varlog"}) {
    std::filesystem::create_directories(folder_ + sub);
    chmod((folder_ + sub).c_str(), 0755);
  }
  write_file(folder_ + "/machine-id", machine_id + "\n", 0444);
  if (access(kJournald, X_OK) != 0) {
    problem_ = std::string(kJournald) + " is missing (apt-get install systemd)";
    return;
  }
  const pid_t pid = fork();
  if (pid < 0) {
    problem_ = "fork failed";
    return;
  }
  if (pid == 0) exec_private_journald(folder_, host_name);
  pid_ = pid;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  struct stat info {};
  while (stat(socket().c_str(), &info) != 0 || !S_ISSOCK(info.st_mode)) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      problem_ = "journald exited before listening (status " + std::to_string(status) + ")";
      return;
    }
    if (std::chrono::steady_clock::now() > deadline) {
      stop();
      problem_ = "journald did not create " + socket() + " within 10 s";
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

TestJournald::~TestJournald() {
  stop();
}

void TestJournald::stop() {
  if (pid_ <= 0) return;
  kill(pid_, SIGTERM);
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
}

std::vector<nlohmann::json> decision_entries_in_folder(const std::string& folder,
                                                       std::size_t expected) {
  return decision_entries({"-D", folder}, expected);
}

std::vector<nlohmann::json> decision_entries_in_file(const std::string& file,
                                                     std::size_t expected) {
  return decision_entries({"--file", file}, expected);
}

std::string field_bytes(const nlohmann::json& entry, const std::string& name) {
  if (!entry.contains(name)) return "<absent>";
  const auto& value = entry.at(name);
  if (value.is_string()) return value.get<std::string>();
  if (value.is_array() && !value.empty() && value.front().is_number()) {
    std::string bytes;
    for (const auto& byte : value) bytes.push_back(static_cast<char>(byte.get<int>()));
    return bytes;
  }
  return "<repeated>";
}

nlohmann::json row_for_entry(const nlohmann::json& rows, const nlohmann::json& entry) {
  const std::string id = field_bytes(entry, "AUTHPOLICY_DECISION_ID");
  if (id.size() != 32) return nullptr;  // every entry names its decision
  for (const auto& row : rows) {
    if (row.at("decision_id").get<std::string>() == id) return row;
  }
  return nullptr;
}

std::string compare_entry_with_row(const nlohmann::json& entry, const nlohmann::json& row) {
  std::string differences;
  auto expect = [&](const std::string& field, const std::string& shown) {
    const std::string sent = field_bytes(entry, field);
    if (sent != shown) {
      differences +=
          field + ": journal " +
          nlohmann::json(sent).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) +
          ", audit " + nlohmann::json(shown).dump() + "\n";
    }
  };
  for (const char* name : {"decision_id", "decision", "time", "service", "user", "ruser", "rhost", "tty", "reason",
                           "policy_path", "policy_sha256"}) {
    std::string field = "AUTHPOLICY_";
    for (const char* c = name; *c; ++c) field += static_cast<char>(std::toupper(*c));
    expect(field, row.at(name).get<std::string>());
  }
  for (const char* name : {"time_us", "duration_us", "pid", "password_asked"}) {
    std::string field = "AUTHPOLICY_";
    for (const char* c = name; *c; ++c) field += static_cast<char>(std::toupper(*c));
    expect(field, json_text(row.at(name)));
  }
  expect("AUTHPOLICY_COUNTRY",
         row.at("country").is_null() ? "<absent>" : json_text(row.at("country")));
  expect("AUTHPOLICY_ASN", row.at("asn").is_null() ? "<absent>" : json_text(row.at("asn")));
  std::string compact;
  int index = 0;
  for (const auto& factor : row.at("factors")) {
    const std::string prefix = "AUTHPOLICY_FACTOR_" + std::to_string(++index);
    expect(prefix + "_NAME", factor.at("name").get<std::string>());
    expect(prefix + "_OUTCOME", factor.at("outcome").get<std::string>());
    expect(prefix + "_DETAIL", factor.at("detail").get<std::string>());
    expect(prefix + "_DURATION_US", json_text(factor.at("duration_us")));
    if (!compact.empty()) compact += ";";
    compact += factor.at("name").get<std::string>() + ":" + factor.at("outcome").get<std::string>();
    if (!factor.at("detail").get<std::string>().empty()) {
      compact += ":" + factor.at("detail").get<std::string>();
    }
  }
  expect("AUTHPOLICY_FACTOR_" + std::to_string(index + 1) + "_NAME", "<absent>");
  expect("AUTHPOLICY_FACTORS", compact);
  index = 0;
  for (const auto& unknown : row.at("unknowns")) {
    const std::string prefix = "AUTHPOLICY_UNKNOWN_" + std::to_string(++index);
    expect(prefix + "_CONDITION", unknown.at("condition").get<std::string>());
    expect(prefix + "_CAUSE", unknown.at("cause").get<std::string>());
  }
  expect("AUTHPOLICY_UNKNOWN_" + std::to_string(index + 1) + "_CONDITION", "<absent>");
  expect("MESSAGE_ID", audit::kDecisionMessageId);
  expect("SYSLOG_IDENTIFIER", "pam_policy");
  expect("PRIORITY", row.at("decision") == "permit" ? "6" : "5");
  return differences;
}

}  // namespace authpolicy::pam_test
