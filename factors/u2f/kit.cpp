// The `u2f` factor kind: a FIDO2/U2F security key, checked against a pam_u2f authfile.
#include "factors/u2f/kit.h"

namespace authpolicy {

namespace u2f {
Enrolment enrolment_of(const Settings& settings, std::string_view user);  // kit_enrolment.cpp
std::string self_managed_enrolment(const Settings& settings);              // kit_enrolment.cpp
}  // namespace u2f

namespace {

constexpr SettingRule kSettings[] = {
    {.key = "authfile",
     .type = SettingType::string,
     .meaning = "the pam_u2f-format file; %u is the user name",
     .default_text = "/etc/authpolicy/u2f_keys",
     .limit = SettingLimit::path},
    {.key = "origin",
     .type = SettingType::string,
     .meaning = "the relying party id the credentials were made for",
     .default_text = "pam://<hostname>",
     .limit = SettingLimit::non_empty},
    {.key = "appid",
     .type = SettingType::string,
     .meaning = "the relying party id of old-format (U2F-era) lines",
     .default_text = "the origin",
     .limit = SettingLimit::non_empty},
    {.key = "timeout",
     .type = SettingType::duration,
     .meaning = "how long to wait for the touch",
     .default_text = "15s",
     .limit = SettingLimit::range,
     .min = 1,
     .max = 300},
    {.key = "detect",
     .type = SettingType::duration,
     .meaning = "how long to wait for a key to be plugged in; 0s does not wait",
     .default_text = "3s",
     .limit = SettingLimit::range,
     .min = 0,
     .max = 60},
    {.key = "cue",
     .type = SettingType::string,
     .meaning = "the message shown before the touch",
     .default_text = "Touch your security key",
     .limit = SettingLimit::non_empty},
    {.key = "pin_prompt",
     .type = SettingType::string,
     .meaning = "the prompt for the key's PIN",
     .default_text = "Security key PIN: ",
     .limit = SettingLimit::non_empty},
    {.key = "remote",
     .type = SettingType::boolean,
     .meaning = "also ask it for remote requests",
     .default_text = "false"},
    {.key = "presence",
     .type = SettingType::boolean,
     .meaning = "require a touch even for credentials without +presence",
     .default_text = "true"},
    {.key = "pin",
     .type = SettingType::boolean,
     .meaning = "ask for the key's PIN even for credentials without +pin",
     .default_text = "false"},
    {.key = "verification",
     .type = SettingType::boolean,
     .meaning = "require user verification even for credentials without +verification",
     .default_text = "false"},
};

}  // namespace

constinit const FactorKit u2f_kit = {
    .name = "u2f",
    .summary = "FIDO2/U2F key, pam_u2f authfile",
    .settings = kSettings,
    .traits = {.presence = true, .needs_origin = true},
    .delivery = Delivery::plugin,
    .plugin = "u2f",
    .enrolment = {.probe = u2f::enrolment_of, .self_managed = u2f::self_managed_enrolment},
};

}  // namespace authpolicy
