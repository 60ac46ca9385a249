// Decision records into the sqlite store, and failure counts out of it, for the module and CLI.
#include "audit/decision_log.h"

#include <unistd.h>

#include <cstdint>

#include "audit/audit_status.h"
#include "audit/audit_store.h"
#include "audit/journal_entry.h"
#include "audit/recent_pass.h"
#include "audit/tally.h"
#include "audit/time_text.h"

namespace authpolicy::audit {
namespace {

OpenOptions options_for(const Settings& settings) {
  OpenOptions options;
  options.required = settings.boolean_or("required", false);
  options.retention_seconds =
      settings.duration_or("retention", std::chrono::hours(24 * 90)).count();
  return options;
}

}  // namespace

void WaitBudget::spend(std::chrono::steady_clock::duration used) {
  const auto spent = std::chrono::ceil<std::chrono::milliseconds>(used);
  left_ = spent >= left_ ? std::chrono::milliseconds(0) : left_ - spent;
}

std::string database_path(const Settings& audit_settings) {
  return audit_settings.string_or("db", kDefaultDatabasePath);
}

SystemSubjects::FailureCounter failure_counter(const Settings& audit_settings,
                                               std::shared_ptr<WaitBudget> budget) {
  const std::string path = database_path(audit_settings);
  OpenOptions options = options_for(audit_settings);
  options.read_only = true;
  options.create_if_missing = false;
  return [path, options, budget](const RequestInfo& request, std::chrono::seconds window,
                                 bool by_rhost, std::string* cause) -> std::optional<long> {
    FailureQuery query;
    query.user = request.user;
    query.window_seconds = window.count();
    if (by_rhost) query.rhost = request.rhost.value_or("");
    tally::Miss miss = tally::Miss::unusable;
    if (const auto tallied = tally::count_failures(path, options, query, &miss)) {
      return static_cast<long>(*tallied->count);
    }
    if (budget && miss == tally::Miss::unusable) budget->note_opened_log();
    OpenOptions reading = options;
    if (budget) reading.busy_timeout = budget->left();
    const auto started = std::chrono::steady_clock::now();
    const FailureCount count = count_failures(path, reading, query);
    if (budget) budget->spend(std::chrono::steady_clock::now() - started);
    if (!count.known()) {
      if (cause) *cause = count.cause;
      return std::nullopt;
    }
    return static_cast<long>(*count.count);
  };
}

SystemSubjects::RecentChecker recent_checker(const Settings& audit_settings,
                                             std::shared_ptr<WaitBudget> budget,
                                             std::string policy_path) {
  const std::string path = database_path(audit_settings);
  OpenOptions options = options_for(audit_settings);
  options.read_only = true;
  options.create_if_missing = false;
  return [path, options, budget, policy_path](const RequestInfo& request, const Atom& atom,
                                              std::string* cause) -> Tri {
    RecentPassQuery query;
    query.user = request.user;
    query.service = request.service;
    query.policy_path = policy_path;
    query.factor = atom.factor;
    query.window_seconds = atom.window.count();
    if (atom.scope == RecentScope::rhost) query.rhost = request.rhost.value_or("");
    if (atom.scope == RecentScope::tty) query.tty = request.tty;
    tally::Miss miss = tally::Miss::unusable;
    if (const auto tallied = tally::find_recent_pass(path, options, query, &miss)) {
      return *tallied->found ? Tri::yes : Tri::no;
    }
    if (budget && miss == tally::Miss::unusable) budget->note_opened_log();
    OpenOptions reading = options;
    const auto started = std::chrono::steady_clock::now();
    if (budget) reading.busy_timeout = budget->left();
    const RecentPass pass = find_recent_pass(path, reading, query);
    if (budget) budget->spend(std::chrono::steady_clock::now() - started);
    if (!pass.found) {
      if (cause) *cause = pass.cause;
      return Tri::unknown;
    }
    return *pass.found ? Tri::yes : Tri::no;
  };
}

AuditRecord make_record(const Policy& policy, const RequestInfo& request, const Decision& decision,
                        std::chrono::microseconds duration) {
  AuditRecord record;
  record.service = request.service;
  record.user = request.user;
  record.ruser = request.ruser;
  record.rhost = request.rhost.value_or("");
  record.tty = request.tty;
  record.country = decision.country;
  record.asn = decision.asn;
  if (!policy.files.empty()) {
    record.policy_path = policy.files.front().path;
    record.policy_sha256 = policy.files.front().sha256;
  }
  record.decision = decision.permit ? "permit" : "deny";
  record.reason = decision.reason;
  record.duration_us = duration.count();
  record.pid = getpid();
  record.password_asked = decision.password_asked;
  for (const auto& a : decision.attempts) {
    record.factors.push_back(
        {a.name, std::string(to_string(a.outcome)), a.detail, a.duration.count()});
  }
  for (const auto& u : decision.unknowns) record.unknowns.push_back({u.condition, u.cause});
  return record;
}

bool reads_audit_log(const Policy& policy) {
  return policy.uses_subject(Subject::failures) || policy.uses_subject(Subject::recent);
}

LoggedDecision log_decision(const Settings& audit_settings, const AuditRecord& given,
                            WaitBudget* budget, bool spool) {
  OpenOptions options = options_for(audit_settings);
  if (budget) options.busy_timeout = budget->left();
  LoggedDecision logged;
  // One time for the log and the journal entry, so both show the same decision the same way.
  AuditRecord record = given;
  if (record.time_us == 0) record.time_us = now_utc_us();
  if (record.decision_id.empty()) record.decision_id = new_decision_id();
  const auto started = std::chrono::steady_clock::now();
  std::string fold_problem;
  const std::string path = database_path(audit_settings);
  // A direct write leaves the tally behind the tables: it is rebuilt after the write, so that the
  // next decision's reads need no sqlite.
  options.refresh_tally = !spool;
  const Status status = spool ? append_decision(path, options, record, &fold_problem)
                              : record_decision(path, options, record);
  if (budget) budget->spend(std::chrono::steady_clock::now() - started);
  const AfterWrite next = after_write(status, options.required);
  if (next != AfterWrite::keep_decision) {
    logged.failure_line = write_failure_line(status, options.required);
  } else if (!fold_problem.empty()) {
    logged.failure_line =
        "audit spool not moved into the log (decision recorded in the spool): " + fold_problem;
  }
  logged.deny = next == AfterWrite::deny_and_warn;
  // The journal entry says what the host was told: a required write that failed made it a deny.
  if (logged.deny) {
    record.decision = "deny";
    record.reason += "; " + *logged.failure_line;
  }
  const std::string journal = journal_socket(audit_settings);
  if (!journal.empty()) {
    JournalDelivery delivery = send_journal_entry(journal, record);
    if (delivery.outcome == JournalOutcome::refused) {
      logged.journal_problem = std::move(delivery.reason);
    }
  }
  return logged;
}

std::string journal_socket(const Settings& audit_settings) {
  return audit_settings.string_or("journal", kDefaultJournalSocket);
}

}  // namespace authpolicy::audit
