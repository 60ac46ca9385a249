// `authpolicy eval`: run the real evaluator on a described situation with scripted factors.
#include <ctime>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/args.h"
#include "cli/command_registry.h"
#include "cli/policy_defaults.h"
#include "engine/evaluate.h"
#include "engine/load.h"
#include "engine/render.h"
#include "engine/scripted.h"
#include "engine/system_subjects.h"
#include "engine/values.h"

namespace authpolicy::cli {
namespace {

constexpr const char* kEvalUsage =
    "usage: authpolicy eval FILE [--service S] [--user U] [--group G]... [--rhost ADDR]\n"
    "         [--tty T] [--ruser U] [--at YYYY-MM-DDTHH:MM] [--country CC|none|unknown]\n"
    "         [--asn N|none|unknown] [--failures N|unknown]\n"
    "         [--factor NAME=pass|fail|unavailable|error]... [--json] [--ignore-ownership]\n"
    "  A factor not given is unavailable. Without --group the user is in no group; without\n"
    "  --at the time is now; without --country/--asn the policy's GeoIP databases answer;\n"
    "  without --failures the audit log answers.\n"
    "  exit 0: permit; 1: deny; 2: policy error or usage\n";

// Parses "2026-11-21T22:30" as local wall-clock time.
LocalTime parse_at(const std::string& text) {
  std::tm parts{};
  int year = 0, month = 0, day = 0, hour = 0, minute = 0;
  char tail = 0;
  if (std::sscanf(text.c_str(), "%4d-%2d-%2dT%2d:%2d%c", &year, &month, &day, &hour, &minute,
                  &tail) != 5 ||
      month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || hour < 0 ||
      minute < 0) {
    throw UsageError("--at takes YYYY-MM-DDTHH:MM, e.g. 2026-11-21T22:30");
  }
  parts.tm_year = year - 1900;
  parts.tm_mon = month - 1;
  parts.tm_mday = day;
  parts.tm_hour = hour;
  parts.tm_min = minute;
  parts.tm_isdst = -1;
  if (timegm(&parts) == -1) throw UsageError("--at: invalid date " + text);
  // timegm normalised tm_wday for that calendar date (independent of the time zone).
  if (parts.tm_mday != day) throw UsageError("--at: no such date " + text);
  return LocalTime{hour * 60 + minute, (parts.tm_wday + 6) % 7};
}

Lookup parse_geo(const std::string& flag, const std::string& text, bool country) {
  if (text == "none") return Lookup{Lookup::Kind::no_value, {}, 0, {}};
  if (text == "unknown") return Lookup{Lookup::Kind::unknown, {}, 0, "given as unknown"};
  if (country) {
    auto code = parse_country_code(text);
    if (!code) throw UsageError(flag + " takes a two-letter country code, none or unknown");
    return Lookup{Lookup::Kind::value, std::move(*code), 0, {}};
  }
  auto number = parse_as_number(text);
  if (!number) throw UsageError(flag + " takes an AS number, none or unknown");
  return Lookup{Lookup::Kind::value, {}, *number, {}};
}

// The system's answers, overridden by whatever the command line fixed.
class EvalSubjects : public SystemSubjects {
 public:
  using SystemSubjects::SystemSubjects;
  std::vector<std::string> groups;
  std::optional<LocalTime> at;
  std::optional<Lookup> country_answer;
  std::optional<Lookup> asn_answer;
  bool failures_given = false;
  std::optional<long> failure_count;

