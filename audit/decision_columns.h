// The decisions table's columns and the AuditRecord fields they hold: the one place a row of the
// table becomes a record, for every query that reads records back (list(), the tally's rebuild).
#pragma once

#include <span>
#include <string>
#include <string_view>

#include "audit/audit_record.h"
#include "audit/sqlite_util.h"

namespace authpolicy::audit::internal {

// A column of the decisions table that an AuditRecord field is read from.
enum class DecisionColumn {
  time_us,
  service,
  user,
  ruser,
  rhost,
  tty,
  country,
  asn,
  policy_path,
  policy_sha256,
  decision,
  reason,
  duration_us,
  pid,
  password_asked,
  global_id,  // AuditRecord::decision_id
  situation,
  shadow,
};

// The columns' names for a SELECT, comma-separated, each after `prefix` (a table alias and a dot,
// or nothing).
std::string column_list(std::span<const DecisionColumn> columns, std::string_view prefix = {});

// Fills the fields of *record the columns hold from the row's result columns `first`,
// `first` + 1, ... in the order of `columns` (the order column_list() named them in).
void read_columns(const detail::Statement& row, int first, std::span<const DecisionColumn> columns,
                  AuditRecord* record);

}  // namespace authpolicy::audit::internal
