// The two functions a plugin-delivered kind writes (factors/<kind>/plugin.cpp): its provider
// factory and its enrolment reader. pam/factor_plugin_main.cpp puts them behind the plugin's C
// entry points, which catch whatever they throw.
#pragma once

#include <memory>
#include <string_view>

#include "engine/factor.h"
#include "engine/factor_kit.h"

namespace authpolicy {

// `factor_settings` passed the kit's description when the policy was checked; `tpm_settings` is
// the policy's `tpm { … }` block (empty when it has none).
std::unique_ptr<FactorProvider> make_plugin_provider(const Settings& factor_settings,
                                                     const Settings& tpm_settings);

// enrolled(FACTOR) for this kind, with the same two blocks: what its kit's EnrolmentStore says,
// read here when the store needs the plugin's libraries (EnrolmentStore::plugin: pin reads the
// TPM). Kinds whose kit reads the store itself answer with the kit's own probe.
Enrolment plugin_enrolment(const Settings& factor_settings, const Settings& tpm_settings,
                           std::string_view user);

}  // namespace authpolicy
