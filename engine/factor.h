// The contract between the evaluator and every factor provider (password, pin, u2f, totp, pam()).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "engine/secret.h"

namespace authpolicy {

// How one factor attempt ended (docs/language.md, "Factors").
enum class Outcome { pass, fail, unavailable, error };

std::string_view to_string(Outcome outcome) noexcept;
std::optional<Outcome> outcome_from_string(std::string_view text) noexcept;

struct FactorResult {
  Outcome outcome = Outcome::error;
  // Short reason for the audit log and the decision record ("locked", "timeout", "no device",
  // "wrong code"). Never contains a secret.
  std::string detail;
};

// A value written in a `factor NAME { key = value }` or settings block.
using SettingValue = std::variant<bool, std::int64_t, std::string, std::chrono::seconds>;

// The settings of one factor or block, as written in the policy (already type-checked by the
// checker against the known keys).
class Settings {
 public:
  void set(std::string key, SettingValue value) { values_[std::move(key)] = std::move(value); }
  bool has(std::string_view key) const { return values_.find(std::string(key)) != values_.end(); }
  std::string string_or(std::string_view key, std::string fallback) const;
  std::int64_t integer_or(std::string_view key, std::int64_t fallback) const;
  bool boolean_or(std::string_view key, bool fallback) const;
  std::chrono::seconds duration_or(std::string_view key, std::chrono::seconds fallback) const;
  const std::map<std::string, SettingValue, std::less<>>& values() const { return values_; }

 private:
  std::map<std::string, SettingValue, std::less<>> values_;
};

// How the application talks to the person. The PAM module adapts the PAM conversation; the CLI
// adapts the terminal. A nullopt answer means the conversation failed or was cancelled.
class Conversation {
 public:
  virtual ~Conversation() = default;
  virtual std::optional<SecretString> ask_secret(std::string_view prompt) = 0;  // echo off
  virtual std::optional<std::string> ask_visible(std::string_view prompt) = 0;   // echo on
  virtual void info(std::string_view text) = 0;   // progress cues: "Touch your security key"
  virtual void error(std::string_view text) = 0;  // failures the user must know: "PIN locked"
};

// What a provider may know about the request it authenticates.
struct FactorRequest {
  std::string user;
  std::string service;
  std::optional<std::string> rhost;  // PAM_RHOST as given, nullopt when unset
  std::string tty;
  bool remote = false;  // rhost set and not a loopback address (host names count as remote)
};

// One factor, as the evaluator sees it. Implementations live in factors/.
class FactorProvider {
 public:
  virtual ~FactorProvider() = default;
  // Decides without asking the person anything whether this factor can apply now. Returns a final
  // result (unavailable or error) when it cannot, nullopt when authenticate() should run.
  virtual std::optional<FactorResult> probe(const FactorRequest& request) = 0;
  // Asks the person through the conversation and verifies the answer.
  virtual FactorResult authenticate(const FactorRequest& request, Conversation& conversation) = 0;
};

}  // namespace authpolicy
