// The PinFail NV index protocol against ESAPI: define + policy write, HMAC read, owner read,
// undefine.
#include "factors/tpm/pin_store.h"

#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <string_view>

namespace authpolicy::tpm {

namespace {

constexpr std::uint16_t kPinDataSize = 8;  // {pinCount, pinLimit}, big-endian

// The two exceptions of this file. They unwind an ESAPI exchange from the helpers below and never
// leave it: every public PinStore method catches both (`answered`) and returns its tpm_error or
// config_error state with what() as the reason.

// A TPM or TSS failure; what() reads "<operation>: <decoded code>" and never holds a secret.
class TpmError : public std::runtime_error {
 public:
  TpmError(std::string_view operation, TSS2_RC rc)
      : std::runtime_error(std::string(operation) + ": " + describe_rc(rc)) {}
  TpmError(std::string_view operation, std::string_view message)
      : std::runtime_error(std::string(operation) + ": " + std::string(message)) {}
};

// The owner password cannot be used (prepare_owner); what() names the file or the setting.
class OwnerAuthError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

enum class Cause { config, tpm };

// Runs one public method's exchange with the TPM: its answer, or, when one of the two exceptions
// above ended it, what `fail` makes of the cause and the message.
template <typename Work, typename Fail>
auto answered(Work work, Fail fail) -> decltype(work()) {
  try {
    return work();
  } catch (const OwnerAuthError& e) {
    return fail(Cause::config, e.what());
  } catch (const TpmError& e) {
    return fail(Cause::tpm, e.what());
  }
}

std::string uid_out_of_range(uid_t uid) {
  return "uid " + std::to_string(uid) + " leaves the NV index range";
}

// Why the TPM cannot hold this PIN as an authValue, nullopt when it can.
std::optional<std::string> pin_auth_problem(const SecretString& pin) {
  if (pin.empty()) return "the PIN is empty";
  if (pin.size() > kMaxPinBytes) return "the PIN is longer than 32 bytes";
  if (pin.view().find('\0') != std::string_view::npos) return "the PIN holds a NUL byte";
  return std::nullopt;
}

// Wipes a TPM2B_AUTH on every path out of the scope that filled it.
struct AuthValue {
  TPM2B_AUTH value{};
  ~AuthValue() { secure_wipe(&value, sizeof value); }
};

// Copies a PIN into a TPM2B_AUTH; pin_auth_problem has found nothing wrong with it.
void fill_pin_auth(const SecretString& pin, AuthValue& auth) {
  auth.value.size = static_cast<UINT16>(pin.size());
  std::memcpy(auth.value.buffer, pin.view().data(), pin.size());
}

// Returns the ESYS_TR of an NV index, or ESYS_TR_NONE when nothing is defined there.
ESYS_TR load_index(ESYS_CONTEXT* esys, std::uint32_t index) {
  ESYS_TR handle = ESYS_TR_NONE;
  const TSS2_RC rc =
      Esys_TR_FromTPMPublic(esys, index, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &handle);
  if (rc == TSS2_RC_SUCCESS) return handle;
  if (classify_rc(rc) == RcClass::no_index) return ESYS_TR_NONE;
  throw TpmError("NV_ReadPublic", rc);
}

// Returns the public area of a loaded NV index.
NvPublicView read_public(ESYS_CONTEXT* esys, ESYS_TR handle) {
  TPM2B_NV_PUBLIC* pub = nullptr;
  TPM2B_NAME* name = nullptr;
  const TSS2_RC rc =
      Esys_NV_ReadPublic(esys, handle, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &pub, &name);
  if (rc != TSS2_RC_SUCCESS) throw TpmError("NV_ReadPublic", rc);
  NvPublicView view;
  view.index = pub->nvPublic.nvIndex;
  view.name_alg = pub->nvPublic.nameAlg;
  view.attributes = pub->nvPublic.attributes;
  view.policy.assign(reinterpret_cast<const char*>(pub->nvPublic.authPolicy.buffer),
                     pub->nvPublic.authPolicy.size);
  view.data_size = pub->nvPublic.dataSize;
  Esys_Free(pub);
  Esys_Free(name);
  return view;
}

// Returns true when the TPM owner hierarchy has a password (TPMA_PERMANENT.ownerAuthSet).
bool owner_auth_is_set(ESYS_CONTEXT* esys) {
  TPMI_YES_NO more = TPM2_NO;
  TPMS_CAPABILITY_DATA* data = nullptr;
  const TSS2_RC rc =
      Esys_GetCapability(esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, TPM2_CAP_TPM_PROPERTIES,
                         TPM2_PT_PERMANENT, 1, &more, &data);
  if (rc != TSS2_RC_SUCCESS) throw TpmError("GetCapability", rc);
  bool set = false;
  const auto& props = data->data.tpmProperties;
  if (props.count > 0 && props.tpmProperty[0].property == TPM2_PT_PERMANENT) {
    set = (props.tpmProperty[0].value & TPMA_PERMANENT_OWNERAUTHSET) != 0;
  }
  Esys_Free(data);
  return set;
}

// Gives ESAPI the owner password. Returns false when owner use is impossible and not required
// (password set but unknown to this process); throws OwnerAuthError when it is required.
bool prepare_owner(ESYS_CONTEXT* esys, const TpmConfig& config, bool required) {
  AuthValue auth;
  if (!config.owner_auth_file.empty()) {
    std::string problem;
    std::optional<SecretString> secret = read_owner_auth_file(config.owner_auth_file, &problem);
    if (!secret) {
      // A non-root caller (screen locker through the helper) cannot read a root-only file; only
      // the counter display is lost. For root the file must be right.
      if (required || ::geteuid() == 0) throw OwnerAuthError(problem);
      return false;
    }
    auth.value.size = static_cast<UINT16>(secret->size());
    std::memcpy(auth.value.buffer, secret->view().data(), secret->size());
  } else if (owner_auth_is_set(esys)) {
    if (required) {
      throw OwnerAuthError(
          "owner authorisation: the TPM owner has a password; set tpm { owner_auth_file = … }");
    }
    return false;
  }
  const TSS2_RC rc = Esys_TR_SetAuth(esys, ESYS_TR_RH_OWNER, &auth.value);
  if (rc != TSS2_RC_SUCCESS) throw TpmError("TR_SetAuth(owner)", rc);
  return true;
}

PinCounter decode_counter(const TPM2B_MAX_NV_BUFFER& data) {
  if (data.size != kPinDataSize) throw TpmError("NV_Read", "PIN index returned a wrong data size");
  auto be32 = [&](std::size_t at) {
    return (std::uint32_t{data.buffer[at]} << 24) | (std::uint32_t{data.buffer[at + 1]} << 16) |
           (std::uint32_t{data.buffer[at + 2]} << 8) | std::uint32_t{data.buffer[at + 3]};
  };
  return PinCounter{be32(0), be32(4)};
}

// Reads {pinCount, pinLimit} as the owner; spends nothing. nullopt when the owner is unusable.
std::optional<PinCounter> owner_read_counter(ESYS_CONTEXT* esys, const TpmConfig& config,
                                             ESYS_TR index) {
  if (!prepare_owner(esys, config, false)) return std::nullopt;
  TPM2B_MAX_NV_BUFFER* data = nullptr;
  const TSS2_RC rc = Esys_NV_Read(esys, ESYS_TR_RH_OWNER, index, ESYS_TR_PASSWORD, ESYS_TR_NONE,
                                  ESYS_TR_NONE, kPinDataSize, 0, &data);
  if (classify_rc(rc) == RcClass::bad_auth) return std::nullopt;  // owner password is wrong
  if (rc != TSS2_RC_SUCCESS) throw TpmError("NV_Read(owner)", rc);
  const PinCounter counter = decode_counter(*data);
  Esys_Free(data);
  return counter;
}

// Starts a session with the given type (HMAC or policy), SHA-256, no encryption, continueSession
// set so that the TPM keeps it across a failure and the guard can flush it in every case.
ESYS_TR start_session(ESYS_CONTEXT* esys, TPM2_SE type) {
  TPMT_SYM_DEF symmetric{};
  symmetric.algorithm = TPM2_ALG_NULL;
  ESYS_TR session = ESYS_TR_NONE;
  TSS2_RC rc =
      Esys_StartAuthSession(esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
                            ESYS_TR_NONE, nullptr, type, &symmetric, TPM2_ALG_SHA256, &session);
  if (rc != TSS2_RC_SUCCESS) throw TpmError("StartAuthSession", rc);
  rc = Esys_TRSess_SetAttributes(esys, session, TPMA_SESSION_CONTINUESESSION, 0xff);
  if (rc != TSS2_RC_SUCCESS) {
    (void)Esys_FlushContext(esys, session);
    throw TpmError("TRSess_SetAttributes", rc);
  }
  return session;
}

// Writes {0, limit} once, through PolicyCommandCode(NV_Write) + PolicyNvWritten(NO).
void write_initial_counter(ESYS_CONTEXT* esys, ESYS_TR index, std::uint32_t limit) {
  FlushGuard session(esys, start_session(esys, TPM2_SE_POLICY));
  TSS2_RC rc = Esys_PolicyCommandCode(esys, session.get(), ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
                                      TPM2_CC_NV_Write);
  if (rc != TSS2_RC_SUCCESS) throw TpmError("PolicyCommandCode", rc);
  rc = Esys_PolicyNvWritten(esys, session.get(), ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, TPM2_NO);
  if (rc != TSS2_RC_SUCCESS) throw TpmError("PolicyNvWritten", rc);
  TPM2B_MAX_NV_BUFFER data{};
  data.size = kPinDataSize;
  data.buffer[4] = static_cast<BYTE>(limit >> 24);
  data.buffer[5] = static_cast<BYTE>(limit >> 16);
  data.buffer[6] = static_cast<BYTE>(limit >> 8);
  data.buffer[7] = static_cast<BYTE>(limit);
  rc = Esys_NV_Write(esys, index, index, session.get(), ESYS_TR_NONE, ESYS_TR_NONE, &data, 0);
  if (rc != TSS2_RC_SUCCESS) throw TpmError("NV_Write", rc);
}

}  // namespace

std::optional<std::string> tamper_reason(const NvPublicView& view, std::uint32_t expected_index) {
  if (view.index != expected_index) return "index handle differs";
  if (view.name_alg != TPM2_ALG_SHA256) return "name algorithm is not SHA-256";
  if ((view.attributes & ~TPMA_NV_WRITTEN) != kPinIndexAttributes) {
    char text[64];
    std::snprintf(text, sizeof text, "attributes 0x%08x instead of 0x%08x",
                  view.attributes & ~TPMA_NV_WRITTEN, kPinIndexAttributes);
    return std::string(text);
  }
  if ((view.attributes & TPMA_NV_WRITTEN) == 0) return "index never written";
  if (view.policy.size() != kPinIndexPolicy.size() ||
      !std::equal(kPinIndexPolicy.begin(), kPinIndexPolicy.end(),
                  reinterpret_cast<const std::uint8_t*>(view.policy.data()))) {
    return "policy digest differs";
  }
  if (view.data_size != kPinDataSize) return "data size is not 8";
  return std::nullopt;
}

std::optional<std::uint32_t> PinStore::index_for(uid_t uid) const noexcept {
  return nv_index_for_uid(config_.nv_base, uid);
}

SetupOutcome PinStore::setup(uid_t uid, const SecretString& pin, std::uint32_t limit) {
  const auto index = index_for(uid);
  if (!index) return {SetupResult::invalid_request, uid_out_of_range(uid)};
  if (limit == 0) return {SetupResult::invalid_request, "max_attempts must be at least 1"};
  if (auto problem = pin_auth_problem(pin)) return {SetupResult::invalid_request, *problem};
  std::string reason;
  std::optional<TpmConnection> connection = TpmConnection::open(config_.tcti, &reason);
  if (!connection) return {SetupResult::tpm_error, reason};
  return answered(
      [&]() -> SetupOutcome {
        AuthValue auth;
        fill_pin_auth(pin, auth);
        ESYS_CONTEXT* esys = connection->esys();
        {
          TrCloseGuard existing(esys, load_index(esys, *index));
          if (existing.get() != ESYS_TR_NONE) return {SetupResult::already_enrolled, ""};
        }
        prepare_owner(esys, config_, true);

        TPM2B_NV_PUBLIC pub{};
        pub.nvPublic.nvIndex = *index;
        pub.nvPublic.nameAlg = TPM2_ALG_SHA256;
        pub.nvPublic.attributes = kPinIndexAttributes;
        pub.nvPublic.authPolicy.size = kPinIndexPolicy.size();
        std::copy(kPinIndexPolicy.begin(), kPinIndexPolicy.end(), pub.nvPublic.authPolicy.buffer);
        pub.nvPublic.dataSize = kPinDataSize;

        ESYS_TR defined = ESYS_TR_NONE;
        const TSS2_RC rc =
            Esys_NV_DefineSpace(esys, ESYS_TR_RH_OWNER, ESYS_TR_PASSWORD, ESYS_TR_NONE,
                                ESYS_TR_NONE, &auth.value, &pub, &defined);
        if (classify_rc(rc) == RcClass::nv_defined) return {SetupResult::already_enrolled, ""};
        if (rc != TSS2_RC_SUCCESS) throw TpmError("NV_DefineSpace", rc);
        TrCloseGuard index_guard(esys, defined);
        try {
          write_initial_counter(esys, defined, limit);
          TPM2B_AUTH empty{};
          (void)Esys_TR_SetAuth(esys, defined, &empty);  // no PIN copy left in ESAPI's metadata
        } catch (...) {
          // Never leave a defined-but-unwritten index behind: it would read as tampered.
          if (Esys_NV_UndefineSpace(esys, ESYS_TR_RH_OWNER, defined, ESYS_TR_PASSWORD, ESYS_TR_NONE,
                                    ESYS_TR_NONE) == TSS2_RC_SUCCESS) {
            index_guard.release();
          }
          throw;
        }
        return {SetupResult::created, ""};
      },
      [](Cause cause, std::string why) -> SetupOutcome {
        return {cause == Cause::config ? SetupResult::config_error : SetupResult::tpm_error,
                std::move(why)};
      });
}

VerifyOutcome PinStore::verify(uid_t uid, const SecretString& pin) {
  const auto index = index_for(uid);
  if (!index) return {VerifyResult::invalid_request, std::nullopt, uid_out_of_range(uid)};
  if (auto problem = pin_auth_problem(pin)) {
    return {VerifyResult::invalid_request, std::nullopt, *problem};
  }
  std::string reason;
  std::optional<TpmConnection> connection = TpmConnection::open(config_.tcti, &reason);
  if (!connection) return {VerifyResult::tpm_error, std::nullopt, reason};
  return answered(
      [&]() -> VerifyOutcome {
        AuthValue auth;
        fill_pin_auth(pin, auth);
        ESYS_CONTEXT* esys = connection->esys();
        TrCloseGuard handle(esys, load_index(esys, *index));
        VerifyOutcome outcome;
        if (handle.get() == ESYS_TR_NONE) {
          outcome.result = VerifyResult::not_enrolled;
          return outcome;
        }
        if (auto tampered = tamper_reason(read_public(esys, handle.get()), *index)) {
          outcome.result = VerifyResult::tampered;
          outcome.reason = *tampered;
          return outcome;
        }
        // Report a lockout before presenting the PIN at all.
        outcome.counter = owner_read_counter(esys, config_, handle.get());
        if (outcome.counter && outcome.counter->locked()) {
          outcome.result = VerifyResult::locked;
          return outcome;
        }

        TPM2B_MAX_NV_BUFFER* data = nullptr;
        TSS2_RC rc;
        {
          FlushGuard session(esys, start_session(esys, TPM2_SE_HMAC));
          rc = Esys_TR_SetAuth(esys, handle.get(), &auth.value);
          if (rc != TSS2_RC_SUCCESS) throw TpmError("TR_SetAuth", rc);
          rc = Esys_NV_Read(esys, handle.get(), handle.get(), session.get(), ESYS_TR_NONE,
                            ESYS_TR_NONE, kPinDataSize, 0, &data);
          // Leave no copy of the PIN in ESAPI's metadata for the index.
          TPM2B_AUTH empty{};
          (void)Esys_TR_SetAuth(esys, handle.get(), &empty);
        }
        switch (classify_rc(rc)) {
          case RcClass::success:
            outcome.result = VerifyResult::correct;
            outcome.counter = decode_counter(*data);
            Esys_Free(data);
            return outcome;
          case RcClass::bad_auth:
            outcome.result = VerifyResult::wrong;
            outcome.counter = owner_read_counter(esys, config_, handle.get());
            return outcome;
          case RcClass::locked:
            outcome.result = VerifyResult::locked;
            outcome.counter = owner_read_counter(esys, config_, handle.get());
            return outcome;
          case RcClass::no_index:
            outcome.result = VerifyResult::not_enrolled;
            return outcome;
          case RcClass::uninitialized:
            outcome.result = VerifyResult::tampered;
            outcome.reason = "index never written";
            return outcome;
          default:
            throw TpmError("NV_Read", rc);
        }
      },
      [](Cause cause, std::string why) -> VerifyOutcome {
        return {cause == Cause::config ? VerifyResult::config_error : VerifyResult::tpm_error,
                std::nullopt, std::move(why)};
      });
}

PinStatus PinStore::status(uid_t uid) {
  return inspect(uid, true);
}

PinStatus PinStore::enrolment(uid_t uid) {
  return inspect(uid, false);
}

PinStatus PinStore::inspect(uid_t uid, bool read_counter) {
  const auto index = index_for(uid);
  if (!index) return {PinStatus::State::invalid_request, uid_out_of_range(uid), std::nullopt};
  std::string reason;
  std::optional<TpmConnection> connection = TpmConnection::open(config_.tcti, &reason);
  if (!connection) return {PinStatus::State::tpm_error, reason, std::nullopt};
  return answered(
      [&]() -> PinStatus {
        ESYS_CONTEXT* esys = connection->esys();
        TrCloseGuard handle(esys, load_index(esys, *index));
        PinStatus status;
        if (handle.get() == ESYS_TR_NONE) return status;
        if (auto tampered = tamper_reason(read_public(esys, handle.get()), *index)) {
          status.state = PinStatus::State::tampered;
          status.reason = *tampered;
          return status;
        }
        status.state = PinStatus::State::enrolled;
        if (read_counter) status.counter = owner_read_counter(esys, config_, handle.get());
        return status;
      },
      [](Cause cause, std::string why) -> PinStatus {
        return {
            cause == Cause::config ? PinStatus::State::config_error : PinStatus::State::tpm_error,
            std::move(why), std::nullopt};
      });
}

DeleteOutcome PinStore::remove(uid_t uid) {
  const auto index = index_for(uid);
  if (!index) return {DeleteResult::invalid_request, uid_out_of_range(uid)};
  std::string reason;
  std::optional<TpmConnection> connection = TpmConnection::open(config_.tcti, &reason);
  if (!connection) return {DeleteResult::tpm_error, reason};
  return answered(
      [&]() -> DeleteOutcome {
        ESYS_CONTEXT* esys = connection->esys();
        TrCloseGuard handle(esys, load_index(esys, *index));
        if (handle.get() == ESYS_TR_NONE) return {DeleteResult::not_enrolled, ""};
        // A tampered PIN index may be deleted (that is the repair); another kind of index may not.
        const NvPublicView view = read_public(esys, handle.get());
        if (((view.attributes & TPMA_NV_TPM2_NT_MASK) >> TPMA_NV_TPM2_NT_SHIFT) !=
            TPM2_NT_PIN_FAIL) {
          return {DeleteResult::not_a_pin_index, ""};
        }
        prepare_owner(esys, config_, true);
        const TSS2_RC rc = Esys_NV_UndefineSpace(esys, ESYS_TR_RH_OWNER, handle.get(),
                                                 ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE);
        if (rc != TSS2_RC_SUCCESS) throw TpmError("NV_UndefineSpace", rc);
        handle.release();
        return {DeleteResult::deleted, ""};
      },
      [](Cause cause, std::string why) -> DeleteOutcome {
        return {cause == Cause::config ? DeleteResult::config_error : DeleteResult::tpm_error,
                std::move(why)};
      });
}

}  // namespace authpolicy::tpm
