// The `fingerprint` factor kind: a finger on the reader, asked by a PAM module (pam_fprintd.so).
#include "factors/fingerprint/kit.h"

namespace authpolicy {

namespace {

constexpr SettingRule kSettings[] = {
    {.key = "module",
     .type = SettingType::string,
     .meaning = "the PAM module that reads the finger",
     .default_text = "pam_fprintd.so",
     .limit = SettingLimit::non_empty},
    {.key = "arguments",
     .type = SettingType::string,
     .meaning = "the module's arguments, separated by spaces",
     .default_text = "none",
     .limit = SettingLimit::any_text},
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
