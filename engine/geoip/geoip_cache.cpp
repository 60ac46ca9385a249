// The process-wide cache of open GeoIP databases, and the lookups the evaluator calls through it.
#include <sys/stat.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <map>
#include <mutex>
#include <tuple>
#include <utility>

#include "engine/geoip/geoip.h"

namespace authpolicy {
namespace {

// What stat() says about the path now. Equal identities mean "the same file as last time",
// so neither a good nor a broken database is opened again.
struct FileIdentity {
  int stat_errno = 0;  // non-zero: stat failed with this errno
  dev_t device = 0;
  ino_t inode = 0;
  off_t size = 0;
  std::int64_t mtime_sec = 0;
  long mtime_nsec = 0;
  mode_t mode = 0;

  bool operator==(const FileIdentity&) const = default;
};

FileIdentity identify(const std::string& path) {
  FileIdentity identity;
  struct stat file_status {};
  if (::stat(path.c_str(), &file_status) != 0) {
    identity.stat_errno = errno;
    return identity;
  }
  identity.device = file_status.st_dev;
  identity.inode = file_status.st_ino;
  identity.size = file_status.st_size;
  identity.mtime_sec = file_status.st_mtim.tv_sec;
  identity.mtime_nsec = file_status.st_mtim.tv_nsec;
  identity.mode = file_status.st_mode;
  return identity;
}

struct CacheEntry {
  bool used = false;
  FileIdentity identity;
  std::int64_t checked_at_ns = 0;                 // steady clock, when identity was taken
  std::shared_ptr<const GeoIpDatabase> database;  // null: `error` says why
  std::string error;
};

// One entry per layout of a path; looked up by the path itself, so no key is built per call.
using LayoutEntries = std::array<CacheEntry, 3>;

struct Cache {
  std::mutex mutex;
  std::map<std::string, LayoutEntries, std::less<>> entries;
  std::atomic<std::uint64_t> open_count{0};
  std::atomic<std::int64_t> recheck_interval_ns{1'000'000'000};
};

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

Cache& cache() {
  // Never destroyed: the PAM module's unload hook clears the cache (geoip_cache_clear) and may run
  // after static destructors; a host may also look up from another thread while exiting.
  static Cache* instance = new Cache;
  return *instance;
}

GeoLookup lookup_through_cache(const std::string& path, GeoLayout layout,
                               std::string_view numeric_ip, const GeoFailureLog& log,
                               GeoLookup (GeoIpDatabase::*subject)(std::string_view) const) {
  std::string error;
  bool first_failure = false;
  std::shared_ptr<const GeoIpDatabase> database =
      geoip_database(path, layout, &error, &first_failure);
  if (!database) {
    if (first_failure && log) log(path, error);
    return GeoLookup::unknown_because(error);
  }
  return ((*database).*subject)(numeric_ip);
}

}  // namespace

std::shared_ptr<const GeoIpDatabase> geoip_database(const std::string& path, GeoLayout layout,
                                                    std::string* error, bool* first_failure) {
  if (first_failure != nullptr) *first_failure = false;
  Cache& shared = cache();
  std::int64_t now = now_ns();
  std::lock_guard<std::mutex> lock(shared.mutex);
  auto found = shared.entries.find(path);
  if (found == shared.entries.end()) found = shared.entries.emplace(path, LayoutEntries{}).first;
  CacheEntry& entry = found->second[static_cast<std::size_t>(layout)];

  // A file checked within the interval is trusted as is; stat() costs more than a lookup.
  bool recently_checked =
      entry.used && now - entry.checked_at_ns < shared.recheck_interval_ns.load();
  if (!recently_checked) {
    FileIdentity identity = identify(path);
    if (entry.used && entry.identity == identity) {
      entry.checked_at_ns = now;
      recently_checked = true;
    } else {
      // First use of this file, or it changed on disk: open it (under the lock, so two
      // threads never open the same file twice).
      CacheEntry fresh;
      fresh.used = true;
      fresh.identity = identity;
      fresh.checked_at_ns = now;
      shared.open_count.fetch_add(1, std::memory_order_relaxed);
      fresh.database = GeoIpDatabase::open(path, layout, &fresh.error);
      // The same failure again after a change that did not fix it (say, a new broken file)
      // is not news; a different one is.
      bool news = !fresh.database && (!entry.used || entry.database || entry.error != fresh.error);
      if (first_failure != nullptr) *first_failure = news;
      entry = std::move(fresh);
    }
  }
  if (!entry.database && error != nullptr) *error = entry.error;
  return entry.database;
}

GeoLookup lookup_country(const GeoIpSettings& settings, std::string_view numeric_ip,
                         const GeoFailureLog& log_first_failure) {
  return lookup_through_cache(settings.country_path, settings.layout, numeric_ip, log_first_failure,
                              &GeoIpDatabase::country);
}

GeoLookup lookup_asn(const GeoIpSettings& settings, std::string_view numeric_ip,
                     const GeoFailureLog& log_first_failure) {
  return lookup_through_cache(settings.asn_path, settings.layout, numeric_ip, log_first_failure,
                              &GeoIpDatabase::asn);
}

std::uint64_t geoip_cache_open_count() noexcept {
  return cache().open_count.load(std::memory_order_relaxed);
}

void geoip_cache_set_recheck_interval(std::chrono::nanoseconds interval) noexcept {
  cache().recheck_interval_ns.store(interval.count());
}

void geoip_cache_clear() {
  Cache& shared = cache();
  std::lock_guard<std::mutex> lock(shared.mutex);
  shared.entries.clear();
}

}  // namespace authpolicy
