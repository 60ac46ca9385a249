// pam_policy.so's entry points: PAM items in, the engine's decision out, nothing thrown across.
#include <pwd.h>
#include <security/pam_appl.h>
#include <security/pam_ext.h>
#include <security/pam_modules.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include "audit/decision_log.h"
#include "base/user_lookup.h"
#include "engine/evaluate.h"
#include "engine/geoip/geoip.h"
#include "engine/load.h"
#include "engine/recorded_request.h"
#include "engine/render.h"
#include "engine/system_subjects.h"
#include "factors/pam_delegate/pam_delegate.h"
#include "pam/arguments.h"
#include "pam/conversation.h"
#include "pam/factor_registry.h"
#include "pam/policy_cache.h"

namespace authpolicy::pam_front {
namespace {

// Set once a policy with GeoIP conditions was used by this copy of the module (see the destructor
// at the end: clearing an untouched cache would create it).
std::atomic<bool> geoip_used{false};

// What this module remembers on one PAM handle between auth, setcred and pam_end.
struct HandleState {
  bool auth_ran = false;
  int auth_code = PAM_AUTH_ERR;  // fail closed if auth stops half way
  pam_delegate::DelegateSession delegates;
};

constexpr const char* kStateKey = "authpolicy:pam_policy:state";

void free_state(pam_handle_t*, void* data, int) {
  delete static_cast<HandleState*>(data);
}

HandleState* find_state(pam_handle_t* pamh) {
  const void* data = nullptr;
  if (pam_get_data(pamh, kStateKey, &data) != PAM_SUCCESS || data == nullptr) return nullptr;
  return static_cast<HandleState*>(const_cast<void*>(data));
}

// The handle's state, registered before any delegated module runs: pam_end frees data newest
// first, so the modules' own data (whose cleanup code lives in them) goes before we dlclose them.
HandleState* state_for(pam_handle_t* pamh) {
  if (HandleState* found = find_state(pamh)) return found;
  auto state = std::make_unique<HandleState>();
  if (pam_set_data(pamh, kStateKey, state.get(), free_state) != PAM_SUCCESS) return nullptr;
  return state.release();
}

void log_line(pam_handle_t* pamh, int priority, const std::string& text) {
  pam_syslog(pamh, priority, "%s", text.c_str());
}

std::string item_string(pam_handle_t* pamh, int item_type, bool* set = nullptr) {
  const void* item = nullptr;
  const bool present = pam_get_item(pamh, item_type, &item) == PAM_SUCCESS && item != nullptr;
  if (set) *set = present;
  return present ? std::string(static_cast<const char*>(item)) : std::string();
}

// Everything both auth and account need before evaluating: arguments, policy, user.
struct Prepared {
  ModuleArguments arguments;
  std::shared_ptr<const Policy> policy;
  RequestInfo request;
  std::string policy_path;
  std::string unavailable;  // why the policy cannot be used (missing, unsafe, errors), when so
};

// Fills `prepared`, or returns the PAM code to end with (after logging one line).
int prepare(pam_handle_t* pamh, int argc, const char** argv, Prepared& prepared) {
  std::string problem;
  auto arguments = parse_arguments(argc, argv, &problem);
  if (!arguments) {
    log_line(pamh, LOG_ERR, problem);
    return PAM_SERVICE_ERR;
  }
  prepared.arguments = *arguments;

  bool service_set = false;
  const std::string service = item_string(pamh, PAM_SERVICE, &service_set);
  if (!service_set) {
    log_line(pamh, LOG_ERR, "PAM_SERVICE is not set");
    return PAM_SERVICE_ERR;
  }
  std::optional<std::string> policy_path = policy_path_for(prepared.arguments, service, &problem);
  if (!policy_path) {
    log_line(pamh, LOG_ERR, problem);
    return PAM_SERVICE_ERR;
  }
  prepared.policy_path = std::move(*policy_path);

  LoadOptions options;
  options.check_ownership = true;  // never off in the module
  options.warnings = false;
  // Parsed and analysed once per process (auth, account and setcred of one login share it); every
  // call re-walks and re-checks each file the policy was built from.
  bool reused = false;
  LoadResult loaded = load_policy_cached(prepared.policy_path, options, &reused);
  if (reused && prepared.arguments.debug) {
    log_line(pamh, LOG_DEBUG, "policy " + log_value(prepared.policy_path) + " unchanged: reused");
  }
  // Missing as seen by the trusted walk itself: a file absent below folders that passed.
  if (loaded.missing) {
    if (prepared.arguments.missing_ignore) {
      if (prepared.arguments.debug) {
        log_line(pamh, LOG_DEBUG,
                 "no policy " + log_value(prepared.policy_path) + ": ignored (missing=ignore)");
      }
      return PAM_IGNORE;
    }
    log_line(pamh, LOG_ERR,
             "no policy " + log_value(prepared.policy_path) + " for service " + log_value(service) +
                 ": failing (missing=fail)");
    prepared.unavailable = "no policy file (missing=fail)";
    return PAM_AUTH_ERR;
  }
  if (!loaded.policy) {
    std::string first = "cannot use policy " + log_value(prepared.policy_path);
    for (const auto& d : loaded.diagnostics) {
      if (d.severity != Severity::error) continue;
      const std::string text = render_text(d, loaded.files);
      first += ": " + text.substr(0, text.find('\n'));
      break;
    }
    log_line(pamh, LOG_ERR, first);
    prepared.unavailable = first;
    return PAM_AUTH_ERR;
  }
  prepared.policy = std::move(loaded.policy);
  if (prepared.policy->uses_subject(Subject::country) ||
      prepared.policy->uses_subject(Subject::asn)) {
    geoip_used = true;
  }

  const char* user = nullptr;
  const int user_rc = pam_get_user(pamh, &user, nullptr);
  if (user_rc != PAM_SUCCESS || user == nullptr) {
    log_line(pamh, LOG_ERR,
             std::string("cannot get the user name: ") + pam_strerror(pamh, user_rc));
    return user_rc == PAM_SUCCESS ? PAM_AUTH_ERR : user_rc;
  }
  const std::string_view user_view(user);
  if (const std::optional<std::string> why = refused_user_reason(user_view)) {
    log_line(pamh, LOG_ERR, "user=" + log_value(user_view, 64) + " refused: " + *why);
    return PAM_AUTH_ERR;
  }

  // The account's own name from here on: conditions, failures(), recent(), factors, the log.
  std::string lookup_problem;
  std::optional<std::string> canonical =
      canonical_user_name(std::string(user_view), passwd_user_lookup, &lookup_problem);
  if (!canonical) {
    log_line(pamh, LOG_ERR, "user=" + log_value(user_view, 64) + " refused: " + lookup_problem);
    return PAM_AUTH_ERR;
  }
  prepared.request.user = std::move(*canonical);
  prepared.request.service = service;
  prepared.request.tty = item_string(pamh, PAM_TTY);
  prepared.request.ruser = item_string(pamh, PAM_RUSER);
  bool rhost_set = false;
  std::string rhost = item_string(pamh, PAM_RHOST, &rhost_set);
  if (rhost_set) prepared.request.rhost = std::move(rhost);
  // Only PAM's own environment, which sshd sets before pam_authenticate and pam_acct_mgmt; the
  // process environment is the caller's and is never read.
  if (const char* info = pam_getenv(pamh, "SSH_AUTH_INFO_0")) {
    prepared.request.ssh_auth_info = std::string(info);
  }
  return PAM_SUCCESS;
}

// "password:pass,totp:fail(wrong code)": every factor consulted and how it ended.
std::string factors_field(const Decision& decision) {
  std::string out;
  for (const auto& a : decision.attempts) {
    if (!out.empty()) out += ',';
    out += a.name + ":" + std::string(to_string(a.outcome));
    if (!a.detail.empty()) out += "(" + a.detail + ")";
  }
  return out.empty() ? "-" : out;
}

std::string decision_line(const char* phase, const Prepared& p, const Decision& decision,
                          int code) {
  std::string line = std::string("phase=") + phase;
  line += " decision=" + std::string(decision.permit ? "permit" : "deny");
  line += " user=" + log_value(p.request.user, 64);
  line += " service=" + log_value(p.request.service, 64);
  line += " rhost=" + (p.request.rhost ? log_value(*p.request.rhost, 64) : std::string("-"));
  line += " reason=" + log_value(decision.reason, 200);
  line += " factors=" + log_value(factors_field(decision), 400);
  if (decision.deny_rule) line += " deny_rule=" + log_value(*decision.deny_rule, 200);
  if (!decision.waived.empty()) line += " waived=" + std::to_string(decision.waived.size());
  if (!decision.unknowns.empty()) line += " unknowns=" + std::to_string(decision.unknowns.size());
  line += " code=" + std::to_string(code);
  return line;
}

void log_debug_details(pam_handle_t* pamh, const Prepared& p, const Decision& decision) {
  if (!p.arguments.debug) return;
  log_line(pamh, LOG_DEBUG, "policy=" + log_value(p.policy_path));
  for (const auto& u : decision.unknowns) {
    log_line(pamh, LOG_DEBUG,
             "unknown condition=" + log_value(u.condition) + " cause=" + log_value(u.cause));
  }
  for (const auto& w : decision.waived) log_line(pamh, LOG_DEBUG, "waived " + log_value(w));
}

// ---- Audit store ------------------------------------------------------------------------------
// `failures(…)` in conditions, answered from the policy's audit log.
SystemSubjects::FailureCounter audit_failure_counter(const Policy& policy,
                                                     std::shared_ptr<audit::WaitBudget> budget) {
  return audit::failure_counter(policy.audit, std::move(budget));
}

// The policy file a decision is recorded under (make_record's policy_path): recent() counts the
// passes recorded under it, so the services wired to one policy share them.
std::string policy_file(const Policy& policy) {
  return policy.files.empty() ? std::string() : policy.files.front().path;
}

// Writes the decision's audit record (bounded wait). Returns false when it could not be written
// and the policy says `audit { required = true }`: the caller then denies. A best-effort failure
// is one syslog line; the next decision tries again.
bool record_decision(pam_handle_t* pamh, const Prepared& p, const Decision& decision,
                     std::chrono::steady_clock::time_point started, audit::WaitBudget& budget,
                     std::string situation = {}, std::string shadow = {}) {
  const auto duration = std::chrono::duration_cast<std::chrono::microseconds>(
      std::chrono::steady_clock::now() - started);
  audit::AuditRecord record = audit::make_record(*p.policy, p.request, decision, duration);
  record.situation = std::move(situation);
  record.shadow = std::move(shadow);
  // A decision whose reads had to open the log writes there too; any other (no reads, or all
  // answered by the tally) appends to the spool and the tally.
  const audit::LoggedDecision logged =
      audit::log_decision(p.policy->audit, record, &budget, !budget.opened_log());
  if (logged.failure_line) log_line(pamh, LOG_WARNING, *logged.failure_line);
  if (logged.journal_problem) log_line(pamh, LOG_WARNING, *logged.journal_problem);
  return !logged.deny;
}

// The user's groups for the record (replay answers group conditions from them), unless
// `audit { groups = false }` spares the lookup (one getgrouplist through every group source:
// docs/cost.md); nullopt then, or when the name service fails: "groups unknown".
// The user's groups for the recorded situation: when `audit { groups = true }` asks, or, without
// the setting, when the live policy or a shadow policy may ask a group (then replay can answer a
// candidate's group conditions exactly). One getgrouplist costs more than the rest of the module's
// login (docs/cost.md), so a policy without group conditions does not pay it by default.
std::optional<std::vector<std::string>> recorded_groups(const Prepared& p) {
  const Settings& audit = p.policy->audit;
  const bool wanted = audit.has("groups") ? audit.boolean_or("groups", false)
                                          : p.policy->uses_subject(Subject::group) ||
                                                p.arguments.shadow.has_value();
  if (!wanted) return std::nullopt;
  return user_group_names(p.request.user, nullptr);
}

// ---- Shadow policy ---------------------------------------------------------------------------
// The verdict of the shadow=PATH policy on the request the live policy just decided: the same
// subjects (answers the live decision got are reused) and the live decision's factor outcomes.
// It asks the person nothing: a factor the live decision did not ask makes the verdict "would ask
// FACTOR". Loaded through the same trusted, cached reading as the live policy. Whatever goes
// wrong is the verdict "error: …"; the live decision is made before and never looks at it.
// enrolled() of a kind whose plugin tells (pin), read through the plugin with `policy`'s settings
// blocks; the plugin is loaded only when such an atom is evaluated (factor_registry.h).
SystemSubjects::PluginEnrolment plugin_enrolment_reader(const Policy* policy) {
  return [policy](const FactorSpec& factor, const std::string& user) {
    return plugin_enrolment(policy, factor, user);
  };
}

// `system` is the source under `subjects`: the shadow policy's enrolled() atoms read the stores
// with its own `tpm { … }` block.
std::string shadow_verdict(const Prepared& p, SubjectSource& subjects, SystemSubjects& system,
                           const Decision& live) noexcept {
  if (!p.arguments.shadow) return {};
  try {
    LoadOptions options;
    options.check_ownership = true;
    options.warnings = false;
    const LoadResult loaded = load_policy_cached(*p.arguments.shadow, options);
    if (!loaded.policy) {
      std::string why = loaded.missing ? "no such file" : "it has errors";
      for (const auto& d : loaded.diagnostics) {
        if (d.severity != Severity::error) continue;
        const std::string text = render_text(d, loaded.files);
        why = text.substr(0, text.find('\n'));
        break;
      }
      return ("error: cannot use shadow policy " + *p.arguments.shadow + ": " + why).substr(0, 400);
    }
    system.set_plugin_enrolment(plugin_enrolment_reader(loaded.policy.get()));
    RecordedFactors factors;
    for (const auto& a : live.attempts) factors.set(a.name, a.outcome);
    SilentConversation nobody;
    const Decision shadow = decide(*loaded.policy, p.request, subjects, factors, nobody);
    if (!factors.missing().empty()) return "would ask " + factors.missing().front();
    return shadow.permit == live.permit ? "same" : "different";
  } catch (const std::exception& e) {
    return std::string("error: ") + e.what();
  } catch (...) {
    return "error: internal error";
  }
}

// ---- A policy that cannot be used ------------------------------------------------------------
// Missing (missing=fail), unreadable, unsafe or with errors: the request is refused like any
// deny, but it must not be a silent lockout. The person sees one line, and the refusal is a
// decision in the audit log (where `authpolicy audit` shows it) with its cause. Which log: the
// `audit { db }` of common.pol in the policy's folder, else the default.

constexpr const char* kUnavailableMessage =
    "authentication policy unavailable \u2014 see the system log";

void record_unavailable(pam_handle_t* pamh, const char* phase, const Prepared& p, bool permit,
                        const std::string& note) {
  audit::AuditRecord record;
  record.service = item_string(pamh, PAM_SERVICE).substr(0, 256);
  // Never prompts for it; the account's own name when known, as failures() counts by it. A name
  // every other path refuses (control bytes, ESC, newlines: refused_user_reason) is stored
  // escaped, like the system log shows it, never raw.
  const std::string typed = item_string(pamh, PAM_USER);
  record.user = !refused_user_reason(typed)
                    ? canonical_user_name(typed).value_or(typed).substr(0, 256)
                    : log_value(typed, 64);
  record.ruser = item_string(pamh, PAM_RUSER).substr(0, 256);
  record.rhost = item_string(pamh, PAM_RHOST).substr(0, 256);
  record.tty = item_string(pamh, PAM_TTY).substr(0, 256);
  record.policy_path = p.policy_path;
  record.decision = permit ? "permit" : "deny";
  record.reason = std::string(std::string_view(phase) == "account" ? "account: " : "") +
                  "policy unavailable: " + p.unavailable + note;
  record.pid = getpid();
  const std::string folder = p.policy_path.substr(0, p.policy_path.rfind('/') + 1);
  const Settings settings =
      load_common_settings("audit", folder + "common.pol").value_or(Settings{});
  audit::WaitBudget budget;
  const audit::LoggedDecision logged = audit::log_decision(settings, record, &budget, true);
  if (logged.failure_line) log_line(pamh, LOG_WARNING, *logged.failure_line);
  if (logged.journal_problem) log_line(pamh, LOG_WARNING, *logged.journal_problem);
}

// The line is shown under PAM_SILENT too: it says nothing about the account (every login
// through the policy gets it), and sudo, which passes PAM_SILENT by default, displays every
// PAM_ERROR_MSG. Only the `quiet` argument drops it.
void refuse_unavailable(pam_handle_t* pamh, const char* phase, const Prepared& p) {
  if (!p.arguments.quiet) pam_prompt(pamh, PAM_ERROR_MSG, nullptr, "%s", kUnavailableMessage);
  record_unavailable(pamh, phase, p, false, "");
}

// After a refusal: once a first factor passed, the person learns why the rest refused them (the
// errors PAM_SILENT held back, such as a rate limit, and factors that cannot be used for this
// account, such as a missing enrolment). Before any factor passed, that would tell whoever is
// guessing more than a refusal does, so nothing held is shown.
void explain_refusal(PamConversation& conversation, const Decision& decision) {
  const auto passed =
      std::find_if(decision.attempts.begin(), decision.attempts.end(),
                   [](const FactorAttempt& a) { return a.outcome == Outcome::pass; });
  if (passed == decision.attempts.end()) {
    conversation.show_held(false);
    return;
  }
  conversation.show_held(true);
  for (auto a = passed + 1; a != decision.attempts.end(); ++a) {
    if (a->outcome != Outcome::unavailable) continue;
    conversation.refusal("Access refused: " + a->name + " is unavailable for this account" +
                         (a->detail.empty() ? std::string() : ": " + a->detail) + ".");
  }
}

// The subjects one decision reads, from the system, remembered so that the record can hold the
// request's situation (for replay). One wait budget for the log per decision: its failures() and
// recent() reads and its write share it.
struct DecisionSubjects {
  explicit DecisionSubjects(const Prepared& prepared)
      : system(prepared.policy->geoip, audit_failure_counter(*prepared.policy, audit_budget), now) {
    system.set_recent_checker(
        audit::recent_checker(prepared.policy->audit, audit_budget, policy_file(*prepared.policy)));
    system.set_plugin_enrolment(plugin_enrolment_reader(prepared.policy.get()));
  }
  std::shared_ptr<audit::WaitBudget> audit_budget = std::make_shared<audit::WaitBudget>();
  const std::time_t now = std::time(nullptr);
  SystemSubjects system;
  RecordingSubjects recording{system};
};

int authenticate(pam_handle_t* pamh, int flags, int argc, const char** argv) {
  HandleState* state = state_for(pamh);
  if (!state) {
    log_line(pamh, LOG_CRIT, "cannot keep module state on the PAM handle");
    return PAM_BUF_ERR;
  }
  state->auth_ran = true;
  state->auth_code = PAM_AUTH_ERR;
  state->delegates.begin_authentication(flags);

  Prepared prepared;
  if (const int rc = prepare(pamh, argc, argv, prepared); rc != PAM_SUCCESS) {
    if (!prepared.unavailable.empty()) refuse_unavailable(pamh, "auth", prepared);
    state->auth_code = rc;
    return rc;
  }
  const auto started = std::chrono::steady_clock::now();
  DecisionSubjects decision_subjects(prepared);
  RecordingSubjects& subjects = decision_subjects.recording;
  PamConversation conversation(pamh, (flags & PAM_SILENT) != 0, prepared.arguments.quiet);
  ModuleFactorSource factors({pamh, &state->delegates, prepared.policy.get()});
  Decision decision = decide(*prepared.policy, prepared.request, subjects, factors, conversation);
  state->delegates.finish_token(pamh);

  if (decision.permit) {
    conversation.show_held(false);
  } else if (!decision.deny_rule) {
    explain_refusal(conversation, decision);
  }
  int code = PAM_SUCCESS;
  if (!decision.permit) {
    const bool conversation_broke = conversation.failed() || state->delegates.conversation_failed;
    code = conversation_broke ? PAM_CONV_ERR : PAM_AUTH_ERR;
  }
  log_line(pamh, decision.permit ? LOG_INFO : LOG_NOTICE,
           decision_line("auth", prepared, decision, code));
  log_debug_details(pamh, prepared, decision);
  // The code is settled above: neither the situation nor the shadow verdict can change it.
  std::string situation;
  std::string shadow;
  try {
    situation = subjects.situation_text(decision_subjects.now, recorded_groups(prepared),
                                        prepared.request.ssh_auth_info);
    shadow = shadow_verdict(prepared, subjects, decision_subjects.system, decision);
  } catch (const std::exception&) {
    situation.clear();  // out of memory: the decision is recorded without it
  }
  if (!record_decision(pamh, prepared, decision, started, *decision_subjects.audit_budget,
                       std::move(situation), std::move(shadow)) &&
      code == PAM_SUCCESS) {
    code = PAM_AUTH_ERR;
  }
  state->auth_code = code;
  return code;
}

int setcred(pam_handle_t* pamh, int flags) {
  HandleState* state = find_state(pamh);
  // No authentication on this handle (sshd public keys): nothing of ours to establish, and a
  // failure here would end logins that auth never saw. acct_mgmt applies the deny rules.
  if (!state || !state->auth_ran) return PAM_SUCCESS;
  if (state->auth_code != PAM_SUCCESS) return state->auth_code;
  std::string failed_module;
  const int rc = state->delegates.setcred_passed(pamh, flags, &failed_module);
  if (rc != PAM_SUCCESS) {
    log_line(pamh, LOG_ERR,
             "setcred of " + log_value(failed_module) + " failed: " + pam_strerror(pamh, rc));
    return PAM_CRED_ERR;
  }
  return PAM_SUCCESS;
}

// With an unusable policy the account check refuses too (sshd public-key logins and cached sudo
// have no auth phase to stop them), except for root acting locally as root: root asks for root
// itself, not on anyone else's behalf. All of: the caller's real uid is 0; PAM_USER is root;
// there is no PAM_RHOST; auth did not run on this handle; PAM_RUSER (who is asking: sudo and su
// set it to the invoking user) is unset or root; and the login session the process belongs to
// (/proc/self/loginuid) is unset or root's. sudo with rootpw/targetpw runs with real uid 0 and
// PAM_USER root for alice: her PAM_RUSER and her session's login uid exclude it. Refusing root
// what root can already do protects nothing and would take away the tools to repair the policy;
// the pass is logged and recorded.
bool session_is_roots() {
  std::FILE* file = std::fopen("/proc/self/loginuid", "re");
  if (file == nullptr) return errno == ENOENT;  // a kernel without audit: no login uid to check
  unsigned long login_uid = 0;
  const bool read = std::fscanf(file, "%lu", &login_uid) == 1;
  std::fclose(file);
  if (!read) return false;
  return login_uid == 0 || login_uid == static_cast<unsigned long>(static_cast<uid_t>(-1));
}

bool asked_by_root(pam_handle_t* pamh) {
  bool set = false;
  const std::string ruser = item_string(pamh, PAM_RUSER, &set);
  if (!set || ruser.empty()) return true;
  const UserLookup account = find_user(ruser);
  return account.found() && account.account.uid == 0;
}

bool root_acting_as_root(pam_handle_t* pamh) {
  const HandleState* state = find_state(pamh);
  return getuid() == 0 && item_string(pamh, PAM_USER) == "root" &&
         item_string(pamh, PAM_RHOST).empty() && !(state && state->auth_ran) &&
         asked_by_root(pamh) && session_is_roots();
}

int account(pam_handle_t* pamh, int /*flags*/, int argc, const char** argv) {
  Prepared prepared;
  if (const int rc = prepare(pamh, argc, argv, prepared); rc != PAM_SUCCESS) {
    if (prepared.unavailable.empty()) return rc;
    if (root_acting_as_root(pamh)) {
      log_line(pamh, LOG_WARNING, "account check skipped: root acting locally as root");
      record_unavailable(pamh, "account", prepared, true,
                         "; not refused: root acting locally as root");
      return PAM_IGNORE;
    }
    refuse_unavailable(pamh, "account", prepared);
    return rc;
  }
  const auto started = std::chrono::steady_clock::now();
  DecisionSubjects decision_subjects(prepared);
  RecordingSubjects& subjects = decision_subjects.recording;
  Decision decision = check_denies(*prepared.policy, prepared.request, subjects);
  int code = decision.permit ? PAM_SUCCESS : PAM_PERM_DENIED;
  log_line(pamh, decision.permit ? LOG_INFO : LOG_NOTICE,
           decision_line("account", prepared, decision, code));
  log_debug_details(pamh, prepared, decision);
  // The account check is recorded when it refuses, or when it is the only decision this handle
  // makes (sshd public keys skip auth); after an auth decision a passing check adds nothing.
  const HandleState* state = find_state(pamh);
  const bool auth_ran = state && state->auth_ran;
  if (!decision.permit || !auth_ran) {
    decision.reason = "account: " + decision.reason;
    std::string situation;
    try {
      situation = subjects.situation_text(decision_subjects.now, recorded_groups(prepared),
                                          prepared.request.ssh_auth_info);
    } catch (const std::exception&) {
      situation.clear();  // out of memory: the decision is recorded without it
    }
    if (!record_decision(pamh, prepared, decision, started, *decision_subjects.audit_budget,
                         std::move(situation)) &&
        code == PAM_SUCCESS) {
      code = PAM_PERM_DENIED;
    }
  }
  return code;
}

// Runs an entry point's body; anything thrown becomes a logged failure code.
template <typename Body>
int guarded(pam_handle_t* pamh, const char* entry, Body&& body) noexcept {
  try {
    return body();
  } catch (const std::bad_alloc&) {
    pam_syslog(pamh, LOG_CRIT, "%s: out of memory", entry);
    return PAM_BUF_ERR;
  } catch (const std::exception& e) {
    pam_syslog(pamh, LOG_ERR, "%s: internal error: %s", entry, e.what());
    return PAM_SYSTEM_ERR;
  } catch (...) {
    pam_syslog(pamh, LOG_ERR, "%s: internal error", entry);
    return PAM_SYSTEM_ERR;
  }
}

}  // namespace
}  // namespace authpolicy::pam_front

