// Writing decisions to the audit log within a bounded wait, and pruning it by retention.
#include "audit/audit_store.h"

#include <sys/types.h>

#include <new>

#include "audit/audit_store_impl.h"
#include "audit/schema.h"
#include "audit/time_text.h"
#include "base/address.h"

namespace authpolicy::audit {
namespace {

using internal::busy_wait;

constexpr off_t kCheckpointFrames = 64;  // WAL frames before a writer checkpoints (docs/cost.md)
constexpr off_t kWalFrameBytes = 4096 + 24;  // a frame of the default page size, with its header

// Keeps the WAL short, so that opening stays cheap: a connection that finds no other one open
// (the usual case: one per login) rebuilds the WAL index by reading and checksumming every valid
// WAL frame, ~3 us each (docs/cost.md). Before its own write, a writer that finds a long WAL
// copies it into the database with a passive checkpoint, which takes no write lock and never
// waits (copy and fsyncs run beside other writers). When that copied everything, the write that
// follows starts the WAL over from its first frame (sqlite restarts it when all of it is in the
// database and no reader still uses it), and `journal_size_limit = 0` then cuts the file down to
// that transaction's frames, so the file's size tracks the WAL's length. When other writers
// appended meanwhile or a reader holds an old snapshot, nothing is restarted and the next writer
// tries again. (A checkpoint after the write cannot restart the WAL: the next process's
// recovery forgets what was copied. A truncating checkpoint would hold the write lock while it
// copies, with fsyncs, what others appended since.)
void checkpoint_if_long(AuditStore::Impl& impl) {
  // The WAL file this connection uses (the one in the checked folder), not a name.
  sqlite3_file* wal = nullptr;
  if (sqlite3_file_control(impl.db, "main", SQLITE_FCNTL_JOURNAL_POINTER, &wal) != SQLITE_OK ||
      wal == nullptr || wal->pMethods == nullptr) {
    return;
  }
  sqlite3_int64 size = 0;
  if (wal->pMethods->xFileSize(wal, &size) != SQLITE_OK) return;
  if (size < kCheckpointFrames * kWalFrameBytes) return;
  sqlite3_busy_handler(impl.db, nullptr, nullptr);
  sqlite3_wal_checkpoint_v2(impl.db, "main", SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
  sqlite3_busy_handler(impl.db, busy_wait, &impl);
}

}  // namespace

namespace internal {

bool valid_decision(const std::string& decision) {
  return decision == "permit" || decision == "deny";
}

Status write_once(AuditStore::Impl& impl, const AuditRecord& record, std::int64_t time_us,
                  std::int64_t* id) {
  auto& insert = impl.insert_decision;
  insert.reset();
  insert.bind(1, time_us);
  insert.bind(2, record.service);
  insert.bind(3, record.user);
  insert.bind(4, record.ruser);
  insert.bind(5, record.rhost);
  insert.bind(6, record.tty);
  if (record.country) {
    insert.bind(7, *record.country);
  } else {
    insert.bind_null(7);
  }
  if (record.asn) {
    insert.bind(8, static_cast<std::int64_t>(*record.asn));
  } else {
    insert.bind_null(8);
  }
  insert.bind(9, record.policy_path);
  insert.bind(10, record.policy_sha256);
  insert.bind(11, record.decision);
  insert.bind(12, record.reason);
  insert.bind(13, record.duration_us);
  insert.bind(14, record.pid);
  insert.bind(15, static_cast<std::int64_t>(record.password_asked ? 1 : 0));
  if (auto key = address_key(record.rhost)) {
    insert.bind_blob(16, key->data(), static_cast<int>(key->size()));
  } else {
    insert.bind_null(16);
  }
  insert.bind(17, record.decision_id.empty() ? new_decision_id() : record.decision_id);
  if (record.situation.empty()) {
    insert.bind_null(18);
  } else {
    insert.bind(18, record.situation);
  }
  if (record.shadow.empty()) {
    insert.bind_null(19);
  } else {
    insert.bind(19, record.shadow);
  }
  int rc = insert.step();
  if (rc != SQLITE_DONE)
    return detail::sqlite_failure(impl.db, rc, "audit write failed", impl.path);
  *id = sqlite3_last_insert_rowid(impl.db);

  std::int64_t seq = 0;
  for (const auto& factor : record.factors) {
    auto& statement = impl.insert_factor;
    statement.reset();
    statement.bind(1, *id);
    statement.bind(2, seq++);
    statement.bind(3, factor.name);
    statement.bind(4, factor.outcome);
    statement.bind(5, factor.detail);
    statement.bind(6, factor.duration_us);
    rc = statement.step();
    if (rc != SQLITE_DONE)
      return detail::sqlite_failure(impl.db, rc, "audit write failed", impl.path);
  }
  // Most decisions have no unknown condition: this insert is prepared only for one that has.
  if (!record.unknowns.empty() && !impl.insert_unknown) {
    rc = impl.insert_unknown.prepare(
        impl.db,
        "INSERT INTO unknowns (decision_id, seq, condition, cause) VALUES (?1, ?2, ?3, ?4)", true);
    if (rc != SQLITE_OK)
      return detail::sqlite_failure(impl.db, rc, "audit write failed", impl.path);
  }
  seq = 0;
  for (const auto& unknown : record.unknowns) {
    auto& statement = impl.insert_unknown;
    statement.reset();
    statement.bind(1, *id);
    statement.bind(2, seq++);
    statement.bind(3, unknown.condition);
    statement.bind(4, unknown.cause);
    rc = statement.step();
    if (rc != SQLITE_DONE)
      return detail::sqlite_failure(impl.db, rc, "audit write failed", impl.path);
  }
  return Status::success();
}

Status prepare_inserts(AuditStore::Impl& impl) {
  if (impl.insert_decision) return Status::success();
  struct Pending {
    detail::Statement* statement;
    const char* sql;
  };
  const Pending pending[] = {
      {&impl.insert_decision,
       "INSERT INTO decisions (time_us, service, user, ruser, rhost, tty, country, asn, "
       "policy_path, policy_sha256, decision, reason, duration_us, pid, password_asked, rhost_ip, "
       "global_id, situation, shadow) "
       "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, "
       "?19)"},
      {&impl.insert_factor,
       "INSERT INTO factors (decision_id, seq, name, outcome, detail, duration_us) "
       "VALUES (?1, ?2, ?3, ?4, ?5, ?6)"},
  };
  for (const auto& item : pending) {
    int rc = item.statement->prepare(impl.db, item.sql, true);
    if (rc != SQLITE_OK) {
      impl.insert_decision = detail::Statement();
      return detail::sqlite_failure(impl.db, rc, "audit write failed", impl.path);
    }
  }
  return Status::success();
}

// Deletes up to `batch` decisions older than `before_us` in one transaction.
Status prune_batch(AuditStore::Impl& impl, std::int64_t before_us, std::int64_t batch,
                   std::int64_t* removed) {
  *removed = 0;
  Status begun = begin_immediate(impl, "pruning the audit log");
  if (!begun.ok()) return begun;
  detail::Statement statement;
  int rc = statement.prepare(impl.db,
                             "DELETE FROM decisions WHERE id IN (SELECT id FROM decisions "
                             "WHERE time_us < ?1 ORDER BY time_us LIMIT ?2)");
  if (rc == SQLITE_OK) {
    statement.bind(1, before_us);
    statement.bind(2, batch);
    rc = statement.step();
  }
  if (rc != SQLITE_DONE) {
    Status status = detail::sqlite_failure(impl.db, rc, "pruning the audit log", impl.path);
    statement = detail::Statement();
    impl.rollback_if_open();
    return status;
  }
  std::int64_t changed = sqlite3_changes64(impl.db);
  statement = detail::Statement();
  rc = detail::exec(impl.db, "COMMIT");
  if (rc != SQLITE_OK) {
    Status status = detail::sqlite_failure(impl.db, rc, "pruning the audit log", impl.path);
    impl.rollback_if_open();
    return status;
  }
  *removed = changed;
  return Status::success();
}

Status out_of_memory(const std::string& path) {
  return Status::failure(StatusCode::io_error,
                         "out of memory while using the audit log (" + path + ")");
}

}  // namespace internal

using internal::kAutoPruneBatch;
using internal::kAutoPruneEvery;
using internal::out_of_memory;
using internal::prepare_inserts;
using internal::prune_batch;
using internal::valid_decision;
using internal::write_once;

Status AuditStore::write(const AuditRecord& record) noexcept {
  auto& impl = *impl_;
  try {
    if (!valid_decision(record.decision)) {
      return Status::failure(
          StatusCode::invalid_argument,
          "audit record decision must be permit or deny, not \"" + record.decision + "\"");
    }
    if (impl.options.read_only) {
      return Status::failure(StatusCode::read_only, "audit log opened read-only: " + impl.path);
    }
    if (impl.version != schema::kCurrentVersion) {
      return Status::failure(StatusCode::schema_too_new,
                             "audit log schema version " + std::to_string(impl.version) +
                                 " cannot be written by this build: " + impl.path);
    }
    if (!impl.deadline_from_open) impl.start_deadline();
    impl.deadline_from_open = false;
    Status status = prepare_inserts(impl);
    if (!status.ok()) return status;
    std::int64_t time_us = record.time_us != 0 ? record.time_us : now_utc_us();
    std::int64_t id = 0;
    checkpoint_if_long(impl);
    for (int attempt = 0;; ++attempt) {
      status = internal::begin_immediate(impl, "audit write failed");
      if (!status.ok()) return status;
      status = write_once(impl, record, time_us, &id);
      if (status.ok()) {
        const int rc = detail::exec(impl.db, "COMMIT");
        if (rc != SQLITE_OK)
          status = detail::sqlite_failure(impl.db, rc, "audit write failed", impl.path);
      }
      if (status.ok()) break;
      impl.rollback_if_open();
      // Only a lock conflict is worth another try; the whole transaction is redone, so nothing
      // is stored twice.
      if (status.code == StatusCode::busy && impl.time_left()) {
        impl.pause(attempt);
        continue;
      }
      return status;
    }
    if (impl.options.retention_seconds > 0 && id % kAutoPruneEvery == 0) {
      // Retention is housekeeping: its failure never fails the decision's write, and it waits
      // only within what is left of this write's deadline.
      std::int64_t removed = 0;
      prune_batch(impl, now_utc_us() - impl.options.retention_seconds * 1000000, kAutoPruneBatch,
                  &removed);
    }
    return Status::success();
  } catch (const std::bad_alloc&) {
    impl.rollback_if_open();
    return out_of_memory(impl.path);
  } catch (...) {
    impl.rollback_if_open();
    return Status::failure(StatusCode::io_error, "unexpected error writing " + impl.path);
  }
}

Status AuditStore::prune(std::int64_t before_us, std::int64_t* removed) noexcept {
  auto& impl = *impl_;
  *removed = 0;
  try {
    if (impl.options.read_only) {
      return Status::failure(StatusCode::read_only, "audit log opened read-only: " + impl.path);
    }
    if (impl.version == 0) return Status::success();
    for (;;) {
      impl.start_deadline();
      std::int64_t batch_removed = 0;
      Status status = prune_batch(impl, before_us, 5000, &batch_removed);
      *removed += batch_removed;
      if (!status.ok()) return status;
      if (batch_removed == 0) return Status::success();
    }
  } catch (const std::bad_alloc&) {
    impl.rollback_if_open();
    return out_of_memory(impl.path);
  } catch (...) {
    impl.rollback_if_open();
    return Status::failure(StatusCode::io_error, "unexpected error pruning " + impl.path);
  }
}

Status record_decision(const std::string& path, const OpenOptions& options,
                       const AuditRecord& record) noexcept {
  OpenOptions opening = options;
  opening.refresh_tally = false;  // the write below would make it stale again
  auto opened = AuditStore::open(path, opening);
  if (!opened.status.ok()) return opened.status;
  // Opening and writing share one deadline: the decision's whole wait stays bounded.
  opened.store->impl_->deadline_from_open = true;
  Status status = opened.store->write(record);
  // The tally no longer matches the tables: rebuilt now, within what is left of the deadline,
  // so that the next decision reads it instead of sqlite. Housekeeping: never the write's failure.
  if (status.ok() && options.refresh_tally && !options.read_only) {
    internal::rebuild_tally(*opened.store->impl_);
  }
  return status;
}

}  // namespace authpolicy::audit
