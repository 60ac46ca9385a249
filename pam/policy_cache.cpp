// A policy is parsed and analysed once per process, and re-validated by descriptor on every call.
#include "pam/policy_cache.h"

#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "base/file_trust.h"

namespace authpolicy::pam_front {
namespace {

struct Entry {
  LoadOptions options;
  std::vector<FileIdentity> identities;
  std::shared_ptr<const Policy> policy;
};

// std::mutex is constant-initialised and has nothing to destroy. The entries live behind a
// pointer that policy_cache_clear() frees when the host exits (the module is never unloaded:
// -z nodelete), so one host process parses a policy once however often it calls pam_start.
std::mutex cache_lock;
std::map<std::string, Entry>* cache_entries = nullptr;

std::map<std::string, Entry>& cache() {
  if (cache_entries == nullptr) cache_entries = new std::map<std::string, Entry>;
  return *cache_entries;
}

bool same_options(const LoadOptions& a, const LoadOptions& b) {
  return a.check_ownership == b.check_ownership && a.warnings == b.warnings &&
         a.geoip_deny_errors == b.geoip_deny_errors;
}

// Whether every file still is what was read: walked again from "/" under the same rules (trust
// can be lost without the file changing, e.g. a folder made group-writable) and compared by fstat
// of the descriptor that walk opened.
bool still_current(const Entry& entry) {
  if (entry.identities.empty()) return false;
  for (const FileIdentity& identity : entry.identities) {
    const TrustedFile file = open_trusted(identity.path, policy_trust_rules());
    if (!file.ok() || !identity.same_as(file.info)) return false;
  }
  return true;
}

}  // namespace

LoadResult load_policy_cached(const std::string& path, const LoadOptions& options, bool* reused) {
  if (reused != nullptr) *reused = false;
  if (!options.check_ownership) return load_policy_file(path, options);  // never cache untrusted
  {
    std::lock_guard<std::mutex> lock(cache_lock);
    auto found = cache().find(path);
    if (found != cache().end() && same_options(found->second.options, options)) {
      if (still_current(found->second)) {
        LoadResult result;
        result.policy = found->second.policy;
        result.identities = found->second.identities;
        if (reused != nullptr) *reused = true;
        return result;
      }
      cache().erase(found);
    }
  }
  LoadResult loaded = load_policy_file(path, options);
  if (!loaded.policy || loaded.has_errors() || loaded.identities.empty()) return loaded;
  try {
    std::lock_guard<std::mutex> lock(cache_lock);
    cache()[path] = Entry{options, loaded.identities, loaded.policy};
  } catch (...) {
    // Out of memory for the cache: the policy just loaded is still good for this call.
  }
  return loaded;
}

void policy_cache_clear() noexcept {
  std::lock_guard<std::mutex> lock(cache_lock);
  delete cache_entries;
  cache_entries = nullptr;
}

}  // namespace authpolicy::pam_front
