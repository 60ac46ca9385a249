// factor_totp.so's provider factory (pam/factor_plugin_main.cpp is the rest of the plugin).
#include "factors/plugin_entry.h"
#include "factors/totp/totp_provider.h"

namespace authpolicy {

std::unique_ptr<FactorProvider> make_plugin_provider(const Settings& factor_settings,
                                                     const Settings&) {
  return make_totp_provider(factor_settings);
}

}  // namespace authpolicy
