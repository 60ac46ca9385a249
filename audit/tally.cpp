// The tally beside the audit log (tally.h): read without locks, appended under the spool's lock,
// kept or rebuilt by a fold.
#include "audit/tally.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <limits>
#include <map>
#include <string_view>
#include <vector>

#include "audit/audit_store_impl.h"
#include "audit/record_bytes.h"
#include "audit/time_text.h"
#include "base/address.h"
#include "base/sha256.h"
#include "base/unique_fd.h"

namespace authpolicy::audit {
namespace {

constexpr char kStateMagic[8] = {'A', 'P', 'T', 'A', 'L', 'L', 'Y', '1'};
constexpr char kUserMagic[8] = {'A', 'P', 'T', 'U', 'S', 'E', 'R', '1'};
constexpr std::size_t kStateBytes = 256;
constexpr std::size_t kBootBytes = 40;
constexpr const char* kStateName = "state";
// A user's file is compacted (entries older than the horizon and an hour dropped) each time it
// grows past a power of two from 16 KiB on; at 256 KiB only its newest half is kept, and windows
// reaching further back go to the log.
constexpr off_t kCompactFrom = 16 * 1024;
constexpr off_t kUserFileCap = 256 * 1024;
constexpr std::int64_t kMarginUs = 3600LL * 1000000;
// A rebuild reads at most this many decisions (the fold holds the spool's lock meanwhile, and
// writers wait for it within their 2 s); a log busier than that over the horizon is answered by
// sqlite, and the rebuild is tried again after kRebuildRetryUs.
constexpr std::size_t kRebuildRowCap = 50000;
constexpr std::int64_t kRebuildRetryUs = 600LL * 1000000;
constexpr int kReadAttempts = 3;

// ---- Bytes --------------------------------------------------------------------------------

using record_bytes::put_i64;
using record_bytes::put_text;
using record_bytes::put_u32;
using record_bytes::put_u64;
using record_bytes::get_u64;
using record_bytes::fnv1a;

// Reads fields front to back; a read past the end sets bad() and yields empty values.
class Cursor {
 public:
  explicit Cursor(std::string_view bytes) : bytes_(bytes) {}
  bool bad() const { return bad_; }
  bool at_end() const { return at_ >= bytes_.size(); }
  std::size_t offset() const { return at_; }
  std::string_view take(std::size_t n) {
    if (bad_ || bytes_.size() - at_ < n) {
      bad_ = true;
      return {};
    }
    at_ += n;
    return bytes_.substr(at_ - n, n);
  }
  std::uint8_t u8() {
    const auto b = take(1);
    return b.empty() ? 0 : static_cast<std::uint8_t>(b[0]);
  }
  std::uint32_t u32() {
    const auto b = take(4);
    std::uint32_t value = 0;
    for (int i = static_cast<int>(b.size()) - 1; i >= 0; --i) {
      value = (value << 8) | static_cast<unsigned char>(b[static_cast<std::size_t>(i)]);
    }
    return value;
  }
  std::int64_t i64() {
    const auto b = take(8);
    return b.size() == 8 ? static_cast<std::int64_t>(get_u64(b.data())) : 0;
  }
  std::string_view text() { return take(u32()); }

 private:
  std::string_view bytes_;
  std::size_t at_ = 0;
  bool bad_ = false;
};

// ---- What the tally says of one decision ----------------------------------------------------
// The fields failures() and recent() test, as the queries on the tables test them: the address
// key when the source parses as an address (rhost_ip), else the source text.

struct Entry {
  std::int64_t time_us = 0;
  bool permit = false;
  bool by_address = false;
  AddressKey key{};
  std::string_view rhost;
  std::string_view service;
  std::string_view tty;
  std::string_view policy_path;
  std::uint32_t passed_count = 0;
  std::string_view passed;  // passed_count texts, each a u32 length and its bytes

