// Loading a policy: read and safety-check its files, parse them, resolve names, type-check,
// then run the static analysis. A policy with any error is never returned for use.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/policy.h"

namespace authpolicy {

struct LoadOptions {
  // Files must be root-owned regular files, not group/other-writable, in folders not writable by
  // others (sticky folders such as /tmp excepted). `authpolicy check --ignore-ownership` turns
  // this off for files that are not installed yet; the PAM module never does.
  bool check_ownership = true;
  // Run the semantic checks (open paths, never-permits, unreachable operands...). The module
  // skips the warnings-only ones it does not need; errors are always checked.
  bool warnings = true;
};

struct LoadResult {
  std::shared_ptr<const Policy> policy;  // null when there is any error
  std::vector<Diagnostic> diagnostics;
  std::vector<SourceFile> files;  // every file read, for rendering diagnostics
  bool unreadable = false;        // the top-level file itself could not be read

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

// Why a policy file may not be trusted (owner, mode, folder), or empty when it may.
std::string unsafe_file_reason(const std::string& path);

}  // namespace authpolicy
