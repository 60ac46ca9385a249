// The module's per-process cache of compiled policies, valid only while every file read is unchanged.
#pragma once

#include <string>

#include "engine/load.h"

namespace authpolicy::pam_front {

// Loads the policy at `path` as load_policy_file() does, but reuses the compiled policy of an
// earlier call in this process when every file it was built from (the policy and each include)
// still passes the trust walk and has the same device, inode, size, mtime and ctime. Only
// policies without errors are kept; anything else is loaded afresh every time. Thread-safe.
// `reused` (optional) says whether the cached policy was served.
LoadResult load_policy_cached(const std::string& path, const LoadOptions& options,
                              bool* reused = nullptr);

// Frees every cached policy; called when libpam unloads the module, so hosts that start and end
// PAM transactions again and again do not pile copies up.
void policy_cache_clear() noexcept;

}  // namespace authpolicy::pam_front
