// What a PIN may look like (`factor pin { min_length; max_length; max_attempts; digits_only }`).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "engine/factor.h"

namespace authpolicy::tpm {

struct PinRules {
  std::size_t min_length = 4;
  std::size_t max_length = 8;
  std::uint32_t max_attempts = 5;  // pinLimit written at setup
  bool digits_only = true;
  std::string prompt = "PIN: ";  // the question asked
};

// Reads the factor settings; nullopt with *error set to the first problem the kit's description
// finds (factors/tpm/kit.cpp: lengths 1..32 with min <= max, max_attempts 1..1000).
std::optional<PinRules> pin_rules_from_settings(const Settings& factor_settings,
                                                std::string* error);

// A message for the person when the PIN breaks the rules, nullopt when it is acceptable.
std::optional<std::string> pin_rule_violation(const PinRules& rules, std::string_view pin);

}  // namespace authpolicy::tpm
