// The u2f factor's flow: authfile, device detection, a silent probe for the user's credential,
// then the cue, the key's PIN if needed, and an assertion verified against the stored key.
#include "factors/u2f/u2f_provider.h"

#include <fido/eddsa.h>
#include <fido/es256.h>
#include <fido/rs256.h>
#include <sys/random.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <stdexcept>
#include <thread>

#include "factors/u2f/kit.h"

namespace authpolicy {
namespace {

using u2f::Credential;
using u2f::FidoDevice;

// A real key answers an up=false probe at once; do not let a hung one eat the whole timeout.
constexpr std::chrono::milliseconds kProbeTimeout(3000);
constexpr std::chrono::milliseconds kDetectPoll(100);
constexpr std::uint8_t kFlagUserPresent = 0x01;
constexpr std::uint8_t kFlagUserVerified = 0x04;

FactorResult result(Outcome outcome, std::string_view detail) {
  return FactorResult{outcome, std::string(detail)};
}

bool fill_random(unsigned char* buffer, std::size_t size) {
  std::size_t done = 0;
  while (done < size) {
    const ssize_t n = ::getrandom(buffer + done, size - done, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    done += static_cast<std::size_t>(n);
  }
  return true;
}

int clamp_ms(std::chrono::milliseconds ms) {
  if (ms.count() < 1) return 1;
  if (ms.count() > INT_MAX) return INT_MAX;
  return static_cast<int>(ms.count());
}

struct AssertDeleter {
  void operator()(fido_assert_t* a) const noexcept { fido_assert_free(&a); }
};
using Assertion = std::unique_ptr<fido_assert_t, AssertDeleter>;

// Checks statement `index` of the assertion against one stored public key.
int verify_with(const fido_assert_t* assertion, std::size_t index, const Credential& credential) {
  const auto& key = credential.public_key;
  switch (credential.type) {
    case u2f::CoseType::es256: {
      es256_pk_t* pk = es256_pk_new();
      int r = pk ? es256_pk_from_ptr(pk, key.data(), key.size()) : FIDO_ERR_INTERNAL;
      if (r == FIDO_OK) r = fido_assert_verify(assertion, index, COSE_ES256, pk);
      es256_pk_free(&pk);
      return r;
    }
    case u2f::CoseType::eddsa: {
      eddsa_pk_t* pk = eddsa_pk_new();
      int r = pk ? eddsa_pk_from_ptr(pk, key.data(), key.size()) : FIDO_ERR_INTERNAL;
      if (r == FIDO_OK) r = fido_assert_verify(assertion, index, COSE_EDDSA, pk);
      eddsa_pk_free(&pk);
      return r;
    }
    case u2f::CoseType::rs256: {
      rs256_pk_t* pk = rs256_pk_new();
      int r = pk ? rs256_pk_from_ptr(pk, key.data(), key.size()) : FIDO_ERR_INTERNAL;
      if (r == FIDO_OK) r = fido_assert_verify(assertion, index, COSE_RS256, pk);
      rs256_pk_free(&pk);
      return r;
    }
  }
  return FIDO_ERR_INVALID_ARGUMENT;
}

// A fresh assertion request for the relying party with a random 32-byte challenge. As in
// pam_u2f, old-format (U2F-era) credentials were registered under the appid, current ones under
// the origin.
Assertion new_assertion(const U2fOptions& options, const Credential* credential) {
  Assertion assertion(fido_assert_new());
  if (!assertion) return nullptr;
  unsigned char challenge[32];
  if (!fill_random(challenge, sizeof(challenge))) return nullptr;
  const bool old = credential != nullptr && credential->format == u2f::CredentialFormat::old;
  const std::string& rp = old ? options.appid : options.origin;
  if (fido_assert_set_rp(assertion.get(), rp.c_str()) != FIDO_OK ||
      fido_assert_set_clientdata_hash(assertion.get(), challenge, sizeof(challenge)) != FIDO_OK)
    return nullptr;
  return assertion;
}

std::string short_handle(const Credential& credential) {
  if (credential.resident) return "*";
  return credential.key_handle_text.substr(0, 12);
}

}  // namespace

std::string default_u2f_origin() {
  char host[HOST_NAME_MAX + 1] = {};
  if (::gethostname(host, sizeof(host) - 1) != 0 || host[0] == '\0') return "pam://localhost";
  return std::string("pam://") + host;
}

U2fOptions u2f_options_from_settings(const Settings& settings) {
  U2fOptions options;
  options.authfile = settings.string_or("authfile", options.authfile);
  options.origin = settings.string_or("origin", default_u2f_origin());
  options.appid = settings.string_or("appid", options.origin);
  options.timeout = settings.duration_or("timeout", std::chrono::seconds(15));
  options.detect = settings.duration_or("detect", std::chrono::seconds(3));
  options.cue = settings.string_or("cue", options.cue);
  options.pin_prompt = settings.string_or("pin_prompt", options.pin_prompt);
  options.remote = settings.boolean_or("remote", false);
  options.require_presence = settings.boolean_or("presence", true);
  options.require_pin = settings.boolean_or("pin", false);
  options.require_verification = settings.boolean_or("verification", false);
  return options;
}

// The device and credential(s) the silent probe found.
struct U2fFactorProvider::Found {
  FidoDevice device;
  std::vector<Credential> credentials;  // one non-resident credential, or the user's `*` ones
  bool resident = false;
};

U2fFactorProvider::U2fFactorProvider(U2fOptions options, std::shared_ptr<u2f::DeviceSource> devices)
    : options_(std::move(options)), devices_(std::move(devices)) {
  if (options_.origin.empty()) options_.origin = default_u2f_origin();
  if (options_.appid.empty()) options_.appid = options_.origin;
  if (!devices_) devices_ = u2f::make_system_device_source();
}

void U2fFactorProvider::cancel() noexcept {
  cancel_requested_ = true;
  std::lock_guard lock(active_mutex_);
  if (active_device_ != nullptr) fido_dev_cancel(active_device_);
}

std::optional<FactorResult> U2fFactorProvider::find_credential(const FactorRequest& request,
                                                               Found& found) {
  using namespace u2f_detail;
  if (request.remote && !options_.remote) return result(Outcome::unavailable, kRemote);

  // The user's credentials, from a file only root or the user can have written.
  const auto path = u2f::expand_authfile_path(options_.authfile, request.user);
  if (!path) return result(Outcome::error, "authfile path: unusable user name or pattern");
  auto content = u2f::read_authfile(*path, u2f::uid_of_user(request.user));
  if (auto* problem = std::get_if<u2f::AuthfileReadError>(&content)) {
    switch (problem->kind) {
      case u2f::AuthfileReadError::Kind::missing:
        return result(Outcome::unavailable, std::string(kNoCredential) + " (no authfile)");
      case u2f::AuthfileReadError::Kind::unsafe:
        return result(Outcome::error, "authfile unsafe: " + problem->message);
      case u2f::AuthfileReadError::Kind::unreadable:
        return result(Outcome::error, "authfile unreadable: " + problem->message);
    }
  }
  const u2f::Authfile authfile = u2f::parse_authfile(std::get<std::string>(content));
  const u2f::AuthfileLine* entry = authfile.entry_for(request.user);
  // A file that is no authfile at all (an OpenSSH key file) is an error for everyone.
  if (entry == nullptr && !authfile.lines.empty() && authfile.lines.front().error &&
      authfile.lines.front().user.empty() && authfile.lines.size() == 1)
    return result(Outcome::error, "authfile malformed: line " +
                                      std::to_string(authfile.lines.front().line) + ": " +
                                      *authfile.lines.front().error);
  if (entry == nullptr) return result(Outcome::unavailable, kNoCredential);
  if (entry->error)
    return result(Outcome::error,
                  "authfile malformed: line " + std::to_string(entry->line) + ": " + *entry->error);
  if (entry->credentials.empty()) return result(Outcome::unavailable, kNoCredential);

  // Devices: wait up to `detect` for one to be plugged in.
  std::vector<std::string> paths = devices_->list();
  const auto give_up = std::chrono::steady_clock::now() + options_.detect;
  while (paths.empty() && std::chrono::steady_clock::now() < give_up) {
    if (cancel_requested_) return result(Outcome::fail, kCancelled);
    std::this_thread::sleep_for(kDetectPoll);
    paths = devices_->list();
  }
  if (paths.empty()) return result(Outcome::unavailable, kNoDevice);

  // Silently (up=false, nothing shown) look for a device holding one of the credentials.
  std::vector<Credential> residents;
  for (const auto& c : entry->credentials)
    if (c.resident) residents.push_back(c);
  std::string device_error;
  int opened = 0;
  for (const auto& device_path : paths) {
    std::string open_error;
    FidoDevice device = devices_->open(device_path, &open_error);
    if (!device) {
      device_error = open_error;
      continue;
    }
    ++opened;
    fido_dev_set_timeout(device.get(), clamp_ms(std::min(options_.timeout, kProbeTimeout)));
    auto silently_holds = [&](const Credential* credential) {
      Assertion probe = new_assertion(options_, credential);
      if (!probe || fido_assert_set_up(probe.get(), FIDO_OPT_FALSE) != FIDO_OK) return false;
      if (credential != nullptr &&
          fido_assert_allow_cred(probe.get(), credential->key_handle.data(),
                                 credential->key_handle.size()) != FIDO_OK)
        return false;
      const int r = fido_dev_get_assert(device.get(), probe.get(), nullptr);
      if (r != FIDO_OK && r != FIDO_ERR_NO_CREDENTIALS) device_error = fido_strerr(r);
      return r == FIDO_OK;
    };
    for (const auto& credential : entry->credentials) {
      if (credential.resident || !silently_holds(&credential)) continue;
      found.device = std::move(device);
      found.credentials = {credential};
      return std::nullopt;
    }
    if (!residents.empty() && silently_holds(nullptr)) {
      found.device = std::move(device);
      found.credentials = residents;
      found.resident = true;
      return std::nullopt;
    }
  }
  if (opened == 0) return result(Outcome::error, "device error: " + device_error);
  return result(Outcome::unavailable, kNoCredential);
}

std::optional<FactorResult> U2fFactorProvider::probe(const FactorRequest& request) {
  using namespace u2f_detail;
  // Remote requests never reach a device: an attacker must not make a key blink at the desk.
  if (request.remote && !options_.remote) return result(Outcome::unavailable, kRemote);
  try {
    cancel_requested_ = false;
    Found found;
    return find_credential(request, found);
  } catch (const std::exception& e) {
    return result(Outcome::error, std::string("internal error: ") + e.what());
  }
}

FactorResult U2fFactorProvider::authenticate(const FactorRequest& request,
                                             Conversation& conversation) {
  using namespace u2f_detail;
  if (request.remote && !options_.remote) return result(Outcome::unavailable, kRemote);
  try {
    cancel_requested_ = false;
    Found found;
    if (auto early = find_credential(request, found)) return *early;
    fido_dev_t* device = found.device.get();

    // What the credential (or the settings) ask of the person.
    bool presence = options_.require_presence;
    bool pin = options_.require_pin;
    bool verification = options_.require_verification;
    for (const auto& c : found.credentials) {
      presence = presence || c.attributes.presence;
      pin = pin || c.attributes.pin;
      verification = verification || c.attributes.verification;
    }
    bool builtin_uv = false;
    if (verification && !pin) {
      if (fido_dev_has_uv(device)) {
        builtin_uv = true;
      } else if (fido_dev_has_pin(device)) {
        pin = true;  // the PIN is how this key verifies its user
      } else {
        return result(Outcome::fail, "key cannot verify the user");
      }
    }
    if (pin && !fido_dev_has_pin(device)) return result(Outcome::fail, "key has no pin set");

    std::optional<SecretString> key_pin;
    if (pin) {
      key_pin = conversation.ask_secret(options_.pin_prompt);
      if (!key_pin) return result(Outcome::error, "conversation failed");
    }

    Assertion assertion =
        new_assertion(options_, found.resident ? nullptr : &found.credentials.front());
    if (!assertion) return result(Outcome::error, "cannot prepare the assertion");
    if (!found.resident) {
      const auto& handle = found.credentials.front().key_handle;
      if (fido_assert_allow_cred(assertion.get(), handle.data(), handle.size()) != FIDO_OK)
        return result(Outcome::error, "cannot prepare the assertion");
    }
    fido_assert_set_up(assertion.get(), presence ? FIDO_OPT_TRUE : FIDO_OPT_FALSE);
    if (builtin_uv) fido_assert_set_uv(assertion.get(), FIDO_OPT_TRUE);
    fido_dev_set_timeout(device, clamp_ms(options_.timeout));

    // Only now, with a key that holds the credential, ask for the touch.
    if (presence) conversation.info(options_.cue);
    const auto started = std::chrono::steady_clock::now();
    {
      std::lock_guard lock(active_mutex_);
      active_device_ = device;
    }
    int r = FIDO_ERR_KEEPALIVE_CANCEL;
    if (!cancel_requested_)
      r = fido_dev_get_assert(device, assertion.get(), key_pin ? key_pin->c_str() : nullptr);
    {
      std::lock_guard lock(active_mutex_);
      active_device_ = nullptr;
    }
    key_pin.reset();  // wiped by SecretString
    const bool waited_out = std::chrono::steady_clock::now() - started >= options_.timeout;

    switch (r) {
      case FIDO_OK:
        break;
      case FIDO_ERR_PIN_INVALID:
        conversation.error("Wrong security key PIN");
        return result(Outcome::fail, kWrongKeyPin);
      case FIDO_ERR_PIN_BLOCKED:
      case FIDO_ERR_PIN_AUTH_BLOCKED:
        conversation.error("The security key PIN is blocked");
        return result(Outcome::fail, kKeyPinBlocked);
      case FIDO_ERR_KEEPALIVE_CANCEL:
        return result(Outcome::fail, kCancelled);
      case FIDO_ERR_NO_CREDENTIALS:
        return result(Outcome::unavailable, kNoCredential);
      case FIDO_ERR_USER_ACTION_TIMEOUT:
      case FIDO_ERR_ACTION_TIMEOUT:
        return result(Outcome::fail, kTimeout);
      default:
        if (cancel_requested_) return result(Outcome::fail, kCancelled);
        if (r == FIDO_ERR_RX && waited_out) {
          fido_dev_cancel(device);  // stop the key blinking for a touch nobody will give
          return result(Outcome::fail, kTimeout);
        }
        return result(Outcome::error, std::string("device error: ") + fido_strerr(r));
    }

    // The signature must verify against the key in the authfile, not just come back.
    for (std::size_t i = 0; i < fido_assert_count(assertion.get()); ++i) {
      for (const auto& credential : found.credentials) {
        if (verify_with(assertion.get(), i, credential) != FIDO_OK) continue;
        const std::uint8_t flags = fido_assert_flags(assertion.get(), i);
        if (presence && !(flags & kFlagUserPresent)) return result(Outcome::fail, kBadSignature);
        if ((pin || verification) && !(flags & kFlagUserVerified))
          return result(Outcome::fail, kNotVerified);
        return FactorResult{Outcome::pass, "credential " + short_handle(credential)};
      }
    }
    return result(Outcome::fail, kBadSignature);
  } catch (const std::exception& e) {
    return result(Outcome::error, std::string("internal error: ") + e.what());
  }
}

std::unique_ptr<FactorProvider> make_u2f_provider(const Settings& factor_settings,
                                                  std::shared_ptr<u2f::DeviceSource> devices) {
  // The same rules `authpolicy check` applies, from the kit's description.
  if (const auto problems = validate_settings(u2f_kit, factor_settings); !problems.empty()) {
    throw std::invalid_argument(problems.front().message);
  }
  return std::make_unique<U2fFactorProvider>(u2f_options_from_settings(factor_settings),
                                             std::move(devices));
}

}  // namespace authpolicy
