// factor_pin.so's provider factory and enrolment reader (pam/factor_plugin_main.cpp is the rest of
// the plugin).
#include "factors/plugin_entry.h"
#include "factors/tpm/pin_enrolment.h"
#include "factors/tpm/pin_provider.h"

namespace authpolicy {

std::unique_ptr<FactorProvider> make_plugin_provider(const Settings& factor_settings,
                                                     const Settings& tpm_settings) {
  return make_pin_provider(factor_settings, tpm_settings);
}

Enrolment plugin_enrolment(const Settings& factor_settings, const Settings& tpm_settings,
                           std::string_view user) {
  return read_pin_enrolment(factor_settings, tpm_settings, user);
}

}  // namespace authpolicy
