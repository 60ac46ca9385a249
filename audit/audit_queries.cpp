// Reading the audit log: failures() counts, `authpolicy audit` listings and summaries, verify.
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <new>
#include <variant>
#include <vector>

#include "audit/address_range.h"
#include "audit/audit_store.h"
#include "audit/audit_store_impl.h"
#include "audit/decision_columns.h"
#include "audit/schema.h"
#include "audit/time_text.h"
#include "base/account_name.h"
#include "base/file_trust.h"

namespace authpolicy::audit {
namespace {

using internal::DecisionColumn;

// What list() reads of each decision: the whole record but its factors and unknowns.
constexpr DecisionColumn kListedColumns[] = {
    DecisionColumn::time_us,        DecisionColumn::service,     DecisionColumn::user,
    DecisionColumn::ruser,          DecisionColumn::rhost,       DecisionColumn::tty,
    DecisionColumn::country,        DecisionColumn::asn,         DecisionColumn::policy_path,
    DecisionColumn::policy_sha256,  DecisionColumn::decision,    DecisionColumn::reason,
    DecisionColumn::duration_us,    DecisionColumn::pid,         DecisionColumn::password_asked,
    DecisionColumn::global_id,      DecisionColumn::situation,   DecisionColumn::shadow,
};

FailureCount unknown(std::string cause) {
  return FailureCount{std::nullopt, std::move(cause)};
}

Status needs_current_schema(const AuditStore::Impl& impl) {
  return Status::failure(
      StatusCode::schema_too_new,
      "audit log schema version " + std::to_string(impl.version) +
          " must be migrated first (open it writable, as its owner): " + impl.path);
}

// Builds the WHERE clause of a listing; binds are appended in order.
struct Where {
  std::string sql;
  std::vector<std::variant<std::int64_t, std::string, AddressKey>> binds;
  void add(const std::string& condition) {
    sql += sql.empty() ? " WHERE " + condition : " AND " + condition;
  }
  void bind_all(detail::Statement& statement) const {
    int index = 1;
    for (const auto& value : binds) {
      if (const auto* number = std::get_if<std::int64_t>(&value)) {
        statement.bind(index++, *number);
      } else if (const auto* text = std::get_if<std::string>(&value)) {
        statement.bind(index++, *text);
      } else {
        const auto& key = std::get<AddressKey>(value);
        statement.bind_blob(index++, key.data(), static_cast<int>(key.size()));
      }
    }
  }
};

// Reads the factors and unknowns of listed decisions with two statements prepared once.
// Holds one read transaction: a consistent snapshot across statements, and one lock
// acquisition instead of one per statement.
class ReadSnapshot {
 public:
  explicit ReadSnapshot(sqlite3* db) : db_(db) { open_ = detail::exec(db_, "BEGIN") == SQLITE_OK; }
  ~ReadSnapshot() {
    if (open_) detail::exec(db_, "COMMIT");
  }
  ReadSnapshot(const ReadSnapshot&) = delete;
  ReadSnapshot& operator=(const ReadSnapshot&) = delete;

 private:
  sqlite3* db_;
  bool open_ = false;
};

class DetailReader {
 public:
  explicit DetailReader(AuditStore::Impl& impl) : impl_(impl) {}

  Status load(StoredDecision* decision) {
    if (!factors_) {
      int rc = factors_.prepare(impl_.db,
                                "SELECT name, outcome, detail, duration_us FROM factors "
                                "WHERE decision_id = ?1 ORDER BY seq");
      if (rc != SQLITE_OK)
        return detail::sqlite_failure(impl_.db, rc, "reading factors", impl_.path);
      rc = unknowns_.prepare(impl_.db,
                             "SELECT condition, cause FROM unknowns WHERE decision_id = ?1 "
                             "ORDER BY seq");
      if (rc != SQLITE_OK)
        return detail::sqlite_failure(impl_.db, rc, "reading unknowns", impl_.path);
    }
    factors_.reset();
    factors_.bind(1, decision->id);
    int rc;
    while ((rc = factors_.step()) == SQLITE_ROW) {
      decision->record.factors.push_back(
          FactorAttempt{factors_.column_text(0), factors_.column_text(1), factors_.column_text(2),
                        factors_.column_int(3)});
    }
    if (rc != SQLITE_DONE)
      return detail::sqlite_failure(impl_.db, rc, "reading factors", impl_.path);
    unknowns_.reset();
    unknowns_.bind(1, decision->id);
    while ((rc = unknowns_.step()) == SQLITE_ROW) {
      decision->record.unknowns.push_back(
          UnknownCondition{unknowns_.column_text(0), unknowns_.column_text(1)});
    }
    if (rc != SQLITE_DONE)
      return detail::sqlite_failure(impl_.db, rc, "reading unknowns", impl_.path);
    return Status::success();
  }

