// A connection to the TPM through ESAPI, return-code classification, and guards that flush.
#pragma once

#include <tss2/tss2_esys.h>

#include <optional>
#include <string>

namespace authpolicy::tpm {

// What a TPM or TSS return code means for a PIN index, with handle/session/parameter bits masked.
enum class RcClass {
  success,
  bad_auth,       // wrong PIN (TPM_RC_BAD_AUTH, or TPM_RC_AUTH_FAIL on a DA index)
  locked,         // TPM_RC_AUTH_UNAVAILABLE: pinCount reached pinLimit
  no_index,       // TPM_RC_HANDLE: nothing defined at that handle
  uninitialized,  // TPM_RC_NV_UNINITIALIZED: defined, never written
  nv_defined,     // TPM_RC_NV_DEFINED: the handle is taken
  not_permitted,  // NV_AUTHORIZATION, POLICY_FAIL, POLICY_CC, ATTRIBUTES…: the TPM said no
  other_tpm,      // any other TPM response code
  transport,      // TSS or TCTI layer: unreachable, closed connection, malformed answer
};

// Drops the handle/session/parameter number of a format-one code, keeps format-zero codes, and
// leaves codes from TSS layers untouched (they are transport failures).
TSS2_RC mask_rc(TSS2_RC rc) noexcept;
RcClass classify_rc(TSS2_RC rc) noexcept;
std::string describe_rc(TSS2_RC rc);

// Silences TSS logging (TSS2_LOG=all+NONE) before the first TSS call of the process, so that TSS
// messages never reach a PAM client's stderr. Idempotent.
void quiet_tss_logging() noexcept;

// One TCTI + ESAPI context, opened from a TCTI string ("device:/dev/tpmrm0",
// "swtpm:host=127.0.0.1,port=2321"). Closing releases the connection; swtpm serves one at a time.
class TpmConnection {
 public:
  // The connection, or nullopt with *error set to "cannot open TCTI <tcti>: <decoded code>" or
  // "cannot start ESAPI on <tcti>: <decoded code>".
  static std::optional<TpmConnection> open(const std::string& tcti, std::string* error);
  TpmConnection(TpmConnection&& other) noexcept;
  TpmConnection(const TpmConnection&) = delete;
  TpmConnection& operator=(const TpmConnection&) = delete;
  TpmConnection& operator=(TpmConnection&&) = delete;
  ~TpmConnection();
  ESYS_CONTEXT* esys() const noexcept { return esys_; }

 private:
  TpmConnection() = default;

  TSS2_TCTI_CONTEXT* tcti_ = nullptr;
  ESYS_CONTEXT* esys_ = nullptr;
};

// Flushes a session (or transient object) from the TPM when it goes out of scope, whatever path
// left the scope. Without a resource manager (raw swtpm) a leaked session stays until reset.
class FlushGuard {
 public:
  FlushGuard(ESYS_CONTEXT* esys, ESYS_TR handle) noexcept : esys_(esys), handle_(handle) {}
  FlushGuard(const FlushGuard&) = delete;
  FlushGuard& operator=(const FlushGuard&) = delete;
  ~FlushGuard();
  ESYS_TR get() const noexcept { return handle_; }

 private:
  ESYS_CONTEXT* esys_;
  ESYS_TR handle_;
};

// Frees ESAPI's metadata for a persistent thing (an NV index) without touching the TPM.
class TrCloseGuard {
 public:
  TrCloseGuard(ESYS_CONTEXT* esys, ESYS_TR handle) noexcept : esys_(esys), handle_(handle) {}
  TrCloseGuard(const TrCloseGuard&) = delete;
  TrCloseGuard& operator=(const TrCloseGuard&) = delete;
  ~TrCloseGuard();
  ESYS_TR get() const noexcept { return handle_; }
  // The TPM consumed the handle (NV_UndefineSpace): ESAPI already freed it.
  void release() noexcept { handle_ = ESYS_TR_NONE; }

 private:
  ESYS_CONTEXT* esys_;
  ESYS_TR handle_;
};

}  // namespace authpolicy::tpm
