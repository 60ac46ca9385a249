// `authpolicy audit export`: decisions as JSON Lines (Elastic Common Schema names) for log
// shippers, resumable from a cursor file, optionally following the log as it grows.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string>

#include "audit/audit_record.h"

namespace authpolicy::cli {

struct ExportOptions {
  std::string db;
  std::optional<std::int64_t> since_us;  // only decisions at or after this time
  std::string cursor_path;               // "" = no cursor: start at the beginning (or --since)
  std::string output_path;               // "" = `out`
  bool follow = false;
  std::int64_t interval_ms = 1000;  // --follow: how often the log (and its spool) is looked at
};

// One decision as one line of JSON (no newline), the schema of docs/fleet.md. `host` is the
// host name written to host.hostname.
std::string export_line(std::int64_t id, const audit::AuditRecord& record, const std::string& host);

// Runs the export. Exit codes: 0 done (or stopped by SIGTERM/SIGINT/SIGHUP after a whole batch),
// 2 unreadable log, cursor or output.
int run_export(const ExportOptions& options, std::ostream& out, std::ostream& err);

}  // namespace authpolicy::cli
