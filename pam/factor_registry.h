// Which provider serves each factor kind inside pam_policy.so: one factory function per kind.
#pragma once

#include <security/pam_modules.h>

#include <map>
#include <memory>
#include <string>

#include "engine/evaluate.h"
#include "engine/policy.h"
#include "factors/pam_delegate/pam_delegate.h"

namespace authpolicy::pam_front {

// What a factory may use: the PAM handle (delegation), the handle's delegate session and the
// policy (for settings blocks such as `tpm { … }`).
struct FactorContext {
  pam_handle_t* pamh = nullptr;
  pam_delegate::DelegateSession* session = nullptr;
  const Policy* policy = nullptr;
};

// One function per kind. Each returns a provider, never nullptr: a kind whose plugin is missing
// or unsafe gives a provider whose every answer is error "<kind> support not installed…" (fail
// closed). password, fingerprint and pam() delegate to PAM modules (factors/pam_delegate); pin,
// u2f and totp come from plugins next to pam_policy.so (pam_policy-factors/factor_<kind>.so),
// loaded on first use so that a password-only login never maps libfido2, tpm2-tss or OpenSSL.
std::unique_ptr<FactorProvider> make_password_factor(const FactorContext&, const FactorSpec&);
std::unique_ptr<FactorProvider> make_fingerprint_factor(const FactorContext&, const FactorSpec&);
std::unique_ptr<FactorProvider> make_pam_factor(const FactorContext&, const FactorSpec&);
std::unique_ptr<FactorProvider> make_pin_factor(const FactorContext&, const FactorSpec&);
std::unique_ptr<FactorProvider> make_u2f_factor(const FactorContext&, const FactorSpec&);
std::unique_ptr<FactorProvider> make_totp_factor(const FactorContext&, const FactorSpec&);

// The FactorSource the evaluator asks: one provider per factor name, made on first use.
class ModuleFactorSource final : public FactorSource {
 public:
  explicit ModuleFactorSource(FactorContext context) : context_(context) {}
  FactorProvider* provider(const FactorSpec& spec, std::string* error) override;

 private:
  FactorContext context_;
  std::map<std::string, std::unique_ptr<FactorProvider>, std::less<>> providers_;
};

}  // namespace authpolicy::pam_front
