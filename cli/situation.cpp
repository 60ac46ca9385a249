// Reading a described situation from knob/value pairs, and answering subjects from it.
#include "cli/situation.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <ctime>

#include "cli/args.h"
#include "cli/command_registry.h"
#include "engine/ssh_auth.h"
#include "engine/values.h"

namespace authpolicy::cli {
namespace {

// Parses "2026-11-21T22:30" as local wall-clock time.
LocalTime parse_at(const std::string& text, const std::string& label) {
  std::tm parts{};
  int year = 0, month = 0, day = 0, hour = 0, minute = 0;
  char tail = 0;
  if (std::sscanf(text.c_str(), "%4d-%2d-%2dT%2d:%2d%c", &year, &month, &day, &hour, &minute,
                  &tail) != 5 ||
      month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || hour < 0 ||
      minute < 0) {
    throw UsageError(label + " takes YYYY-MM-DDTHH:MM, e.g. 2026-11-21T22:30");
  }
  parts.tm_year = year - 1900;
  parts.tm_mon = month - 1;
  parts.tm_mday = day;
  parts.tm_hour = hour;
  parts.tm_min = minute;
  parts.tm_isdst = -1;
  if (timegm(&parts) == -1) throw UsageError(label + ": invalid date " + text);
  // timegm normalised tm_wday for that calendar date (independent of the time zone).
  if (parts.tm_mday != day) throw UsageError(label + ": no such date " + text);
  return LocalTime{hour * 60 + minute, (parts.tm_wday + 6) % 7,
                   days_from_civil(year, month, day)};
}

Lookup parse_geo(const std::string& label, const std::string& text, bool country) {
  if (text == "none") return Lookup{Lookup::Kind::no_value, {}, 0, {}};
  if (text == "unknown") return Lookup{Lookup::Kind::unknown, {}, 0, "given as unknown"};
  if (country) {
    auto code = parse_country_code(text);
    if (!code) throw UsageError(label + " takes a two-letter country code, none or unknown");
    return Lookup{Lookup::Kind::value, std::move(*code), 0, {}};
  }
  auto number = parse_as_number(text);
  if (!number) throw UsageError(label + " takes an AS number, none or unknown");
  return Lookup{Lookup::Kind::value, {}, *number, {}};
}

// "publickey,password" as SSH_AUTH_INFO_0 says it, "empty" for nothing completed, "unknown" for
// no SSH_AUTH_INFO_0 at all (outside sshd).
std::optional<std::string> parse_ssh_auth_knob(const std::string& text, const std::string& label) {
  if (text == "unknown") return std::nullopt;
  if (text == "empty") return std::string();
  unsigned mask = 0;
  std::size_t start = 0;
  for (;;) {
    const std::size_t comma = text.find(',', start);
    const std::string method = text.substr(start, comma - start);
    const auto bit = ssh_method_bit(method);
    if (!bit) {
      throw UsageError(label + " takes sshd's methods (" + ssh_method_list(~0u) +
                       ") separated by commas, empty or unknown, not '" + text + "'");
    }
    mask |= *bit;
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return ssh_auth_info_for(mask);
}

constexpr std::string_view kKnobs[] = {"service", "user",   "group",   "rhost", "tty",
                                       "ruser",   "at",     "country", "asn",   "failures",
                                       "recent",  "enrolled", "factor", "ssh-auth"};

}  // namespace

bool Situation::is_knob(std::string_view key) {
  return std::find(std::begin(kKnobs), std::end(kKnobs), key) != std::end(kKnobs);
}

void Situation::set(const std::string& key, const std::string& value, const std::string& label) {
  if (key == "service") {
    request.service = value;
    service_given = true;
  } else if (key == "user") {
    request.user = value;
    user_given = true;
  } else if (key == "group") {
    answers.groups->push_back(value);
  } else if (key == "rhost") {
    request.rhost = value;
  } else if (key == "tty") {
    request.tty = value;
  } else if (key == "ruser") {
    request.ruser = value;
  } else if (key == "at") {
    answers.time = parse_at(value, label);
  } else if (key == "country") {
    answers.country_answer = parse_geo(label, value, true);
  } else if (key == "asn") {
    answers.asn_answer = parse_geo(label, value, false);
  } else if (key == "failures" && value.find('=') != std::string::npos) {
    const auto eq = value.find('=');
    const std::string window = value.substr(0, eq);
    const std::string count = value.substr(eq + 1);
    char* end = nullptr;
    const long seconds = std::strtol(window.c_str(), &end, 10);
    const bool key_ok = seconds > 0 && end != window.c_str() &&
                        (std::string_view(end) == "s" || std::string_view(end) == "s/rhost");
    const long n = count == "unknown" ? 0 : std::strtol(count.c_str(), &end, 10);
    if (!key_ok || count.empty() || (count != "unknown" && (*end != '\0' || n < 0))) {
      throw UsageError(label + " takes a count, unknown, or SECONDSs[/rhost]=COUNT|unknown, not '" +
                       value + "'");
    }
    answers.failure_answers[window] =
        count == "unknown" ? std::nullopt : std::optional<long>(n);
  } else if (key == "failures") {
    answers.failure_count = StaticSubjects::Count{};
    if (value != "unknown") {
      char* end = nullptr;
      const long n = std::strtol(value.c_str(), &end, 10);
      if (value.empty() || *end != '\0' || n < 0) {
        throw UsageError(label + " takes a count or unknown");
      }
      answers.failure_count = n;
    }
  } else if (key == "recent") {
    const auto eq = value.find('=');
    const std::string answer = eq == std::string::npos ? "" : value.substr(eq + 1);
    if (eq == 0 || (answer != "yes" && answer != "no" && answer != "unknown")) {
      throw UsageError(label + " takes FACTOR=yes|no|unknown, not '" + value + "'");
    }
    answers.recent_answers[value.substr(0, eq)] =
        answer == "yes" ? Tri::yes : answer == "no" ? Tri::no : Tri::unknown;
  } else if (key == "ssh-auth") {
    request.ssh_auth_info = parse_ssh_auth_knob(value, label);
  } else if (key == "enrolled") {
    const auto eq = value.find('=');
    const std::string answer = eq == std::string::npos ? "" : value.substr(eq + 1);
    if (eq == 0 || (answer != "yes" && answer != "no" && answer != "unknown")) {
      throw UsageError(label + " takes FACTOR=yes|no|unknown, not '" + value + "'");
    }
    answers.enrolled_answers[value.substr(0, eq)] =
        answer == "yes" ? Tri::yes : answer == "no" ? Tri::no : Tri::unknown;
  } else if (key == "factor") {
    const auto eq = value.find('=');
    const auto outcome =
        eq == std::string::npos ? std::nullopt : outcome_from_string(value.substr(eq + 1));
    if (!outcome || eq == 0) {
      throw UsageError(label + " takes NAME=pass|fail|unavailable|error, not '" + value + "'");
    }
    factors.emplace_back(value.substr(0, eq), *outcome);
  } else {
    throw UsageError("unknown situation knob " + label);
  }
}

SystemSubjects::PluginEnrolment plugin_enrolment_for(const Policy& policy) {
  return [&policy](const FactorSpec& factor, const std::string& user) -> Enrolment {
    const std::string_view plugin = factor.kit ? factor.kit->plugin : std::string_view{};
    const auto& readers = enrolment_readers();
    const auto it = readers.find(plugin);
    if (it == readers.end()) {
      return {Enrolment::State::unknown,
              "factor '" + factor.name + "': this authpolicy is built without its support"};
    }
    return it->second(factor.settings, policy.tpm, user);
  };
}

}  // namespace authpolicy::cli
