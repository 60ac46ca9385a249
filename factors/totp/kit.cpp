// The `totp` factor kind: RFC 6238 time-based codes from a phone app.
#include "factors/totp/kit.h"

#include "factors/totp/totp_limits.h"

namespace authpolicy {

namespace totp {
void deployment_problems(const Settings& settings, std::vector<std::string>& problems);
Enrolment enrolment_of(const Settings& settings, std::string_view user);  // kit_enrolment.cpp
std::string self_managed_enrolment(const Settings& settings);
}  // namespace totp

namespace {

constexpr std::string_view kFormats[] = {"google-authenticator", "google_authenticator", "oath"};
constexpr std::string_view kAlgorithms[] = {"sha1", "sha256", "sha512"};

constexpr SettingRule kSettings[] = {
    {.key = "secrets",
     .type = SettingType::string,
     .meaning = "where enrolments live: %u the user name, %h or a leading ~/ the home folder",
     .default_text = "/etc/authpolicy/totp/%u (oath: /etc/users.oath)",
     .limit = SettingLimit::home_path},
    {.key = "format",
     .type = SettingType::string,
     .meaning = "one file per user (google-authenticator) or one pam_oath users file (oath)",
     .default_text = "google-authenticator",
     .limit = SettingLimit::words,
     .words = kFormats},
    {.key = "digits",
     .type = SettingType::integer,
     .meaning = "code length, unless the secret file says otherwise",
     .default_text = "6",
     .limit = SettingLimit::range,
     .min = totp::kMinDigits,
     .max = totp::kMaxDigits},
    {.key = "step",
     .type = SettingType::duration,
     .meaning = "time step, unless the secret file says otherwise",
     .default_text = "30s",
     .limit = SettingLimit::range,
     .min = totp::kMinStepSeconds,
     .max = totp::kMaxStepSeconds},
    {.key = "window",
     .type = SettingType::integer,
     .meaning = "steps accepted either side of now",
     .default_text = "1",
     .limit = SettingLimit::range,
     .min = 0,
     .max = totp::kMaxWindow},
    {.key = "algorithm",
     .type = SettingType::string,
     .meaning = "HMAC hash, unless the secret file says otherwise",
     .default_text = "sha1",
     .limit = SettingLimit::words,
     .words = kAlgorithms,
     .fold = true},
    {.key = "allow_user_files",
     .type = SettingType::boolean,
     .meaning = "may secrets point into home folders?",
     .default_text = "false"},
    {.key = "prompt",
     .type = SettingType::string,
     .meaning = "the question asked",
     .default_text = "Verification code: ",
     .limit = SettingLimit::non_empty},
};

void check_user_files(const Settings& settings, std::vector<SettingProblem>& problems) {
  if (!totp::pattern_is_user_file(settings.string_or("secrets", "")) ||
      settings.boolean_or("allow_user_files", false)) {
    return;
  }
  problems.push_back(
      {"secrets", "secrets in the user's home folder need allow_user_files = true"});
}

}  // namespace

constinit const FactorKit totp_kit = {
    .name = "totp",
    .summary = "RFC 6238 codes",
    .settings = kSettings,
    .traits = {.weak_second_step = true},
    .delivery = Delivery::plugin,
    .plugin = "totp",
    .check = check_user_files,
    .deployment = totp::deployment_problems,  // kit_status.cpp
    .enrolment = {.probe = totp::enrolment_of, .self_managed = totp::self_managed_enrolment},
};

}  // namespace authpolicy
