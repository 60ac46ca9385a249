// The bounds of TOTP settings and secret files, shared by the kit's description, the verifier,
// the secret-file parsers and enrolment.
#pragma once

#include <cstdint>
#include <string_view>

namespace authpolicy::totp {

inline constexpr int kMinDigits = 6;
inline constexpr int kMaxDigits = 8;
inline constexpr std::int64_t kMinStepSeconds = 1;
inline constexpr std::int64_t kMaxStepSeconds = 300;
inline constexpr int kMaxWindow = 10;  // steps either side of now

// True when a `secrets` pattern reads from the user's home folder (a leading ~/ or %h).
inline bool pattern_is_user_file(std::string_view pattern) noexcept {
  return pattern.starts_with("~/") || pattern.find("%h") != std::string_view::npos;
}

}  // namespace authpolicy::totp
