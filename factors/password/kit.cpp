// The `password` factor kind: the account password, asked by a PAM module (pam_unix.so).
#include "factors/password/kit.h"

#include "factors/pam_delegate/kit.h"

namespace authpolicy {

namespace {

constexpr SettingRule kSettings[] = {
    module_setting("the PAM module that asks and checks the password", "pam_unix.so"),
    kModuleArgumentsSetting,
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
