// Schema DDL per version and the forward migrations between versions.
#include "audit/schema.h"

#include <string_view>

#include "audit/sqlite_util.h"
#include "base/address.h"

namespace authpolicy::audit::schema {
namespace {

// Version 1 as shipped first. Never edit: a database created by it must migrate unchanged.
constexpr const char* kVersion1 = R"sql(
CREATE TABLE decisions (
  id INTEGER PRIMARY KEY,
  time_us INTEGER NOT NULL,
  service TEXT NOT NULL,
  user TEXT NOT NULL,
  ruser TEXT NOT NULL DEFAULT '',
  rhost TEXT NOT NULL DEFAULT '',
  tty TEXT NOT NULL DEFAULT '',
  policy_path TEXT NOT NULL DEFAULT '',
  policy_sha256 TEXT NOT NULL DEFAULT '',
  decision TEXT NOT NULL CHECK (decision IN ('permit', 'deny')),
  reason TEXT NOT NULL DEFAULT '',
  duration_us INTEGER NOT NULL DEFAULT 0,
  pid INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE factors (
  decision_id INTEGER NOT NULL REFERENCES decisions(id) ON DELETE CASCADE,
  seq INTEGER NOT NULL,
  name TEXT NOT NULL,
  outcome TEXT NOT NULL,
  detail TEXT NOT NULL DEFAULT '',
  duration_us INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (decision_id, seq)
) WITHOUT ROWID;
CREATE INDEX decisions_by_time ON decisions(time_us);
CREATE INDEX failures_by_user ON decisions(user, time_us) WHERE decision = 'deny';
)sql";

// Version 2: GeoIP fields, the password flag, unknown conditions, and an address key so that
// failures(WINDOW, rhost) and CIDR filters are index lookups.
constexpr const char* kVersion2 = R"sql(
ALTER TABLE decisions ADD COLUMN country TEXT;
ALTER TABLE decisions ADD COLUMN asn INTEGER;
ALTER TABLE decisions ADD COLUMN password_asked INTEGER NOT NULL DEFAULT 0;
ALTER TABLE decisions ADD COLUMN rhost_ip BLOB;
CREATE TABLE unknowns (
  decision_id INTEGER NOT NULL REFERENCES decisions(id) ON DELETE CASCADE,
  seq INTEGER NOT NULL,
  condition TEXT NOT NULL,
  cause TEXT NOT NULL DEFAULT '',
  PRIMARY KEY (decision_id, seq)
) WITHOUT ROWID;
CREATE INDEX decisions_by_user ON decisions(user, time_us);
CREATE INDEX failures_by_user_source ON decisions(user, rhost_ip, time_us) WHERE decision = 'deny';
)sql";

// Version 3: how far the spool (audit/spool.h) has been moved into the tables. One row: the
// generation of the spool file last folded and the bytes of it already stored, written in the
// same transaction as the rows, so a fold cut short before the spool is emptied is not repeated.
constexpr const char* kVersion3 = R"sql(
CREATE TABLE spool_progress (
  generation INTEGER NOT NULL,
  folded_bytes INTEGER NOT NULL
);
)sql";

// Version 4: each decision's random id (AuditRecord::decision_id), the name the journal entry and
// every export give it; "global" because the row id (what factors.decision_id refers to) is only
// this log's. Rows from before have none ('').
constexpr const char* kVersion4 = R"sql(
ALTER TABLE decisions ADD COLUMN global_id TEXT NOT NULL DEFAULT '';
CREATE INDEX decisions_by_global_id ON decisions(global_id) WHERE global_id <> '';
)sql";

// Version 5: what a decision can be decided again from (`authpolicy replay`): the request's
// situation as eval knobs, and a shadow policy's verdict. NULL in rows written before.
constexpr const char* kVersion5 = R"sql(
ALTER TABLE decisions ADD COLUMN situation TEXT;
ALTER TABLE decisions ADD COLUMN shadow TEXT;
CREATE INDEX shadow_disagreements ON decisions(time_us) WHERE shadow IS NOT NULL AND shadow <> 'same';
)sql";

