// The `u2f` factor: a FIDO2/U2F security key, checked through libfido2 against pam_u2f authfiles.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "engine/factor.h"
#include "factors/u2f/authfile.h"
#include "factors/u2f/device_source.h"

namespace authpolicy {

// The settings of `factor u2f { … }`, with their defaults.
struct U2fOptions {
  std::string authfile = "/etc/authpolicy/u2f_keys";  // `%u` is the user name
  std::string origin;                                 // relying party id; default pam://<hostname>
  std::string appid;                                  // U2F appid extension; default = origin
  std::chrono::milliseconds timeout{15000};           // how long to wait for the touch
  std::chrono::milliseconds detect{3000};             // how long to wait for a key to be plugged in
  std::string cue = "Touch your security key";
  std::string pin_prompt = "Security key PIN: ";
  bool remote = false;                // allow remote (non-loopback PAM_RHOST) requests
  bool require_presence = true;       // ask for a touch even for credentials without +presence
  bool require_pin = false;           // ask for the key's PIN even without +pin
  bool require_verification = false;  // demand user verification even without +verification
};

// Reads the settings keys (authfile, origin, appid, timeout, detect, cue, pin_prompt, remote,
// presence, pin, verification) over the defaults.
U2fOptions u2f_options_from_settings(const Settings& settings);

// "pam://" and this machine's host name (no DNS lookup).
std::string default_u2f_origin();

// Audit details this factor reports (FactorResult::detail).
namespace u2f_detail {
inline constexpr std::string_view kRemote = "remote request";
inline constexpr std::string_view kNoDevice = "no device";
inline constexpr std::string_view kNoCredential = "no credential";
inline constexpr std::string_view kTimeout = "timeout";
inline constexpr std::string_view kCancelled = "cancelled";
inline constexpr std::string_view kWrongKeyPin = "wrong key pin";
inline constexpr std::string_view kKeyPinBlocked = "key pin blocked";
inline constexpr std::string_view kBadSignature = "bad signature";
inline constexpr std::string_view kNotVerified = "user not verified";
}  // namespace u2f_detail

class U2fFactorProvider final : public FactorProvider {
 public:
  // `devices` nullptr means the machine's own HID/NFC devices.
  U2fFactorProvider(U2fOptions options, std::shared_ptr<u2f::DeviceSource> devices);

  std::optional<FactorResult> probe(const FactorRequest& request) override;
  FactorResult authenticate(const FactorRequest& request, Conversation& conversation) override;

  // Stops a wait for a key or a touch from another thread; that attempt ends in fail "cancelled".
  void cancel() noexcept;

  const U2fOptions& options() const { return options_; }

 private:
  struct Found;
  std::optional<FactorResult> find_credential(const FactorRequest& request, Found& found);

  U2fOptions options_;
  std::shared_ptr<u2f::DeviceSource> devices_;
  std::mutex active_mutex_;
  fido_dev_t* active_device_ = nullptr;  // the device waiting for a touch, for cancel()
  std::atomic<bool> cancel_requested_{false};
};

// The factory the engine uses for `factor u2f { … }`. Settings the kit's description refuses
// (factors/u2f/kit.cpp) throw std::invalid_argument with its message.
std::unique_ptr<FactorProvider> make_u2f_provider(
    const Settings& factor_settings, std::shared_ptr<u2f::DeviceSource> devices = nullptr);

}  // namespace authpolicy
