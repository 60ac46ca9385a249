// How the running sshd configuration lets a login past the policy: read with `sshd -T`, judged
// per authentication method list, together with what the sshd policy accepts on its own.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "engine/policy.h"

namespace authpolicy::cli {

// sshd's effective global settings (lower-case keywords and values), as `sshd -T` prints them.
struct SshdSettings {
  std::map<std::string, std::string> values;
  std::string source;  // "sshd -T -f FILE", or the file when read by hand
  std::string note;    // why `sshd -T` could not be used (then the files were read), or empty
  bool found = false;  // false: no configuration to look at (sshd not installed)
};

// Runs `SSHD -T -f CONFIG` (no shell, stderr discarded). When that fails (sshd missing, no
// /run/sshd, no host keys), reads CONFIG and its Includes by hand and says so in `note`. Match
// blocks are not applied either way: the global settings are judged.
SshdSettings read_sshd_settings(const std::string& config,
                                const std::string& sshd = "/usr/sbin/sshd");

// The same settings from `sshd -T`'s output (one "keyword value" per line).
SshdSettings parse_sshd_dump(const std::string& text);

// The factors that alone let auth pass in some situation, other than the password, when sshd
// completed no method before PAM (ssh.auth empty: keyboard-interactive first, as without an
// AuthenticationMethods line): such a factor alone logs in over ssh. Each entry is "totp" or
// "totp (when rhost in office)".
std::vector<std::string> single_factor_paths(const Policy& policy);

// W113 for a policy file named sshd.pol whose single_factor_paths are not empty: the policy is
// one factor unless sshd_config's AuthenticationMethods asks a key first. nullopt otherwise.
std::optional<Diagnostic> sshd_single_factor_warning(const std::string& path, const Policy& policy);

// Every way these settings let a login past the policy: a method list that never runs the auth
// stack (publickey, hostbased, gssapi without keyboard-interactive), the password method (sshd
// answers every prompt with the password), UsePAM no, KbdInteractiveAuthentication no, and, with
// `single_factors` from single_factor_paths, keyboard-interactive without publickey before it.
std::vector<std::string> sshd_exposures(const SshdSettings& settings,
                                        const std::vector<std::string>& single_factors);

}  // namespace authpolicy::cli
