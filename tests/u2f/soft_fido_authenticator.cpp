// The software stand-in key: CTAPHID framing on 64-byte reports, then CTAP2 commands
// (getInfo, makeCredential, getAssertion, clientPIN protocol 1) with ES256 keys from OpenSSL.
#include "tests/u2f/soft_fido_authenticator.h"

#include <cbor.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/param_build.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <condition_variable>
#include <cstring>
#include <deque>
#include <functional>
#include <thread>

namespace authpolicy::testing {
namespace {

// CTAPHID commands and constants (FIDO CTAP 2.0 §8.1).
constexpr std::uint8_t kCmdPing = 0x01;
constexpr std::uint8_t kCmdMsg = 0x03;
constexpr std::uint8_t kCmdInit = 0x06;
constexpr std::uint8_t kCmdWink = 0x08;
constexpr std::uint8_t kCmdCbor = 0x10;
constexpr std::uint8_t kCmdCancel = 0x11;
constexpr std::uint8_t kCmdKeepalive = 0x3b;
constexpr std::uint8_t kCmdError = 0x3f;
constexpr std::uint8_t kFrameInit = 0x80;
constexpr std::size_t kReportLen = 64;
constexpr std::uint8_t kCapWink = 0x01, kCapCbor = 0x04, kCapNoMsg = 0x08;
constexpr std::uint8_t kHidErrInvalidCmd = 0x01, kHidErrInvalidSeq = 0x04, kHidErrBusy = 0x06;
constexpr std::uint8_t kKeepaliveUpNeeded = 0x02;

// CTAP2 status codes.
constexpr std::uint8_t kOk = 0x00;
constexpr std::uint8_t kErrInvalidCommand = 0x01;
constexpr std::uint8_t kErrInvalidCbor = 0x12;
constexpr std::uint8_t kErrMissingParameter = 0x14;
constexpr std::uint8_t kErrCredentialExcluded = 0x19;
constexpr std::uint8_t kErrUnsupportedAlgorithm = 0x26;
constexpr std::uint8_t kErrInvalidOption = 0x2c;
constexpr std::uint8_t kErrKeepaliveCancel = 0x2d;
constexpr std::uint8_t kErrNoCredentials = 0x2e;
constexpr std::uint8_t kErrUserActionTimeout = 0x2f;
constexpr std::uint8_t kErrNotAllowed = 0x30;
constexpr std::uint8_t kErrPinInvalid = 0x31;
constexpr std::uint8_t kErrPinBlocked = 0x32;
constexpr std::uint8_t kErrPinAuthInvalid = 0x33;
constexpr std::uint8_t kErrPinAuthBlocked = 0x34;
constexpr std::uint8_t kErrPinNotSet = 0x35;
constexpr std::uint8_t kErrPinRequired = 0x36;

// The key gives up on its own after this long without a touch, like real keys do (~30 s).
constexpr std::chrono::seconds kKeyTouchTimeout(30);
constexpr std::chrono::milliseconds kKeepaliveInterval(100);

// ---- small RAII and crypto helpers -------------------------------------------------------------

struct CborRef {
  cbor_item_t* item = nullptr;
  explicit CborRef(cbor_item_t* i = nullptr) : item(i) {}
  CborRef(const CborRef&) = delete;
  CborRef& operator=(const CborRef&) = delete;
  ~CborRef() {
    if (item != nullptr) cbor_decref(&item);
  }
};

struct PkeyRef {
  EVP_PKEY* key = nullptr;
  explicit PkeyRef(EVP_PKEY* k = nullptr) : key(k) {}
  PkeyRef(PkeyRef&& other) noexcept : key(other.key) { other.key = nullptr; }
  PkeyRef& operator=(PkeyRef&& other) noexcept {
    std::swap(key, other.key);
    return *this;
  }
  ~PkeyRef() { EVP_PKEY_free(key); }
};

Bytes random_bytes(std::size_t n) {
  Bytes out(n);
  if (RAND_bytes(out.data(), int(n)) != 1) std::abort();
  return out;
}

Bytes sha256(const Bytes& data) {
  Bytes out(SHA256_DIGEST_LENGTH);
  SHA256(data.data(), data.size(), out.data());
  return out;
}

Bytes sha256(std::string_view text) {
  return sha256(Bytes(text.begin(), text.end()));
}

PkeyRef new_p256_key() {
  return PkeyRef(EVP_EC_gen("P-256"));
}

// The uncompressed point 0x04||x||y of an EC key.
Bytes public_point(const PkeyRef& key) {
  Bytes point(65);
  std::size_t len = 0;
  if (EVP_PKEY_get_octet_string_param(key.key, OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size(),
                                      &len) != 1 ||
      len != 65)
    std::abort();
  return point;
}

PkeyRef p256_from_xy(const Bytes& x, const Bytes& y) {
  Bytes point{0x04};
  point.insert(point.end(), x.begin(), x.end());
  point.insert(point.end(), y.begin(), y.end());
  OSSL_PARAM_BLD* build = OSSL_PARAM_BLD_new();
  OSSL_PARAM_BLD_push_utf8_string(build, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0);
  OSSL_PARAM_BLD_push_octet_string(build, OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size());
  OSSL_PARAM* params = OSSL_PARAM_BLD_to_param(build);
  EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr);
  EVP_PKEY* key = nullptr;
  if (ctx == nullptr || EVP_PKEY_fromdata_init(ctx) != 1 ||
      EVP_PKEY_fromdata(ctx, &key, EVP_PKEY_PUBLIC_KEY, params) != 1)
    key = nullptr;
  EVP_PKEY_CTX_free(ctx);
  OSSL_PARAM_free(params);
  OSSL_PARAM_BLD_free(build);
  return PkeyRef(key);
}

// ECDSA-SHA256, DER-encoded, as CTAP2 signatures are.
Bytes sign_es256(const PkeyRef& key, const Bytes& data) {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  std::size_t len = 0;
  Bytes sig;
  if (EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, key.key) == 1 &&
      EVP_DigestSign(ctx, nullptr, &len, data.data(), data.size()) == 1) {
    sig.resize(len);
    if (EVP_DigestSign(ctx, sig.data(), &len, data.data(), data.size()) == 1)
      sig.resize(len);
    else
      sig.clear();
  }
  EVP_MD_CTX_free(ctx);
  return sig;
}