 private:
  AuditStore::Impl& impl_;
  detail::Statement factors_;
  detail::Statement unknowns_;
};

Status group_failures(AuditStore::Impl& impl, const std::string& sql, const Where& where,
                      std::int64_t limit, std::vector<CountByName>* out) {
  detail::Statement statement;
  int rc = statement.prepare(impl.db, sql);
  if (rc != SQLITE_OK) return detail::sqlite_failure(impl.db, rc, "summarizing", impl.path);
  where.bind_all(statement);
  statement.bind(static_cast<int>(where.binds.size()) + 1, limit > 0 ? limit : -1);
  while ((rc = statement.step()) == SQLITE_ROW) {
    out->push_back(CountByName{statement.column_text(0), statement.column_int(1)});
  }
  if (rc != SQLITE_DONE) return detail::sqlite_failure(impl.db, rc, "summarizing", impl.path);
  return Status::success();
}

std::string octal_mode(mode_t mode) {
  char buffer[8];
  std::snprintf(buffer, sizeof buffer, "%04o", static_cast<unsigned>(mode & 07777));
  return buffer;
}

void check_file_modes(const std::string& path, const OpenOptions& options,
                      std::vector<std::string>* problems) {
  struct stat info {};
  if (lstat(path.c_str(), &info) == 0) {
    if (info.st_uid != options.owner_uid) {
      problems->push_back("file owned by " + uid_text(info.st_uid) + ", expected " +
                          uid_text(options.owner_uid));
    }
    if (info.st_mode & 077) {
      problems->push_back("file mode " + octal_mode(info.st_mode) + ", expected 0600");
    }
  }
  auto folder = std::filesystem::path(path).parent_path();
  if (folder.empty()) folder = ".";
  if (stat(folder.c_str(), &info) == 0) {
    if (info.st_uid != options.owner_uid) {
      problems->push_back("folder " + folder.string() + " owned by " + uid_text(info.st_uid) +
                          ", expected " + uid_text(options.owner_uid));
    }
    if (info.st_mode & 077) {
      problems->push_back("folder " + folder.string() + " mode " + octal_mode(info.st_mode) +
                          ", expected 0700");
    }
  }
}

// The spool (when there is one) is held to the database's rules: it is as much the log.
void check_spool_modes(const std::string& spool_path, const OpenOptions& options,
                       std::vector<std::string>* problems) {
  struct stat info {};
  if (lstat(spool_path.c_str(), &info) != 0) return;
  if (!S_ISREG(info.st_mode) || info.st_nlink != 1) {
    problems->push_back("spool " + spool_path + " is not a regular file with one name");
    return;
  }
  if (info.st_uid != options.owner_uid) {
    problems->push_back("spool " + spool_path + " owned by " + uid_text(info.st_uid) +
                        ", expected " + uid_text(options.owner_uid));
  }
  if (info.st_mode & 077) {
    problems->push_back("spool " + spool_path + " mode " + octal_mode(info.st_mode) +
                        ", expected 0600");
  }
}

// The files sqlite keeps beside the database are the log too (a -wal someone else made reads
// and erases decisions): a regular file with one name, the owner's, writable by nobody else.
void check_companion_modes(const std::string& path, const OpenOptions& options,
                           std::vector<std::string>* problems) {
  for (const char* suffix : {"-wal", "-shm", "-journal"}) {
    const std::string companion = path + suffix;
    struct stat info {};
    if (lstat(companion.c_str(), &info) != 0) continue;
    if (!S_ISREG(info.st_mode) || info.st_nlink != 1) {
      problems->push_back(companion + " is not a regular file with one name");
      continue;
    }
    if (info.st_uid != options.owner_uid) {
      problems->push_back(companion + " owned by uid " + std::to_string(info.st_uid) +
                          ", expected uid " + std::to_string(options.owner_uid));
    }
    if (info.st_mode & 022) {
      problems->push_back(companion + " mode " + octal_mode(info.st_mode) +
                          ", writable by group or others");
    }
  }
}

}  // namespace

FailureCount AuditStore::count_failures(const FailureQuery& query) noexcept {
  auto& impl = *impl_;
  try {
    if (query.window_seconds < 0) return unknown("negative failures() window");
    if (impl.version == 0) return FailureCount{0, {}};  // created but nothing written yet
    if (!impl.deadline_from_open) impl.start_deadline();
    impl.deadline_from_open = false;
    std::int64_t now = query.now_us != 0 ? query.now_us : now_utc_us();
    std::int64_t since = now - query.window_seconds * 1000000;
    // The partial indexes hold failed decisions only, so counting never touches the table.
    // Named explicitly: left to itself the planner may pick decisions_by_user and then read
    // every one of the user's rows (permits included) to test the decision.
    std::optional<AddressKey> key;
    if (query.rhost) key = address_key(*query.rhost);
    bool by_address = key && impl.version >= 2;
    std::string sql = by_address
                          ? "SELECT count(*) FROM decisions INDEXED BY failures_by_user_source"
                          : "SELECT count(*) FROM decisions INDEXED BY failures_by_user";
    sql += " WHERE user = ?1 AND decision = 'deny' AND time_us >= ?2";
    if (query.rhost) sql += by_address ? " AND rhost_ip = ?3" : " AND rhost = ?3";
    detail::Statement statement;
    int rc = statement.prepare(impl.db, sql);
    if (rc != SQLITE_OK) {
      return unknown(
          detail::sqlite_failure(impl.db, rc, "audit log unreadable", impl.path).message);
    }
    statement.bind(1, query.user);
    statement.bind(2, since);
    if (query.rhost) {
      if (by_address) {
        statement.bind_blob(3, key->data(), static_cast<int>(key->size()));
      } else {
        statement.bind(3, *query.rhost);
      }
    }
    rc = statement.step();
    if (rc != SQLITE_ROW) {
      return unknown(
          detail::sqlite_failure(impl.db, rc, "audit log unreadable", impl.path).message);
    }
    return FailureCount{statement.column_int(0), {}};
  } catch (...) {
    return unknown("out of memory reading the audit log");
  }
}

Status AuditStore::list(const DecisionFilter& filter, std::vector<StoredDecision>* out) noexcept {
  auto& impl = *impl_;
  try {
    out->clear();
    if (impl.version == 0) return Status::success();
    if (impl.version != schema::kCurrentVersion) return needs_current_schema(impl);
    impl.start_deadline();
    Where where;
    if (filter.failed_only) where.add("decision = 'deny'");
    if (filter.shadow_disagreements) where.add("shadow IS NOT NULL AND shadow <> 'same'");
    if (filter.user) {
      where.add("user = ?" + std::to_string(where.binds.size() + 1));
      where.binds.emplace_back(*filter.user);
    }
    if (filter.service) {
      where.add("service = ?" + std::to_string(where.binds.size() + 1));
      where.binds.emplace_back(*filter.service);
    }
    if (filter.rhost) {
      std::string error;
      if (auto range = parse_address_range(*filter.rhost, &error)) {
        auto first = where.binds.size() + 1;
        where.add("rhost_ip BETWEEN ?" + std::to_string(first) + " AND ?" +
                  std::to_string(first + 1));
        where.binds.emplace_back(range->first);
        where.binds.emplace_back(range->last);
      } else if (filter.rhost->find('/') != std::string::npos) {
        return Status::failure(StatusCode::invalid_argument, error);
      } else {
        where.add("rhost = ?" + std::to_string(where.binds.size() + 1));
        where.binds.emplace_back(*filter.rhost);
      }
    }
    if (filter.since_us) {
      where.add("time_us >= ?" + std::to_string(where.binds.size() + 1));
      where.binds.emplace_back(*filter.since_us);
    }
    if (filter.until_us) {
      where.add("time_us < ?" + std::to_string(where.binds.size() + 1));
      where.binds.emplace_back(*filter.until_us);
    }
    if (filter.after_id) {
      where.add("id > ?" + std::to_string(where.binds.size() + 1));
      where.binds.emplace_back(*filter.after_id);
    }
    std::string sql =
        "SELECT id, " + internal::column_list(kListedColumns) + " FROM decisions" + where.sql + (filter.oldest_first ? " ORDER BY id" : " ORDER BY time_us DESC, id DESC") +
        " LIMIT ?" + std::to_string(where.binds.size() + 1);
    ReadSnapshot snapshot(impl.db);
    detail::Statement statement;
    int rc = statement.prepare(impl.db, sql);
    if (rc != SQLITE_OK)
      return detail::sqlite_failure(impl.db, rc, "reading the audit log", impl.path);
    where.bind_all(statement);
    statement.bind(static_cast<int>(where.binds.size()) + 1, filter.limit > 0 ? filter.limit : -1);
    while ((rc = statement.step()) == SQLITE_ROW) {
      StoredDecision row;
      row.id = statement.column_int(0);
      internal::read_columns(statement, 1, kListedColumns, &row.record);
      out->push_back(std::move(row));
    }
    if (rc != SQLITE_DONE)
      return detail::sqlite_failure(impl.db, rc, "reading the audit log", impl.path);
    DetailReader details(impl);
    for (auto& row : *out) {
      Status status = details.load(&row);
      if (!status.ok()) return status;
    }
    return Status::success();
  } catch (const std::bad_alloc&) {
    return Status::failure(StatusCode::io_error, "out of memory reading " + impl.path);
  } catch (...) {
    return Status::failure(StatusCode::io_error, "unexpected error reading " + impl.path);
  }
}

Status AuditStore::summarize(std::optional<std::int64_t> since_us,
                             std::optional<std::int64_t> until_us, std::int64_t limit_per_group,
                             FailureSummary* out) noexcept {
  auto& impl = *impl_;
  try {
    *out = FailureSummary{};
    if (impl.version == 0) return Status::success();
    if (impl.version != schema::kCurrentVersion) return needs_current_schema(impl);
    impl.start_deadline();
    ReadSnapshot snapshot(impl.db);
    Where where;
    if (since_us) {
      where.add("d.time_us >= ?" + std::to_string(where.binds.size() + 1));
      where.binds.emplace_back(*since_us);
    }
    if (until_us) {
      where.add("d.time_us < ?" + std::to_string(where.binds.size() + 1));
      where.binds.emplace_back(*until_us);
    }
    {
      detail::Statement totals;
      std::string sql =
          "SELECT count(*), coalesce(sum(d.decision = 'deny'), 0) FROM decisions d" + where.sql;
      int rc = totals.prepare(impl.db, sql);
      if (rc == SQLITE_OK) {
        where.bind_all(totals);
        rc = totals.step();
      }
      if (rc != SQLITE_ROW) return detail::sqlite_failure(impl.db, rc, "summarizing", impl.path);
      out->decisions = totals.column_int(0);
      out->failures = totals.column_int(1);
    }
    Where failed = where;
    failed.add("d.decision = 'deny'");
    std::string limit = " LIMIT ?" + std::to_string(failed.binds.size() + 1);
    struct Group {
      const char* column;
      std::vector<CountByName>* target;
    };
    for (const Group& group : {Group{"d.user", &out->by_user}, Group{"d.rhost", &out->by_rhost},
                               Group{"d.service", &out->by_service}}) {
      std::string sql = std::string("SELECT ") + group.column + ", count(*) FROM decisions d" +
                        failed.sql + " GROUP BY 1 ORDER BY 2 DESC, 1" + limit;
      Status status = group_failures(impl, sql, failed, limit_per_group, group.target);
      if (!status.ok()) return status;
    }
    Where factor_failed = where;
    factor_failed.add("f.outcome IN ('fail', 'error')");
    std::string sql =
        "SELECT f.name, count(*) FROM factors f JOIN decisions d ON d.id = f.decision_id" +
        factor_failed.sql + " GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT ?" +
        std::to_string(factor_failed.binds.size() + 1);
    return group_failures(impl, sql, factor_failed, limit_per_group, &out->by_factor);
  } catch (const std::bad_alloc&) {
    return Status::failure(StatusCode::io_error, "out of memory reading " + impl.path);
  } catch (...) {
    return Status::failure(StatusCode::io_error, "unexpected error reading " + impl.path);
  }
}

std::optional<std::string> missing_log_distrust(const std::string& path) {
  const auto slash = path.rfind('/');
  if (path.empty() || path.front() != '/' || slash == std::string::npos) {
    return "audit log path " + path + " is not absolute";
  }
  TrustRules rules;
  rules.folder = true;
  // A process other than root (the CLI run by a user, a test) trusts the folders it owns itself.
  if (geteuid() != 0) rules.extra_owners.push_back(geteuid());
  // The folder itself may be missing too: walk the deepest one that exists.
  std::string folder = slash == 0 ? "/" : path.substr(0, slash);
  for (;;) {
    TrustedFile walked = open_trusted(folder, rules);
    if (walked.ok()) return std::nullopt;
    if (walked.status != TrustStatus::missing || folder == "/") {
      return "no audit log at " + path + ", and its absence cannot be trusted: " + walked.reason;
    }
    const auto up = folder.rfind('/');
    folder = up == 0 ? "/" : folder.substr(0, up);
  }
}

FailureCount count_failures(const std::string& path, const OpenOptions& options,
                            const FailureQuery& query) noexcept {
  try {
    struct stat info {};
    if (lstat(path.c_str(), &info) != 0 && errno == ENOENT) {
      if (auto distrust = missing_log_distrust(path)) return unknown(*distrust);
      return FailureCount{0, {}};  // nothing recorded yet (documented choice)
    }
    OpenOptions reading = options;
    reading.create_if_missing = false;
    auto opened = AuditStore::open(path, reading);
    if (!opened.status.ok()) return unknown(opened.status.message);
    // Opening and counting share one deadline, as opening and writing do in record_decision().
    opened.store->impl_->deadline_from_open = true;
    return opened.store->count_failures(query);
  } catch (...) {
    return unknown("out of memory reading the audit log");
  }
}

VerifyReport verify_database(const std::string& path, const OpenOptions& options) noexcept {
  VerifyReport report;
  try {
    struct stat info {};
    if (lstat(path.c_str(), &info) != 0) {
      int error = errno;
      report.status = Status::failure(
          error == ENOENT ? StatusCode::cannot_open : StatusCode::read_only,
          (error == ENOENT ? "no audit database at " : "cannot examine ") + path +
              (error == ENOENT ? std::string() : ": " + std::string(std::strerror(error))));
      return report;
    }
    OpenOptions examining = options;
    examining.create_if_missing = false;
    examining.migrate = false;
    examining.read_only = true;
    examining.check_ownership = false;  // reported below as problems instead
    examining.fold_spool = false;       // verify changes nothing; the spool waits for a reader
    check_file_modes(path, options, &report.problems);
    check_spool_modes(path + "-spool", options, &report.problems);
    check_companion_modes(path, options, &report.problems);
    auto opened = AuditStore::open(path, examining);
    if (!opened.status.ok()) {
      if (opened.status.code == StatusCode::corrupt ||
          opened.status.code == StatusCode::schema_too_new) {
        report.problems.push_back(opened.status.message);
      } else {
        report.status = opened.status;
      }
      return report;
    }
    auto& impl = *opened.store->impl_;
    if (impl.version != schema::kCurrentVersion) {
      report.problems.push_back("schema version " + std::to_string(impl.version) + ", expected " +
                                std::to_string(schema::kCurrentVersion) +
                                " (migrated automatically on the next write)");
    }
    if (impl.version == schema::kCurrentVersion) {
      for (auto& problem : schema::schema_problems(impl.db)) report.problems.push_back(problem);
    }
    detail::Statement integrity;
    int rc = integrity.prepare(impl.db, "PRAGMA integrity_check");
    if (rc == SQLITE_OK) {
      while ((rc = integrity.step()) == SQLITE_ROW) {
        auto line = integrity.column_text(0);
        if (line != "ok") report.problems.push_back("integrity: " + line);
      }
    }
    if (rc != SQLITE_DONE) {
      report.problems.push_back(
          detail::sqlite_failure(impl.db, rc, "integrity check failed", path).message);
    }
    detail::Statement foreign;
    rc = foreign.prepare(impl.db, "PRAGMA foreign_key_check");
    std::int64_t orphans = 0;
    if (rc == SQLITE_OK) {
      while (foreign.step() == SQLITE_ROW) ++orphans;
    }
    if (orphans > 0) {
      report.problems.push_back(std::to_string(orphans) +
                                " factor/unknown rows refer to a missing decision");
    }
    detail::Statement journal;
    rc = journal.prepare(impl.db, "PRAGMA journal_mode");
    if (rc == SQLITE_OK && journal.step() == SQLITE_ROW && journal.column_text(0) != "wal" &&
        impl.version > 0) {
      report.problems.push_back("journal mode " + journal.column_text(0) + ", expected wal");
    }
    return report;
  } catch (...) {
    report.status = Status::failure(StatusCode::io_error, "out of memory verifying " + path);
    return report;
  }
}

}  // namespace authpolicy::audit
