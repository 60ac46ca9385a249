// The sqlite audit store: one row per decision, bounded waits, migrations, and the queries that
// failures() conditions and `authpolicy audit` need. This is the header the PAM module calls.
//
// Error contract: no function here throws (allocation failure included); every failure comes back
// as a Status (or an unknown FailureCount) with a message naming the file.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "audit/audit_record.h"
#include "audit/audit_status.h"

namespace authpolicy::audit {

inline constexpr const char* kDefaultDatabasePath = "/var/lib/authpolicy/audit.db";

struct OpenOptions {
  // Create the folder (0700) and the file (0600) when missing. Only the last folder is created;
  // a missing parent is an error.
  bool create_if_missing = true;
  // Bring an older schema forward (in one transaction). false leaves the file as it is.
  bool migrate = true;
  bool read_only = false;
  // `audit { required = true }`: carried here so callers can pass it to after_write().
  bool required = false;
  // Longest a single operation waits for other processes' locks, retries included
  // (record_decision: open and write together). Readers never wait for writers (WAL), so a
  // decision waits at most about this long, in its write. Only a process holding the log in
  // exclusive locking mode can make a read wait too (open and count share one busy_timeout);
  // the PAM module gives a decision's reads and write one budget (audit::WaitBudget).
  std::chrono::milliseconds busy_timeout{2000};
  // `audit { retention }`: rows older than this are pruned a batch at a time while writing
  // (every 1000th decision). 0 keeps everything.
  std::int64_t retention_seconds = 90 * 86400;
  // Refuse a file or folder not owned by `owner_uid` or writable by group/others: anyone who can
  // write the log can erase failures and so defeat `failures()` conditions.
  bool check_ownership = true;
  uid_t owner_uid = 0;
  // Cap on the database size in pages (0 = none). Writes past it fail as `full`.
  std::int64_t max_pages = 0;
  // synchronous=FULL (an fsync per decision, survives power loss) instead of NORMAL (survives a
  // crash of the process; the last decisions may be lost on power loss). For the spool: an
  // fdatasync after each appended decision.
  bool durable = false;
  // Move decisions waiting in the spool ("<db>-spool", see append_decision) into the tables when
  // opening, so that every query sees them; that opens the file for writing even when read_only
  // is set. false (verify) leaves the spool as it is.
  bool fold_spool = true;
  // Without a fold: rebuild the tally beside the log (audit/tally.h) when it does not match the
  // log, leaving the spool as it is; record_decision() does it after its write. A spool writer
  // that found the tally stale, and the module's direct writes, ask for this.
  bool refresh_tally = false;
};

// failures(WINDOW) and failures(WINDOW, rhost): failed (deny) decisions of `user`, all services,
// with time >= now - window. With `rhost`, only those from that source: an IP literal matches the
// same address in any spelling ("::ffff:10.1.2.3" == "10.1.2.3"); any other text matches exactly;
// "" matches local requests (no PAM_RHOST).
struct FailureQuery {
  std::string user;
  std::int64_t window_seconds = 0;
  std::optional<std::string> rhost;
  std::int64_t now_us = 0;  // 0 = the current time
};

struct FailureCount {
  std::optional<std::int64_t> count;  // nullopt = unknown: the log could not be read
  std::string cause;                  // why it is unknown (for the decision's unknowns)
  bool known() const noexcept { return count.has_value(); }
};

// Filters of `authpolicy audit`. Results are newest first (oldest_first: in row id order).
struct DecisionFilter {
  bool failed_only = false;
  // Only decisions whose shadow policy disagreed (a shadow verdict other than "same").
  bool shadow_disagreements = false;
  std::optional<std::string> user;
  std::optional<std::string> service;
  // An address, a CIDR block (v4 or v6), or else a host name matched exactly.
  std::optional<std::string> rhost;
  std::optional<std::int64_t> since_us;  // inclusive
  std::optional<std::int64_t> until_us;  // exclusive
  std::int64_t limit = 100;              // 0 = no limit
  // `authpolicy audit export`: rows with a larger id only, in id order (the order they were
  // committed in: one writer at a time), so a reader can resume after the last id it printed.
  std::optional<std::int64_t> after_id;
  bool oldest_first = false;
};

struct CountByName {
  std::string name;
  std::int64_t failures = 0;
};

// Failures in a time range, grouped four ways, largest first.
struct FailureSummary {
  std::int64_t decisions = 0;
  std::int64_t failures = 0;
  std::vector<CountByName> by_user;
  std::vector<CountByName> by_rhost;  // "" = local requests
  std::vector<CountByName> by_service;
  std::vector<CountByName> by_factor;  // factor attempts with outcome fail or error
};

struct VerifyReport {
  Status status;                      // not ok: the file could not be examined at all
  std::vector<std::string> problems;  // empty: integrity, schema, mode and owner are as expected
  bool clean() const noexcept { return status.ok() && problems.empty(); }
};

struct RecentPassQuery;  // audit/recent_pass.h
struct RecentPass;

// Declared here because AuditStore befriends them; documented below.
VerifyReport verify_database(const std::string& path, const OpenOptions& options) noexcept;
Status record_decision(const std::string& path, const OpenOptions& options,
                       const AuditRecord& record) noexcept;
FailureCount count_failures(const std::string& path, const OpenOptions& options,
                            const FailureQuery& query) noexcept;

class AuditStore {
 public:
  struct OpenResult {
    Status status;
    std::unique_ptr<AuditStore> store;  // set exactly when status.ok()
  };