// The x coordinate of the shared point: the ECDH "Z" of PIN protocol 1.
std::optional<Bytes> ecdh(const PkeyRef& mine, const PkeyRef& theirs) {
  EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new(mine.key, nullptr);
  std::size_t len = 0;
  std::optional<Bytes> z;
  if (ctx != nullptr && EVP_PKEY_derive_init(ctx) == 1 &&
      EVP_PKEY_derive_set_peer(ctx, theirs.key) == 1 && EVP_PKEY_derive(ctx, nullptr, &len) == 1) {
    Bytes out(len);
    if (EVP_PKEY_derive(ctx, out.data(), &len) == 1) {
      out.resize(len);
      z = std::move(out);
    }
  }
  EVP_PKEY_CTX_free(ctx);
  return z;
}

// AES-256-CBC with a zero IV and no padding (PIN protocol 1).
std::optional<Bytes> aes256_cbc(const Bytes& key, const Bytes& data, bool encrypt) {
  if (data.size() % 16 != 0 || key.size() != 32) return std::nullopt;
  const unsigned char iv[16] = {};
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  Bytes out(data.size() + 16);
  int len = 0, tail = 0;
  std::optional<Bytes> result;
  if (EVP_CipherInit_ex(ctx, EVP_aes_256_cbc(), nullptr, key.data(), iv, encrypt ? 1 : 0) == 1 &&
      EVP_CIPHER_CTX_set_padding(ctx, 0) == 1 &&
      EVP_CipherUpdate(ctx, out.data(), &len, data.data(), int(data.size())) == 1 &&
      EVP_CipherFinal_ex(ctx, out.data() + len, &tail) == 1) {
    out.resize(std::size_t(len + tail));
    result = std::move(out);
  }
  EVP_CIPHER_CTX_free(ctx);
  return result;
}

Bytes hmac_sha256(const Bytes& key, const Bytes& data) {
  Bytes out(32);
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), int(key.size()), data.data(), data.size(), out.data(), &len);
  out.resize(len);
  return out;
}

bool equal_constant_time(const Bytes& a, const Bytes& b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (std::size_t i = 0; i < a.size(); ++i) diff |= a[i] ^ b[i];
  return diff == 0;
}

// ---- CBOR reading and writing ------------------------------------------------------------------

// Integer keys of a CTAP parameter map (negative keys as themselves).
std::optional<std::int64_t> cbor_int(const cbor_item_t* item) {
  if (cbor_isa_uint(item)) return std::int64_t(cbor_get_int(item));
  if (cbor_isa_negint(item)) return -1 - std::int64_t(cbor_get_int(item));
  return std::nullopt;
}

std::optional<Bytes> cbor_bytes(const cbor_item_t* item) {
  if (!cbor_isa_bytestring(item) || !cbor_bytestring_is_definite(item)) return std::nullopt;
  const auto* p = cbor_bytestring_handle(item);
  return Bytes(p, p + cbor_bytestring_length(item));
}

std::optional<std::string> cbor_text(const cbor_item_t* item) {
  if (!cbor_isa_string(item) || !cbor_string_is_definite(item)) return std::nullopt;
  return std::string(reinterpret_cast<const char*>(cbor_string_handle(item)),
                     cbor_string_length(item));
}

// The value under a text key of a map, or nullptr.
const cbor_item_t* cbor_lookup(const cbor_item_t* map, std::string_view key) {
  if (map == nullptr || !cbor_isa_map(map)) return nullptr;
  const cbor_pair* pairs = cbor_map_handle(map);
  for (std::size_t i = 0; i < cbor_map_size(map); ++i) {
    auto text = cbor_text(pairs[i].key);
    if (text && *text == key) return pairs[i].value;
  }
  return nullptr;
}

