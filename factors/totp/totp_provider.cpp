// TotpFactorProvider: probe the enrolment, ask for the code, verify it once.
#include "factors/totp/totp_provider.h"

#include <ctime>
#include <string>

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

namespace {

// What the person reads when the file's RATE_LIMIT refuses another attempt for now.
std::string wait_message(std::int64_t seconds) {
  return "Too many one-time codes tried: wait " + std::to_string(seconds) +
         (seconds == 1 ? " second." : " seconds.");
}

std::optional<FactorResult> enrolment_result(const totp::EnrolmentCheck& check) {
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

}  // namespace

std::optional<FactorResult> TotpFactorProvider::probe(const FactorRequest& request) {
  if (!config_) return FactorResult{Outcome::error, "bad settings: " + config_error_};
  return enrolment_result(totp::check_enrolment(*config_, request.user));
}

FactorResult TotpFactorProvider::authenticate(const FactorRequest& request,
                                              Conversation& conversation) {
  if (!config_) return {Outcome::error, "bad settings: " + config_error_};
  // A read-only look first (no lock, nothing written): a code asked while the rate limit holds
  // would not even be looked at, and a host that retries (sudo asks three times) would spend the
  // person's attempts on prompts that cannot succeed. Say how long to wait instead. It stays a
  // failure: the limit exists because of failed attempts, and it must never let anything pass.
  const totp::EnrolmentCheck check = totp::check_enrolment(*config_, request.user, clock_());
  if (std::optional<FactorResult> early = enrolment_result(check)) return *early;
  if (check.rate_limit_wait > 0) {
    conversation.error(wait_message(check.rate_limit_wait));
    return {Outcome::fail, "rate limited"};
  }
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
    // A wrong code that used the last attempt: say so now, before the host asks again.
    case totp::Verdict::wrong_code:
      if (result.rate_limit_wait > 0) conversation.error(wait_message(result.rate_limit_wait));
      return {Outcome::fail, "wrong code"};
    case totp::Verdict::replayed:
      if (result.rate_limit_wait > 0) conversation.error(wait_message(result.rate_limit_wait));
      return {Outcome::fail, "replayed code"};
    // Another login used the last attempt between the look above and this one.
    case totp::Verdict::rate_limited:
      conversation.error(wait_message(result.rate_limit_wait));
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

}  // namespace authpolicy
