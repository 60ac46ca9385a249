// Backend selection and the mapping from helper exit codes to store results.
#include "factors/tpm/pin_backend.h"

#include <unistd.h>

#include <stdexcept>

namespace authpolicy::tpm {

namespace {

std::optional<PinCounter> counter_of(const HelperReply& reply) {
  if (!reply.used || !reply.limit) return std::nullopt;
  return PinCounter{*reply.used, *reply.limit};
}

[[noreturn]] void throw_helper_failure(const HelperReply& reply) {
  if (reply.exit == HelperExit::refused) throw std::runtime_error("pin helper refused the uid");
  if (reply.exit == HelperExit::usage) throw std::runtime_error("pin helper: usage error");
  throw std::runtime_error("pin helper: " + (reply.reason.empty() ? "tpm error" : reply.reason));
}

// The store's answer from the helper's reply to "status" or to "enrolled" (which reports no
// counter).
PinStatus status_of(const HelperReply& reply) {
  PinStatus status;
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
      status.tamper_reason = reply.reason;
      return status;
    default:
      throw_helper_failure(reply);
  }
}

}  // namespace

PinStatus HelperPinBackend::status(uid_t uid) {
  return status_of(run_pin_helper(options_, "status", uid, nullptr));
}

PinStatus HelperPinBackend::enrolment(uid_t uid) {
  return status_of(run_pin_helper(options_, "enrolled", uid, nullptr));
}

VerifyOutcome HelperPinBackend::verify(uid_t uid, const SecretString& pin) {
  const HelperReply reply = run_pin_helper(options_, "verify", uid, &pin);
  VerifyOutcome outcome;
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
      outcome.tamper_reason = reply.reason;
      return outcome;
    default:
      throw_helper_failure(reply);
  }
}

std::unique_ptr<PinBackend> choose_pin_backend(BackendChoice choice, const TpmConfig& config,
                                               const HelperOptions& helper) {
  if (choice == BackendChoice::direct) return std::make_unique<DirectPinBackend>(config);
  if (choice == BackendChoice::helper) return std::make_unique<HelperPinBackend>(helper);
  if (::geteuid() == 0) return std::make_unique<DirectPinBackend>(config);
  try {
    TpmConnection probe(config.tcti);  // a member of the TPM group may use it directly
  } catch (const TpmError&) {
    return std::make_unique<HelperPinBackend>(helper);
  }
  return std::make_unique<DirectPinBackend>(config);
}

}  // namespace authpolicy::tpm
