// The bounds of a PIN and of its settings, shared by the kit's description and the PIN store.
#pragma once

#include <cstddef>
#include <cstdint>

namespace authpolicy::tpm {

// The TPM limits an authValue to the nameAlg digest size (SHA-256).
inline constexpr std::size_t kMaxPinBytes = 32;
// The most wrong attempts a PinFail index may allow before it locks.
inline constexpr std::uint32_t kMaxPinAttempts = 1000;
inline constexpr std::int64_t kDefaultMinPinLength = 4;
inline constexpr std::int64_t kDefaultMaxPinLength = 8;
inline constexpr std::int64_t kDefaultMaxPinAttempts = 5;

}  // namespace authpolicy::tpm
