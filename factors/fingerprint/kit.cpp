// The `fingerprint` factor kind: a finger on the reader, asked by a PAM module (pam_fprintd.so).
#include "factors/fingerprint/kit.h"

#include "factors/pam_delegate/kit.h"

namespace authpolicy {

namespace {

constexpr SettingRule kSettings[] = {
    module_setting("the PAM module that reads the finger", "pam_fprintd.so"),
    kModuleArgumentsSetting,
    {.key = "remote",
     .type = SettingType::boolean,
     .meaning = "also ask it for remote requests",
     .default_text = "false"},
};

}  // namespace

constinit const FactorKit fingerprint_kit = {
    .name = "fingerprint",
    .summary = "delegates to `pam_fprintd.so`",
    .settings = kSettings,
    .traits = {.presence = true},
    .delivery = Delivery::delegated,
    .module = "pam_fprintd.so",
};

}  // namespace authpolicy
