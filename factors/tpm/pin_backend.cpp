// Backend selection and the mapping from helper exit codes to store results.
#include "factors/tpm/pin_backend.h"

#include <unistd.h>

#include <string>

namespace authpolicy::tpm {

namespace {

std::optional<PinCounter> counter_of(const HelperReply& reply) {
  if (!reply.used || !reply.limit) return std::nullopt;
  return PinCounter{*reply.used, *reply.limit};
}

// Why the helper gave no answer about the PIN (exit refused, usage or tpm_error).
std::string helper_failure(const HelperReply& reply) {
  if (reply.exit == HelperExit::refused) return "pin helper refused the uid";
  if (reply.exit == HelperExit::usage) return "pin helper: usage error";
  return "pin helper: " + (reply.reason.empty() ? "tpm error" : reply.reason);
}

// The store's answer from the helper's reply to "status" or to "enrolled" (which reports no
// counter), or tpm_error when the helper could not be run.
PinStatus status_of(const std::optional<HelperReply>& answer, std::string run_error) {
  PinStatus status;
  if (!answer) {
    status.state = PinStatus::State::tpm_error;
    status.reason = std::move(run_error);
    return status;
  }
  const HelperReply& reply = *answer;
  switch (reply.exit) {
    case HelperExit::ok:
    case HelperExit::locked:
      status.state = PinStatus::State::enrolled;
      status.counter = counter_of(reply);
      if (reply.exit == HelperExit::locked && !status.counter) {
        status.counter = PinCounter{1, 1};  // locked without figures: keep the lock visible
      }
      return status;
    case HelperExit::not_enrolled:
      return status;
    case HelperExit::tampered:
      status.state = PinStatus::State::tampered;
      status.reason = reply.reason;
      return status;
    default:
      status.state = PinStatus::State::tpm_error;
      status.reason = helper_failure(reply);
      return status;
  }
}

}  // namespace

PinStatus HelperPinBackend::status(uid_t uid) {
  std::string error;
  auto reply = run_pin_helper(options_, "status", uid, nullptr, &error);
  return status_of(reply, std::move(error));
}

PinStatus HelperPinBackend::enrolment(uid_t uid) {
  std::string error;
  auto reply = run_pin_helper(options_, "enrolled", uid, nullptr, &error);
  return status_of(reply, std::move(error));
}

VerifyOutcome HelperPinBackend::verify(uid_t uid, const SecretString& pin) {
  VerifyOutcome outcome;
  std::string error;
  const auto answer = run_pin_helper(options_, "verify", uid, &pin, &error);
  if (!answer) {
    outcome.result = VerifyResult::tpm_error;
    outcome.reason = std::move(error);
    return outcome;
  }
  const HelperReply& reply = *answer;
  outcome.counter = counter_of(reply);
  switch (reply.exit) {
    case HelperExit::ok:
      outcome.result = VerifyResult::correct;
      return outcome;
    case HelperExit::wrong:
      outcome.result = VerifyResult::wrong;
      return outcome;
    case HelperExit::locked:
      outcome.result = VerifyResult::locked;
      return outcome;
    case HelperExit::not_enrolled:
      outcome.result = VerifyResult::not_enrolled;
      return outcome;
    case HelperExit::tampered:
      outcome.result = VerifyResult::tampered;
      outcome.reason = reply.reason;
      return outcome;
    default:
      return {VerifyResult::tpm_error, std::nullopt, helper_failure(reply)};
  }
}

std::unique_ptr<PinBackend> choose_pin_backend(BackendChoice choice, const TpmConfig& config,
                                               const HelperOptions& helper) {
  if (choice == BackendChoice::direct) return std::make_unique<DirectPinBackend>(config);
  if (choice == BackendChoice::helper) return std::make_unique<HelperPinBackend>(helper);
  if (::geteuid() == 0) return std::make_unique<DirectPinBackend>(config);
  // A member of the TPM group may use it directly; anyone else goes through the helper (why the
  // TPM did not open for this process does not matter here).
  std::string unused;
  if (!TpmConnection::open(config.tcti, &unused)) return std::make_unique<HelperPinBackend>(helper);
  return std::make_unique<DirectPinBackend>(config);
}

}  // namespace authpolicy::tpm
