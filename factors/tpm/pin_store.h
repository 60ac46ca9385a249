// The PIN store: one TPM2 PinFail NV index per uid, set up, verified, changed, deleted, inspected.
#pragma once

#include <sys/types.h>

#include <array>
#include <cstdint>
#include <optional>
#include <string>

#include "engine/secret.h"
#include "factors/tpm/pin_limits.h"
#include "factors/tpm/tpm_config.h"
#include "factors/tpm/tpm_esys.h"

namespace authpolicy::tpm {

// TPM_NT_PIN_FAIL | POLICYWRITE | AUTHREAD | OWNERREAD | NO_DA. NO_DA is mandatory for PIN_FAIL.
inline constexpr std::uint32_t kPinIndexAttributes = 0x02060088;
// PolicyCommandCode(TPM_CC_NV_Write) then PolicyNvWritten(NO), SHA-256: only the first write.
inline constexpr std::array<std::uint8_t, 32> kPinIndexPolicy = {
    0xb7, 0xaf, 0xec, 0xee, 0x9b, 0xf7, 0xbc, 0xbd, 0x50, 0x78, 0xf2, 0x64, 0xde, 0x85, 0xf7, 0xe3,
    0x61, 0xdc, 0x84, 0xf7, 0x45, 0xda, 0x7e, 0xfa, 0x34, 0xe9, 0x1f, 0xda, 0xf2, 0x00, 0xee, 0x9b};

struct PinCounter {
  std::uint32_t used = 0;   // pinCount: wrong attempts since the last correct one
  std::uint32_t limit = 0;  // pinLimit: attempts allowed
  bool locked() const noexcept { return used >= limit; }
  std::uint32_t remaining() const noexcept { return locked() ? 0 : limit - used; }
};

// Every answer of the store below ends in one of its states; the last three mean the store could
// not answer, with `reason` saying why (never a secret):
//   invalid_request: nothing was sent to the TPM: a uid whose index would leave the NV index
//     range, a PIN the TPM cannot hold (empty, longer than 32 bytes, or with a NUL byte, which the
//     TPM would strip from the end of an authValue), or a limit of 0;
//   config_error: the owner password cannot be used: its file is unreadable or not root's alone
//     (for root, or when the operation needs the owner), or the owner has a password and no
//     owner_auth_file is set (setup, remove);
//   tpm_error: the TPM or the TSS failed ("<operation>: <decoded code>", or why the connection
//     did not open).

// What is at a user's index.
struct PinStatus {
  enum class State {
    not_enrolled,
    enrolled,
    tampered,
    invalid_request,
    config_error,
    tpm_error,
  } state = State::not_enrolled;
  std::string reason;                 // tampered: which property differs; failures: why
  std::optional<PinCounter> counter;  // nullopt when the owner password is set and unknown
};

enum class VerifyResult {
  correct,
  wrong,
  locked,
  not_enrolled,
  tampered,
  invalid_request,
  config_error,
  tpm_error,
};

struct VerifyOutcome {
  VerifyResult result = VerifyResult::wrong;
  std::optional<PinCounter> counter;  // after the attempt, when the owner may read it
  std::string reason;                 // tampered: which property differs; failures: why
};

enum class SetupResult { created, already_enrolled, invalid_request, config_error, tpm_error };

struct SetupOutcome {
  SetupResult result = SetupResult::tpm_error;
  std::string reason;  // failures: why
};

enum class DeleteResult {
  deleted,
  not_enrolled,
  not_a_pin_index,
  invalid_request,
  config_error,
  tpm_error,
};

struct DeleteOutcome {
  DeleteResult result = DeleteResult::tpm_error;
  std::string reason;  // failures: why
};

// Every method opens its own TPM connection and closes it before returning, flushing every session
// it started on every path. None throws (but std::bad_alloc): failures are the states above.
class PinStore {
 public:
  explicit PinStore(TpmConfig config) : config_(std::move(config)) {}

  const TpmConfig& config() const noexcept { return config_; }
  // The uid's index, nullopt when it would leave the NV index range (nv_index_for_uid).
  std::optional<std::uint32_t> index_for(uid_t uid) const noexcept;

  // Defines the index with the PIN as authValue and writes {0, limit} once under the policy.
  SetupOutcome setup(uid_t uid, const SecretString& pin, std::uint32_t limit);
  // NV_Read authorised by the PIN in an HMAC session. A locked index is reported without trying.
  VerifyOutcome verify(uid_t uid, const SecretString& pin);
  // Public area check plus an owner read of {pinCount, pinLimit} (spends nothing).
  PinStatus status(uid_t uid);
  // The public area alone (enrolled(pin)): whether the index is there and is one setup made.
  // counter stays nullopt; nothing is read with the owner's or the PIN's authorisation, so no
  // attempt and no owner password is ever used.
  PinStatus enrolment(uid_t uid);
  // Undefines the index with owner authorisation; the PIN and its counter go with it.
  DeleteOutcome remove(uid_t uid);

 private:
  // status() with the owner read of the counter, enrolment() without.
  PinStatus inspect(uid_t uid, bool read_counter);

  TpmConfig config_;
};

// Checks the public area of a PIN index; returns nullopt when it is ours, else the reason.
struct NvPublicView {
  std::uint32_t index = 0;
  std::uint16_t name_alg = 0;
  std::uint32_t attributes = 0;
  std::string policy;  // raw bytes
  std::uint16_t data_size = 0;
};
std::optional<std::string> tamper_reason(const NvPublicView& view, std::uint32_t expected_index);

}  // namespace authpolicy::tpm
