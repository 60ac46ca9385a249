// Which provider serves each factor inside pam_policy.so: the one its kit's delivery names.
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

// The provider of one factor, as its kit says it is delivered (engine/factor_kit.h), never
// nullptr: a delegated kind runs its PAM module (factors/pam_delegate); a plugin kind comes from
// pam_policy-factors/factor_<plugin>.so next to pam_policy.so, loaded on first use so that a
// password-only login never maps libfido2, tpm2-tss or OpenSSL. A plugin that is missing or
// unsafe gives a provider whose every answer is error "<kind> support not installed…" (fail
// closed).
std::unique_ptr<FactorProvider> make_factor_provider(const FactorContext&, const FactorSpec&);

// enrolled(FACTOR) for a kind whose plugin tells (EnrolmentStore::plugin): loads its plugin as
// make_factor_provider would (once per process, same trust checks) and asks its enrolment entry
// with the factor's settings and the policy's `tpm { … }` block. A missing, unsafe or older plugin
// gives unknown with the reason (fail closed: the strict resolution then asks the factor).
Enrolment plugin_enrolment(const Policy* policy, const FactorSpec& spec, const std::string& user);

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
