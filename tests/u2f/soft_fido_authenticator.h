// A software stand-in for a FIDO2 security key, for tests: libfido2's real code talks to it over
// CTAPHID reports through fido_dev_set_io_functions. Not for production use.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "factors/u2f/codec.h"
#include "factors/u2f/device_source.h"

namespace authpolicy::testing {

using u2f::Bytes;

// Simulated user presence: when (if ever) a finger touches the key after it starts waiting.
class FakeFinger {
 public:
  void touch_after(std::chrono::milliseconds delay);
  void touch_immediately() { touch_after(std::chrono::milliseconds(0)); }
  void never_touch();
  // How long after the key starts waiting the touch comes; nullopt for never.
  std::optional<std::chrono::milliseconds> delay() const;

 private:
  mutable std::mutex mutex_;
  std::optional<std::chrono::milliseconds> delay_{std::chrono::milliseconds(0)};
};

// What the software key has seen, for tests to assert on.
struct SoftFidoCounters {
  int silent_assertions = 0;   // getAssertion with up=false
  int touched_assertions = 0;  // getAssertion answered after a (fake) touch
  int credentials_made = 0;
  int wrong_pins = 0;
  int cancels = 0;
};

class SoftFidoAuthenticator : public std::enable_shared_from_this<SoftFidoAuthenticator> {
 public:
  // Registers the key under a unique path ("soft-fido:N") that its device source lists.
  static std::shared_ptr<SoftFidoAuthenticator> create();
  ~SoftFidoAuthenticator();
  SoftFidoAuthenticator(const SoftFidoAuthenticator&) = delete;
  SoftFidoAuthenticator& operator=(const SoftFidoAuthenticator&) = delete;

  const std::string& path() const { return path_; }
  FakeFinger& finger() { return finger_; }

  // Sets a clientPIN (protocol 1); the key then reports clientPin=true. Retries start at 8.
  void set_pin(const std::string& pin);
  int pin_retries() const;

  // A credential made "earlier", as if enrolled: returns its id and the es256 public key (x||y).
  struct MadeCredential {
    Bytes id;
    Bytes public_key;
  };
  MadeCredential add_credential(const std::string& rp_id, bool resident,
                                const std::string& user_name = "user");
  std::size_t credential_count() const;
  SoftFidoCounters counters() const;

  // Internal: one CBOR request (command byte + parameters) to its response (status + CBOR).
  // `cancelled` is polled while waiting for the fake finger; `keepalive` is called meanwhile.
  Bytes handle_cbor(const Bytes& request, const std::atomic<bool>& cancelled,
                    const std::function<void()>& keepalive);

  static std::shared_ptr<SoftFidoAuthenticator> find(const std::string& path);

 private:
  SoftFidoAuthenticator() = default;
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::string path_;
  FakeFinger finger_;
};

// A DeviceSource listing plugged-in software keys; opened devices use libfido2 with the key's
// CTAPHID io functions.
class SoftFidoDeviceSource final : public u2f::DeviceSource {
 public:
  void plug_in(std::shared_ptr<SoftFidoAuthenticator> key);
  // The key appears in list() only `delay` from now (a key plugged in while a login waits).
  void plug_in_after(std::shared_ptr<SoftFidoAuthenticator> key, std::chrono::milliseconds delay);
  void unplug_all();
  std::vector<std::string> list() override;
  u2f::FidoDevice open(const std::string& path, std::string* error) override;

 private:
  struct Slot {
    std::shared_ptr<SoftFidoAuthenticator> key;
    std::chrono::steady_clock::time_point present_from;
  };
  std::mutex mutex_;
  std::vector<Slot> slots_;
};

}  // namespace authpolicy::testing
