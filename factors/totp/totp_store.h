// Looking up a user's TOTP enrolment and verifying a code against it: window, replay refusal,
// rate limit, scratch codes, and the locked atomic update that makes each code count once.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/factor.h"
#include "engine/secret.h"
#include "factors/totp/otp.h"

namespace authpolicy::totp {

enum class SecretFormat { google_authenticator, oath };

// The factor's settings after validation (see docs/factors/totp.md).
struct TotpConfig {
  std::string secrets = "/etc/authpolicy/totp/%u";
  SecretFormat format = SecretFormat::google_authenticator;
  HashAlgorithm algorithm = HashAlgorithm::sha1;
  int digits = 6;
  std::int64_t step = 30;  // seconds
  int window = 1;          // steps accepted either side of now
  bool allow_user_files = false;
  std::string prompt = "Verification code: ";
  std::chrono::milliseconds lock_timeout{5000};
};

inline constexpr std::string_view kDefaultOathUsersFile = "/etc/users.oath";

// Builds the config from settings checked by the kit's description (factors/totp/kit.cpp): its
// problems (unknown key, wrong type, value out of range) are appended to errors and make the
// result nullopt.
std::optional<TotpConfig> config_from_settings(const Settings& settings,
                                               std::vector<std::string>& errors);

// Where `user`'s enrolment lives: %u is the user name, %h and a leading "~/" the home folder
// (only with allow_user_files). Nullopt with `*error` for an unsafe user name or pattern.
std::optional<std::string> secret_path_for(const TotpConfig& config, std::string_view user,
                                           std::string* error);
// Uids that may own the user's file: root, and the user unless the format is a shared oath file.
std::vector<uid_t> allowed_owners(const TotpConfig& config, std::string_view user);

enum class EnrolmentStatus { enrolled, not_enrolled, error };
struct EnrolmentCheck {
  EnrolmentStatus status = EnrolmentStatus::error;
  std::string detail;
  // Seconds until the file's RATE_LIMIT allows another attempt (0: allowed now). Only filled
  // when check_enrolment is given the time.
  std::int64_t rate_limit_wait = 0;
};
// Reads (without locking or changing anything) whether `user` has a usable enrolment, and, given
// the unix time `now`, whether the rate limit would refuse an attempt now.
EnrolmentCheck check_enrolment(const TotpConfig& config, std::string_view user,
                               std::optional<std::int64_t> now = std::nullopt);

enum class Verdict {
  accepted,          // a TOTP code for a time step not used before
  accepted_scratch,  // a scratch code, now removed from the file
  wrong_code,
  replayed,      // a code of a time step at or before one already accepted
  rate_limited,  // RATE_LIMIT attempts exhausted; the code was not even looked at
  not_enrolled,
  malformed,  // the secret file cannot be parsed
  error       // unsafe file, I/O failure, lock timeout
};
struct Verification {
  Verdict verdict = Verdict::error;
  std::string detail;
  // After this attempt (or, when rate_limited, instead of it): seconds until the file's
  // RATE_LIMIT allows the next one; 0 when it allows one now or the file has no limit.
  std::int64_t rate_limit_wait = 0;
};
std::string_view verdict_name(Verdict verdict) noexcept;

// Verifies `code` for `user` at unix time `now`, under the file's exclusive lock, and records
// what must be recorded (used step, attempt time, consumed scratch code) before answering: if
// that write fails, the answer is error, never accepted.
Verification verify_code(const TotpConfig& config, std::string_view user, std::string_view code,
                         std::int64_t now);

// The code for `user` at `now` (read-only; for `authpolicy totp code`); nullopt with `*error`.
std::optional<SecretString> current_code(const TotpConfig& config, std::string_view user,
                                         std::int64_t now, std::string* error);

}  // namespace authpolicy::totp
