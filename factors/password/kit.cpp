// The `password` factor kind: the account password, asked by a PAM module (pam_unix.so).
#include "factors/password/kit.h"

namespace authpolicy {

namespace {

constexpr SettingRule kSettings[] = {
    {.key = "module",
     .type = SettingType::string,
     .meaning = "the PAM module that asks and checks the password",
     .default_text = "pam_unix.so",
     .limit = SettingLimit::non_empty},
    {.key = "arguments",
     .type = SettingType::string,
     .meaning = "the module's arguments, separated by spaces",
     .default_text = "none",
     .limit = SettingLimit::any_text},
};

}  // namespace

constinit const FactorKit password_kit = {
    .name = "password",
    .summary = "delegates to `pam_unix.so` (change with `module`)",
    .settings = kSettings,
    .traits = {.password = true},
    .delivery = Delivery::delegated,
    .module = "pam_unix.so",
};

}  // namespace authpolicy