using authpolicy::pam_front::guarded;

// The module is linked -z nodelete (pam/CMakeLists.txt): libpam's dlclose at pam_end leaves it
// loaded, so this runs once, when the host exits (or never, when it ends by _exit). The caches
// stay bounded meanwhile: one entry per policy path, one per GeoIP file, each replaced when its
// file changes. Released here so that leak checkers of the host see nothing of ours.
__attribute__((destructor)) static void release_engine_caches() {
  authpolicy::pam_front::policy_cache_clear();
  if (!authpolicy::pam_front::geoip_used) return;
  try {
    authpolicy::geoip_cache_clear();
  } catch (...) {
  }
}

// The module is built with hidden visibility; only these entry points are exported.
#define AP_PAM_ENTRY extern "C" __attribute__((visibility("default"))) int

// A pam() factor that leads back into pam_policy.so (directly, through a copy under another name,
// or through another module) would recurse until the host runs out of stack. The checker refuses
// the direct cases (E026); this refuses every re-entry at run time. The marker lives on the PAM
// handle, which every copy of the module shares; the thread-local depth also catches a loop that
// starts a new PAM transaction in the same thread.
namespace {
constexpr const char* kReentryMarker = "authpolicy_authenticating";
constexpr int kMaxNestedTransactions = 4;
thread_local int authenticate_depth = 0;

class ReentryGuard {
 public:
  explicit ReentryGuard(pam_handle_t* pamh) : pamh_(pamh) {
    const void* marker = nullptr;
    if ((pam_get_data(pamh, kReentryMarker, &marker) == PAM_SUCCESS && marker != nullptr) ||
        authenticate_depth >= kMaxNestedTransactions) {
      return;  // refused: leave the outer call's marker alone
    }
    static const char kSet = 1;
    if (pam_set_data(pamh, kReentryMarker, const_cast<char*>(&kSet), nullptr) != PAM_SUCCESS)
      return;
    ++authenticate_depth;
    entered_ = true;
  }
  ~ReentryGuard() {
    if (!entered_) return;
    --authenticate_depth;
    pam_set_data(pamh_, kReentryMarker, nullptr, nullptr);
  }
  ReentryGuard(const ReentryGuard&) = delete;
  ReentryGuard& operator=(const ReentryGuard&) = delete;
  bool entered() const { return entered_; }

