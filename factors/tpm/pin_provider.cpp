// The `pin` factor provider: probe the index, ask the PIN, verify, and say what happened.
#include "factors/tpm/pin_provider.h"

#include <pwd.h>

#include <vector>

#include "base/user_lookup.h"

namespace authpolicy::tpm {

namespace {

// Few enough attempts left that the person should hear about it.
constexpr std::uint32_t kWarnRemaining = 2;

std::optional<uid_t> uid_of(const std::string& user) {
  const UserLookup found = find_user(user);
  if (!found.found()) return std::nullopt;
  return found.account.uid;
}

FactorResult result(Outcome outcome, std::string detail) {
  return {outcome, std::move(detail)};
}

// The error a store failure makes: "config: …" for the owner password, "tpm error: …" for the
// rest (through the helper every failure is a tpm error).
FactorResult store_failure(bool config, const std::string& reason) {
  return result(Outcome::error, (config ? "config: " : "tpm error: ") + reason);
}

std::string attempts_left(std::uint32_t remaining) {
  return std::to_string(remaining) + (remaining == 1 ? " PIN attempt" : " PIN attempts") +
         " left before the PIN locks.";
}

// Provider for settings that cannot work: fails closed with the reason, never asks.
class MisconfiguredPinProvider : public FactorProvider {
 public:
  explicit MisconfiguredPinProvider(std::string reason) : reason_("config: " + std::move(reason)) {}
  std::optional<FactorResult> probe(const FactorRequest&) override {
    return result(Outcome::error, reason_);
  }
  FactorResult authenticate(const FactorRequest&, Conversation&) override {
    return result(Outcome::error, reason_);
  }

 private:
  std::string reason_;
};

}  // namespace

PinFactorProvider::PinFactorProvider(PinRules rules, TpmConfig config, PinProviderOptions options)
    : rules_(rules), config_(std::move(config)), options_(std::move(options)) {}

std::optional<FactorResult> PinFactorProvider::look_up(const FactorRequest& request,
                                                       Index& index) const {
  const auto uid = uid_of(request.user);
  if (!uid) return result(Outcome::unavailable, "unknown user");
  if (!nv_index_for_uid(config_.nv_base, *uid)) return result(Outcome::error, "uid out of range");
  index.uid = *uid;
  index.backend = choose_pin_backend(options_.backend, config_, options_.helper);
  index.status = index.backend->status(*uid);
  return std::nullopt;
}

std::optional<FactorResult> PinFactorProvider::probe(const FactorRequest& request) {
  Index index;
  if (auto early = look_up(request, index)) return early;
  switch (index.status.state) {
    case PinStatus::State::not_enrolled:
      return result(Outcome::unavailable, "not enrolled");
    case PinStatus::State::tampered:
      return result(Outcome::error, "tampered");
    case PinStatus::State::enrolled:
      return std::nullopt;
    case PinStatus::State::config_error:
      return store_failure(true, index.status.reason);
    case PinStatus::State::invalid_request:
    case PinStatus::State::tpm_error:
      return store_failure(false, index.status.reason);
  }
  return result(Outcome::error, "tpm error: unknown state");
}

FactorResult PinFactorProvider::authenticate(const FactorRequest& request,
                                             Conversation& conversation) {
  // Look before asking: a locked PIN is reported without a prompt and without an attempt.
  Index index;
  if (auto early = look_up(request, index)) return *early;
  const PinStatus& status = index.status;
  switch (status.state) {
    case PinStatus::State::not_enrolled:
      return result(Outcome::unavailable, "not enrolled");
    case PinStatus::State::tampered:
      return result(Outcome::error, "tampered");
    case PinStatus::State::config_error:
      return store_failure(true, status.reason);
    case PinStatus::State::invalid_request:
    case PinStatus::State::tpm_error:
      return store_failure(false, status.reason);
    case PinStatus::State::enrolled:
      break;
  }
  if (status.counter && status.counter->locked()) {
    conversation.error(kLockedMessage);
    return result(Outcome::fail, "locked");
  }
  if (status.counter && status.counter->remaining() <= kWarnRemaining) {
    conversation.info(attempts_left(status.counter->remaining()));
  }

  std::optional<SecretString> pin = conversation.ask_secret(rules_.prompt);
  if (!pin) return result(Outcome::fail, "no answer");
  // Typos that cannot be a PIN (letters, wrong length) cost no attempt.
  if (auto violation = pin_rule_violation(rules_, pin->view())) {
    pin->wipe();
    conversation.error(*violation);
    return result(Outcome::fail, "invalid pin");
  }
  const VerifyOutcome outcome = index.backend->verify(index.uid, *pin);
  pin->wipe();
  switch (outcome.result) {
    case VerifyResult::correct:
      return result(Outcome::pass, "");
    case VerifyResult::wrong:
      if (outcome.counter && outcome.counter->locked()) {
        conversation.error("Wrong PIN. " + std::string(kLockedMessage));
      } else if (outcome.counter && outcome.counter->remaining() <= kWarnRemaining) {
        conversation.info("Wrong PIN. " + attempts_left(outcome.counter->remaining()));
      }
      return result(Outcome::fail, "wrong pin");
    case VerifyResult::locked:
      conversation.error(kLockedMessage);
      return result(Outcome::fail, "locked");
    case VerifyResult::not_enrolled:
      return result(Outcome::unavailable, "not enrolled");
    case VerifyResult::tampered:
      return result(Outcome::error, "tampered");
    case VerifyResult::config_error:
      return store_failure(true, outcome.reason);
    case VerifyResult::invalid_request:
    case VerifyResult::tpm_error:
      return store_failure(false, outcome.reason);
  }
  return result(Outcome::error, "tpm error: unknown result");
}

}  // namespace authpolicy::tpm

namespace authpolicy {

std::unique_ptr<FactorProvider> make_pin_provider(const Settings& factor_settings,
                                                  const Settings& tpm_settings,
                                                  tpm::PinProviderOptions options) {
  // The tpm block first: when both are wrong, its problem is the one reported.
  std::string problem;
  auto config = tpm::tpm_config_from_settings(tpm_settings, &problem);
  if (!config) return std::make_unique<tpm::MisconfiguredPinProvider>(std::move(problem));
  auto rules = tpm::pin_rules_from_settings(factor_settings, &problem);
  if (!rules) return std::make_unique<tpm::MisconfiguredPinProvider>(std::move(problem));
  return std::make_unique<tpm::PinFactorProvider>(std::move(*rules), std::move(*config),
                                                  std::move(options));
}

std::unique_ptr<FactorProvider> make_pin_provider(const Settings& factor_settings,
                                                  const Settings& tpm_settings) {
  return make_pin_provider(factor_settings, tpm_settings, tpm::PinProviderOptions{});
}

}  // namespace authpolicy
