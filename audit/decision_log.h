// Where the engine meets the audit store: decisions become audit records (and syslog lines),
// and failures() conditions are answered from the log. The store itself (ap_audit) knows
// nothing of the engine; this bridge (ap_audit_engine) is the only code that knows both.
#pragma once

#include <chrono>
#include <string>

#include "audit/audit_record.h"
#include "engine/evaluate.h"
#include "engine/policy.h"
#include "engine/system_subjects.h"

namespace authpolicy::audit {

// The database a policy's `audit { db = ... }` names, or the default path.
std::string database_path(const Settings& audit_settings);

// Answers failures(WINDOW[, rhost]) from the policy's audit log: a missing log means none
// recorded yet; an unreadable one is unknown with its cause.
SystemSubjects::FailureCounter failure_counter(const Settings& audit_settings);

AuditRecord make_record(const Policy& policy, const RequestInfo& request, const Decision& decision,
                        std::chrono::microseconds duration);

struct LoggedDecision {
  bool deny = false;         // `audit { required = true }` and the write failed
  std::string syslog_line;   // one key=value line for this decision (always send it)
  std::string failure_line;  // non-empty when the write failed: send it too
};

// Writes the record (bounded wait, best effort unless required) and says what to do next.
LoggedDecision log_decision(const Settings& audit_settings, const AuditRecord& record);

}  // namespace authpolicy::audit
