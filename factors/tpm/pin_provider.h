// The `pin` factor: a PIN kept in a TPM2 PinFail index, asked through the conversation.
#pragma once

#include <memory>

#include "engine/factor.h"
#include "factors/tpm/pin_backend.h"
#include "factors/tpm/pin_rules.h"
#include "factors/tpm/tpm_config.h"

namespace authpolicy::tpm {

// Options that only code may set (never a policy file or the environment).
struct PinProviderOptions {
  BackendChoice backend = BackendChoice::automatic;
  HelperOptions helper{built_in_helper_path(), {}, std::chrono::milliseconds(30000)};
};

// probe(): unknown user or no index -> unavailable; tampered index, uid outside the index range or
// TPM failure -> error; enrolled (locked or not) -> nullopt. A locked PIN is reported by
// authenticate(), which can tell the person, without asking for the PIN or spending an attempt.
class PinFactorProvider : public FactorProvider {
 public:
  PinFactorProvider(PinRules rules, TpmConfig config, PinProviderOptions options);
  std::optional<FactorResult> probe(const FactorRequest& request) override;
  FactorResult authenticate(const FactorRequest& request, Conversation& conversation) override;

 private:
  // What both steps look at first: the user's uid, the backend and the index's status now.
  struct Index {
    uid_t uid = 0;
    std::unique_ptr<PinBackend> backend;
    PinStatus status;
  };
  // Fills `index`; or returns the result that ends the request first (an unknown user, a uid
  // outside the index range). The status may be a failure state of the store.
  std::optional<FactorResult> look_up(const FactorRequest& request, Index& index) const;

  PinRules rules_;
  TpmConfig config_;
  PinProviderOptions options_;
};

// The message a person sees when the PIN is locked; the CLI uses the same words.
inline constexpr const char* kLockedMessage =
    "Your PIN is locked after too many wrong attempts. Ask an administrator to reset it.";

}  // namespace authpolicy::tpm

namespace authpolicy {

// Factory for the evaluator. Invalid settings give a provider whose every answer is
// error "config: …" (fail closed, nothing thrown).
std::unique_ptr<FactorProvider> make_pin_provider(const Settings& factor_settings,
                                                  const Settings& tpm_settings);
std::unique_ptr<FactorProvider> make_pin_provider(const Settings& factor_settings,
                                                  const Settings& tpm_settings,
                                                  tpm::PinProviderOptions options);

}  // namespace authpolicy
