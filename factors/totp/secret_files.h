// The two on-disk enrolment formats: google-authenticator files and pam_oath users files.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/secret.h"
#include "factors/totp/otp.h"

namespace authpolicy::totp {

// One ~/.google_authenticator-style file: a base32 secret on the first line, `" OPTION` lines,
// then 8-digit scratch codes. `" ALGORITHM` and `" DIGITS` are authpolicy extensions (written
// only when they differ from SHA1 / 6 digits, so plain files stay google-authenticator's).
struct GoogleAuthFile {
  struct RateLimit {
    int attempts = 0;
    int seconds = 0;
    std::vector<std::int64_t> attempt_times;  // unix times of recent attempts
  };

  SecretString secret_base32;
  bool totp_auth = false;
  std::optional<int> window_size;  // total number of codes accepted: 3 means ±1 step
  std::optional<int> step_size;    // seconds
  bool disallow_reuse = false;
  std::vector<std::uint64_t> used_steps;  // time-step counters already accepted
  std::optional<RateLimit> rate_limit;
  std::optional<HashAlgorithm> algorithm;
  std::optional<int> digits;
  std::vector<std::string> kept_options;  // known options we do not act on (TIME_SKEW), verbatim
  std::vector<SecretString> scratch_codes;
};

// Parses the file's text; on failure returns nullopt and an error naming the line ("line 3: ...")
// but never the line's content (it may be a secret).
std::optional<GoogleAuthFile> parse_google_auth_file(std::string_view text, std::string* error);
SecretString serialize_google_auth_file(const GoogleAuthFile& file);

// The enrolment of one user in a pam_oath users file (`HOTP/T30/6 user - hexsecret [step otp
// time]`). Only time-based (`HOTP/T<step>[/<digits>]`) lines are supported.
struct OathEntry {
  std::size_t line_index = 0;  // index into OathUsersFile::lines
  std::string type;            // as written, e.g. "HOTP/T30/6"
  int step = 30;
  int digits = 6;
  std::string pin;  // "-" for none; anything else is refused
  KeyBytes key;
  SecretString hex_secret;                 // as written, so an update keeps it byte for byte
  std::optional<std::uint64_t> last_step;  // the time step of the last accepted code
};

struct OathUsersFile {
  std::vector<SecretString> lines;  // every line verbatim (other users' secrets included)
};

OathUsersFile split_oath_users_file(std::string_view text);
enum class OathLookup { found, absent, malformed };
struct OathEntryLookup {
  OathLookup status = OathLookup::absent;
  OathEntry entry;     // found: the user's line
  std::string reason;  // malformed: why, naming the line number only
};
// Finds the first line for `user`.
OathEntryLookup find_oath_entry(const OathUsersFile& file, std::string_view user);
// A pam_oath token type: "HOTP/T30/6" is a 30 s step and 6 digits.
struct OathType {
  int step = 30;
  int digits = 6;
};
// Parses "HOTP/T30/6"; nullopt with `*error` for anything else.
std::optional<OathType> parse_oath_type(std::string_view type, std::string* error);
SecretString format_oath_line(std::string_view type, std::string_view user, std::string_view pin,
                              std::string_view hex_secret, std::optional<std::uint64_t> last_step,
                              std::string_view last_code, std::int64_t last_time);
SecretString serialize_oath_users_file(const OathUsersFile& file);

}  // namespace authpolicy::totp
