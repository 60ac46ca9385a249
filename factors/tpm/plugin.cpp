// factor_pin.so's provider factory (pam/factor_plugin_main.cpp is the rest of the plugin).
#include "factors/plugin_entry.h"
#include "factors/tpm/pin_provider.h"

namespace authpolicy {

std::unique_ptr<FactorProvider> make_plugin_provider(const Settings& factor_settings,
                                                     const Settings& tpm_settings) {
  return make_pin_provider(factor_settings, tpm_settings);
}

}  // namespace authpolicy
