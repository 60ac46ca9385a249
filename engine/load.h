// Loading a policy: read and safety-check its files, parse them, resolve names, type-check,
// then run the static analysis. A policy with any error is never returned for use.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/file_trust.h"
#include "engine/policy.h"

namespace authpolicy {

struct LoadOptions {
  // Files are opened with open_trusted (base/file_trust.h) and read through the descriptor that
  // was checked: root-owned regular files, not group/other-writable, every folder above them
  // root-owned and not writable by group or others (root-owned sticky folders such as /tmp
  // excepted). `authpolicy check --ignore-ownership` turns this off for files that are not
  // installed yet; the PAM module never does.
  bool check_ownership = true;
  // Run the semantic checks (open paths, never-permits, unreachable operands...). The module
  // skips the warnings-only ones it does not need; errors are always checked.
  bool warnings = true;
  // A `deny if` on rhost.country/asn whose database cannot be opened is an error (E027): it
  // would deny every remote login it reaches. Set by `authpolicy check`, `enable` and `status`
  // (also with warnings off). eval, explain and test keep it a warning (W109) so they can still
  // simulate the policy, and the module keeps loading it: it fails closed, the rule denies.
  bool geoip_deny_errors = false;
};

struct LoadResult {
  std::shared_ptr<const Policy> policy;  // null when there is any error
  std::vector<Diagnostic> diagnostics;
  std::vector<SourceFile> files;  // every file read, for rendering diagnostics
  bool unreadable = false;        // the top-level file itself could not be read
  bool missing = false;           // ... because it (or a folder above it) does not exist
  // Every file read, as it was when read: a cached policy is stale once any of them differs.
  std::vector<FileIdentity> identities;

  bool has_errors() const;
  std::size_t count(Severity severity) const;
};

LoadResult load_policy_file(const std::string& path, const LoadOptions& options);

// For tests and fuzzing: `text` stands for the file at `path`; includes are read from disk
// relative to it.
LoadResult load_policy_text(std::string_view text, const std::string& path,
                            const LoadOptions& options);

// A settings block ("tpm", "audit", "geoip") of a shared settings file such as
// /etc/authpolicy/common.pol, for commands and helpers that act outside any one service. nullopt
// when the file is absent, unsafe, broken, or does not declare the block.
std::optional<Settings> load_common_settings(const std::string& block,
                                             const std::string& path = "/etc/authpolicy/common.pol");

// The rules every policy file is held to (root-owned, no group/other write, trusted folders).
TrustRules policy_trust_rules();

}  // namespace authpolicy
