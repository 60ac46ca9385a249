// Scripted factor outcomes for simulations.
#include "engine/scripted.h"

namespace authpolicy {

class ScriptedFactors::Provider : public FactorProvider {
 public:
  explicit Provider(Outcome outcome) : outcome_(outcome) {}
  std::optional<FactorResult> probe(const FactorRequest&) override {
    if (outcome_ == Outcome::unavailable || outcome_ == Outcome::error) {
      return FactorResult{outcome_, {}};
    }
    return std::nullopt;
  }
  FactorResult authenticate(const FactorRequest&, Conversation&) override {
    return {outcome_, {}};
  }

 private:
  Outcome outcome_;
};

FactorProvider* ScriptedFactors::provider(const FactorSpec& spec, std::string*) {
  auto& slot = providers_[spec.name];
  if (!slot) {
    const auto it = outcomes_.find(spec.name);
    slot = std::make_unique<Provider>(it == outcomes_.end() ? fallback_ : it->second);
  }
  return slot.get();
}

}  // namespace authpolicy
