// PIN length/character rules and their settings.
#include "factors/tpm/pin_rules.h"

#include <algorithm>

#include "factors/tpm/kit.h"
#include "factors/tpm/pin_store.h"
#include "factors/tpm/tpm_config.h"

namespace authpolicy::tpm {

std::optional<PinRules> pin_rules_from_settings(const Settings& factor_settings,
                                                std::string* error) {
  // The same rules `authpolicy check` applies, from the kit's description.
  if (const auto problems = validate_settings(pin_kit, factor_settings); !problems.empty()) {
    *error = problems.front().message;
    return std::nullopt;
  }
  PinRules rules;
  rules.min_length = static_cast<std::size_t>(
      factor_settings.integer_or("min_length", kDefaultMinPinLength));
  rules.max_length = static_cast<std::size_t>(
      factor_settings.integer_or("max_length", kDefaultMaxPinLength));
  rules.max_attempts = static_cast<std::uint32_t>(
      factor_settings.integer_or("max_attempts", kDefaultMaxPinAttempts));
  rules.digits_only = factor_settings.boolean_or("digits_only", true);
  rules.prompt = factor_settings.string_or("prompt", rules.prompt);
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
