// A writer's part in the tally (tally.h): under the spool's lock, the record's entry appended to
// its user's file, which is compacted each time it grows past a size mark.
#include "audit/tally.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <vector>

#include "audit/tally_files.h"
#include "audit/tally_format.h"
#include "audit/time_text.h"
#include "base/unique_fd.h"

namespace authpolicy::audit::tally {
namespace {

// A user's file is compacted (entries older than the horizon and an hour dropped) each time it
// grows past a power of two from 16 KiB on; at 256 KiB only its newest half is kept, and windows
// reaching further back go to the log.
constexpr off_t kCompactFrom = 16 * 1024;
constexpr std::int64_t kMarginUs = 3600LL * 1000000;
// A rebuild that failed is not tried again by the writers before this much time has passed.
constexpr std::int64_t kRebuildRetryUs = 600LL * 1000000;

// Drops what the horizon no longer needs from a user's file, and its oldest half when it is
// still past the cap (windows reaching that far back then go to the log), by writing the rest
// to a new file renamed over it. Not base's replace_at: the tally is an index the log rebuilds
// whenever it cannot prove it matches (tally.h), in a folder only the log's owner may enter, and
// one written before the last boot is never trusted: a crash that cuts this file short is
// followed by a rebuild, so the rename inside a login needs no fsync.
bool compact(int dir_fd, const std::string& file_name, int fd, off_t size) {
  std::string bytes;
  if (!read_exactly(fd, static_cast<std::size_t>(size), 0, &bytes)) return false;
  const auto parsed = parse_user_file(bytes);
  if (!parsed) return false;
  struct Kept {
    std::int64_t time_us;
    std::string_view framed;
  };
  std::vector<Kept> entries;
  const bool whole =
      for_each_entry(parsed->entries, [&](const Entry& entry, std::string_view framed) {
        entries.push_back({entry.time_us, framed});
      });
  if (!whole) return false;
  std::int64_t complete_from = std::max(parsed->complete_from_us,
                                        now_utc_us() - tally::kHorizonUs - kMarginUs);
  std::size_t kept_bytes = 0;
  for (const auto& entry : entries) {
    if (entry.time_us >= complete_from) kept_bytes += entry.framed.size();
  }
  if (kept_bytes > static_cast<std::size_t>(kUserFileCap / 2)) {
    std::vector<Kept> newest = entries;
    std::sort(newest.begin(), newest.end(),
              [](const Kept& a, const Kept& b) { return a.time_us > b.time_us; });
    std::size_t fitting = 0;
    for (const auto& entry : newest) {
      if (fitting + entry.framed.size() > static_cast<std::size_t>(kUserFileCap / 2)) {
        complete_from = std::max(complete_from, entry.time_us + 1);
        break;
      }
      fitting += entry.framed.size();
    }
  }
  std::string rewritten = user_header(complete_from, parsed->user);
  for (const auto& entry : entries) {
    if (entry.time_us >= complete_from) rewritten += entry.framed;
  }
  const std::string temporary = file_name + ".new";
  unlinkat(dir_fd, temporary.c_str(), 0);
  UniqueFd out(create_tally_file(dir_fd, temporary));
  if (out.get() < 0 || !write_all(out.get(), rewritten) ||
      renameat(dir_fd, temporary.c_str(), dir_fd, file_name.c_str()) != 0) {
    unlinkat(dir_fd, temporary.c_str(), 0);
    return false;
  }
  return true;
}

bool crosses_compaction_size(off_t before, off_t after) {
  if (after > kUserFileCap) return true;
  if (after < kCompactFrom) return false;
  for (off_t mark = kCompactFrom; mark <= kUserFileCap; mark *= 2) {
    if (before < mark && after >= mark) return true;
  }
  return false;
}

// Appends the record's entry to its user's file (created when missing), compacting it when due.
bool append_entry(int dir_fd, const AuditRecord& record, const OpenOptions& options) {
  const std::string file_name = user_file_name(record.user);
  const std::string entry = encode_entry(record);
  struct stat info {};
  UniqueFd file(open_tally_file(dir_fd, file_name, O_RDWR | O_APPEND, options, &info));
  if (file.get() < 0) {
    if (errno != ENOENT) return false;  // refused: the rebuild replaces it
    UniqueFd created(create_tally_file(dir_fd, file_name));
    // complete_from 0: the state's applies (no decision of this user was in the tally).
    return created.get() >= 0 && write_all(created.get(), user_header(0, record.user) + entry);
  }
  if (!write_all(file.get(), entry)) {
    if (ftruncate(file.get(), info.st_size) != 0) {
      // the state stays odd: readers go to the log until the rebuild
    }
    return false;
  }
  const off_t after = info.st_size + static_cast<off_t>(entry.size());
  if (!crosses_compaction_size(info.st_size, after)) return true;
  return compact(dir_fd, file_name, file.get(), after);
}

}  // namespace

SpoolWriter::SpoolWriter(int folder_fd, const std::string& name, const OpenOptions& options,
                         const struct stat& spool) noexcept
    : folder_fd_(folder_fd), options_(&options) {
  try {
    if (!options.check_ownership || boot_id().empty()) return;
    bool absent = false;
    dir_fd_ = open_tally_folder(folder_fd, name, options, &absent);
    if (dir_fd_ < 0) {
      wants_rebuild_ = absent;  // a refused folder is left alone, and never read
      return;
    }
    struct stat info {};
    state_fd_ = open_tally_file(dir_fd_, kStateName, O_RDWR, options, &info);
    if (state_fd_ < 0 || !read_exactly(state_fd_, kStateBytes, 0, &state_bytes_)) {
      wants_rebuild_ = true;
      return;
    }
    const auto state = parse_state(state_bytes_);
    if (!state) {
      wants_rebuild_ = true;
      return;
    }
    LogPrints now;
    const bool readable = log_prints(folder_fd, name, options, &now);
    now.spool = fingerprint_of(spool);
    if (readable && (state->seq & 1) == 0 && state->boot == boot_id() && now == state->prints) {
      keeping_ = true;
      return;
    }
    const std::int64_t since_failure = now_utc_us() - state->rebuild_failed_us;
    wants_rebuild_ = state->rebuild_failed_us == 0 || since_failure < 0 ||
                  since_failure >= kRebuildRetryUs;
  } catch (...) {
    keeping_ = false;
  }
}

SpoolWriter::~SpoolWriter() {
  if (state_fd_ >= 0) ::close(state_fd_);
  if (dir_fd_ >= 0) ::close(dir_fd_);
}

void SpoolWriter::appended(const AuditRecord& record, int spool_fd) noexcept {
  if (!keeping_) return;
  keeping_ = false;
  try {
    auto state = parse_state(state_bytes_);
    if (!state) return;
    // Odd while the user's file changes: a reader that sees it asks the log. Should this
    // process die before the end, the spool's fingerprint no longer matches either.
    state->seq += 1;
    struct stat info {};
    if (!write_state(state_fd_, *state) || !append_entry(dir_fd_, record, *options_) ||
        fstat(spool_fd, &info) != 0) {
      wants_rebuild_ = true;
      return;
    }
    state->seq += 1;
    state->prints.spool = fingerprint_of(info);
    if (!write_state(state_fd_, *state)) wants_rebuild_ = true;
  } catch (...) {
    wants_rebuild_ = true;
  }
}

}  // namespace authpolicy::audit::tally
