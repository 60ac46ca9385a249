// enrolled(pin) through the same backends the provider uses, reading only the index's public area.
#include "factors/tpm/pin_enrolment.h"

#include <cstdio>
#include <string>

#include "base/user_lookup.h"

namespace authpolicy::tpm {

namespace {

std::string index_text(std::uint32_t index) {
  char text[16];
  std::snprintf(text, sizeof text, "0x%08x", index);
  return text;
}

Enrolment unknown(std::string why) {
  return {Enrolment::State::unknown, std::move(why)};
}

}  // namespace

Enrolment pin_enrolment(const Settings& /*factor_settings*/, const Settings& tpm_settings,
                        std::string_view user, const PinProviderOptions& options) {
  std::string problem;
  const auto config = tpm_config_from_settings(tpm_settings, &problem);
  if (!config) return unknown("config: " + problem);
  const UserLookup found = find_user(user);
  if (found.status == UserLookup::Status::error) return unknown("user database unavailable");
  if (!found.found()) return {Enrolment::State::none, "unknown user"};
  const uid_t uid = found.account.uid;
  const auto index = nv_index_for_uid(config->nv_base, uid);
  if (!index) return unknown("uid " + std::to_string(uid) + " leaves the NV index range");
  auto backend = choose_pin_backend(options.backend, *config, options.helper);
  const PinStatus status = backend->enrolment(uid);
  switch (status.state) {
    case PinStatus::State::enrolled:
      return {Enrolment::State::enrolled, "PIN index " + index_text(*index) + " in the TPM"};
    case PinStatus::State::not_enrolled:
      return {Enrolment::State::none, "no PIN index " + index_text(*index) + " in the TPM"};
    case PinStatus::State::tampered:
      return unknown("index " + index_text(*index) +
                     " is not a PIN index of ours: " + status.reason);
    case PinStatus::State::config_error:
      return unknown("config: " + status.reason);
    case PinStatus::State::invalid_request:
    case PinStatus::State::tpm_error:
      return unknown("tpm error: " + status.reason);
  }
  return unknown("tpm error: unknown state");
}

}  // namespace authpolicy::tpm

namespace authpolicy {

Enrolment read_pin_enrolment(const Settings& factor_settings, const Settings& tpm_settings,
                             std::string_view user) {
  return tpm::pin_enrolment(factor_settings, tpm_settings, user, tpm::PinProviderOptions{});
}

}  // namespace authpolicy
