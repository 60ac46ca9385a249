// Multi-process write rate of the audit log: N real processes each record M decisions at once.
//   ap_audit_load --processes 16 --decisions 2000 [--db PATH] [--keep-open] [--durable]
// Without --keep-open every decision opens, writes and closes the store, as the PAM module does.
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "audit/audit_store.h"
#include "audit/time_text.h"

namespace {

using namespace authpolicy::audit;

AuditRecord make_record(int process, int index) {
  AuditRecord record;
  record.service = index % 3 ? "sshd" : "sudo";
  record.user = "user" + std::to_string((process * 7 + index) % 200);
  record.rhost = "198.51.100." + std::to_string(index % 250);
  record.tty = "ssh";
  record.policy_path = "/etc/authpolicy/sshd.pol";
  record.policy_sha256 = std::string(64, 'f');
  record.decision = index % 4 ? "permit" : "deny";
  record.reason = record.decision == "deny" ? "password failed" : "password and totp passed";
  record.duration_us = 1500;
  record.pid = getpid();
  record.password_asked = true;
  record.factors.push_back({"password", index % 4 ? "pass" : "fail", "", 900});
  if (index % 4) record.factors.push_back({"totp", "pass", "", 400});
  return record;
}

int usage() {
  std::fprintf(stderr,
               "usage: ap_audit_load [--processes N] [--decisions M] [--db PATH] [--keep-open] "
               "[--durable]\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  int processes = 16;
  int decisions = 1000;
  bool keep_open = false;
  OpenOptions options;
  std::string path;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--processes" && i + 1 < argc) {
      processes = std::atoi(argv[++i]);
    } else if (arg == "--decisions" && i + 1 < argc) {
      decisions = std::atoi(argv[++i]);
    } else if (arg == "--db" && i + 1 < argc) {
      path = argv[++i];
    } else if (arg == "--keep-open") {
      keep_open = true;
    } else if (arg == "--durable") {
      options.durable = true;
    } else {
      return usage();
    }
  }
  if (processes < 1 || decisions < 1) return usage();
  std::string folder;
  if (path.empty()) {
    char pattern[] = "/tmp/ap-audit-load-XXXXXX";
    if (mkdtemp(pattern) == nullptr) return 1;
    folder = pattern;
    path = folder + "/audit.db";
  }
  // Create and migrate once, so the figure is the steady-state write rate.
  if (auto opened = AuditStore::open(path, options); !opened.status.ok()) {
    std::fprintf(stderr, "%s\n", opened.status.message.c_str());
    return 1;
  }

  int gate[2];
  if (pipe(gate) != 0) return 1;
  std::vector<pid_t> children;
  for (int process = 0; process < processes; ++process) {
    pid_t pid = fork();
    if (pid < 0) return 1;
    if (pid == 0) {
      close(gate[1]);
      char byte;
      while (read(gate[0], &byte, 1) > 0) {
      }
      int failed = 0;
      std::unique_ptr<AuditStore> store;
      if (keep_open) store = std::move(AuditStore::open(path, options).store);
      for (int i = 0; i < decisions; ++i) {
        AuditRecord record = make_record(process, i);
        Status status = keep_open ? (store ? store->write(record)
                                           : Status::failure(StatusCode::cannot_open, "open"))
                                  : record_decision(path, options, record);
        if (!status.ok()) {
          if (failed++ < 3) std::fprintf(stderr, "write failed: %s\n", status.message.c_str());
        }
      }
      _exit(failed > 255 ? 255 : failed);
    }
    children.push_back(pid);
  }
  close(gate[0]);
  auto started = std::chrono::steady_clock::now();
  close(gate[1]);
  long failed = 0;
  for (pid_t pid : children) {
    int status = 0;
    waitpid(pid, &status, 0);
    failed += WIFEXITED(status) ? WEXITSTATUS(status) : decisions;
  }
  double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  long total = static_cast<long>(processes) * decisions;
  std::printf("processes=%d decisions=%ld mode=%s sync=%s seconds=%.3f rate=%.0f/s failed=%ld\n",
              processes, total, keep_open ? "keep-open" : "open-per-decision",
              options.durable ? "full" : "normal", seconds, total / seconds, failed);
  if (!folder.empty()) std::filesystem::remove_all(folder);
  return failed == 0 ? 0 : 1;
}