// Fills rhost_ip for rows written before version 2.
Status backfill_address_keys(sqlite3* db, const std::string& path) {
  detail::Statement select;
  detail::Statement update;
  int rc = select.prepare(db, "SELECT id, rhost FROM decisions WHERE rhost <> ''");
  if (rc != SQLITE_OK) return detail::sqlite_failure(db, rc, "migration to version 2", path);
  rc = update.prepare(db, "UPDATE decisions SET rhost_ip = ?1 WHERE id = ?2");
  if (rc != SQLITE_OK) return detail::sqlite_failure(db, rc, "migration to version 2", path);
  while ((rc = select.step()) == SQLITE_ROW) {
    auto key = address_key(select.column_text(1));
    if (!key) continue;
    update.reset();
    update.bind_blob(1, key->data(), static_cast<int>(key->size()));
    update.bind(2, select.column_int(0));
    int update_rc = update.step();
    if (update_rc != SQLITE_DONE) {
      return detail::sqlite_failure(db, update_rc, "migration to version 2", path);
    }
  }
  if (rc != SQLITE_DONE) return detail::sqlite_failure(db, rc, "migration to version 2", path);
  return Status::success();
}

Status run_script(sqlite3* db, const char* sql, int version, const std::string& path) {
  int rc = detail::exec(db, sql);
  if (rc != SQLITE_OK) {
    return detail::sqlite_failure(db, rc, "migration to version " + std::to_string(version), path);
  }
  return Status::success();
}

}  // namespace

Status migrate(sqlite3* db, int from_version, int to_version, const std::string& path) {
  for (int version = from_version + 1; version <= to_version; ++version) {
    Status status;
    switch (version) {
      case 1:
        status = run_script(db, kVersion1, 1, path);
        break;
      case 2:
        status = run_script(db, kVersion2, 2, path);
        if (status.ok()) status = backfill_address_keys(db, path);
        break;
      case 3:
        status = run_script(db, kVersion3, 3, path);
        break;
      case 4:
        status = run_script(db, kVersion4, 4, path);
        break;
      case 5:
        status = run_script(db, kVersion5, 5, path);
        break;
      default:
        return Status::failure(StatusCode::schema_too_new,
                               "no migration to schema version " + std::to_string(version));
    }
    if (!status.ok()) return status;
  }
  std::string set_version = "PRAGMA user_version = " + std::to_string(to_version);
  int rc = detail::exec(db, set_version.c_str());
  if (rc != SQLITE_OK) return detail::sqlite_failure(db, rc, "setting schema version", path);
  return Status::success();
}

std::vector<std::string> schema_problems(sqlite3* db) {
  struct TableShape {
    const char* name;
    std::vector<const char*> columns;
  };
  static const TableShape kTables[] = {
      {"decisions",
       {"id", "time_us", "service", "user", "ruser", "rhost", "tty", "policy_path", "policy_sha256",
        "decision", "reason", "duration_us", "pid", "country", "asn", "password_asked",
        "rhost_ip", "global_id", "situation", "shadow"}},
      {"factors", {"decision_id", "seq", "name", "outcome", "detail", "duration_us"}},
      {"unknowns", {"decision_id", "seq", "condition", "cause"}},
      {"spool_progress", {"generation", "folded_bytes"}},
  };
  static const char* kIndexes[] = {"decisions_by_time", "failures_by_user", "decisions_by_user",
                                   "failures_by_user_source", "decisions_by_global_id",
                                   "shadow_disagreements"};
  std::vector<std::string> problems;
  for (const auto& table : kTables) {
    detail::Statement info;
    std::string sql = std::string("SELECT name FROM pragma_table_info('") + table.name + "')";
    if (info.prepare(db, sql) != SQLITE_OK) {
      problems.push_back(std::string("cannot read the shape of table ") + table.name + ": " +
                         sqlite3_errmsg(db));
      continue;
    }
    std::vector<std::string> present;
    while (info.step() == SQLITE_ROW) present.push_back(info.column_text(0));
    if (present.empty()) {
      problems.push_back(std::string("missing table ") + table.name);
      continue;
    }
    for (const char* column : table.columns) {
      bool found = false;
      for (const auto& name : present) found = found || name == column;
      if (!found) problems.push_back(std::string("missing column ") + table.name + "." + column);
    }
  }
  for (const char* index : kIndexes) {
    detail::Statement lookup;
    if (lookup.prepare(db, "SELECT 1 FROM sqlite_schema WHERE type = 'index' AND name = ?1") !=
        SQLITE_OK) {
      problems.push_back(std::string("cannot list indexes: ") + sqlite3_errmsg(db));
      break;
    }
    lookup.bind(1, std::string_view(index));
    if (lookup.step() != SQLITE_ROW) problems.push_back(std::string("missing index ") + index);
  }
  return problems;
}

}  // namespace authpolicy::audit::schema
