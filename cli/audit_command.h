// `authpolicy audit`: list, summarize, prune and verify the audit log.
#pragma once

#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

namespace authpolicy::cli {

// Runs `authpolicy audit ARGS...` (args exclude "audit"). Exit codes: 0 ok, 1 verify found
// problems, 2 usage error or unreadable database.
int run_audit_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

// The `audit { db = ... }` setting of /etc/authpolicy/common.pol, when present.
std::optional<std::string> common_audit_db();

}  // namespace authpolicy::cli
