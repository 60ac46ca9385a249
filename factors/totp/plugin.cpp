// factor_totp.so's provider factory and enrolment reader (pam/factor_plugin_main.cpp is the rest of
// the plugin).
#include "factors/plugin_entry.h"
#include "factors/totp/kit.h"
#include "factors/totp/totp_provider.h"

namespace authpolicy {

std::unique_ptr<FactorProvider> make_plugin_provider(const Settings& factor_settings,
                                                     const Settings&) {
  return make_totp_provider(factor_settings);
}

Enrolment plugin_enrolment(const Settings& factor_settings, const Settings&,
                           std::string_view user) {
  return totp_kit.enrolment.probe(factor_settings, user);
}

}  // namespace authpolicy
