// The pam_u2f authfile: parsing, formatting, safe reading and the `%u` path pattern.
#pragma once

#include <sys/types.h>

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "base/file_trust.h"
#include "factors/u2f/codec.h"

namespace authpolicy::u2f {

// COSE algorithm names as pam_u2f writes them.
enum class CoseType { es256, eddsa, rs256 };
std::string_view to_string(CoseType type) noexcept;
std::optional<CoseType> cose_type_from_string(std::string_view text) noexcept;
// The COSE_* number libfido2 uses for the type.
int cose_algorithm(CoseType type) noexcept;

// `user:KH,PK` (old, U2F era) or `user:KH,PK,COSE,ATTRS` (current).
enum class CredentialFormat { old, current };
std::string_view to_string(CredentialFormat format) noexcept;

// What the credential asks of the person, from the `+presence+verification+pin` field.
struct CredentialAttributes {
  bool presence = false;
  bool verification = false;
  bool pin = false;
  std::string to_string() const;  // "+presence+pin", or "" for none
  bool operator==(const CredentialAttributes&) const = default;
};

struct Credential {
  bool resident = false;        // key handle written as `*`: the key finds its own credential
  std::string key_handle_text;  // exactly as written in the file ("*" when resident)
  Bytes key_handle;             // decoded; empty when resident
  Bytes public_key;             // decoded: es256 x||y (64) or 0x04||x||y (65), eddsa 32, rs256 n||e
  CoseType type = CoseType::es256;
  CredentialAttributes attributes;
  CredentialFormat format = CredentialFormat::current;

  // The credential as one `:`-separated field of a current-format line.
  std::string to_field() const;
};

// One non-blank, non-comment line of the file.
struct AuthfileLine {
  int line = 0;      // 1-based line number
  std::string user;  // empty when the line has no recognisable user name
  std::vector<Credential> credentials;
  std::optional<std::string> error;  // set when the line is malformed; never quotes key material
  bool superseded = false;           // a later line for the same user wins
};

struct Authfile {
  std::vector<AuthfileLine> lines;  // in file order
  // The line that counts for the user (the last one naming them), or nullptr.
  const AuthfileLine* entry_for(std::string_view user) const;
  // Every malformed line, in file order.
  std::vector<const AuthfileLine*> malformed() const;
};

// Parses the whole text. Malformed lines are kept (with their error) and never affect other users.
Authfile parse_authfile(std::string_view text);

// Parses one credential field (between `:`); returns the credential or a message.
std::variant<Credential, std::string> parse_credential(std::string_view field);

// Replaces `%u` with the user name and `%%` with `%`. Returns nullopt when the user name could
// escape the intended folder ("/", ".", ".." or empty) or the pattern has another `%` sequence.
std::optional<std::string> expand_authfile_path(std::string_view pattern, std::string_view user);

// Why an authfile could not be used.
struct AuthfileReadError {
  enum class Kind { missing, unreadable, unsafe } kind = Kind::unreadable;
  std::string message;  // names the path and the reason, e.g. "... is writable by others"
};

// Reads a regular file of at most 1 MiB through open_trusted: owned by root or `allowed_owner`,
// not writable by group or others, every folder above it owned by root or `allowed_owner` and
// not writable by group or others (the rules TOTP files follow).
std::variant<std::string, AuthfileReadError> read_authfile(const std::string& path,
                                                           std::optional<uid_t> allowed_owner);

// The uid of a local user, for the ownership check; nullopt when the user is unknown.
std::optional<uid_t> uid_of_user(const std::string& user);

}  // namespace authpolicy::u2f