// Smallest width, as canonical CTAP2 CBOR wants (libfido2 rejects wider map keys).
cbor_item_t* build_int(std::int64_t value) {
  const std::uint64_t magnitude = value >= 0 ? std::uint64_t(value) : std::uint64_t(-1 - value);
  if (value >= 0) {
    if (magnitude <= 0xff) return cbor_build_uint8(std::uint8_t(magnitude));
    if (magnitude <= 0xffff) return cbor_build_uint16(std::uint16_t(magnitude));
    return cbor_build_uint32(std::uint32_t(magnitude));
  }
  if (magnitude <= 0xff) return cbor_build_negint8(std::uint8_t(magnitude));
  if (magnitude <= 0xffff) return cbor_build_negint16(std::uint16_t(magnitude));
  return cbor_build_negint32(std::uint32_t(magnitude));
}

cbor_item_t* build_bytes(const Bytes& data) {
  return cbor_build_bytestring(data.data(), data.size());
}

void map_put(cbor_item_t* map, cbor_item_t* key, cbor_item_t* value) {
  cbor_map_add(map, cbor_pair{cbor_move(key), cbor_move(value)});
}

Bytes serialize_response(std::uint8_t status, cbor_item_t* body) {
  Bytes out{status};
  if (body == nullptr) return out;
  unsigned char* buffer = nullptr;
  std::size_t size = 0;
  const std::size_t written = cbor_serialize_alloc(body, &buffer, &size);
  out.insert(out.end(), buffer, buffer + written);
  std::free(buffer);
  cbor_decref(&body);
  return out;
}

// COSE_Key of a P-256 public key: {1: 2, 3: alg, -1: 1, -2: x, -3: y}.
cbor_item_t* cose_p256(const Bytes& point, std::int64_t alg) {
  cbor_item_t* key = cbor_new_definite_map(5);
  map_put(key, build_int(1), build_int(2));
  map_put(key, build_int(3), build_int(alg));
  map_put(key, build_int(-1), build_int(1));
  map_put(key, build_int(-2), build_bytes(Bytes(point.begin() + 1, point.begin() + 33)));
  map_put(key, build_int(-3), build_bytes(Bytes(point.begin() + 33, point.end())));
  return key;
}

Bytes serialize_item(cbor_item_t* item) {
  unsigned char* buffer = nullptr;
  std::size_t size = 0;
  const std::size_t written = cbor_serialize_alloc(item, &buffer, &size);
  Bytes out(buffer, buffer + written);
  std::free(buffer);
  cbor_decref(&item);
  return out;
}

void append_u32(Bytes& out, std::uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(std::uint8_t(v >> shift));
}

// ---- the global path registry the C io hooks look keys up in -----------------------------------

std::mutex registry_mutex;
std::map<std::string, std::weak_ptr<SoftFidoAuthenticator>>& registry() {
  static auto* keys = new std::map<std::string, std::weak_ptr<SoftFidoAuthenticator>>();
  return *keys;
}
std::atomic<int> next_key_number{1};

}  // namespace

// ---- FakeFinger --------------------------------------------------------------------------------

void FakeFinger::touch_after(std::chrono::milliseconds delay) {
  std::lock_guard lock(mutex_);
  delay_ = delay;
}
void FakeFinger::never_touch() {
  std::lock_guard lock(mutex_);
  delay_.reset();
}
std::optional<std::chrono::milliseconds> FakeFinger::delay() const {
  std::lock_guard lock(mutex_);
  return delay_;
}

// ---- the authenticator's state and CTAP2 commands ----------------------------------------------

struct SoftFidoAuthenticator::Impl {
  struct StoredCredential {
    Bytes id;
    Bytes rp_id_hash;
    Bytes user_id;
    std::string user_name;
    bool resident = false;
    PkeyRef key;
  };

  mutable std::mutex mutex;
  Bytes aaguid = random_bytes(16);
  std::vector<StoredCredential> credentials;
  std::uint32_t sign_count = 0;
  std::optional<Bytes> pin_hash16;  // LEFT(SHA-256(PIN), 16)
  int pin_retries = 8;
  int consecutive_wrong_pins = 0;
  PkeyRef key_agreement = new_p256_key();
  std::optional<Bytes> pin_token;
  SoftFidoCounters counters;

  const StoredCredential* find(const Bytes& id, const Bytes& rp_hash) const {
    for (const auto& c : credentials)
      if (c.id == id && c.rp_id_hash == rp_hash) return &c;
    return nullptr;
  }

  StoredCredential& make(const Bytes& rp_hash, const Bytes& user_id, std::string user_name,
                         bool resident) {
    if (resident)  // a new resident credential replaces the old one for the same account
      std::erase_if(credentials, [&](const StoredCredential& c) {
        return c.resident && c.rp_id_hash == rp_hash && c.user_id == user_id;
      });
    StoredCredential c;
    c.id = random_bytes(64);
    c.rp_id_hash = rp_hash;
    c.user_id = user_id;
    c.user_name = std::move(user_name);
    c.resident = resident;
    c.key = new_p256_key();
    credentials.push_back(std::move(c));
    ++counters.credentials_made;
    return credentials.back();
  }
};