  // Opens (and when allowed creates and migrates) the database at `path`.
  static OpenResult open(const std::string& path, const OpenOptions& options) noexcept;

  ~AuditStore();
  AuditStore(const AuditStore&) = delete;
  AuditStore& operator=(const AuditStore&) = delete;

  // Writes one decision and its factors and unknowns in one transaction. Waits at most
  // busy_timeout for locks. On failure nothing of the decision is stored.
  Status write(const AuditRecord& record) noexcept;

  FailureCount count_failures(const FailureQuery& query) noexcept;

  // recent() conditions: audit/recent_pass.h.
  RecentPass recent_pass(const RecentPassQuery& query) noexcept;

  Status list(const DecisionFilter& filter, std::vector<StoredDecision>* out) noexcept;

  // Failures with since_us <= time < until_us; at most `limit_per_group` names per group.
  Status summarize(std::optional<std::int64_t> since_us, std::optional<std::int64_t> until_us,
                   std::int64_t limit_per_group, FailureSummary* out) noexcept;

  // Deletes decisions (with their factors and unknowns) older than `before_us`, in batches, each
  // its own transaction. *removed counts the decisions deleted, also when a later batch failed.
  Status prune(std::int64_t before_us, std::int64_t* removed) noexcept;

  // Decisions this open moved from the spool into the tables.
  std::int64_t folded() const noexcept;
  int schema_version() const noexcept;
  const std::string& path() const noexcept;
  const OpenOptions& options() const noexcept;

  struct Impl;  // opaque outside audit/ (audit_store_impl.h)

 private:
  friend VerifyReport verify_database(const std::string& path, const OpenOptions& options) noexcept;
  friend Status record_decision(const std::string& path, const OpenOptions& options,
                                const AuditRecord& record) noexcept;
  friend FailureCount count_failures(const std::string& path, const OpenOptions& options,
                                     const FailureQuery& query) noexcept;
  explicit AuditStore(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// What the PAM module calls once per decision: open, write, close, all within one
// busy_timeout. The caller logs the decision to syslog either way; then acts on
// after_write(status, options.required), sending write_failure_line() when it says warn.
Status record_decision(const std::string& path, const OpenOptions& options,
                       const AuditRecord& record) noexcept;

// What the PAM module calls for a policy that never reads the log (no failures(), no recent()):
// the decision is appended to the spool beside the database ("<db>-spool", in the same checked
// folder, 0600) with one write under the spool's lock, and sqlite is not opened at all; the next
// reader (a failures() or recent() condition, `authpolicy audit`, any AuditStore::open) moves it
// into the tables first, and so does the writer that finds 16 KiB or a minute's worth waiting.
// The same checks as record_decision() come first (trusted folder, the database's owner and mode,
// its header), so a log that could not take the decision is still a failed write; when there is
// no database yet, or the record is too large, it is written there directly. A fold that fails is
// not the decision's failure (its record is stored): it comes back in *fold_problem.
Status append_decision(const std::string& path, const OpenOptions& options,
                       const AuditRecord& record, std::string* fold_problem) noexcept;

// Why a missing audit log may not be read as "nothing recorded yet"; nullopt when the folder that
// should hold it passes the file-trust walk (root-owned folders up from "/", not writable by
// group or others, sticky folders allowed). Deleting the log must take root: where anyone else
// could have removed it, its absence proves nothing.
std::optional<std::string> missing_log_distrust(const std::string& path);

// What failures() conditions call. A missing database file (or folder) counts as 0 failures:
// nothing has been recorded yet, which is the state right after installation, provided the
// folder it belongs in is trusted (missing_log_distrust); otherwise it is unknown. Any other
// problem (unreadable, corrupt, unsafe owner/mode, locked schema change) gives unknown, which
// the evaluator resolves the strict way. Never creates the file.
FailureCount count_failures(const std::string& path, const OpenOptions& options,
                            const FailureQuery& query) noexcept;

// PRAGMA integrity_check and foreign_key_check, schema version and shape, WAL mode, and the
// file's and folder's owner and mode. Never changes the file.
VerifyReport verify_database(const std::string& path, const OpenOptions& options) noexcept;

}  // namespace authpolicy::audit
