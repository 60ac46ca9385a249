// `authpolicy eval`: run the real evaluator on a described situation with scripted factors.
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/args.h"
#include "cli/command_registry.h"
#include "cli/policy_defaults.h"
#include "cli/policy_file_arguments.h"
#include "cli/situation.h"
#include "engine/evaluate.h"
#include "engine/system_subjects.h"
#include "engine/load.h"
#include "engine/scripted.h"

namespace authpolicy::cli {
namespace {

constexpr const char* kEvalUsage =
    "usage: authpolicy eval FILE [--service S] [--user U] [--group G]... [--rhost ADDR]\n"
    "         [--tty T] [--ruser U] [--at YYYY-MM-DDTHH:MM] [--country CC|none|unknown]\n"
    "         [--asn N|none|unknown] [--failures N|unknown|SECONDSs[/rhost]=N]...\n"
    "         [--recent FACTOR=yes|no|unknown]... [--ssh-auth METHOD[,METHOD]...|empty|unknown]\n"
    "         [--enrolled FACTOR=yes|no|unknown]...\n"
    "         [--factor NAME=pass|fail|unavailable|error]... [--json] [--ignore-ownership]\n"
    "  A factor not given is unavailable. Without --group the user is in no group; without\n"
    "  --at the time and date are now; without --country/--asn the policy's GeoIP databases "
    "answer;\n"
    "  without --failures the audit log answers, and without --recent it answers recent().\n"
    "  --recent FACTOR=... answers every recent(FACTOR, ...); FACTOR/SECONDSs[/rhost|/tty]=...\n"
    "  one of them (totp/28800s/rhost=yes for recent(totp, 8h, rhost)); likewise\n"
    "  --failures 900s/rhost=N answers failures(15m, rhost) alone.\n"
    "  --ssh-auth: the methods sshd completed before PAM (SSH_AUTH_INFO_0); without it\n"
    "  ssh.auth is unknown, as outside sshd.\n"
    "  Without --enrolled, enrolled(FACTOR) reads the user's enrolment on this machine.\n"
    "  exit 0: permit; 1: deny; 2: policy error or usage\n";

int run_eval(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  LoadOptions options;
  std::string file;
  Situation situation;
  bool json = false;
  const auto end = read_policy_file_arguments(
      args, {"eval", kEvalUsage}, out, err, file, options, [&](ArgReader& reader) {
        const std::string& flag = reader.flag();
        if (flag.rfind("--", 0) == 0 && Situation::is_knob(flag.substr(2))) {
          situation.set(flag.substr(2), reader.value(), flag);
        } else if (reader.is("--json")) {
          json = true;
        } else {
          return false;
        }
        return true;
      });
  if (end) return *end;
  const LoadResult result = load_policy_file(file, options);
  if (!result.policy) {
    report_refused_policy(result, "eval", file, err, " (deny)");
    return 2;
  }
  const Policy& policy = *result.policy;
  RequestInfo request = situation.request;
  if (!situation.service_given) request.service = service_from_path(file);
  if (!situation.user_given) request.user = current_user_name();
  // What the flags leave open comes from the running system (groups aside: only --group).
  SystemSubjects system(policy.geoip, failure_counter_for(policy));
  system.set_recent_checker(recent_checker_for(policy));
  system.set_plugin_enrolment(plugin_enrolment_for(policy));
  StaticSubjects subjects = situation.answers;
  subjects.fallback = &system;
  ScriptedFactors factors(Outcome::unavailable);
  for (const auto& [name, outcome] : situation.factors) factors.set(name, outcome);
  SilentConversation conversation;
  const Decision d = decide(policy, request, subjects, factors, conversation);

  if (json) {
    nlohmann::json unknown = nlohmann::json::array();
    for (const auto& u : d.unknowns)
      unknown.push_back({{"condition", u.condition}, {"cause", u.cause}});
    nlohmann::json attempts = nlohmann::json::array();
    for (const auto& a : d.attempts) {
      attempts.push_back(
          {{"name", a.name}, {"outcome", to_string(a.outcome)}, {"detail", a.detail}});
    }
    nlohmann::json report = {
        {"decision", d.permit ? "permit" : "deny"},
        {"asked", d.asked()},
        {"reason", d.reason},
        {"unknown", unknown},
        {"factors", attempts},
        {"waived", d.waived},
        {"deny_rule", d.deny_rule ? nlohmann::json(*d.deny_rule) : nlohmann::json(nullptr)},
        {"password_asked", d.password_asked},
    };
    out << report.dump(2) << "\n";
  } else {
    out << "decision: " << (d.permit ? "permit" : "deny") << "\n";
    out << "reason:   " << d.reason << "\n";
    std::string asked;
    for (const auto& a : d.attempts) {
      asked +=
          (asked.empty() ? "" : ", ") + a.name + " (" + std::string(to_string(a.outcome)) + ")";
    }
    out << "asked:    " << (asked.empty() ? "nothing" : asked) << "\n";
    for (const auto& u : d.unknowns) out << "unknown:  " << u.condition << ": " << u.cause << "\n";
  }
  return d.permit ? 0 : 1;
}

const RegisterCommand registration{"eval", "simulate a decision for a described situation",
                                   run_eval};

}  // namespace
}  // namespace authpolicy::cli
