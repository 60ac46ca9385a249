// The decisions table's columns read into AuditRecord fields (decision_columns.h).
#include "audit/decision_columns.h"

namespace authpolicy::audit::internal {
namespace {

const char* column_name(DecisionColumn column) {
  switch (column) {
    case DecisionColumn::time_us:
      return "time_us";
    case DecisionColumn::service:
      return "service";
    case DecisionColumn::user:
      return "user";
    case DecisionColumn::ruser:
      return "ruser";
    case DecisionColumn::rhost:
      return "rhost";
    case DecisionColumn::tty:
      return "tty";
    case DecisionColumn::country:
      return "country";
    case DecisionColumn::asn:
      return "asn";
    case DecisionColumn::policy_path:
      return "policy_path";
    case DecisionColumn::policy_sha256:
      return "policy_sha256";
    case DecisionColumn::decision:
      return "decision";
    case DecisionColumn::reason:
      return "reason";
    case DecisionColumn::duration_us:
      return "duration_us";
    case DecisionColumn::pid:
      return "pid";
    case DecisionColumn::password_asked:
      return "password_asked";
    case DecisionColumn::global_id:
      return "global_id";
    case DecisionColumn::situation:
      return "situation";
    case DecisionColumn::shadow:
      return "shadow";
  }
  return "";
}

void read_column(const detail::Statement& row, int at, DecisionColumn column, AuditRecord* record) {
  switch (column) {
    case DecisionColumn::time_us:
      record->time_us = row.column_int(at);
      return;
    case DecisionColumn::service:
      record->service = row.column_text(at);
      return;
    case DecisionColumn::user:
      record->user = row.column_text(at);
      return;
    case DecisionColumn::ruser:
      record->ruser = row.column_text(at);
      return;
    case DecisionColumn::rhost:
      record->rhost = row.column_text(at);
      return;
    case DecisionColumn::tty:
      record->tty = row.column_text(at);
      return;
    case DecisionColumn::country:
      if (!row.column_is_null(at)) record->country = row.column_text(at);
      return;
    case DecisionColumn::asn:
      if (!row.column_is_null(at)) record->asn = static_cast<std::uint32_t>(row.column_int(at));
      return;
    case DecisionColumn::policy_path:
      record->policy_path = row.column_text(at);
      return;
    case DecisionColumn::policy_sha256:
      record->policy_sha256 = row.column_text(at);
      return;
    case DecisionColumn::decision:
      record->decision = row.column_text(at);
      return;
    case DecisionColumn::reason:
      record->reason = row.column_text(at);
      return;
    case DecisionColumn::duration_us:
      record->duration_us = row.column_int(at);
      return;
    case DecisionColumn::pid:
      record->pid = row.column_int(at);
      return;
    case DecisionColumn::password_asked:
      record->password_asked = row.column_int(at) != 0;
      return;
    case DecisionColumn::global_id:
      record->decision_id = row.column_text(at);
      return;
    case DecisionColumn::situation:
      record->situation = row.column_text(at);
      return;
    case DecisionColumn::shadow:
      record->shadow = row.column_text(at);
      return;
  }
}

}  // namespace

std::string column_list(std::span<const DecisionColumn> columns, std::string_view prefix) {
  std::string list;
  for (const DecisionColumn column : columns) {
    if (!list.empty()) list += ", ";
    list.append(prefix).append(column_name(column));
  }
  return list;
}

void read_columns(const detail::Statement& row, int first, std::span<const DecisionColumn> columns,
                  AuditRecord* record) {
  int at = first;
  for (const DecisionColumn column : columns) read_column(row, at++, column, record);
}

}  // namespace authpolicy::audit::internal
