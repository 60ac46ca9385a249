// The tally's bytes (tally_format.h): entries, user files and the state file.
#include "audit/tally_format.h"

#include <algorithm>

namespace authpolicy::audit::tally {
namespace {

using record_bytes::fnv1a;
using record_bytes::get_u64;
using record_bytes::put_i64;
using record_bytes::put_text;
using record_bytes::put_u32;
using record_bytes::put_u64;

void put_print(std::string& out, const Fingerprint& print) {
  put_u64(out, print.inode);
  put_i64(out, print.size);
  put_i64(out, print.mtime_ns);
}

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

}  // namespace

std::string encode_entry(const AuditRecord& record) {
  std::vector<std::string_view> passed;
  for (const auto& factor : record.factors) {
    if (factor.outcome == "pass") passed.push_back(factor.name);
  }
  return encode_entry(record.time_us, record.decision == "permit", record.rhost, record.service,
                      record.tty, record.policy_path, passed);
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

std::string user_header(std::int64_t complete_from_us, std::string_view user) {
  std::string out(kUserMagic, sizeof kUserMagic);
  put_i64(out, complete_from_us);
  put_text(out, user);
  return out;
}

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

}  // namespace authpolicy::audit::tally
