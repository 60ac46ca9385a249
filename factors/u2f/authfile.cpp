// pam_u2f authfile parsing and safe reading. A damaged line is reported with its number and only
// ever affects the user it names, so one typo cannot lock every user out or in.
#include "factors/u2f/authfile.h"

#include <fcntl.h>
#include <fido.h>
#include <fido/eddsa.h>
#include <fido/es256.h>
#include <fido/rs256.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>

#include "base/user_lookup.h"

namespace authpolicy::u2f {
namespace {

constexpr std::size_t kMaxKeyHandleBytes = 1024;
constexpr std::size_t kEs256RawBytes = 64;
constexpr std::size_t kEddsaBytes = 32;
constexpr std::size_t kRs256Bytes = 256 + 3;

std::vector<std::string_view> split(std::string_view text, char separator) {
  std::vector<std::string_view> parts;
  std::size_t start = 0;
  while (true) {
    const std::size_t end = text.find(separator, start);
    if (end == std::string_view::npos) {
      parts.push_back(text.substr(start));
      return parts;
    }
    parts.push_back(text.substr(start, end - start));
    start = end + 1;
  }
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t' || text.back() == '\r'))
    text.remove_suffix(1);
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  return text;
}

// Returns an error message when the key does not decode to a usable public key of its type;
// libfido2 itself checks the point is on the curve.
std::optional<std::string> check_public_key(CoseType type, const Bytes& key) {
  switch (type) {
    case CoseType::es256: {
      const bool raw = key.size() == kEs256RawBytes;
      const bool uncompressed = key.size() == kEs256RawBytes + 1 && key[0] == 0x04;
      if (!raw && !uncompressed) return "es256 public key must be 64 or 65 bytes";
      std::unique_ptr<es256_pk_t, void (*)(es256_pk_t*)> pk(
          es256_pk_new(), [](es256_pk_t* p) { es256_pk_free(&p); });
      if (!pk || es256_pk_from_ptr(pk.get(), key.data(), key.size()) != FIDO_OK)
        return "es256 public key is not a point on P-256";
      return std::nullopt;
    }
    case CoseType::eddsa: {
      if (key.size() != kEddsaBytes) return "eddsa public key must be 32 bytes";
      std::unique_ptr<eddsa_pk_t, void (*)(eddsa_pk_t*)> pk(
          eddsa_pk_new(), [](eddsa_pk_t* p) { eddsa_pk_free(&p); });
      if (!pk || eddsa_pk_from_ptr(pk.get(), key.data(), key.size()) != FIDO_OK)
        return "eddsa public key is not usable";
      return std::nullopt;
    }
    case CoseType::rs256: {
      if (key.size() != kRs256Bytes)
        return "rs256 public key must be 259 bytes (modulus, exponent)";
      std::unique_ptr<rs256_pk_t, void (*)(rs256_pk_t*)> pk(
          rs256_pk_new(), [](rs256_pk_t* p) { rs256_pk_free(&p); });
      if (!pk || rs256_pk_from_ptr(pk.get(), key.data(), key.size()) != FIDO_OK)
        return "rs256 public key is not usable";
      return std::nullopt;
    }
  }
  return "unknown key type";
}

std::optional<CredentialAttributes> parse_attributes(std::string_view text) {
  CredentialAttributes attributes;
  while (!text.empty()) {
    if (text.starts_with("+presence")) {
      attributes.presence = true;
      text.remove_prefix(9);
    } else if (text.starts_with("+verification")) {
      attributes.verification = true;
      text.remove_prefix(13);
    } else if (text.starts_with("+pin")) {
      attributes.pin = true;
      text.remove_prefix(4);
    } else {
      return std::nullopt;
    }
  }
  return attributes;
}

std::variant<Credential, std::string> parse_old_credential(std::string_view kh,
                                                           std::string_view pk) {
  Credential credential;
  credential.format = CredentialFormat::old;
  credential.type = CoseType::es256;
  credential.attributes.presence = true;  // U2F always required a touch
  credential.key_handle_text = std::string(kh);
  auto handle = base64url_decode(kh);
  if (!handle || handle->empty() || handle->size() > kMaxKeyHandleBytes)
    return std::string("key handle is not web-safe base64");
  credential.key_handle = std::move(*handle);
  auto key = hex_decode(pk);
  if (!key) return std::string("public key is not hex");
  if (key->size() != kEs256RawBytes + 1 || (*key)[0] != 0x04)
    return std::string("old-format public key must be a 65-byte uncompressed point");
  if (auto problem = check_public_key(CoseType::es256, *key)) return *problem;
  credential.public_key = std::move(*key);
  return credential;
}

}  // namespace

std::string_view to_string(CoseType type) noexcept {
  switch (type) {
    case CoseType::es256:
      return "es256";
    case CoseType::eddsa:
      return "eddsa";
    case CoseType::rs256:
      return "rs256";
  }
  return "es256";
}

std::optional<CoseType> cose_type_from_string(std::string_view text) noexcept {
  for (CoseType t : {CoseType::es256, CoseType::eddsa, CoseType::rs256})
    if (to_string(t) == text) return t;
  return std::nullopt;
}

int cose_algorithm(CoseType type) noexcept {
  switch (type) {
    case CoseType::es256:
      return COSE_ES256;
    case CoseType::eddsa:
      return COSE_EDDSA;
    case CoseType::rs256:
      return COSE_RS256;
  }
  return COSE_ES256;
}

std::string_view to_string(CredentialFormat format) noexcept {
  return format == CredentialFormat::old ? "old" : "current";
}

std::string CredentialAttributes::to_string() const {
  std::string text;
  if (presence) text += "+presence";
  if (verification) text += "+verification";
  if (pin) text += "+pin";
  return text;
}

std::string Credential::to_field() const {
  const std::string handle = resident ? "*" : base64_encode(key_handle);
  Bytes key = public_key;
  // The current format stores es256 keys as x||y; drop the uncompressed-point marker.
  if (type == CoseType::es256 && key.size() == kEs256RawBytes + 1) key.erase(key.begin());
  return handle + "," + base64_encode(key) + "," + std::string(u2f::to_string(type)) + "," +
         attributes.to_string();
}

std::variant<Credential, std::string> parse_credential(std::string_view field) {
  const auto fields = split(field, ',');
  if (fields.size() == 2) return parse_old_credential(fields[0], fields[1]);
  if (fields.size() != 3 && fields.size() != 4)
    return std::string("expected KH,PK,COSE,ATTRS or the old KH,PK");

  Credential credential;
  credential.key_handle_text = std::string(fields[0]);
  if (fields[0] == "*") {
    credential.resident = true;
  } else {
    auto handle = base64_decode(fields[0]);
    if (!handle || handle->empty() || handle->size() > kMaxKeyHandleBytes)
      return std::string("key handle is not base64");
    credential.key_handle = std::move(*handle);
  }
  auto type = cose_type_from_string(fields[2]);
  if (!type) return std::string("unknown key type (expected es256, eddsa or rs256)");
  credential.type = *type;
  auto key = base64_decode(fields[1]);
  if (!key) return std::string("public key is not base64");
  if (auto problem = check_public_key(credential.type, *key)) return *problem;
  credential.public_key = std::move(*key);
  if (fields.size() == 4) {
    auto attributes = parse_attributes(fields[3]);
    if (!attributes)
      return std::string("unknown attribute (expected +presence, +verification, +pin)");
    credential.attributes = *attributes;
  }
  return credential;
}

Authfile parse_authfile(std::string_view text) {
  Authfile file;
  std::map<std::string, std::size_t, std::less<>> last_line_of_user;
  int number = 0;
  for (std::string_view raw : split(text, '\n')) {
    ++number;
    const std::string_view line = trim(raw);
    if (line.empty() || line.front() == '#') continue;

    AuthfileLine parsed;
    parsed.line = number;
    if (number == 1 && line.starts_with("-----BEGIN OPENSSH PRIVATE KEY-----")) {
      parsed.error = "an OpenSSH sk- key file (pam_u2f sshformat) is not an authfile";
      file.lines.push_back(std::move(parsed));
      return file;  // the rest is the key body, not lines
    }
    const std::size_t colon = line.find(':');
    const std::string_view user = line.substr(0, colon);
    // A line without a colon still names its user when it is a plain word, so that user's
    // entry fails closed instead of silently falling back to an older line.
    const bool plain_word = user.find_first_of(", \t") == std::string_view::npos;
    if (plain_word) parsed.user = std::string(user);
    if (colon == std::string_view::npos) {
      parsed.error = "missing ':' after the user name";
    } else if (user.empty()) {
      parsed.error = "empty user name";
    } else if (!plain_word) {
      parsed.user.clear();
      parsed.error = "user name contains ',' or a space";
    } else {
      const std::string_view rest = line.substr(colon + 1);
      if (!rest.empty()) {
        int index = 0;
        for (std::string_view field : split(rest, ':')) {
          ++index;
          if (field.empty()) {
            parsed.error = "credential " + std::to_string(index) + " is empty";
            break;
          }
          auto credential = parse_credential(field);
          if (auto* message = std::get_if<std::string>(&credential)) {
            parsed.error = "credential " + std::to_string(index) + ": " + *message;
            break;
          }
          parsed.credentials.push_back(std::move(std::get<Credential>(credential)));
        }
      }
    }
    if (parsed.error) parsed.credentials.clear();
    if (!parsed.user.empty()) {
      auto previous = last_line_of_user.find(parsed.user);
      if (previous != last_line_of_user.end()) file.lines[previous->second].superseded = true;
      last_line_of_user[parsed.user] = file.lines.size();
    }
    file.lines.push_back(std::move(parsed));
  }
  return file;
}

const AuthfileLine* Authfile::entry_for(std::string_view user) const {
  const AuthfileLine* found = nullptr;
  for (const auto& line : lines)
    if (line.user == user) found = &line;
  return found;
}

std::vector<const AuthfileLine*> Authfile::malformed() const {
  std::vector<const AuthfileLine*> result;
  for (const auto& line : lines)
    if (line.error) result.push_back(&line);
  return result;
}

}  // namespace authpolicy::u2f
