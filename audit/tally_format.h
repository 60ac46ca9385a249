// The tally's bytes (tally.h): a user's file (a header, then one entry a decision) and the state
// file, encoded and parsed. Internal to the tally's files.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "audit/audit_record.h"
#include "audit/record_bytes.h"
#include "base/address.h"

namespace authpolicy::audit::tally {

inline constexpr char kStateMagic[8] = {'A', 'P', 'T', 'A', 'L', 'L', 'Y', '1'};
inline constexpr char kUserMagic[8] = {'A', 'P', 'T', 'U', 'S', 'E', 'R', '1'};
inline constexpr std::size_t kStateBytes = 256;
inline constexpr std::size_t kBootBytes = 40;
// A user's file past this size is compacted to its newest half (tally_append.cpp); a reader that
// finds one twice as long leaves the answer to the log.
inline constexpr off_t kUserFileCap = 256 * 1024;

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
    return b.size() == 8 ? static_cast<std::int64_t>(record_bytes::get_u64(b.data())) : 0;
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

// An entry of a user's file, framed (a u32 length, then the payload): the record's time, whether
// it was a permit, its source (address key or text), service, tty, and for a permit its policy
// file and the factors that passed.
std::string encode_entry(const AuditRecord& record);

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

// A file as the state remembers it: the tally matches the log while the log's files still have
// these.
struct Fingerprint {
  std::uint64_t inode = 0;
  std::int64_t size = -1;  // -1: no such file
  std::int64_t mtime_ns = 0;
  bool operator==(const Fingerprint&) const = default;
};

// The log's files the tally is derived from: the database, its -wal and its spool.
struct LogPrints {
  Fingerprint db;
  Fingerprint wal;
  Fingerprint spool;
  bool operator==(const LogPrints&) const = default;
};

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

std::string encode_state(const State& state);
std::optional<State> parse_state(std::string_view bytes);

// ---- A user's file: header (magic, complete_from, user name), then entries ----------------

std::string user_header(std::int64_t complete_from_us, std::string_view user);

struct UserFile {
  std::int64_t complete_from_us = 0;
  std::string_view user;
  std::string_view entries;
};

std::optional<UserFile> parse_user_file(std::string_view bytes);

}  // namespace authpolicy::audit::tally
