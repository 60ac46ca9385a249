// Factors whose outcomes are given in advance: `authpolicy eval --factor NAME=OUTCOME` and the
// checker's concrete witnesses. Not a stand-in for a real provider: it is the simulation itself.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "engine/evaluate.h"

namespace authpolicy {

class ScriptedFactors : public FactorSource {
 public:
  explicit ScriptedFactors(Outcome fallback = Outcome::unavailable) : fallback_(fallback) {}
  void set(const std::string& name, Outcome outcome) { outcomes_[name] = outcome; }
  FactorProvider* provider(const FactorSpec& spec, std::string* error) override;

 private:
  class Provider;
  Outcome fallback_;
  std::map<std::string, Outcome, std::less<>> outcomes_;
  std::map<std::string, std::unique_ptr<FactorProvider>, std::less<>> providers_;
};

// A conversation nobody answers: for simulations that must not prompt.
class SilentConversation : public Conversation {
 public:
  std::optional<SecretString> ask_secret(std::string_view) override { return std::nullopt; }
  std::optional<std::string> ask_visible(std::string_view) override { return std::nullopt; }
  void info(std::string_view) override {}
  void error(std::string_view) override {}
};

}  // namespace authpolicy
