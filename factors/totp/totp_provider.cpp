// TotpFactorProvider: probe the enrolment, ask for the code, verify it once.
#include "factors/totp/totp_provider.h"

#include <ctime>

namespace authpolicy {

std::int64_t system_unix_time() {
  return static_cast<std::int64_t>(std::time(nullptr));
}

TotpFactorProvider::TotpFactorProvider(const Settings& settings, Clock clock)
    : clock_(clock ? std::move(clock) : Clock(system_unix_time)) {
  std::vector<std::string> errors;
  config_ = totp::config_from_settings(settings, errors);
  for (const std::string& error : errors) {
    if (!config_error_.empty()) config_error_ += "; ";
    config_error_ += error;
  }
}

std::optional<FactorResult> TotpFactorProvider::probe(const FactorRequest& request) {
  if (!config_) return FactorResult{Outcome::error, "bad settings: " + config_error_};
  totp::EnrolmentCheck check = totp::check_enrolment(*config_, request.user);
  switch (check.status) {
    case totp::EnrolmentStatus::enrolled:
      return std::nullopt;
    case totp::EnrolmentStatus::not_enrolled:
      return FactorResult{Outcome::unavailable, check.detail};
    case totp::EnrolmentStatus::error:
      break;
  }
  return FactorResult{Outcome::error, check.detail};
}

FactorResult TotpFactorProvider::authenticate(const FactorRequest& request,
                                              Conversation& conversation) {
  if (std::optional<FactorResult> early = probe(request)) return *early;
  // Codes are one-time, but someone reading over a shoulder can still use one within the window.
  std::optional<SecretString> answer = conversation.ask_secret(config_->prompt);
  if (!answer) return {Outcome::error, "conversation failed"};
  totp::Verification result = totp::verify_code(*config_, request.user, answer->view(), clock_());
  answer->wipe();
  switch (result.verdict) {
    case totp::Verdict::accepted:
      return {Outcome::pass, "code accepted"};
    case totp::Verdict::accepted_scratch:
      return {Outcome::pass, "scratch code used"};
    case totp::Verdict::wrong_code:
      return {Outcome::fail, "wrong code"};
    case totp::Verdict::replayed:
      return {Outcome::fail, "replayed code"};
    case totp::Verdict::rate_limited:
      conversation.error("Too many verification codes tried; wait and try again.");
      return {Outcome::fail, "rate limited"};
    // The file went away after the prompt: the person was asked, so this is not `unavailable`.
    case totp::Verdict::not_enrolled:
      return {Outcome::fail, "not enrolled"};
    case totp::Verdict::malformed:
      return {Outcome::error, result.detail};
    case totp::Verdict::error:
      break;
  }
  return {Outcome::error, result.detail};
}

std::unique_ptr<FactorProvider> make_totp_provider(const Settings& factor_settings) {
  return std::make_unique<TotpFactorProvider>(factor_settings, system_unix_time);
}

std::unique_ptr<FactorProvider> make_totp_provider(const Settings& factor_settings,
                                                   TotpFactorProvider::Clock clock) {
  return std::make_unique<TotpFactorProvider>(factor_settings, std::move(clock));
}

std::vector<std::string> validate_totp_settings(const Settings& factor_settings) {
  std::vector<std::string> errors;
  totp::config_from_settings(factor_settings, errors);
  return errors;
}

}  // namespace authpolicy
