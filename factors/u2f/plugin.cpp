// factor_u2f.so's provider factory and enrolment reader (pam/factor_plugin_main.cpp is the rest of
// the plugin).
#include "factors/plugin_entry.h"
#include "factors/u2f/kit.h"
#include "factors/u2f/u2f_provider.h"

namespace authpolicy {

std::unique_ptr<FactorProvider> make_plugin_provider(const Settings& factor_settings,
                                                     const Settings&) {
  return make_u2f_provider(factor_settings);
}

Enrolment plugin_enrolment(const Settings& factor_settings, const Settings&,
                           std::string_view user) {
  return u2f_kit.enrolment.probe(factor_settings, user);
}

}  // namespace authpolicy
