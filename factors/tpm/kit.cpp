// The `pin` factor kind: a PIN checked by the TPM, which locks it after repeated failures.
#include "factors/tpm/kit.h"

#include "factors/tpm/pin_limits.h"

namespace authpolicy {

namespace {

constexpr SettingRule kSettings[] = {
    {.key = "min_length",
     .type = SettingType::integer,
     .meaning = "the shortest PIN, in bytes",
     .default_text = "4",
     .limit = SettingLimit::range,
     .min = 1,
     .max = tpm::kMaxPinBytes},
    {.key = "max_length",
     .type = SettingType::integer,
     .meaning = "the longest PIN, in bytes",
     .default_text = "8",
     .limit = SettingLimit::range,
     .min = 1,
     .max = tpm::kMaxPinBytes},
    {.key = "max_attempts",
     .type = SettingType::integer,
     .meaning = "wrong attempts before the PIN locks; written at setup",
     .default_text = "5",
     .limit = SettingLimit::range,
     .min = 1,
     .max = tpm::kMaxPinAttempts},
    {.key = "digits_only",
     .type = SettingType::boolean,
     .meaning = "only 0-9",
     .default_text = "true"},
    {.key = "prompt",
     .type = SettingType::string,
     .meaning = "the question asked",
     .default_text = "PIN: ",
     .limit = SettingLimit::non_empty},
};

void check_lengths(const Settings& settings, std::vector<SettingProblem>& problems) {
  const std::int64_t min = settings.integer_or("min_length", tpm::kDefaultMinPinLength);
  const std::int64_t max = settings.integer_or("max_length", tpm::kDefaultMaxPinLength);
  if (min <= max) return;
  problems.push_back({settings.has("min_length") ? "min_length" : "max_length",
                      "min_length (" + std::to_string(min) + ") is larger than max_length (" +
                          std::to_string(max) + ")"});
}

}  // namespace

constinit const FactorKit pin_kit = {
    .name = "pin",
    .summary = "TPM2 PinFail index, hardware lockout",
    .settings = kSettings,
    .traits = {.lockout = true},
    .delivery = Delivery::plugin,
    .plugin = "pin",
    .check = check_lengths,
    // The user's PinFail index in the TPM: read by factor_pin.so (factors/tpm/pin_enrolment.cpp),
    // so that this library, linked into pam_policy.so, never needs tpm2-tss.
    .enrolment = {.plugin = true},
};

}  // namespace authpolicy
