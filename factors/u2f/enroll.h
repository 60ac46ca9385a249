// Enrolment: making a credential on a key, and editing pam_u2f authfiles safely.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <variant>

#include "engine/factor.h"
#include "factors/u2f/authfile.h"
#include "factors/u2f/device_source.h"

namespace authpolicy::u2f {

struct EnrollOptions {
  std::string user;
  std::string origin;     // relying party id, the same value the policy's `origin` holds
  bool resident = false;  // a discoverable credential; the authfile then says `*`
  CredentialAttributes attributes{.presence = true};
  std::chrono::milliseconds timeout{30000};
  std::string cue = "Touch your security key to enroll it";
  std::string pin_prompt = "Security key PIN: ";
};

// Makes an es256 credential on the device and checks its attestation signature. Asks the key's
// PIN through the conversation when the key has one. `exclude` lists credentials the user already
// has so the same key is not enrolled twice. Returns the credential or why it failed.
std::variant<Credential, std::string> make_credential(fido_dev_t* device,
                                                      const EnrollOptions& options,
                                                      const std::vector<Credential>& exclude,
                                                      Conversation& conversation);

// Adds the credential to the user's line (the line that counts), or appends a new line; the file
// is written to a temporary file, synced and renamed. A new file is created with mode 0644 (it
// holds public keys only); an existing one keeps its owner and mode. Returns an error message.
std::optional<std::string> add_to_authfile(const std::string& path, const std::string& user,
                                           const Credential& credential);

// Removes one credential (by its key handle as written) or, with `key_handle` nullopt, every line
// of the user. Returns the number removed or an error message.
std::variant<int, std::string> remove_from_authfile(const std::string& path,
                                                    const std::string& user,
                                                    const std::optional<std::string>& key_handle);

}  // namespace authpolicy::u2f
