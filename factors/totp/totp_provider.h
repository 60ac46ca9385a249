// The `totp` factor as the evaluator sees it.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/factor.h"
#include "factors/totp/totp_store.h"

namespace authpolicy {

class TotpFactorProvider : public FactorProvider {
 public:
  // Unix seconds now; tests inject a fixed clock.
  using Clock = std::function<std::int64_t()>;

  TotpFactorProvider(const Settings& settings, Clock clock);

  // Not enrolled: unavailable. Unsafe or unreadable file, bad settings: error with the cause.
  std::optional<FactorResult> probe(const FactorRequest& request) override;
  // Asks for the code with echo off and verifies it (details: "wrong code", "replayed code",
  // "rate limited", "malformed secret file: …", "scratch code used").
  FactorResult authenticate(const FactorRequest& request, Conversation& conversation) override;

 private:
  std::optional<totp::TotpConfig> config_;
  std::string config_error_;
  Clock clock_;
};

std::int64_t system_unix_time();

std::unique_ptr<FactorProvider> make_totp_provider(const Settings& factor_settings);
std::unique_ptr<FactorProvider> make_totp_provider(const Settings& factor_settings,
                                                   TotpFactorProvider::Clock clock);

}  // namespace authpolicy
