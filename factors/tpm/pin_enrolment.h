// enrolled(pin): whether a user's PinFail index is in the TPM, read from its public area only.
#pragma once

#include <string_view>

#include "engine/factor_kit.h"
#include "factors/tpm/pin_provider.h"

namespace authpolicy::tpm {

// enrolled when the user's index (nv_base + uid) exists and is an index setup made; none when the
// TPM answers and there is none there, or the user does not exist; unknown when the settings are
// invalid, the name service fails, the uid leaves the index range, the TPM cannot be reached or
// fails, or the index is there but is not ours (tampered). Only NV_ReadPublic is sent: no PIN
// attempt, no owner authorisation. Root (or a member of the TPM group) reads the TPM itself;
// anyone else through the helper, which answers for its caller's own uid only. Never throws; the
// detail says why and holds no secret.
Enrolment pin_enrolment(const Settings& factor_settings, const Settings& tpm_settings,
                        std::string_view user, const PinProviderOptions& options);

}  // namespace authpolicy::tpm

namespace authpolicy {

// The production reader: built-in helper path and timeout (the pin plugin's enrolment entry and
// the CLI's eval and status both answer through it).
Enrolment read_pin_enrolment(const Settings& factor_settings, const Settings& tpm_settings,
                             std::string_view user);

}  // namespace authpolicy