std::shared_ptr<SoftFidoAuthenticator> SoftFidoAuthenticator::create() {
  std::shared_ptr<SoftFidoAuthenticator> key(new SoftFidoAuthenticator());
  key->impl_ = std::make_unique<Impl>();
  key->path_ = "soft-fido:" + std::to_string(next_key_number++);
  std::lock_guard lock(registry_mutex);
  registry()[key->path_] = key;
  return key;
}

SoftFidoAuthenticator::~SoftFidoAuthenticator() {
  std::lock_guard lock(registry_mutex);
  registry().erase(path_);
}

std::shared_ptr<SoftFidoAuthenticator> SoftFidoAuthenticator::find(const std::string& path) {
  std::lock_guard lock(registry_mutex);
  auto it = registry().find(path);
  return it == registry().end() ? nullptr : it->second.lock();
}

void SoftFidoAuthenticator::set_pin(const std::string& pin) {
  std::lock_guard lock(impl_->mutex);
  Bytes hash = sha256(pin);
  hash.resize(16);
  impl_->pin_hash16 = hash;
  impl_->pin_retries = 8;
}

int SoftFidoAuthenticator::pin_retries() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->pin_retries;
}

SoftFidoAuthenticator::MadeCredential SoftFidoAuthenticator::add_credential(
    const std::string& rp_id, bool resident, const std::string& user_name) {
  std::lock_guard lock(impl_->mutex);
  auto& c = impl_->make(sha256(rp_id), random_bytes(32), user_name, resident);
  const Bytes point = public_point(c.key);
  return MadeCredential{c.id, Bytes(point.begin() + 1, point.end())};
}

std::size_t SoftFidoAuthenticator::credential_count() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->credentials.size();
}

SoftFidoCounters SoftFidoAuthenticator::counters() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->counters;
}

namespace {

enum class Presence { touched, cancelled, timed_out };

// Waits, outside the key's lock, for the fake finger while sending keepalives.
Presence wait_for_finger(const FakeFinger& finger, const std::atomic<bool>& cancelled,
                         const std::function<void()>& keepalive) {
  using namespace std::chrono;
  const auto start = steady_clock::now();
  auto next_keepalive = start;
  while (true) {
    if (cancelled) return Presence::cancelled;
    const auto now = steady_clock::now();
    const auto delay = finger.delay();
    if (delay && now - start >= *delay) return Presence::touched;
    if (now - start >= kKeyTouchTimeout) return Presence::timed_out;
    if (now >= next_keepalive) {
      keepalive();
      next_keepalive = now + kKeepaliveInterval;
    }
    std::this_thread::sleep_for(milliseconds(5));
  }
}

std::uint8_t presence_error(Presence p) {
  return p == Presence::cancelled ? kErrKeepaliveCancel : kErrUserActionTimeout;
}

}  // namespace