  bool passed_factor(std::string_view factor) const {
    Cursor names(passed);
    for (std::uint32_t i = 0; i < passed_count && !names.bad(); ++i) {
      if (names.text() == factor) return true;
    }
    return false;
  }
  // The source condition of both queries: an address matches the same address in any
  // spelling, anything else the same text ("" local requests).
  bool from(std::string_view source, const std::optional<AddressKey>& source_key) const {
    if (source_key) return by_address && key == *source_key;
    return !by_address && rhost == source;
  }
};

std::string encode_entry(std::int64_t time_us, bool permit, std::string_view rhost,
                         std::string_view service, std::string_view tty,
                         std::string_view policy_path,
                         const std::vector<std::string_view>& passed) {
  std::string payload;
  payload.reserve(48 + rhost.size() + service.size() + tty.size());
  put_i64(payload, time_us);
  const auto key = address_key(rhost);
  payload.push_back(static_cast<char>((permit ? 1 : 0) | (key ? 2 : 0)));
  if (key) {
    payload.append(reinterpret_cast<const char*>(key->data()), key->size());
  } else {
    put_text(payload, rhost);
  }
  put_text(payload, service);
  put_text(payload, tty);
  put_text(payload, permit ? policy_path : std::string_view());
  put_u32(payload, permit ? static_cast<std::uint32_t>(passed.size()) : 0);
  if (permit) {
    for (const auto name : passed) put_text(payload, name);
  }
  std::string framed;
  framed.reserve(4 + payload.size());
  put_u32(framed, static_cast<std::uint32_t>(payload.size()));
  return framed + payload;
}

std::string encode_entry(const AuditRecord& record) {
  std::vector<std::string_view> passed;
  for (const auto& factor : record.factors) {
    if (factor.outcome == "pass") passed.push_back(factor.name);
  }
  return encode_entry(record.time_us, record.decision == "permit", record.rhost, record.service,
                      record.tty, record.policy_path, passed);
}

// Calls visit(entry, framed bytes) for each entry of `data`; false when `data` is not a
// well-formed run of entries (then nothing it says is used).
template <typename Visit>
bool for_each_entry(std::string_view data, Visit&& visit) {
  Cursor frames(data);
  while (!frames.at_end()) {
    const std::size_t start = frames.offset();
    const std::string_view payload = frames.text();
    if (frames.bad()) return false;
    Cursor in(payload);
    Entry entry;
    entry.time_us = in.i64();
    const std::uint8_t flags = in.u8();
    entry.permit = (flags & 1) != 0;
    entry.by_address = (flags & 2) != 0;
    if (entry.by_address) {
      const auto key = in.take(entry.key.size());
      if (!in.bad()) std::memcpy(entry.key.data(), key.data(), entry.key.size());
    } else {
      entry.rhost = in.text();
    }
    entry.service = in.text();
    entry.tty = in.text();
    entry.policy_path = in.text();
    entry.passed_count = in.u32();
    const std::size_t names_at = in.offset();
    for (std::uint32_t i = 0; i < entry.passed_count && !in.bad(); ++i) in.text();
    if (in.bad() || !in.at_end()) return false;
    entry.passed = payload.substr(names_at);
    visit(entry, data.substr(start, frames.offset() - start));
  }
  return true;
}

// ---- Files --------------------------------------------------------------------------------

struct Fingerprint {
  std::uint64_t inode = 0;
  std::int64_t size = -1;  // -1: no such file
  std::int64_t mtime_ns = 0;
  bool operator==(const Fingerprint&) const = default;
};

Fingerprint fingerprint_of(const struct stat& info) {
  return Fingerprint{static_cast<std::uint64_t>(info.st_ino), static_cast<std::int64_t>(info.st_size),
                     static_cast<std::int64_t>(info.st_mtim.tv_sec) * 1000000000 +
                         info.st_mtim.tv_nsec};
}

// This boot's id: a tally written before the last boot is never trusted (a power loss may have
// taken the log's last writes but not the tally's, or the other way round).
const std::string& boot_id() {
  static const std::string id = [] {
    std::string text;
    UniqueFd fd(::open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC));
    char buffer[64];
    const ssize_t n = fd.get() >= 0 ? ::read(fd.get(), buffer, sizeof buffer) : -1;
    if (n >= 36) text.assign(buffer, 36);
    return text;
  }();
  return id;
}

// The log's own files as a reader would accept them: regular, the log's owner, not writable by
// group or others; the companions (-wal, -shm, -spool) also with one name.
bool log_file_ok(const struct stat& info, const OpenOptions& options, bool companion) {
  return S_ISREG(info.st_mode) && info.st_uid == options.owner_uid && (info.st_mode & 022) == 0 &&
         (!companion || info.st_nlink == 1);
}

// The tally's files: regular, one name, the log's owner, private.
bool tally_file_ok(const struct stat& info, const OpenOptions& options) {
  return S_ISREG(info.st_mode) && info.st_nlink == 1 && info.st_uid == options.owner_uid &&
         (info.st_mode & 077) == 0;
}

struct LogPrints {
  Fingerprint db;
  Fingerprint wal;
  Fingerprint spool;
  bool operator==(const LogPrints&) const = default;
};

// The fingerprints of the database, its -wal and its spool (and -shm checked), or false when
// any of them is not acceptable: then the tally is not used, and the log says what is wrong.
bool log_prints(int folder_fd, const std::string& name, const OpenOptions& options,
                LogPrints* out) {
  struct Part {
    const char* suffix;
    Fingerprint* print;
  };
  Fingerprint shm;
  const Part parts[] = {{"", &out->db}, {"-wal", &out->wal}, {"-shm", &shm}, {"-spool", &out->spool}};
  std::string file = name;
  for (const Part& part : parts) {
    file.resize(name.size());
    file += part.suffix;
    struct stat info {};
    if (fstatat(folder_fd, file.c_str(), &info, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno != ENOENT || *part.suffix == '\0') return false;
      *part.print = Fingerprint{};
      continue;
    }
    if (!log_file_ok(info, options, *part.suffix != '\0')) return false;
    *part.print = fingerprint_of(info);
  }
  return true;
}

// Whether another process holds the database in sqlite's EXCLUSIVE lock (a connection in
// exclusive locking mode, or one switching the journal): it may be about to change anything, and
// a read of the log waits for it within the decision's budget. The tally then leaves the answer
// to that read, as before it existed. A probe (F_GETLK) only: nothing is locked.
bool held_exclusively(int folder_fd, const std::string& name) {
  // sqlite's unix lock bytes: SHARED_FIRST (0x40000002) and the 510 after it, write-locked for
  // EXCLUSIVE, read-locked by every connection for SHARED.
  constexpr off_t kSharedFirst = 0x40000002;
  constexpr off_t kSharedSize = 510;
  UniqueFd db(openat(folder_fd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
  if (db.get() < 0) return true;  // cannot look: not the tally's to answer
  struct flock probe {};
  probe.l_type = F_RDLCK;
  probe.l_whence = SEEK_SET;
  probe.l_start = kSharedFirst;
  probe.l_len = kSharedSize;
  if (fcntl(db.get(), F_GETLK, &probe) != 0) return true;
  return probe.l_type != F_UNLCK;
}

// The tally folder, checked (a folder, the log's owner, 0700); -1 when absent (*absent) or refused.
int open_tally_folder(int folder_fd, const std::string& name, const OpenOptions& options,
                      bool* absent) {
  *absent = false;
  const int fd = openat(folder_fd, tally::folder_name(name).c_str(),
                        O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    *absent = errno == ENOENT;
    return -1;
  }
  struct stat info {};
  if (fstat(fd, &info) != 0 || !S_ISDIR(info.st_mode) || info.st_uid != options.owner_uid ||
      (info.st_mode & 077) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// A file of the tally, checked after opening; -1 with errno ENOENT when absent, EPERM when refused.
int open_tally_file(int dir_fd, const std::string& file, int flags, const OpenOptions& options,
                    struct stat* info) {
  const int fd = openat(dir_fd, file.c_str(), flags | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return -1;
  if (fstat(fd, info) != 0 || !tally_file_ok(*info, options)) {
    ::close(fd);
    errno = EPERM;
    return -1;
  }
  return fd;
}

int create_tally_file(int dir_fd, const std::string& file) {
  return openat(dir_fd, file.c_str(), O_CREAT | O_EXCL | O_RDWR | O_NOFOLLOW | O_CLOEXEC, 0600);
}

bool read_exactly(int fd, std::size_t size, off_t offset, std::string* out) {
  out->resize(size);
  std::size_t done = 0;
  while (done < size) {
    const ssize_t n = pread(fd, out->data() + done, size - done, offset + static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<std::size_t>(n);
  }
  return true;
}

bool write_all(int fd, std::string_view bytes) {
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<std::size_t>(n);
  }
  return true;
}

std::string user_file_name(const std::string& user) {
  return "u-" + sha256_hex(user).substr(0, 32);
}

// ---- The state file -----------------------------------------------------------------------
// magic, seq (odd while a writer changes user files), boot id, complete_from (every decision
// from then on is in the tally), the database's, -wal's and spool's fingerprints, when a rebuild
// last failed, FNV-1a 64 of all that; 256 bytes written with one pwrite.

struct State {
  std::uint64_t seq = 0;
  std::string boot;
  std::int64_t complete_from_us = 0;
  LogPrints prints;
  std::int64_t rebuild_failed_us = 0;
};

void put_print(std::string& out, const Fingerprint& print) {
  put_u64(out, print.inode);
  put_i64(out, print.size);
  put_i64(out, print.mtime_ns);
}

std::string encode_state(const State& state) {
  std::string out(kStateMagic, sizeof kStateMagic);
  put_u64(out, state.seq);
  std::string boot = state.boot.substr(0, kBootBytes);
  boot.resize(kBootBytes, '\0');
  out += boot;
  put_i64(out, state.complete_from_us);
  put_print(out, state.prints.db);
  put_print(out, state.prints.wal);
  put_print(out, state.prints.spool);
  put_i64(out, state.rebuild_failed_us);
  out.resize(kStateBytes - 8, '\0');
  put_u64(out, fnv1a(out));
  return out;
}

std::optional<State> parse_state(std::string_view bytes) {
  if (bytes.size() != kStateBytes || std::memcmp(bytes.data(), kStateMagic, 8) != 0) {
    return std::nullopt;
  }
  if (fnv1a(bytes.substr(0, kStateBytes - 8)) != get_u64(bytes.data() + kStateBytes - 8)) {
    return std::nullopt;
  }
  Cursor in(bytes.substr(8));
  State state;
  state.seq = static_cast<std::uint64_t>(in.i64());
  const auto boot = in.take(kBootBytes);
  state.boot = std::string(boot.substr(0, std::min(boot.find('\0'), boot.size())));
  state.complete_from_us = in.i64();
  for (Fingerprint* print : {&state.prints.db, &state.prints.wal, &state.prints.spool}) {
    print->inode = static_cast<std::uint64_t>(in.i64());
    print->size = in.i64();
    print->mtime_ns = in.i64();
  }
  state.rebuild_failed_us = in.i64();
  if (in.bad()) return std::nullopt;
  return state;
}

bool write_state(int fd, const State& state) {
  const std::string bytes = encode_state(state);
  return pwrite(fd, bytes.data(), bytes.size(), 0) == static_cast<ssize_t>(bytes.size());
}

// ---- A user's file: header (magic, complete_from, user name), then entries ----------------

std::string user_header(std::int64_t complete_from_us, std::string_view user) {
  std::string out(kUserMagic, sizeof kUserMagic);
  put_i64(out, complete_from_us);
  put_text(out, user);
  return out;
}

struct UserFile {
  std::int64_t complete_from_us = 0;
  std::string_view user;
  std::string_view entries;
};

std::optional<UserFile> parse_user_file(std::string_view bytes) {
  if (bytes.size() < sizeof kUserMagic ||
      std::memcmp(bytes.data(), kUserMagic, sizeof kUserMagic) != 0) {
    return std::nullopt;
  }
  Cursor in(bytes.substr(sizeof kUserMagic));
  UserFile file;
  file.complete_from_us = in.i64();
  file.user = in.text();
  if (in.bad()) return std::nullopt;
  file.entries = bytes.substr(sizeof kUserMagic + in.offset());
  return file;
}

// The entries of a user's file and from when it is complete, read consistently, or nullopt.
struct UserView {
  std::int64_t complete_from_us = 0;
  std::string bytes;  // the file (empty: the user has no decision in the tally)
  std::string_view entries;
};

std::optional<UserView> read_user(const std::string& path, const OpenOptions& options,
                                  const std::string& user, bool* too_long) {
  if (!options.check_ownership || boot_id().empty() || path.empty()) return std::nullopt;
  std::error_code no_folder;
  const std::filesystem::path absolute = std::filesystem::absolute(path, no_folder);
  const std::string name = absolute.filename().string();
  if (no_folder || name.empty() || name == "." || name == "..") return std::nullopt;
  UniqueFd folder;
  if (!internal::open_folder(absolute.parent_path().string(), options, folder.out()).ok()) {
    return std::nullopt;
  }
  bool absent = false;
  UniqueFd dir(open_tally_folder(folder.get(), name, options, &absent));
  if (dir.get() < 0) return std::nullopt;
  struct stat info {};
  UniqueFd state_file(open_tally_file(dir.get(), kStateName, O_RDONLY, options, &info));
  if (state_file.get() < 0) return std::nullopt;
  const std::string file_name = user_file_name(user);
  std::string before;
  std::string after;
  for (int attempt = 0; attempt < kReadAttempts; ++attempt) {
    if (!read_exactly(state_file.get(), kStateBytes, 0, &before)) return std::nullopt;
    const auto state = parse_state(before);
    if (!state || state->boot != boot_id()) return std::nullopt;
    if ((state->seq & 1) != 0) continue;  // a writer is changing it
    LogPrints now;
    if (!log_prints(folder.get(), name, options, &now)) return std::nullopt;
    if (!(now == state->prints)) continue;  // the log moved on: a writer, or the tally is stale
    if (held_exclusively(folder.get(), name)) return std::nullopt;
    UserView view;
    view.complete_from_us = state->complete_from_us;
    UniqueFd file(open_tally_file(dir.get(), file_name, O_RDONLY, options, &info));
    if (file.get() < 0 && errno != ENOENT) return std::nullopt;
    if (file.get() >= 0) {
      if (info.st_size > 2 * kUserFileCap) {
        // Written whole by a rebuild: the next append compacts it. Current, only too long.
        if (too_long != nullptr) *too_long = true;
        return std::nullopt;
      }
      if (!read_exactly(file.get(), static_cast<std::size_t>(info.st_size), 0, &view.bytes)) {
        return std::nullopt;
      }
      const auto parsed = parse_user_file(view.bytes);
      if (!parsed || parsed->user != user) return std::nullopt;
      view.complete_from_us = std::max(view.complete_from_us, parsed->complete_from_us);
      view.entries = parsed->entries;
    }
    if (!read_exactly(state_file.get(), kStateBytes, 0, &after)) return std::nullopt;
    if (after == before) return view;
  }
  return std::nullopt;
}

// Drops what the horizon no longer needs from a user's file, and its oldest half when it is
// still past the cap (windows reaching that far back then go to the log), by writing the rest
// to a new file renamed over it.
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

std::int64_t retention_cutoff(const OpenOptions& options, std::int64_t now) {
  return options.retention_seconds > 0 ? now - options.retention_seconds * 1000000
                                       : std::numeric_limits<std::int64_t>::min();
}

}  // namespace

namespace tally {

std::string folder_name(const std::string& name) {
  return name + "-tally";
}

namespace {

// The user's entries when they cover the window of `window_seconds` before `now_us` (0: now):
// *now and *since get the window's ends. Otherwise nullopt, and *miss says whether the log must
// answer because the tally is unusable or because the window reaches before what it holds.
std::optional<UserView> window_view(const std::string& path, const OpenOptions& options,
                                    const std::string& user, std::int64_t window_seconds,
                                    std::int64_t now_us, std::int64_t* now, std::int64_t* since,
                                    Miss* miss) {
  bool too_long = false;
  auto view = read_user(path, options, user, &too_long);
  if (too_long) *miss = Miss::window;
  if (!view) return std::nullopt;
  *now = now_us != 0 ? now_us : now_utc_us();
  *since = *now - window_seconds * 1000000;
  if (*since < view->complete_from_us) {
    *miss = Miss::window;
    return std::nullopt;
  }
  return view;
}

}  // namespace

std::optional<FailureCount> count_failures(const std::string& path, const OpenOptions& options,
                                           const FailureQuery& query, Miss* why) noexcept {
  Miss ignored;
  Miss& miss = why != nullptr ? *why : ignored;
  miss = Miss::unusable;
  try {
    if (query.window_seconds < 0) return std::nullopt;
    std::int64_t now = 0;
    std::int64_t since = 0;
    const auto view =
        window_view(path, options, query.user, query.window_seconds, query.now_us, &now, &since,
                    &miss);
    if (!view) return std::nullopt;
    std::optional<AddressKey> key;
    if (query.rhost) key = address_key(*query.rhost);
    std::int64_t count = 0;
    const bool whole = for_each_entry(view->entries, [&](const Entry& entry, std::string_view) {
      if (!entry.permit && entry.time_us >= since && (!query.rhost || entry.from(*query.rhost, key))) {
        ++count;
      }
    });
    if (!whole) return std::nullopt;
    return FailureCount{count, {}};
  } catch (...) {
    return std::nullopt;
  }
}

std::optional<RecentPass> find_recent_pass(const std::string& path, const OpenOptions& options,
                                           const RecentPassQuery& query, Miss* why) noexcept {
  Miss ignored;
  Miss& miss = why != nullptr ? *why : ignored;
  miss = Miss::unusable;
  try {
    if (query.window_seconds <= 0) return std::nullopt;
    std::int64_t now = 0;
    std::int64_t since = 0;
    const auto view =
        window_view(path, options, query.user, query.window_seconds, query.now_us, &now, &since,
                    &miss);
    if (!view) return std::nullopt;
    if (query.tty && query.tty->empty()) return RecentPass{false, {}, 0};
    std::optional<AddressKey> key;
    if (query.rhost && !query.rhost->empty()) key = address_key(*query.rhost);
    bool found = false;
    std::int64_t latest = 0;
    const bool whole = for_each_entry(view->entries, [&](const Entry& entry, std::string_view) {
      if (!entry.permit || entry.time_us < since || entry.time_us > now) return;
      // Under the same policy file (recent_pass.h), or without one, the same service.
      if (query.policy_path.empty() ? entry.service != query.service
                                    : entry.policy_path != query.policy_path) {
        return;
      }
      if (!entry.passed_factor(query.factor)) return;
      if (query.rhost && !entry.from(*query.rhost, key)) return;
      if (query.tty && entry.tty != *query.tty) return;
      if (!found || entry.time_us > latest) latest = entry.time_us;
      found = true;
    });
    if (!whole) return std::nullopt;
    return found ? RecentPass{true, {}, latest} : RecentPass{false, {}, 0};
  } catch (...) {
    return std::nullopt;
  }
}

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

}  // namespace tally

namespace internal {

TallyFold::TallyFold(AuditStore::Impl& impl, const struct stat& spool) noexcept : impl_(impl) {
  try {
    const OpenOptions& options = impl.options;
    if (!options.check_ownership || boot_id().empty()) return;
    bool absent = false;
    dir_fd_ = open_tally_folder(impl.folder_fd, impl.name, options, &absent);
    if (dir_fd_ < 0) {
      if (!absent) return;  // refused: left alone, never read
      if (mkdirat(impl.folder_fd, tally::folder_name(impl.name).c_str(), 0700) != 0 &&
          errno != EEXIST) {
        return;
      }
      dir_fd_ = open_tally_folder(impl.folder_fd, impl.name, options, &absent);
      if (dir_fd_ < 0) return;
    }
    const auto version = detail::query_int(impl.db, "PRAGMA data_version");
    if (!version) return;
    data_version_ = *version;
    usable_ = true;
    struct stat info {};
    state_fd_ = open_tally_file(dir_fd_, kStateName, O_RDWR, options, &info);
    if (state_fd_ < 0 || !read_exactly(state_fd_, kStateBytes, 0, &state_bytes_)) return;
    const auto state = parse_state(state_bytes_);
    if (!state) return;
    LogPrints now;
    const bool readable = log_prints(impl.folder_fd, impl.name, options, &now);
    now.spool = fingerprint_of(spool);
    was_current_ =
        readable && (state->seq & 1) == 0 && state->boot == boot_id() && now == state->prints;
  } catch (...) {
    usable_ = false;
  }
}

TallyFold::~TallyFold() {
  if (state_fd_ >= 0) ::close(state_fd_);
  if (dir_fd_ >= 0) ::close(dir_fd_);
}

namespace {

// Replaces every user file with what the tables hold from `since` on (the spool is folded, so
// the tables hold every decision); false when the tables could not be read or the files written.
// *data_version: the connection's data_version in the snapshot read.
bool rewrite_users(AuditStore::Impl& impl, int dir_fd, std::int64_t since,
                   const std::vector<AuditRecord>& pending_records, std::int64_t* data_version) {
  std::map<std::string, std::string> files;  // user name -> entries
  for (const auto& record : pending_records) {
    // As a fold would store them: a record the tables refuse is skipped.
    if (record.decision != "permit" && record.decision != "deny") continue;
    files[record.user] += encode_entry(record);
  }
  {
    // Inside the caller's write transaction already (rebuild_tally), or a read transaction here.
    const bool own_transaction = sqlite3_get_autocommit(impl.db) != 0;
    if (own_transaction && detail::exec(impl.db, "BEGIN") != SQLITE_OK) return false;
    struct EndRead {
      sqlite3* db;
      bool own;
      ~EndRead() {
        if (own) detail::exec(db, "COMMIT");
      }
    } end_read{impl.db, own_transaction};
    detail::Statement rows;
    int rc = rows.prepare(
        impl.db,
        "SELECT d.id, d.time_us, d.user, d.decision = 'permit', d.rhost, d.service, d.tty, "
        "f.name, d.policy_path "
        "FROM decisions AS d INDEXED BY decisions_by_time LEFT JOIN factors AS f "
        "ON f.decision_id = d.id AND f.outcome = 'pass' AND d.decision = 'permit' "
        "WHERE d.time_us >= ?1 ORDER BY d.id");
    if (rc != SQLITE_OK) return false;
    rows.bind(1, since);
    struct Pending {
      std::int64_t id = -1;
      std::int64_t time_us = 0;
      std::string user;
      bool permit = false;
      std::string rhost;
      std::string service;
      std::string tty;
      std::string policy_path;
      std::vector<std::string> passed;
    } pending;
    std::size_t count = 0;
    auto flush = [&] {
      if (pending.id < 0) return;
      std::vector<std::string_view> passed(pending.passed.begin(), pending.passed.end());
      files[pending.user] += encode_entry(pending.time_us, pending.permit, pending.rhost,
                                          pending.service, pending.tty, pending.policy_path,
                                          passed);
    };
    while ((rc = rows.step()) == SQLITE_ROW) {
      const std::int64_t id = rows.column_int(0);
      if (id != pending.id) {
        flush();
        if (++count > kRebuildRowCap) return false;
        pending.id = id;
        pending.time_us = rows.column_int(1);
        pending.user = rows.column_text(2);
        pending.permit = rows.column_int(3) != 0;
        pending.rhost = rows.column_text(4);
        pending.service = rows.column_text(5);
        pending.tty = rows.column_text(6);
        pending.policy_path = rows.column_text(8);
        pending.passed.clear();
      }
      if (!rows.column_is_null(7)) pending.passed.push_back(rows.column_text(7));
    }
    if (rc != SQLITE_DONE) return false;
    flush();
    const auto version = detail::query_int(impl.db, "PRAGMA data_version");
    if (!version) return false;
    *data_version = *version;
  }
  // Every user file goes, then the new ones are written.
  const int listing_fd = fcntl(dir_fd, F_DUPFD_CLOEXEC, 0);
  if (listing_fd < 0) return false;
  DIR* listing = fdopendir(listing_fd);
  if (listing == nullptr) {
    ::close(listing_fd);
    return false;
  }
  std::vector<std::string> old_files;
  while (const dirent* item = readdir(listing)) {
    if (std::strncmp(item->d_name, "u-", 2) == 0) old_files.emplace_back(item->d_name);
  }
  closedir(listing);
  for (const auto& file : old_files) {
    if (unlinkat(dir_fd, file.c_str(), 0) != 0 && errno != ENOENT) return false;
  }
  for (const auto& [user, entries] : files) {
    UniqueFd out(create_tally_file(dir_fd, user_file_name(user)));
    if (out.get() < 0 || !write_all(out.get(), user_header(0, user) + entries)) return false;
  }
  return true;
}

}  // namespace

void TallyFold::folded(int spool_fd) noexcept {
  if (!usable_) return;
  try {
    const OpenOptions& options = impl_.options;
    const std::int64_t now = now_utc_us();
    struct stat spool {};
    LogPrints prints;
    if (was_current_) {
      // The fold only moved decisions from the spool into the tables: the tally still says the
      // same, provided nobody else wrote to the database meanwhile (data_version).
      auto state = parse_state(state_bytes_);
      const auto version = detail::query_int(impl_.db, "PRAGMA data_version");
      if (state && version && *version == data_version_ &&
          log_prints(impl_.folder_fd, impl_.name, options, &prints) &&
          fstat(spool_fd, &spool) == 0) {
        prints.spool = fingerprint_of(spool);
        state->seq += 2;
        state->prints = prints;
        // Pruned decisions are no longer in the tables: windows reaching back to them go there.
        state->complete_from_us = std::max(state->complete_from_us, retention_cutoff(options, now));
        if (write_state(state_fd_, *state)) return;
      }
    }
    rebuild(spool_fd, {});
  } catch (...) {
  }
}

void TallyFold::rebuild(int spool_fd, const std::vector<AuditRecord>& pending) noexcept {
  if (!usable_) return;
  try {
    const OpenOptions& options = impl_.options;
    const std::int64_t now = now_utc_us();
    struct stat spool {};
    LogPrints prints;
    // The state first says "being rebuilt" (odd) and when it was tried, so that a rebuild that
    // cannot finish is not retried by every writer.
    State state;
    if (auto old = parse_state(state_bytes_)) state.seq = old->seq;
    state.seq |= 1;
    state.boot = boot_id();
    state.rebuild_failed_us = now;
    if (state_fd_ < 0) {
      unlinkat(dir_fd_, kStateName, 0);  // a refused one is replaced
      state_fd_ = create_tally_file(dir_fd_, kStateName);
      if (state_fd_ < 0) return;
    }
    if (!write_state(state_fd_, state)) return;
    const std::int64_t since =
        std::max(now - tally::kHorizonUs, retention_cutoff(options, now));
    std::int64_t read_version = -1;
    if (!rewrite_users(impl_, dir_fd_, since, pending, &read_version)) return;
    if (!log_prints(impl_.folder_fd, impl_.name, options, &prints) ||
        fstat(spool_fd, &spool) != 0) {
      return;
    }
    prints.spool = fingerprint_of(spool);
    // Another connection's commit between the read and the fingerprints would be in neither.
    const auto version = detail::query_int(impl_.db, "PRAGMA data_version");
    if (!version || *version != read_version) return;
    state.seq += 1;
    state.complete_from_us = since;
    state.prints = prints;
    state.rebuild_failed_us = 0;
    write_state(state_fd_, state);
  } catch (...) {
  }
}

}  // namespace internal
}  // namespace authpolicy::audit