 private:
  pam_handle_t* pamh_;
  bool entered_ = false;
};
}  // namespace

AP_PAM_ENTRY pam_sm_authenticate(pam_handle_t* pamh, int flags, int argc, const char** argv) {
  if (!pamh) return PAM_SYSTEM_ERR;
  const ReentryGuard reentry(pamh);
  if (!reentry.entered()) {
    pam_syslog(pamh, LOG_ERR,
               "authenticate: pam_policy.so was called again from inside its own authentication "
               "(a pam() factor leads back to it); refused");
    return PAM_SYSTEM_ERR;
  }
  const int code = guarded(pamh, "authenticate", [&] {
    return authpolicy::pam_front::authenticate(pamh, flags, argc, argv);
  });
  // setcred replays exactly what auth returned, also when auth ended by an exception.
  if (auto* state = authpolicy::pam_front::find_state(pamh)) state->auth_code = code;
  return code;
}

AP_PAM_ENTRY pam_sm_setcred(pam_handle_t* pamh, int flags, int, const char**) {
  if (!pamh) return PAM_SYSTEM_ERR;
  return guarded(pamh, "setcred", [&] { return authpolicy::pam_front::setcred(pamh, flags); });
}

AP_PAM_ENTRY pam_sm_acct_mgmt(pam_handle_t* pamh, int flags, int argc, const char** argv) {
  if (!pamh) return PAM_SYSTEM_ERR;
  return guarded(pamh, "account",
                 [&] { return authpolicy::pam_front::account(pamh, flags, argc, argv); });
}

AP_PAM_ENTRY pam_sm_chauthtok(pam_handle_t*, int, int, const char**) {
  return PAM_IGNORE;
}
AP_PAM_ENTRY pam_sm_open_session(pam_handle_t*, int, int, const char**) {
  return PAM_IGNORE;
}
AP_PAM_ENTRY pam_sm_close_session(pam_handle_t*, int, int, const char**) {
  return PAM_IGNORE;
}