Bytes SoftFidoAuthenticator::handle_cbor(const Bytes& request, const std::atomic<bool>& cancelled,
                                         const std::function<void()>& keepalive) {
  if (request.empty()) return {kErrInvalidCbor};
  const std::uint8_t command = request[0];
  CborRef params;
  if (request.size() > 1) {
    cbor_load_result result{};
    params.item = cbor_load(request.data() + 1, request.size() - 1, &result);
    if (params.item == nullptr || !cbor_isa_map(params.item)) return {kErrInvalidCbor};
  }
  // Integer-keyed parameter lookup.
  auto param = [&](std::int64_t key) -> const cbor_item_t* {
    if (params.item == nullptr) return nullptr;
    const cbor_pair* pairs = cbor_map_handle(params.item);
    for (std::size_t i = 0; i < cbor_map_size(params.item); ++i)
      if (cbor_int(pairs[i].key) == key) return pairs[i].value;
    return nullptr;
  };
  Impl& s = *impl_;

  switch (command) {
    case 0x04: {  // authenticatorGetInfo
      std::lock_guard lock(s.mutex);
      cbor_item_t* info = cbor_new_definite_map(5);
      cbor_item_t* versions = cbor_new_definite_array(1);
      cbor_array_push(versions, cbor_move(cbor_build_string("FIDO_2_0")));
      map_put(info, build_int(1), versions);
      map_put(info, build_int(3), build_bytes(s.aaguid));
      cbor_item_t* options = cbor_new_definite_map(4);
      map_put(options, cbor_build_string("rk"), cbor_build_bool(true));
      map_put(options, cbor_build_string("up"), cbor_build_bool(true));
      map_put(options, cbor_build_string("plat"), cbor_build_bool(false));
      map_put(options, cbor_build_string("clientPin"), cbor_build_bool(s.pin_hash16.has_value()));
      map_put(info, build_int(4), options);
      map_put(info, build_int(5), build_int(1200));
      cbor_item_t* protocols = cbor_new_definite_array(1);
      cbor_array_push(protocols, cbor_move(build_int(1)));
      map_put(info, build_int(6), protocols);
      return serialize_response(kOk, info);
    }

    case 0x06: {  // authenticatorClientPIN, protocol 1
      const auto protocol = param(1) ? cbor_int(param(1)) : std::nullopt;
      const auto sub = param(2) ? cbor_int(param(2)) : std::nullopt;
      if (!protocol || !sub) return {kErrMissingParameter};
      if (*protocol != 1) return {kErrInvalidOption};
      std::lock_guard lock(s.mutex);
      if (*sub == 0x01) {  // getRetries
        cbor_item_t* body = cbor_new_definite_map(1);
        map_put(body, build_int(3), build_int(s.pin_retries));
        return serialize_response(kOk, body);
      }
      if (*sub == 0x02) {  // getKeyAgreement
        cbor_item_t* body = cbor_new_definite_map(1);
        map_put(body, build_int(1), cose_p256(public_point(s.key_agreement), -25));
        return serialize_response(kOk, body);
      }
      if (*sub != 0x05) return {kErrInvalidCommand};  // only getPINToken beyond this point
      if (!s.pin_hash16) return {kErrPinNotSet};
      if (s.pin_retries <= 0) return {kErrPinBlocked};
      if (s.consecutive_wrong_pins >= 3) return {kErrPinAuthBlocked};
      const cbor_item_t* platform_key = param(3);
      const auto pin_hash_enc = param(6) ? cbor_bytes(param(6)) : std::nullopt;
      if (platform_key == nullptr || !pin_hash_enc) return {kErrMissingParameter};
      const cbor_pair* pairs = cbor_map_handle(platform_key);
      std::optional<Bytes> x, y;
      for (std::size_t i = 0; cbor_isa_map(platform_key) && i < cbor_map_size(platform_key); ++i) {
        if (cbor_int(pairs[i].key) == -2) x = cbor_bytes(pairs[i].value);
        if (cbor_int(pairs[i].key) == -3) y = cbor_bytes(pairs[i].value);
      }
      if (!x || !y || x->size() != 32 || y->size() != 32) return {kErrInvalidCbor};
      PkeyRef theirs = p256_from_xy(*x, *y);
      if (theirs.key == nullptr) return {kErrInvalidCbor};
      auto z = ecdh(s.key_agreement, theirs);
      if (!z) return {kErrInvalidCbor};
      const Bytes shared = sha256(*z);
      auto pin_hash = aes256_cbc(shared, *pin_hash_enc, false);
      --s.pin_retries;
      if (!pin_hash || !equal_constant_time(*pin_hash, *s.pin_hash16)) {
        ++s.counters.wrong_pins;
        ++s.consecutive_wrong_pins;
        s.key_agreement = new_p256_key();  // as the spec asks after a mismatch
        if (s.pin_retries <= 0) return {kErrPinBlocked};
        if (s.consecutive_wrong_pins >= 3) return {kErrPinAuthBlocked};
        return {kErrPinInvalid};
      }
      s.pin_retries = 8;
      s.consecutive_wrong_pins = 0;
      s.pin_token = random_bytes(32);
      auto token_enc = aes256_cbc(shared, *s.pin_token, true);
      cbor_item_t* body = cbor_new_definite_map(1);
      map_put(body, build_int(2), build_bytes(*token_enc));
      return serialize_response(kOk, body);
    }

    case 0x01: {  // authenticatorMakeCredential
      const auto cdh = param(1) ? cbor_bytes(param(1)) : std::nullopt;
      const cbor_item_t* rp = param(2);
      const cbor_item_t* user = param(3);
      const cbor_item_t* algorithms = param(4);
      if (!cdh || rp == nullptr || user == nullptr || algorithms == nullptr)
        return {kErrMissingParameter};
      const auto rp_id = cbor_text(cbor_lookup(rp, "id") ? cbor_lookup(rp, "id") : rp);
      const auto user_id =
          cbor_lookup(user, "id") ? cbor_bytes(cbor_lookup(user, "id")) : std::nullopt;
      if (!rp_id || !user_id) return {kErrMissingParameter};
      const cbor_item_t* name_item = cbor_lookup(user, "name");
      const std::string user_name = name_item ? cbor_text(name_item).value_or("") : "";
      bool es256 = false;
      for (std::size_t i = 0; cbor_isa_array(algorithms) && i < cbor_array_size(algorithms); ++i) {
        const cbor_item_t* alg = cbor_lookup(cbor_array_handle(algorithms)[i], "alg");
        if (alg && cbor_int(alg) == -7) es256 = true;
      }
      if (!es256) return {kErrUnsupportedAlgorithm};
      bool resident = false;
      if (const cbor_item_t* options = param(7)) {
        if (const cbor_item_t* rk = cbor_lookup(options, "rk")) resident = cbor_get_bool(rk);
        if (const cbor_item_t* uv = cbor_lookup(options, "uv"); uv && cbor_get_bool(uv))
          return {kErrInvalidOption};  // no built-in user verification
      }
      const Bytes rp_hash = sha256(*rp_id);
      bool verified = false;
      {
        std::lock_guard lock(s.mutex);
        const auto pin_auth = param(8) ? cbor_bytes(param(8)) : std::nullopt;
        if (s.pin_hash16 && !pin_auth) return {kErrPinRequired};
        if (pin_auth) {
          if (!s.pin_token) return {kErrPinAuthInvalid};
          Bytes expected = hmac_sha256(*s.pin_token, *cdh);
          expected.resize(16);
          if (!equal_constant_time(expected, *pin_auth)) return {kErrPinAuthInvalid};
          verified = true;
        }
        if (const cbor_item_t* exclude = param(5); exclude && cbor_isa_array(exclude)) {
          for (std::size_t i = 0; i < cbor_array_size(exclude); ++i) {
            const cbor_item_t* id = cbor_lookup(cbor_array_handle(exclude)[i], "id");
            auto bytes = id ? cbor_bytes(id) : std::nullopt;
            if (bytes && s.find(*bytes, rp_hash)) return {kErrCredentialExcluded};
          }
        }
      }
      const Presence presence = wait_for_finger(finger_, cancelled, keepalive);
      if (presence != Presence::touched) {
        if (presence == Presence::cancelled) {
          std::lock_guard lock(s.mutex);
          ++s.counters.cancels;
        }
        return {presence_error(presence)};
      }
      std::lock_guard lock(s.mutex);
      auto& made = s.make(rp_hash, *user_id, user_name, resident);
      Bytes auth_data = rp_hash;
      auth_data.push_back(std::uint8_t(0x01 | 0x40 | (verified ? 0x04 : 0)));  // UP, AT, UV
      append_u32(auth_data, ++s.sign_count);
      auth_data.insert(auth_data.end(), s.aaguid.begin(), s.aaguid.end());
      auth_data.push_back(std::uint8_t(made.id.size() >> 8));
      auth_data.push_back(std::uint8_t(made.id.size() & 0xff));
      auth_data.insert(auth_data.end(), made.id.begin(), made.id.end());
      const Bytes cose = serialize_item(cose_p256(public_point(made.key), -7));
      auth_data.insert(auth_data.end(), cose.begin(), cose.end());
      Bytes signed_data = auth_data;
      signed_data.insert(signed_data.end(), cdh->begin(), cdh->end());
      cbor_item_t* statement = cbor_new_definite_map(2);  // packed self attestation
      map_put(statement, cbor_build_string("alg"), build_int(-7));
      map_put(statement, cbor_build_string("sig"), build_bytes(sign_es256(made.key, signed_data)));
      cbor_item_t* body = cbor_new_definite_map(3);
      map_put(body, build_int(1), cbor_build_string("packed"));
      map_put(body, build_int(2), build_bytes(auth_data));
      map_put(body, build_int(3), statement);
      return serialize_response(kOk, body);
    }

    case 0x02: {  // authenticatorGetAssertion
      const auto rp_id = param(1) ? cbor_text(param(1)) : std::nullopt;
      const auto cdh = param(2) ? cbor_bytes(param(2)) : std::nullopt;
      if (!rp_id || !cdh) return {kErrMissingParameter};
      bool up = true;
      if (const cbor_item_t* options = param(5)) {
        if (const cbor_item_t* o = cbor_lookup(options, "up")) up = cbor_get_bool(o);
        if (const cbor_item_t* uv = cbor_lookup(options, "uv"); uv && cbor_get_bool(uv))
          return {kErrInvalidOption};
      }
      const Bytes rp_hash = sha256(*rp_id);
      bool verified = false;
      Bytes credential_id, user_id;
      bool resident = false;
      {
        std::lock_guard lock(s.mutex);
        if (const auto pin_auth = param(6) ? cbor_bytes(param(6)) : std::nullopt) {
          if (!s.pin_token) return {kErrPinAuthInvalid};
          Bytes expected = hmac_sha256(*s.pin_token, *cdh);
          expected.resize(16);
          if (!equal_constant_time(expected, *pin_auth)) return {kErrPinAuthInvalid};
          verified = true;
        }
        const Impl::StoredCredential* chosen = nullptr;
        const cbor_item_t* allow = param(3);
        if (allow && cbor_isa_array(allow) && cbor_array_size(allow) > 0) {
          for (std::size_t i = 0; !chosen && i < cbor_array_size(allow); ++i) {
            const cbor_item_t* id = cbor_lookup(cbor_array_handle(allow)[i], "id");
            auto bytes = id ? cbor_bytes(id) : std::nullopt;
            if (bytes) chosen = s.find(*bytes, rp_hash);
          }
        } else {
          for (const auto& c : s.credentials)
            if (c.resident && c.rp_id_hash == rp_hash) {
              chosen = &c;
              break;
            }
        }
        if (chosen == nullptr) return {kErrNoCredentials};
        credential_id = chosen->id;
        user_id = chosen->user_id;
        resident = chosen->resident;
        if (!up) ++s.counters.silent_assertions;
      }
      if (up) {
        const Presence presence = wait_for_finger(finger_, cancelled, keepalive);
        if (presence != Presence::touched) {
          if (presence == Presence::cancelled) {
            std::lock_guard lock(s.mutex);
            ++s.counters.cancels;
          }
          return {presence_error(presence)};
        }
      }
      std::lock_guard lock(s.mutex);
      const Impl::StoredCredential* chosen = nullptr;
      for (const auto& c : s.credentials)
        if (c.id == credential_id) chosen = &c;
      if (chosen == nullptr) return {kErrNoCredentials};
      if (up) ++s.counters.touched_assertions;
      Bytes auth_data = rp_hash;
      auth_data.push_back(std::uint8_t((up ? 0x01 : 0) | (verified ? 0x04 : 0)));
      append_u32(auth_data, ++s.sign_count);
      Bytes signed_data = auth_data;
      signed_data.insert(signed_data.end(), cdh->begin(), cdh->end());
      cbor_item_t* descriptor = cbor_new_definite_map(2);
      map_put(descriptor, cbor_build_string("id"), build_bytes(credential_id));
      map_put(descriptor, cbor_build_string("type"), cbor_build_string("public-key"));
      cbor_item_t* body = cbor_new_definite_map(resident ? 4 : 3);
      map_put(body, build_int(1), descriptor);
      map_put(body, build_int(2), build_bytes(auth_data));
      map_put(body, build_int(3), build_bytes(sign_es256(chosen->key, signed_data)));
      if (resident) {
        cbor_item_t* user = cbor_new_definite_map(1);
        map_put(user, cbor_build_string("id"), build_bytes(user_id));
        map_put(body, build_int(4), user);
      }
      return serialize_response(kOk, body);
    }

    case 0x08:  // authenticatorGetNextAssertion: one resident credential per RP is all we hold
      return {kErrNotAllowed};
    default:
      return {kErrInvalidCommand};
  }
}

