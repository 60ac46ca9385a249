// A described situation (request, the system's answers, factor outcomes): what `authpolicy eval`
// takes as flags and `authpolicy test` as case lines, read by one piece of code.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "engine/evaluate.h"
#include "engine/factor.h"
#include "engine/system_subjects.h"

namespace authpolicy::cli {

struct Situation {
  RequestInfo request;
  bool service_given = false;
  bool user_given = false;
  std::vector<std::string> groups;
  std::optional<LocalTime> at;
  std::optional<Lookup> country;
  std::optional<Lookup> asn;
  bool failures_given = false;
  std::optional<long> failure_count;
  // failures(WINDOW[, rhost]) answered one by one, by failures_key() ("900s", "900s/rhost"):
  // `--failures 900s/rhost=3`, as the audit record keeps them. Before failure_count.
  std::map<std::string, std::optional<long>, std::less<>> failure_answers;
  // recent(): per factor name ("totp") or per atom ("totp/28800s/rhost", see recent_key()).
  std::map<std::string, Tri, std::less<>> recent_answers;
  // enrolled(): per factor name ("totp").
  std::map<std::string, Tri, std::less<>> enrolled_answers;
  std::vector<std::pair<std::string, Outcome>> factors;  // in the order given; later ones win

  // Whether `key` names a knob: service, user, group, rhost, tty, ruser, at, country, asn,
  // failures, recent, enrolled, factor, ssh-auth.
  static bool is_knob(std::string_view key);
  // Sets one knob from its text. Throws UsageError; messages name the knob as `label`
  // ("--at" for eval's flags, "at" for a test case line).
  void set(const std::string& key, const std::string& value, const std::string& label);
};

// enrolled() of a kind whose plugin tells (pin) in the CLI: the reader the kind's command
// registered (cli/command_registry.h), with `policy`'s settings blocks; unknown, with the reason,
// for a kind this build of the CLI has no reader for.
SystemSubjects::PluginEnrolment plugin_enrolment_for(const Policy& policy);

// Answers what the situation fixes. What it leaves open comes from the running system (eval:
// NSS aside, the clock, GeoIP databases, the audit log) or, for tests, from fixed defaults:
// Monday 12:00, no GeoIP record, no failures. Groups are always the situation's.
class SituationSubjects : public SystemSubjects {
 public:
  // System fallback: answers left open come from the policy's GeoIP and audit settings.
  SituationSubjects(const Situation& situation, const Settings& geoip, FailureCounter failures);
  // Fixed fallback: nothing outside the situation is consulted.
  explicit SituationSubjects(const Situation& situation);

  Tri in_group(const std::string& user, const std::string& group, std::string* cause) override;
  LocalTime local_time() override;
  Lookup country(const IpAddress& address) override;
  Lookup asn(const IpAddress& address) override;
  std::optional<long> failures(const RequestInfo& request, std::chrono::seconds window,
                               bool by_rhost, std::string* cause) override;
  // Given answers first; otherwise the audit log (system fallback) or "no pass" (fixed).
  Tri recent(const RequestInfo& request, const Atom& atom, std::string* cause) override;
  // Given answers first; otherwise the factor's enrolment store (system fallback) or "enrolled"
  // (fixed).
  Tri enrolled(const RequestInfo& request, const FactorSpec& factor, std::string* cause) override;

  // The time a test case uses when it gives no `at`: Monday 2024-01-01 12:00.
  static constexpr LocalTime kFixedTime{12 * 60, 0, 19723};

 private:
  const Situation& situation_;
  bool system_ = true;
};

}  // namespace authpolicy::cli
