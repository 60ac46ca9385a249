// Where the engine meets the audit store: decisions become audit records (and syslog lines),
// and failures() conditions are answered from the log. The store itself (ap_audit) knows
// nothing of the engine; this bridge (ap_audit_engine) is the only code that knows both.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "audit/audit_record.h"
#include "audit/audit_store.h"
#include "engine/evaluate.h"
#include "engine/policy.h"
#include "engine/system_subjects.h"

namespace authpolicy::audit {

// The database a policy's `audit { db = ... }` names, or the default path.
std::string database_path(const Settings& audit_settings);

// How long one decision may wait, in all, for other processes' locks on the audit log: its
// failures() reads and its write draw on the same budget, so a locked log costs a decision about
// 2 s, not 2 s per step. Only time spent in the log counts (not the user typing a password).
class WaitBudget {
 public:
  explicit WaitBudget(std::chrono::milliseconds total = OpenOptions{}.busy_timeout)
      : left_(total) {}
  std::chrono::milliseconds left() const { return left_; }
  void spend(std::chrono::steady_clock::duration used);
  // Whether a read of this decision had to open the log because the tally was unusable (absent,
  // stale, refused, the log held exclusively): the decision's write then goes there too, within
  // what is left of the budget, and the tally is rebuilt after it. A read that only reached back
  // before what a current tally holds does not count: that decision still spools.
  bool opened_log() const { return opened_log_; }
  void note_opened_log() { opened_log_ = true; }

 private:
  std::chrono::milliseconds left_;
  bool opened_log_ = false;
};

// Answers failures(WINDOW[, rhost]) from the policy's audit log: from its tally when that can
// answer (audit/tally.h: no sqlite, no lock, no wait), else from the log itself. A missing log
// means none recorded yet; an unreadable one is unknown with its cause. With a budget, each read
// of the log waits at most what is left of it (and spends what it took); without, each read
// waits up to 2 s.
SystemSubjects::FailureCounter failure_counter(const Settings& audit_settings,
                                               std::shared_ptr<WaitBudget> budget = nullptr);

// Answers recent(FACTOR, WINDOW[, rhost | tty]) from the policy's audit log (recent_pass.h),
// through its tally when that can answer, as failure_counter: a missing log means nothing passed
// yet; an unreadable one is unknown with its cause. Passes count when recorded under
// `policy_path` (the policy file in use), or, without one, under the request's service.
SystemSubjects::RecentChecker recent_checker(const Settings& audit_settings,
                                             std::shared_ptr<WaitBudget> budget = nullptr,
                                             std::string policy_path = {});

AuditRecord make_record(const Policy& policy, const RequestInfo& request, const Decision& decision,
                        std::chrono::microseconds duration);

struct LoggedDecision {
  bool deny = false;                        // `audit { required = true }` and the write failed
  std::optional<std::string> failure_line;  // the write failed: send this line too
  // Journald is there but refused the entry or its socket is untrusted (a missing journald is
  // not a problem: the syslog line is all there is then).
  std::optional<std::string> journal_problem;
};

// The journald socket a policy's `audit { journal = ... }` names (default
// /run/systemd/journal/socket); "" = send no journal entries.
std::string journal_socket(const Settings& audit_settings);

// Writes the record (bounded wait, best effort unless required), sends it as one journald entry
// (audit/journal_entry.h) when journald listens there, and says what to do next. With
// a budget the write waits at most what the decision's reads left of it. `spool`: append it to
// the log's spool (and tally) instead of opening the database (append_decision): for a decision
// whose reads, if any, the tally answered; one that had to open the log writes there.
LoggedDecision log_decision(const Settings& audit_settings, const AuditRecord& record,
                            WaitBudget* budget = nullptr, bool spool = false);

// Whether the policy's decisions read the audit log (failures(), recent()).
bool reads_audit_log(const Policy& policy);

}  // namespace authpolicy::audit
