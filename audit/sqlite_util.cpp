// RAII helpers over sqlite3 and the translation of its errors into audit statuses.
#include "audit/sqlite_util.h"

namespace authpolicy::audit::detail {

int Statement::prepare(sqlite3* db, std::string_view sql, bool persistent) {
  sqlite3_finalize(stmt_);
  stmt_ = nullptr;
  return sqlite3_prepare_v3(db, sql.data(), static_cast<int>(sql.size()),
                            persistent ? SQLITE_PREPARE_PERSISTENT : 0, &stmt_, nullptr);
}

std::string Statement::column_text(int column) const {
  const auto* text = sqlite3_column_text(stmt_, column);
  if (text == nullptr) return {};
  return std::string(reinterpret_cast<const char*>(text),
                     static_cast<std::size_t>(sqlite3_column_bytes(stmt_, column)));
}

StatusCode status_code_for(int sqlite_rc) noexcept {
  switch (sqlite_rc & 0xff) {
    case SQLITE_OK:
    case SQLITE_DONE:
    case SQLITE_ROW:
      return StatusCode::ok;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return StatusCode::busy;
    case SQLITE_READONLY:
    case SQLITE_PERM:
    case SQLITE_AUTH:
      return StatusCode::read_only;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return StatusCode::corrupt;
    case SQLITE_FULL:
      return StatusCode::full;
    case SQLITE_CANTOPEN:
      return StatusCode::cannot_open;
    case SQLITE_MISUSE:
    case SQLITE_RANGE:
    case SQLITE_CONSTRAINT:
    case SQLITE_MISMATCH:
      return StatusCode::invalid_argument;
    default:
      return StatusCode::io_error;
  }
}

Status sqlite_failure(sqlite3* db, int rc, std::string_view what, std::string_view path) {
  std::string message(what);
  message += ": ";
  // The connection's message can be stale when the error came from elsewhere; prefer it only when
  // it describes this very code.
  if (db != nullptr && sqlite3_errcode(db) == rc) {
    message += sqlite3_errmsg(db);
  } else {
    message += sqlite3_errstr(rc);
  }
  message += " (";
  message += path;
  message += ")";
  return Status::failure(status_code_for(rc), std::move(message));
}

int exec(sqlite3* db, const char* sql) noexcept {
  return sqlite3_exec(db, sql, nullptr, nullptr, nullptr);
}

std::optional<std::int64_t> query_int(sqlite3* db, const char* sql) {
  Statement statement;
  if (statement.prepare(db, sql) != SQLITE_OK) return std::nullopt;
  if (statement.step() != SQLITE_ROW) return std::nullopt;
  return statement.column_int(0);
}

}  // namespace authpolicy::audit::detail
