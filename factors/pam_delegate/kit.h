// The `pam` factor kind's description (kit.cpp beside this file; listed in factors/catalogue.cpp).
#pragma once

#include "engine/factor_kit.h"

namespace authpolicy {

extern constinit const FactorKit pam_kit;

// The two settings of a named kind asked by a PAM module (password, fingerprint): `module`, what
// `meaning` says, by default `default_module`; and the module's `arguments`.
constexpr SettingRule module_setting(std::string_view meaning, std::string_view default_module) {
  return {.key = "module",
          .type = SettingType::string,
          .meaning = meaning,
          .default_text = default_module,
          .limit = SettingLimit::non_empty};
}
inline constexpr SettingRule kModuleArgumentsSetting = {
    .key = "arguments",
    .type = SettingType::string,
    .meaning = "the module's arguments, separated by spaces",
    .default_text = "none",
    .limit = SettingLimit::any_text,
};

}  // namespace authpolicy
