// Where the PIN indices live and how to reach the TPM: the `tpm { … }` settings, validated.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>

#include "engine/factor.h"
#include "engine/secret.h"

namespace authpolicy::tpm {

inline constexpr const char* kDefaultTcti = "device:/dev/tpmrm0";
inline constexpr std::uint32_t kDefaultNvBase = 0x01000000;
// Owner NV indices start here; from 0x01C00000 on the TCG reserves handles (EK certificates…).
inline constexpr std::uint32_t kNvIndexFirst = 0x01000000;
inline constexpr std::uint32_t kNvIndexLast = 0x01BFFFFF;

struct TpmConfig {
  std::string tcti = kDefaultTcti;
  std::uint32_t nv_base = kDefaultNvBase;
  std::string owner_auth_file;  // empty: the owner hierarchy has no password
};

// Reads keys tcti, nv_base (integer or "0x…" string) and owner_auth_file; nullopt with *error
// ("tpm: <key> …") when a value cannot be used.
std::optional<TpmConfig> tpm_config_from_settings(const Settings& tpm_settings, std::string* error);

// The NV index for a uid, or nullopt when base + uid would leave the owner index range
// (refused rather than wrapped onto another user's or the platform's index).
std::optional<std::uint32_t> nv_index_for_uid(std::uint32_t nv_base, uid_t uid) noexcept;

// Reads the owner password from a root-only file: a regular file (no symlink) owned by root with no
// group or other permission bits. One trailing newline is dropped. nullopt with *error ("tpm: …
// owner_auth_file <path> …") when the file cannot be opened or read, is not root's alone, or holds
// more than 64 bytes.
std::optional<SecretString> read_owner_auth_file(const std::string& path, std::string* error);

}  // namespace authpolicy::tpm
