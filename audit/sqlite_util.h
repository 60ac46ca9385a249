// Thin RAII over sqlite3 handles and the mapping of sqlite result codes to audit statuses.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "audit/audit_status.h"

namespace authpolicy::audit::detail {

// Owns a prepared statement; finalizes it on destruction.
class Statement {
 public:
  Statement() = default;
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  Statement(Statement&& other) noexcept : stmt_(other.stmt_) { other.stmt_ = nullptr; }
  Statement& operator=(Statement&& other) noexcept {
    if (this != &other) {
      sqlite3_finalize(stmt_);
      stmt_ = other.stmt_;
      other.stmt_ = nullptr;
    }
    return *this;
  }
  ~Statement() { sqlite3_finalize(stmt_); }

  // Returns the sqlite result code of sqlite3_prepare_v3.
  int prepare(sqlite3* db, std::string_view sql, bool persistent = false);
  sqlite3_stmt* get() const noexcept { return stmt_; }
  explicit operator bool() const noexcept { return stmt_ != nullptr; }

  void reset() noexcept {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
  void bind(int index, std::string_view text) {
    sqlite3_bind_text(stmt_, index, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
  }
  void bind(int index, std::int64_t value) { sqlite3_bind_int64(stmt_, index, value); }
  void bind_blob(int index, const void* data, int size) {
    sqlite3_bind_blob(stmt_, index, data, size, SQLITE_TRANSIENT);
  }
  void bind_null(int index) { sqlite3_bind_null(stmt_, index); }
  int step() noexcept { return sqlite3_step(stmt_); }

  std::string column_text(int column) const;
  std::int64_t column_int(int column) const { return sqlite3_column_int64(stmt_, column); }
  bool column_is_null(int column) const {
    return sqlite3_column_type(stmt_, column) == SQLITE_NULL;
  }

 private:
  sqlite3_stmt* stmt_ = nullptr;
};

// Maps a sqlite result code (extended or primary) to the audit status code a caller acts on.
StatusCode status_code_for(int sqlite_rc) noexcept;

// "WHAT failed: <sqlite message> (PATH)" with the right status code.
Status sqlite_failure(sqlite3* db, int rc, std::string_view what, std::string_view path);

// Runs SQL without results; returns the sqlite result code.
int exec(sqlite3* db, const char* sql) noexcept;

// Runs a query whose first row's first column is an integer; nullopt on error or no row.
std::optional<std::int64_t> query_int(sqlite3* db, const char* sql);

}  // namespace authpolicy::audit::detail
