// Finding the latest permitted pass of a factor in the audit log, for recent() conditions.
#include "audit/recent_pass.h"

#include <sys/stat.h>

#include <cerrno>

#include "audit/audit_store_impl.h"
#include "audit/time_text.h"
#include "base/address.h"

namespace authpolicy::audit {
namespace {

RecentPass unknown(std::string cause) { return RecentPass{std::nullopt, std::move(cause), 0}; }

RecentPass query_store(AuditStore::Impl& impl, const RecentPassQuery& query) {
  if (query.window_seconds <= 0) return unknown("recent() window must be positive");
  if (query.tty && query.tty->empty()) return RecentPass{false, {}, 0};
  if (impl.version == 0) return RecentPass{false, {}, 0};  // created but nothing written yet
  impl.start_deadline();
  const std::int64_t now = query.now_us != 0 ? query.now_us : now_utc_us();
  const std::int64_t since = now - query.window_seconds * 1000000;
  std::optional<AddressKey> key;
  if (query.rhost && !query.rhost->empty()) key = address_key(*query.rhost);
  const bool by_address = key && impl.version >= 2;
  // The user's decisions in the window come from decisions_by_user (version 2); each one's
  // factors are a primary-key range of the factors table.
  std::string sql = "SELECT max(d.time_us) FROM decisions AS d";
  if (impl.version >= 2) sql += " INDEXED BY decisions_by_user";
  sql +=
      " JOIN factors AS f ON f.decision_id = d.id"
      " WHERE d.user = ?1 AND d.time_us >= ?2 AND d.time_us <= ?3 AND d.decision = 'permit'"
      " AND f.name = ?5 AND f.outcome = 'pass'";
  sql += query.policy_path.empty() ? " AND d.service = ?4" : " AND d.policy_path = ?4";
  if (query.rhost) sql += by_address ? " AND d.rhost_ip = ?6" : " AND d.rhost = ?6";
  if (query.tty) sql += " AND d.tty = ?6";
  detail::Statement statement;
  int rc = statement.prepare(impl.db, sql);
  if (rc != SQLITE_OK) {
    return unknown(detail::sqlite_failure(impl.db, rc, "audit log unreadable", impl.path).message);
  }
  statement.bind(1, query.user);
  statement.bind(2, since);
  statement.bind(3, now);
  statement.bind(4, query.policy_path.empty() ? query.service : query.policy_path);
  statement.bind(5, query.factor);
  if (query.rhost) {
    if (by_address) {
      statement.bind_blob(6, key->data(), static_cast<int>(key->size()));
    } else {
      statement.bind(6, *query.rhost);
    }
  }
  if (query.tty) statement.bind(6, *query.tty);
  rc = statement.step();
  if (rc != SQLITE_ROW) {
    return unknown(detail::sqlite_failure(impl.db, rc, "audit log unreadable", impl.path).message);
  }
  if (statement.column_is_null(0)) return RecentPass{false, {}, 0};
  return RecentPass{true, {}, statement.column_int(0)};
}

}  // namespace

RecentPass AuditStore::recent_pass(const RecentPassQuery& query) noexcept {
  try {
    return query_store(*impl_, query);
  } catch (...) {
    return unknown("out of memory reading the audit log");
  }
}

RecentPass find_recent_pass(const std::string& path, const OpenOptions& options,
                            const RecentPassQuery& query) noexcept {
  try {
    struct stat info {};
    if (lstat(path.c_str(), &info) != 0 && errno == ENOENT) {
      // Nothing recorded yet, so nothing passed lately, unless others could have removed it.
      if (auto distrust = missing_log_distrust(path)) return unknown(*distrust);
      return RecentPass{false, {}, 0};
    }
    OpenOptions reading = options;
    reading.create_if_missing = false;
    auto opened = AuditStore::open(path, reading);
    if (!opened.status.ok()) return unknown(opened.status.message);
    return opened.store->recent_pass(query);
  } catch (...) {
    return unknown("out of memory reading the audit log");
  }
}

}  // namespace authpolicy::audit
