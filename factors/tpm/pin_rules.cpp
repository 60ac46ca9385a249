// PIN length/character rules and their settings.
#include "factors/tpm/pin_rules.h"

#include <algorithm>

#include "factors/tpm/pin_store.h"
#include "factors/tpm/tpm_config.h"

namespace authpolicy::tpm {

PinRules pin_rules_from_settings(const Settings& factor_settings) {
  const std::int64_t min_length = factor_settings.integer_or("min_length", 4);
  const std::int64_t max_length = factor_settings.integer_or("max_length", 8);
  const std::int64_t max_attempts = factor_settings.integer_or("max_attempts", 5);
  if (min_length < 1 || max_length > static_cast<std::int64_t>(kMaxPinBytes) ||
      min_length > max_length) {
    throw ConfigError("pin: need 1 <= min_length <= max_length <= 32");
  }
  if (max_attempts < 1 || max_attempts > 1000) {
    throw ConfigError("pin: max_attempts must be between 1 and 1000");
  }
  PinRules rules;
  rules.min_length = static_cast<std::size_t>(min_length);
  rules.max_length = static_cast<std::size_t>(max_length);
  rules.max_attempts = static_cast<std::uint32_t>(max_attempts);
  rules.digits_only = factor_settings.boolean_or("digits_only", true);
  return rules;
}

std::optional<std::string> pin_rule_violation(const PinRules& rules, std::string_view pin) {
  const std::string range =
      std::to_string(rules.min_length) + "-" + std::to_string(rules.max_length);
  const std::string what = rules.digits_only ? " digits" : " characters";
  if (pin.size() < rules.min_length || pin.size() > rules.max_length) {
    return "A PIN has " + range + what + ".";
  }
  if (pin.find('\0') != std::string_view::npos) return "A PIN cannot contain a NUL byte.";
  if (rules.digits_only &&
      !std::all_of(pin.begin(), pin.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return "A PIN has " + range + " digits (0-9 only).";
  }
  return std::nullopt;
}

}  // namespace authpolicy::tpm
