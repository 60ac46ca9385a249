// The tally in a fold or a rebuild (tally.h, TallyFold): kept when the fold only moved decisions
// from the spool into the tables, else written anew from the tables and the spool.
#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <map>
#include <string_view>
#include <vector>

#include "audit/audit_store_impl.h"
#include "audit/decision_columns.h"
#include "audit/tally.h"
#include "audit/tally_files.h"
#include "audit/tally_format.h"
#include "audit/time_text.h"
#include "base/unique_fd.h"

namespace authpolicy::audit::internal {

using tally::boot_id;
using tally::create_tally_file;
using tally::encode_entry;
using tally::fingerprint_of;
using tally::kStateBytes;
using tally::kStateName;
using tally::log_prints;
using tally::LogPrints;
using tally::open_tally_file;
using tally::open_tally_folder;
using tally::parse_state;
using tally::read_exactly;
using tally::State;
using tally::user_file_name;
using tally::user_header;
using tally::write_state;

namespace {

// A rebuild reads at most this many decisions (the fold holds the spool's lock meanwhile, and
// writers wait for it within their 2 s); a log busier than that over the horizon is answered by
// sqlite, and the rebuild is tried again after ten minutes (tally_append.cpp).
constexpr std::size_t kRebuildRowCap = 50000;

// What the tally keeps of a decision (tally_format.h), as a rebuild reads it from the tables.
constexpr DecisionColumn kTalliedColumns[] = {
    DecisionColumn::time_us, DecisionColumn::user, DecisionColumn::decision,
    DecisionColumn::rhost,   DecisionColumn::service, DecisionColumn::tty,
    DecisionColumn::policy_path,
};

std::int64_t retention_cutoff(const OpenOptions& options, std::int64_t now) {
  return options.retention_seconds > 0 ? now - options.retention_seconds * 1000000
                                       : std::numeric_limits<std::int64_t>::min();
}

// The log's fingerprints now, the spool's taken from its descriptor (the fold holds it locked).
bool prints_with_spool(const AuditStore::Impl& impl, int spool_fd, LogPrints* prints) {
  struct stat spool {};
  if (!log_prints(impl.folder_fd, impl.name, impl.options, prints) ||
      fstat(spool_fd, &spool) != 0) {
    return false;
  }
  prints->spool = fingerprint_of(spool);
  return true;
}

// Replaces every user file with what the tables hold from `since` on (the spool is folded, so
// the tables hold every decision); false when the tables could not be read or the files written.
// *data_version: the connection's data_version in the snapshot read.
bool rewrite_users(AuditStore::Impl& impl, int dir_fd, std::int64_t since,
                   const std::vector<AuditRecord>& pending_records, std::int64_t* data_version) {
  std::map<std::string, std::string> files;  // user name -> entries
  for (const auto& record : pending_records) {
    // As a fold would store them: a record the tables refuse is skipped.
    if (record.decision != "permit" && record.decision != "deny") continue;
    files[record.user] += encode_entry(record);
  }
  {
    // Inside the caller's write transaction already (rebuild_tally), or a read transaction here.
    const bool own_transaction = sqlite3_get_autocommit(impl.db) != 0;
    if (own_transaction && detail::exec(impl.db, "BEGIN") != SQLITE_OK) return false;
    struct EndRead {
      sqlite3* db;
      bool own;
      ~EndRead() {
        if (own) detail::exec(db, "COMMIT");
      }
    } end_read{impl.db, own_transaction};
    detail::Statement rows;
    int rc = rows.prepare(
        impl.db,
        "SELECT d.id, f.name, " + column_list(kTalliedColumns, "d.") +
            " FROM decisions AS d INDEXED BY decisions_by_time LEFT JOIN factors AS f "
            "ON f.decision_id = d.id AND f.outcome = 'pass' AND d.decision = 'permit' "
            "WHERE d.time_us >= ?1 ORDER BY d.id");
    if (rc != SQLITE_OK) return false;
    rows.bind(1, since);
    // One row a factor that passed (or one for a decision without any): a decision's rows are
    // gathered into one record, its passed factors among them.
    std::int64_t pending_id = -1;
    AuditRecord pending;
    std::size_t count = 0;
    auto flush = [&] {
      if (pending_id >= 0) files[pending.user] += encode_entry(pending);
    };
    while ((rc = rows.step()) == SQLITE_ROW) {
      const std::int64_t id = rows.column_int(0);
      if (id != pending_id) {
        flush();
        if (++count > kRebuildRowCap) return false;
        pending_id = id;
        pending = AuditRecord{};
        read_columns(rows, 2, kTalliedColumns, &pending);
      }
      if (!rows.column_is_null(1)) {
        pending.factors.push_back(FactorAttempt{rows.column_text(1), "pass", {}, 0});
      }
    }
    if (rc != SQLITE_DONE) return false;
    flush();
    const auto version = detail::query_int(impl.db, "PRAGMA data_version");
    if (!version) return false;
    *data_version = *version;
  }
  // Every user file goes, then the new ones are written.
  const int listing_fd = fcntl(dir_fd, F_DUPFD_CLOEXEC, 0);
  if (listing_fd < 0) return false;
  DIR* listing = fdopendir(listing_fd);
  if (listing == nullptr) {
    ::close(listing_fd);
    return false;
  }
  std::vector<std::string> old_files;
  while (const dirent* item = readdir(listing)) {
    if (std::strncmp(item->d_name, "u-", 2) == 0) old_files.emplace_back(item->d_name);
  }
  closedir(listing);
  for (const auto& file : old_files) {
    if (unlinkat(dir_fd, file.c_str(), 0) != 0 && errno != ENOENT) return false;
  }
  for (const auto& [user, entries] : files) {
    UniqueFd out(create_tally_file(dir_fd, user_file_name(user)));
    if (out.get() < 0 || !write_all(out.get(), user_header(0, user) + entries)) return false;
  }
  return true;
}

}  // namespace

TallyFold::TallyFold(AuditStore::Impl& impl, const struct stat& spool) noexcept : impl_(impl) {
  try {
    const OpenOptions& options = impl.options;
    if (!options.check_ownership || boot_id().empty()) return;
    bool absent = false;
    dir_fd_ = open_tally_folder(impl.folder_fd, impl.name, options, &absent);
    if (dir_fd_ < 0) {
      if (!absent) return;  // refused: left alone, never read
      if (mkdirat(impl.folder_fd, tally::folder_name(impl.name).c_str(), 0700) != 0 &&
          errno != EEXIST) {
        return;
      }
      dir_fd_ = open_tally_folder(impl.folder_fd, impl.name, options, &absent);
      if (dir_fd_ < 0) return;
    }
    const auto version = detail::query_int(impl.db, "PRAGMA data_version");
    if (!version) return;
    data_version_ = *version;
    usable_ = true;
    struct stat info {};
    state_fd_ = open_tally_file(dir_fd_, kStateName, O_RDWR, options, &info);
    if (state_fd_ < 0 || !read_exactly(state_fd_, kStateBytes, 0, &state_bytes_)) return;
    const auto state = parse_state(state_bytes_);
    if (!state) return;
    LogPrints now;
    const bool readable = log_prints(impl.folder_fd, impl.name, options, &now);
    now.spool = fingerprint_of(spool);
    was_current_ =
        readable && (state->seq & 1) == 0 && state->boot == boot_id() && now == state->prints;
  } catch (...) {
    usable_ = false;
  }
}

TallyFold::~TallyFold() {
  if (state_fd_ >= 0) ::close(state_fd_);
  if (dir_fd_ >= 0) ::close(dir_fd_);
}

void TallyFold::folded(int spool_fd) noexcept {
  if (!usable_) return;
  try {
    const std::int64_t now = now_utc_us();
    if (was_current_) {
      // The fold only moved decisions from the spool into the tables: the tally still says the
      // same, provided nobody else wrote to the database meanwhile (data_version).
      auto state = parse_state(state_bytes_);
      const auto version = detail::query_int(impl_.db, "PRAGMA data_version");
      LogPrints prints;
      if (state && version && *version == data_version_ &&
          prints_with_spool(impl_, spool_fd, &prints)) {
        state->seq += 2;
        state->prints = prints;
        // Pruned decisions are no longer in the tables: windows reaching back to them go there.
        state->complete_from_us =
            std::max(state->complete_from_us, retention_cutoff(impl_.options, now));
        if (write_state(state_fd_, *state)) return;
      }
    }
    rebuild(spool_fd, {});
  } catch (...) {
  }
}

void TallyFold::rebuild(int spool_fd, const std::vector<AuditRecord>& pending) noexcept {
  if (!usable_) return;
  try {
    const std::int64_t now = now_utc_us();
    // The state first says "being rebuilt" (odd) and when it was tried, so that a rebuild that
    // cannot finish is not retried by every writer.
    State state;
    if (auto old = parse_state(state_bytes_)) state.seq = old->seq;
    state.seq |= 1;
    state.boot = boot_id();
    state.rebuild_failed_us = now;
    if (state_fd_ < 0) {
      unlinkat(dir_fd_, kStateName, 0);  // a refused one is replaced
      state_fd_ = create_tally_file(dir_fd_, kStateName);
      if (state_fd_ < 0) return;
    }
    if (!write_state(state_fd_, state)) return;
    const std::int64_t since =
        std::max(now - tally::kHorizonUs, retention_cutoff(impl_.options, now));
    std::int64_t read_version = -1;
    if (!rewrite_users(impl_, dir_fd_, since, pending, &read_version)) return;
    LogPrints prints;
    if (!prints_with_spool(impl_, spool_fd, &prints)) return;
    // Another connection's commit between the read and the fingerprints would be in neither.
    const auto version = detail::query_int(impl_.db, "PRAGMA data_version");
    if (!version || *version != read_version) return;
    state.seq += 1;
    state.complete_from_us = since;
    state.prints = prints;
    state.rebuild_failed_us = 0;
    write_state(state_fd_, state);
  } catch (...) {
  }
}

}  // namespace authpolicy::audit::internal