  Tri in_group(const std::string&, const std::string& group, std::string*) override {
    return std::find(groups.begin(), groups.end(), group) != groups.end() ? Tri::yes : Tri::no;
  }
  LocalTime local_time() override { return at ? *at : SystemSubjects::local_time(); }
  Lookup country(const IpAddress& a) override {
    return country_answer ? *country_answer : SystemSubjects::country(a);
  }
  Lookup asn(const IpAddress& a) override { return asn_answer ? *asn_answer : SystemSubjects::asn(a); }
  std::optional<long> failures(const RequestInfo& r, std::chrono::seconds w, bool by_rhost,
                               std::string* cause) override {
    if (!failures_given) return SystemSubjects::failures(r, w, by_rhost, cause);
    if (!failure_count && cause) *cause = "given as unknown";
    return failure_count;
  }
};

int run_eval(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  LoadOptions options;
  std::string file;
  RequestInfo request;
  bool json = false;
  ScriptedFactors factors(Outcome::unavailable);
  std::vector<std::string> groups;
  std::optional<LocalTime> at;
  std::optional<Lookup> country;
  std::optional<Lookup> asn;
  bool failures_given = false;
  std::optional<long> failure_count;
  bool service_given = false;
  bool user_given = false;
  try {
    ArgReader reader(args);
    while (reader.next()) {
      const std::string flag = reader.flag();
      if (flag == "--help" || flag == "-h") {
        out << kEvalUsage;
        return 0;
      }
      if (flag == "--service") {
        request.service = reader.value();
        service_given = true;
      } else if (flag == "--user") {
        request.user = reader.value();
        user_given = true;
      } else if (flag == "--group") {
        groups.push_back(reader.value());
      } else if (flag == "--rhost") {
        request.rhost = reader.value();
      } else if (flag == "--tty") {
        request.tty = reader.value();
      } else if (flag == "--ruser") {
        request.ruser = reader.value();
      } else if (flag == "--at") {
        at = parse_at(reader.value());
      } else if (flag == "--country") {
        country = parse_geo(flag, reader.value(), true);
      } else if (flag == "--asn") {
        asn = parse_geo(flag, reader.value(), false);
      } else if (flag == "--failures") {
        const std::string v = reader.value();
        failures_given = true;
        if (v != "unknown") {
          char* end = nullptr;
          const long n = std::strtol(v.c_str(), &end, 10);
          if (v.empty() || *end != '\0' || n < 0) throw UsageError("--failures takes a count or unknown");
          failure_count = n;
        }
      } else if (flag == "--factor") {
        const std::string v = reader.value();
        const auto eq = v.find('=');
        const auto outcome = eq == std::string::npos ? std::nullopt
                                                     : outcome_from_string(v.substr(eq + 1));
        if (!outcome || eq == 0) {
          throw UsageError("--factor takes NAME=pass|fail|unavailable|error, not '" + v + "'");
        }
        factors.set(v.substr(0, eq), *outcome);
      } else if (flag == "--json") {
        json = true;
      } else if (flag == "--ignore-ownership") {
        options.check_ownership = false;
      } else if (reader.is_option()) {
        throw UsageError("unknown option " + flag);
      } else if (file.empty()) {
        file = reader.raw();
      } else {
        throw UsageError("eval takes one policy file");
      }
    }
    if (file.empty()) throw UsageError("no policy file given");
  } catch (const UsageError& e) {
    err << "authpolicy eval: " << e.what() << "\n" << kEvalUsage;
    return 2;
  }
  const LoadResult result = load_policy_file(file, options);
  if (!result.policy) {
    for (const auto& d : result.diagnostics) {
      if (d.severity == Severity::error) err << render_text(d, result.files);
    }
    err << "authpolicy eval: " << file << " has errors; the module would refuse it (deny)\n";
    return 2;
  }
  const Policy& policy = *result.policy;
  if (!service_given) request.service = service_from_path(file);
  if (!user_given) request.user = current_user_name();
  EvalSubjects subjects(policy.geoip, failure_counter_for(policy));
  subjects.groups = groups;
  subjects.at = at;
  subjects.country_answer = country;
  subjects.asn_answer = asn;
  subjects.failures_given = failures_given;
  subjects.failure_count = failure_count;
  SilentConversation conversation;
  const Decision d = decide(policy, request, subjects, factors, conversation);

  if (json) {
    nlohmann::json unknown = nlohmann::json::array();
    for (const auto& u : d.unknowns) unknown.push_back({{"condition", u.condition}, {"cause", u.cause}});
    nlohmann::json attempts = nlohmann::json::array();
    for (const auto& a : d.attempts) {
      attempts.push_back({{"name", a.name}, {"outcome", to_string(a.outcome)}, {"detail", a.detail}});
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
      asked += (asked.empty() ? "" : ", ") + a.name + " (" + std::string(to_string(a.outcome)) + ")";
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
