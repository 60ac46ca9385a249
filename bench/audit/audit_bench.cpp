// Audit store benchmarks: failures() and `audit --failed --since 1h` on a log of one million
// decisions, and single-process write rates. Multi-process rates: see load_driver.cpp.
//
// The million-row log is built once under AP_AUDIT_BENCH_DIR (default /var/tmp/ap-audit-bench)
// and rebuilt when older than 30 minutes, because the queries are relative to the current time.
#include <benchmark/benchmark.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <sstream>

#include "audit/audit_store.h"
#include "audit/time_text.h"
#include "base/address.h"
#include "cli/audit_command.h"

namespace {

using namespace authpolicy::audit;

constexpr std::int64_t kRows = 1000000;
constexpr std::int64_t kSpanUs = 90LL * 86400 * 1000000;  // 90 days of history
constexpr int kUsers = 200;
constexpr int kAttackFailures = 10000;  // "root" attacked in the last hour

std::string bench_folder() {
  const char* configured = std::getenv("AP_AUDIT_BENCH_DIR");
  return configured != nullptr ? configured : "/var/tmp/ap-audit-bench";
}

std::string million_row_log() {
  static const std::string path = [] {
    std::string folder = bench_folder();
    std::string file = folder + "/audit-1m.db";
    struct stat info {};
    bool fresh = stat(file.c_str(), &info) == 0 && time(nullptr) - info.st_mtime < 1800;
    if (fresh) return file;
    std::filesystem::remove_all(folder);
    auto opened = AuditStore::open(file, {});  // creates folder 0700, file 0600, schema
    if (!opened.status.ok()) {
      std::fprintf(stderr, "%s\n", opened.status.message.c_str());
      std::exit(1);
    }
    opened.store.reset();
    std::fprintf(stderr, "building %lld-row audit log at %s ...\n", static_cast<long long>(kRows),
                 file.c_str());
    sqlite3* db = nullptr;
    sqlite3_open(file.c_str(), &db);
    sqlite3_exec(db, "PRAGMA synchronous = OFF; BEGIN", nullptr, nullptr, nullptr);
    sqlite3_stmt* decision = nullptr;
    sqlite3_stmt* factor = nullptr;
    sqlite3_prepare_v2(
        db,
        "INSERT INTO decisions (time_us, service, user, rhost, tty, policy_path, "
        "policy_sha256, decision, reason, duration_us, pid, password_asked, rhost_ip)"
        " VALUES (?1, ?2, ?3, ?4, 'ssh', '/etc/authpolicy/sshd.pol', "
        "'0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef', ?5, ?6,"
        " 1500, 4242, 1, ?7)",
        -1, &decision, nullptr);
    sqlite3_prepare_v2(db,
                       "INSERT INTO factors (decision_id, seq, name, outcome, detail, duration_us) "
                       "VALUES (?1, ?2, ?3, ?4, '', 900)",
                       -1, &factor, nullptr);
    std::int64_t now = now_utc_us();
    std::int64_t regular = kRows - kAttackFailures;
    for (std::int64_t row = 0; row < kRows; ++row) {
      bool attack = row >= regular;
      std::int64_t time_us =
          attack ? now - 3600LL * 1000000 + (row - regular) * (3600LL * 1000000 / kAttackFailures)
                 : now - kSpanUs + row * (kSpanUs / regular);
      bool deny = attack || row % 4 == 0;
      std::string user = attack ? "root" : "user" + std::to_string((row * 7919) % kUsers);
      std::string rhost =
          attack ? "203.0.113." + std::to_string(row % 250)
                 : "198.51." + std::to_string(row % 200) + "." + std::to_string(row % 250);
      auto key = authpolicy::address_key(rhost);
      sqlite3_bind_int64(decision, 1, time_us);
      sqlite3_bind_text(decision, 2, row % 3 ? "sshd" : "sudo", -1, SQLITE_STATIC);
      sqlite3_bind_text(decision, 3, user.c_str(), -1, SQLITE_TRANSIENT);
      sqlite3_bind_text(decision, 4, rhost.c_str(), -1, SQLITE_TRANSIENT);
      sqlite3_bind_text(decision, 5, deny ? "deny" : "permit", -1, SQLITE_STATIC);
      sqlite3_bind_text(decision, 6, deny ? "password failed" : "password and totp passed", -1,
                        SQLITE_STATIC);
      sqlite3_bind_blob(decision, 7, key->data(), 16, SQLITE_TRANSIENT);
      sqlite3_step(decision);
      sqlite3_reset(decision);
      std::int64_t id = sqlite3_last_insert_rowid(db);
      sqlite3_bind_int64(factor, 1, id);
      sqlite3_bind_int64(factor, 2, 0);
      sqlite3_bind_text(factor, 3, "password", -1, SQLITE_STATIC);
      sqlite3_bind_text(factor, 4, deny ? "fail" : "pass", -1, SQLITE_STATIC);
      sqlite3_step(factor);
      sqlite3_reset(factor);
      if (!deny) {
        sqlite3_bind_int64(factor, 2, 1);
        sqlite3_bind_text(factor, 3, "totp", -1, SQLITE_STATIC);
        sqlite3_bind_text(factor, 4, "pass", -1, SQLITE_STATIC);
        sqlite3_step(factor);
        sqlite3_reset(factor);
      }
    }
    sqlite3_finalize(decision);
    sqlite3_finalize(factor);
    sqlite3_exec(db, "COMMIT; PRAGMA wal_checkpoint(TRUNCATE); ANALYZE", nullptr, nullptr, nullptr);
    sqlite3_close(db);
    return file;
  }();
  return path;
}

std::unique_ptr<AuditStore> open_million() {
  auto opened = AuditStore::open(million_row_log(), {});
  if (!opened.status.ok()) std::exit(1);
  return std::move(opened.store);
}

// failures(15m) for an ordinary user: the condition `deny if failures(15m) >= 10`.
void BM_Failures15m_TypicalUser(benchmark::State& state) {
  auto store = open_million();
  std::int64_t found = 0;
  for (auto _ : state) {
    auto count = store->count_failures({"user42", 15 * 60, std::nullopt, 0});
    found = *count.count;
    benchmark::DoNotOptimize(found);
  }
  state.counters["failures"] = static_cast<double>(found);
}
BENCHMARK(BM_Failures15m_TypicalUser)->Unit(benchmark::kMicrosecond);

// failures(15m) for a user under a brute-force attack (2,500 failures in the window).
void BM_Failures15m_UserUnderAttack(benchmark::State& state) {
  auto store = open_million();
  std::int64_t found = 0;
  for (auto _ : state) {
    found = *store->count_failures({"root", 15 * 60, std::nullopt, 0}).count;
    benchmark::DoNotOptimize(found);
  }
  state.counters["failures"] = static_cast<double>(found);
}
BENCHMARK(BM_Failures15m_UserUnderAttack)->Unit(benchmark::kMicrosecond);

// failures(15m, rhost) for the attacking address.
void BM_Failures15m_UserAndSource(benchmark::State& state) {
  auto store = open_million();
  std::int64_t found = 0;
  for (auto _ : state) {
    found = *store->count_failures({"root", 15 * 60, "203.0.113.7", 0}).count;
    benchmark::DoNotOptimize(found);
  }
  state.counters["failures"] = static_cast<double>(found);
}
BENCHMARK(BM_Failures15m_UserAndSource)->Unit(benchmark::kMicrosecond);

// What a failures() condition costs in the PAM module: open the log, count, close.
void BM_Failures15m_OpenCountClose(benchmark::State& state) {
  std::string path = million_row_log();
  for (auto _ : state) {
    auto count = count_failures(path, {}, {"user42", 15 * 60, std::nullopt, 0});
    benchmark::DoNotOptimize(count);
  }
}
BENCHMARK(BM_Failures15m_OpenCountClose)->Unit(benchmark::kMicrosecond);

// `authpolicy audit --failed --since 1h` end to end (parse, open, query, format the table).
void BM_CliFailedSince1h(benchmark::State& state) {
  std::string path = million_row_log();
  std::vector<std::string> args{"--failed", "--since", "1h", "--db", path};
  if (state.range(0) == 0) args.insert(args.end(), {"--limit", "0"});
  std::size_t bytes = 0;
  for (auto _ : state) {
    std::ostringstream out, err;
    int code = authpolicy::cli::run_audit_command(args, out, err);
    if (code != 0) state.SkipWithError(err.str().c_str());
    bytes = out.str().size();
  }
  state.counters["output_bytes"] = static_cast<double>(bytes);
}
BENCHMARK(BM_CliFailedSince1h)->Arg(100)->Arg(0)->ArgName("limit")->Unit(benchmark::kMillisecond);

// `authpolicy audit summary --since 1h`.
void BM_CliSummarySince1h(benchmark::State& state) {
  std::string path = million_row_log();
  for (auto _ : state) {
    std::ostringstream out, err;
    authpolicy::cli::run_audit_command({"summary", "--since", "1h", "--db", path}, out, err);
  }
}
BENCHMARK(BM_CliSummarySince1h)->Unit(benchmark::kMillisecond);

AuditRecord bench_record(int index) {
  AuditRecord record;
  record.service = "sshd";
  record.user = "user" + std::to_string(index % 200);
  record.rhost = "198.51.100." + std::to_string(index % 250);
  record.tty = "ssh";
  record.policy_path = "/etc/authpolicy/sshd.pol";
  record.policy_sha256 = std::string(64, 'f');
  record.decision = index % 4 ? "permit" : "deny";
  record.reason = "bench";
  record.pid = getpid();
  record.factors = {{"password", index % 4 ? "pass" : "fail", "", 900}, {"totp", "pass", "", 400}};
  return record;
}

// Writes from one process keeping its connection open.
void BM_WriteKeepOpen(benchmark::State& state) {
  std::string folder = bench_folder() + "-write";
  std::filesystem::remove_all(folder);
  auto opened = AuditStore::open(folder + "/audit.db", {});
  int index = 0;
  for (auto _ : state) {
    if (!opened.store->write(bench_record(index++)).ok()) state.SkipWithError("write failed");
  }
  state.SetItemsProcessed(state.iterations());
  opened.store.reset();
  std::filesystem::remove_all(folder);
}
BENCHMARK(BM_WriteKeepOpen)->Unit(benchmark::kMicrosecond);

// Writes as the PAM module does them: open, write, close per decision.
void BM_WriteOpenPerDecision(benchmark::State& state) {
  std::string folder = bench_folder() + "-write";
  std::filesystem::remove_all(folder);
  std::string path = folder + "/audit.db";
  int index = 0;
  for (auto _ : state) {
    if (!record_decision(path, {}, bench_record(index++)).ok()) state.SkipWithError("write failed");
  }
  state.SetItemsProcessed(state.iterations());
  std::filesystem::remove_all(folder);
}
BENCHMARK(BM_WriteOpenPerDecision)->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
