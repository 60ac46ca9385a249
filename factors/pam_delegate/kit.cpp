// The kind of `NAME = pam("x.so", args…)` factors: any PAM module, asked as one factor.
#include "factors/pam_delegate/kit.h"

namespace authpolicy {

namespace {

constexpr SettingRule kSettings[] = {
    {.key = "remote",
     .type = SettingType::boolean,
     .meaning = "a presence factor: also ask it for remote requests",
     .default_text = "false"},
    {.key = "presence",
     .type = SettingType::boolean,
     .meaning = "needs a person at the machine (unavailable remotely unless remote = true)",
     .default_text = "false"},
};

}  // namespace

constinit const FactorKit pam_kit = {
    .name = "pam",
    .named = false,
    .summary = "any PAM module",
    .settings = kSettings,
    // Only a module of the administrator's choosing may declare itself a presence factor.
    .traits = {.presence_setting = true, .weak_second_step = true},
    .delivery = Delivery::delegated,
};

}  // namespace authpolicy