// ---- CTAPHID: one open channel per fido_dev_open, framing and a worker for slow requests -------

namespace {

class Channel {
 public:
  explicit Channel(std::shared_ptr<SoftFidoAuthenticator> key) : key_(std::move(key)) {}
  ~Channel() {
    {
      std::lock_guard lock(mutex_);
      closing_ = true;
    }
    cancelled_ = true;
    if (worker_.joinable()) worker_.join();
  }

  int write(const unsigned char* report, std::size_t len) {
    // libfido2 writes a report ID byte (0) and then one 64-byte frame.
    if (len != kReportLen + 1) return -1;
    const unsigned char* frame = report + 1;
    std::array<std::uint8_t, 4> cid{frame[0], frame[1], frame[2], frame[3]};
    std::unique_lock lock(mutex_);
    if (frame[4] & kFrameInit) {
      const std::uint8_t cmd = frame[4] & 0x7f;
      const std::size_t total = std::size_t(frame[5]) << 8 | frame[6];
      if (cmd == kCmdCancel) {
        if (busy_ && cid == busy_cid_) cancelled_ = true;
        return int(len);
      }
      if (busy_) {
        queue_locked(cid, kCmdError | kFrameInit, Bytes{kHidErrBusy});
        return int(len);
      }
      pending_cid_ = cid;
      pending_cmd_ = cmd;
      pending_total_ = total;
      pending_.assign(frame + 7, frame + 7 + std::min(total, kReportLen - 7));
      next_seq_ = 0;
      assembling_ = true;
    } else {
      if (!assembling_ || cid != pending_cid_ || frame[4] != next_seq_) {
        queue_locked(cid, kCmdError | kFrameInit, Bytes{kHidErrInvalidSeq});
        assembling_ = false;
        return int(len);
      }
      ++next_seq_;
      const std::size_t take = std::min(pending_total_ - pending_.size(), kReportLen - 5);
      pending_.insert(pending_.end(), frame + 5, frame + 5 + take);
    }
    if (pending_.size() < pending_total_) return int(len);
    assembling_ = false;
    dispatch_locked(lock);
    return int(len);
  }

