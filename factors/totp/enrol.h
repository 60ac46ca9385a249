// Creating a TOTP enrolment: a random secret and scratch codes, written with safe permissions,
// and the otpauth:// URI and terminal QR code that carry the secret to an authenticator app.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "engine/secret.h"
#include "factors/totp/totp_store.h"

namespace authpolicy::totp {

struct EnrolRequest {
  std::string user;
  TotpConfig config;   // secrets pattern, format, algorithm, digits, step
  std::string issuer;  // shown by the app; the host name when empty
  bool force = false;  // replace an existing enrolment
  int scratch_codes = 5;
  bool rate_limit = true;  // write `" RATE_LIMIT 3 30` (google-authenticator format)
};

enum class EnrolStatus { enrolled, already_enrolled, error };

struct EnrolResult {
  EnrolStatus status = EnrolStatus::error;
  std::string detail;
  std::string path;
  SecretString secret_base32;
  std::vector<SecretString> scratch_codes;
  SecretString uri;
};

EnrolResult enrol_user(const EnrolRequest& request);

// otpauth://totp/ISSUER:USER?secret=…&issuer=…&algorithm=…&digits=…&period=…
SecretString otpauth_uri(std::string_view issuer, std::string_view user,
                         std::string_view secret_base32, HashAlgorithm algorithm, int digits,
                         std::int64_t step);

// The QR code of text drawn with UTF-8 half blocks, two module rows per line, light modules
// drawn as blocks (for the usual dark terminal), with a quiet zone. Empty when encoding fails.
SecretString render_qr_half_blocks(std::string_view text);

}  // namespace authpolicy::totp
