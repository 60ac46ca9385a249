// A described situation (request, the system's answers, factor outcomes): what `authpolicy eval`
// takes as flags and `authpolicy test` as case lines, read by one piece of code.
#pragma once

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
  // What the knobs fix of the system's answers (groups, at, country, asn, failures, recent,
  // enrolled); the rest is open. `failures 900s/rhost=3` is answered per failures_key(), before
  // a plain `failures N`; `recent` per factor name ("totp") or per atom (recent_key()).
  StaticSubjects answers;
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

// The time a situation stands at when it gives no `at` and nothing else is asked (a test case,
// a replayed record without one): Monday 2024-01-01 12:00. Such a situation is otherwise told
// nothing outside itself: no GeoIP record, no failures, no remembered pass, enrolled in
// everything (StaticSubjects without a fallback).
inline constexpr LocalTime kFixedTime{12 * 60, 0, 19723};

}  // namespace authpolicy::cli