  int read(unsigned char* buffer, std::size_t len, int ms) {
    if (len < kReportLen) return -1;
    std::unique_lock lock(mutex_);
    auto ready = [&] { return !outgoing_.empty() || closing_; };
    if (ms < 0) {
      ready_.wait(lock, ready);
    } else if (!ready_.wait_for(lock, std::chrono::milliseconds(ms), ready)) {
      return -1;
    }
    if (outgoing_.empty()) return -1;
    std::memcpy(buffer, outgoing_.front().data(), kReportLen);
    outgoing_.pop_front();
    return int(kReportLen);
  }

 private:
  void queue_locked(const std::array<std::uint8_t, 4>& cid, std::uint8_t cmd, const Bytes& data) {
    std::array<std::uint8_t, kReportLen> frame{};
    std::memcpy(frame.data(), cid.data(), 4);
    frame[4] = cmd;
    frame[5] = std::uint8_t(data.size() >> 8);
    frame[6] = std::uint8_t(data.size() & 0xff);
    std::size_t sent = std::min(data.size(), kReportLen - 7);
    std::memcpy(frame.data() + 7, data.data(), sent);
    outgoing_.push_back(frame);
    for (std::uint8_t seq = 0; sent < data.size(); ++seq) {
      frame.fill(0);
      std::memcpy(frame.data(), cid.data(), 4);
      frame[4] = seq;
      const std::size_t n = std::min(data.size() - sent, kReportLen - 5);
      std::memcpy(frame.data() + 5, data.data() + sent, n);
      sent += n;
      outgoing_.push_back(frame);
    }
    ready_.notify_all();
  }

