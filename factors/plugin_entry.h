// The one function a plugin-delivered kind writes (factors/<kind>/plugin.cpp): its provider
// factory. pam/factor_plugin_main.cpp puts it behind the plugin's C entry point, which catches
// whatever it throws.
#pragma once

#include <memory>

#include "engine/factor.h"

namespace authpolicy {

// `factor_settings` passed the kit's description when the policy was checked; `tpm_settings` is
// the policy's `tpm { … }` block (empty when it has none).
std::unique_ptr<FactorProvider> make_plugin_provider(const Settings& factor_settings,
                                                     const Settings& tpm_settings);

}  // namespace authpolicy
