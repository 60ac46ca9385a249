// Two ways to reach a user's PIN index: ESAPI in this process, or the setgid helper.
#pragma once

#include <sys/types.h>

#include <memory>

#include "factors/tpm/pin_helper_client.h"
#include "factors/tpm/pin_store.h"

namespace authpolicy::tpm {

class PinBackend {
 public:
  virtual ~PinBackend() = default;
  // None throws (but std::bad_alloc): the store's failure states say what went wrong. Through the
  // helper, every failure is tpm_error: the helper's exit code does not say more.
  virtual PinStatus status(uid_t uid) = 0;
  // The public area only (PinStore::enrolment): no counter, nothing spent.
  virtual PinStatus enrolment(uid_t uid) = 0;
  virtual VerifyOutcome verify(uid_t uid, const SecretString& pin) = 0;
};

class DirectPinBackend : public PinBackend {
 public:
  explicit DirectPinBackend(TpmConfig config) : store_(std::move(config)) {}
  PinStatus status(uid_t uid) override { return store_.status(uid); }
  PinStatus enrolment(uid_t uid) override { return store_.enrolment(uid); }
  VerifyOutcome verify(uid_t uid, const SecretString& pin) override {
    return store_.verify(uid, pin);
  }

 private:
  PinStore store_;
};

// Uses the helper's own TPM settings, never the caller's: the helper trusts no input but the PIN.
class HelperPinBackend : public PinBackend {
 public:
  explicit HelperPinBackend(HelperOptions options) : options_(std::move(options)) {}
  PinStatus status(uid_t uid) override;
  PinStatus enrolment(uid_t uid) override;
  VerifyOutcome verify(uid_t uid, const SecretString& pin) override;

 private:
  HelperOptions options_;
};

enum class BackendChoice { automatic, direct, helper };

// automatic: direct when root or when the TPM opens for this process, else the helper.
std::unique_ptr<PinBackend> choose_pin_backend(BackendChoice choice, const TpmConfig& config,
                                               const HelperOptions& helper);

}  // namespace authpolicy::tpm