  void dispatch_locked(std::unique_lock<std::mutex>& lock) {
    const auto cid = pending_cid_;
    switch (pending_cmd_) {
      case kCmdInit: {
        if (pending_.size() != 8) return;
        Bytes reply = pending_;  // the nonce
        const std::uint32_t channel = next_channel_++;
        for (int shift = 24; shift >= 0; shift -= 8)
          reply.push_back(std::uint8_t(channel >> shift));
        reply.insert(reply.end(), {2, 1, 0, 0, std::uint8_t(kCapWink | kCapCbor | kCapNoMsg)});
        queue_locked(cid, kCmdInit | kFrameInit, reply);
        return;
      }
      case kCmdPing:
        queue_locked(cid, kCmdPing | kFrameInit, pending_);
        return;
      case kCmdWink:
        queue_locked(cid, kCmdWink | kFrameInit, {});
        return;
      case kCmdCbor: {
        // Slow (may wait for the fake finger): answer from a worker so CANCEL can arrive.
        if (worker_.joinable()) {
          lock.unlock();
          worker_.join();
          lock.lock();
        }
        busy_ = true;
        busy_cid_ = cid;
        cancelled_ = false;
        worker_ = std::thread([this, cid, request = pending_] {
          auto keepalive = [this, cid] {
            std::lock_guard l(mutex_);
            queue_locked(cid, kCmdKeepalive | kFrameInit, Bytes{kKeepaliveUpNeeded});
          };
          Bytes response = key_->handle_cbor(request, cancelled_, keepalive);
          std::lock_guard l(mutex_);
          queue_locked(cid, kCmdCbor | kFrameInit, response);
          busy_ = false;
        });
        return;
      }
      case kCmdMsg:
      default:
        queue_locked(cid, kCmdError | kFrameInit, Bytes{kHidErrInvalidCmd});
        return;
    }
  }

  std::shared_ptr<SoftFidoAuthenticator> key_;
  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<std::array<std::uint8_t, kReportLen>> outgoing_;
  bool closing_ = false;
  bool assembling_ = false;
  std::array<std::uint8_t, 4> pending_cid_{};
  std::uint8_t pending_cmd_ = 0;
  std::size_t pending_total_ = 0;
  std::uint8_t next_seq_ = 0;
  Bytes pending_;
  bool busy_ = false;
  std::array<std::uint8_t, 4> busy_cid_{};
  std::atomic<bool> cancelled_{false};
  std::uint32_t next_channel_ = 0x01000001;
  std::thread worker_;
};

// The C hooks libfido2 calls; nothing may throw through them.
void* soft_open(const char* path) {
  try {
    auto key = SoftFidoAuthenticator::find(path);
    if (!key) return nullptr;
    return new Channel(std::move(key));
  } catch (...) {
    return nullptr;
  }
}
void soft_close(void* handle) {
  delete static_cast<Channel*>(handle);
}
int soft_read(void* handle, unsigned char* buffer, std::size_t len, int ms) {
  try {
    return static_cast<Channel*>(handle)->read(buffer, len, ms);
  } catch (...) {
    return -1;
  }
}
int soft_write(void* handle, const unsigned char* buffer, std::size_t len) {
  try {
    return static_cast<Channel*>(handle)->write(buffer, len);
  } catch (...) {
    return -1;
  }
}

const fido_dev_io_t kSoftIo = {soft_open, soft_close, soft_read, soft_write};

}  // namespace

// ---- the device source -------------------------------------------------------------------------

void SoftFidoDeviceSource::plug_in(std::shared_ptr<SoftFidoAuthenticator> key) {
  plug_in_after(std::move(key), std::chrono::milliseconds(0));
}

void SoftFidoDeviceSource::plug_in_after(std::shared_ptr<SoftFidoAuthenticator> key,
                                         std::chrono::milliseconds delay) {
  std::lock_guard lock(mutex_);
  slots_.push_back(Slot{std::move(key), std::chrono::steady_clock::now() + delay});
}

void SoftFidoDeviceSource::unplug_all() {
  std::lock_guard lock(mutex_);
  slots_.clear();
}

std::vector<std::string> SoftFidoDeviceSource::list() {
  std::lock_guard lock(mutex_);
  std::vector<std::string> paths;
  const auto now = std::chrono::steady_clock::now();
  for (const auto& slot : slots_)
    if (slot.present_from <= now) paths.push_back(slot.key->path());
  return paths;
}

u2f::FidoDevice SoftFidoDeviceSource::open(const std::string& path, std::string* error) {
  static std::once_flag initialised;  // FIDO_DEBUG=1 in the environment shows libfido2's log
  std::call_once(initialised, [] { fido_init(0); });
  u2f::FidoDevice device(fido_dev_new());
  if (!device || fido_dev_set_io_functions(device.get(), &kSoftIo) != FIDO_OK) {
    *error = "cannot set up the software key";
    return nullptr;
  }
  const int r = fido_dev_open(device.get(), path.c_str());
  if (r != FIDO_OK) {
    *error = std::string("cannot open ") + path + ": " + fido_strerr(r);
    return nullptr;
  }
  return device;
}

}  // namespace authpolicy::testing
