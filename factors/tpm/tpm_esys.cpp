// ESAPI connection lifetime, quiet logging and return-code classification.
#include "factors/tpm/tpm_esys.h"

#include <tss2/tss2_rc.h>
#include <tss2/tss2_tctildr.h>

#include <cstdlib>
#include <mutex>
#include <utility>

namespace authpolicy::tpm {

TSS2_RC mask_rc(TSS2_RC rc) noexcept {
  const TSS2_RC layer = rc & TSS2_RC_LAYER_MASK;
  // A resource manager may pass TPM codes on in its own layer; they still mean what the TPM said.
  if (layer != TSS2_TPM_RC_LAYER && layer != TSS2_RESMGR_TPM_RC_LAYER) return rc;
  const TSS2_RC code = rc & 0xFFFF;
  if (code & TPM2_RC_FMT1) return code & (TPM2_RC_FMT1 | 0x3F);
  return code;
}

RcClass classify_rc(TSS2_RC rc) noexcept {
  if (rc == TSS2_RC_SUCCESS) return RcClass::success;
  const TSS2_RC layer = rc & TSS2_RC_LAYER_MASK;
  if (layer != TSS2_TPM_RC_LAYER && layer != TSS2_RESMGR_TPM_RC_LAYER) return RcClass::transport;
  switch (mask_rc(rc)) {
    case TPM2_RC_BAD_AUTH:
    case TPM2_RC_AUTH_FAIL:
      return RcClass::bad_auth;
    case TPM2_RC_AUTH_UNAVAILABLE:
      return RcClass::locked;
    case TPM2_RC_HANDLE:
      return RcClass::no_index;
    case TPM2_RC_NV_UNINITIALIZED:
      return RcClass::uninitialized;
    case TPM2_RC_NV_DEFINED:
      return RcClass::nv_defined;
    case TPM2_RC_NV_AUTHORIZATION:
    case TPM2_RC_POLICY_FAIL:
    case TPM2_RC_POLICY_CC:
    case TPM2_RC_ATTRIBUTES:
    case TPM2_RC_NV_LOCKED:
    case TPM2_RC_AUTH_TYPE:
      return RcClass::not_permitted;
    default:
      return RcClass::other_tpm;
  }
}

std::string describe_rc(TSS2_RC rc) {
  const char* text = Tss2_RC_Decode(rc);
  return text ? std::string(text) : "unknown return code";
}

void quiet_tss_logging() noexcept {
  static std::once_flag once;
  // tpm2-tss reads TSS2_LOG lazily per module at its first message; setting it before the first
  // TSS call keeps every module silent. Overwrites a caller's value: stderr may be a PAM client's.
  std::call_once(once, [] { ::setenv("TSS2_LOG", "all+NONE", 1); });
}

std::optional<TpmConnection> TpmConnection::open(const std::string& tcti, std::string* error) {
  quiet_tss_logging();
  TpmConnection connection;
  TSS2_RC rc = Tss2_TctiLdr_Initialize(tcti.c_str(), &connection.tcti_);
  if (rc != TSS2_RC_SUCCESS) {
    connection.tcti_ = nullptr;
    *error = "cannot open TCTI " + tcti + ": " + describe_rc(rc);
    return std::nullopt;
  }
  rc = Esys_Initialize(&connection.esys_, connection.tcti_, nullptr);
  if (rc != TSS2_RC_SUCCESS) {
    connection.esys_ = nullptr;  // the destructor finalises the TCTI
    *error = "cannot start ESAPI on " + tcti + ": " + describe_rc(rc);
    return std::nullopt;
  }
  return connection;
}

TpmConnection::TpmConnection(TpmConnection&& other) noexcept
    : tcti_(std::exchange(other.tcti_, nullptr)), esys_(std::exchange(other.esys_, nullptr)) {}

TpmConnection::~TpmConnection() {
  if (esys_) Esys_Finalize(&esys_);
  if (tcti_) Tss2_TctiLdr_Finalize(&tcti_);
}

FlushGuard::~FlushGuard() {
  // A failed flush (TPM gone, session already ended) leaves nothing more we could do.
  if (handle_ != ESYS_TR_NONE) (void)Esys_FlushContext(esys_, handle_);
}

TrCloseGuard::~TrCloseGuard() {
  if (handle_ != ESYS_TR_NONE) (void)Esys_TR_Close(esys_, &handle_);
}

}  // namespace authpolicy::tpm
