// Encoding and decoding spool records: a fixed field order, length-prefixed text, checked bounds.
#include "audit/spool.h"

#include <cstring>

#include "audit/record_bytes.h"

namespace authpolicy::audit::spool {
namespace {

constexpr char kHeaderMagic[8] = {'A', 'P', 'S', 'P', 'O', 'O', 'L', '1'};
// APR1: the fields up to unknowns. APR2 (schema 4 on): the same, then tagged extra fields, so a
// field added later is one more tag that older APR2 readers skip.
constexpr char kRecordMagicV1[4] = {'A', 'P', 'R', '1'};
constexpr char kRecordMagic[4] = {'A', 'P', 'R', '2'};
constexpr std::uint32_t kTagDecisionId = 1;
constexpr std::uint32_t kTagSituation = 2;  // AuditRecord::situation (schema 5)
constexpr std::uint32_t kTagShadow = 3;     // AuditRecord::shadow (schema 5)
constexpr std::uint32_t kMaxListLength = 4096;

using record_bytes::fnv1a;
using record_bytes::put_i64;
using record_bytes::put_text;
using record_bytes::put_u32;
using record_bytes::put_u64;

std::uint32_t get_u32_at(std::string_view bytes, std::size_t at) {
  return record_bytes::get_u32(bytes.data() + at);
}
std::uint64_t get_u64_at(std::string_view bytes, std::size_t at) {
  return record_bytes::get_u64(bytes.data() + at);
}

// Reads fields front to back; any read past the end sets `bad` and yields empty values.
class Reader {
 public:
  explicit Reader(std::string_view bytes) : bytes_(bytes) {}
  bool bad() const { return bad_; }
  bool at_end() const { return at_ == bytes_.size(); }

  std::uint8_t u8() {
    if (!take(1)) return 0;
    return static_cast<std::uint8_t>(bytes_[at_ - 1]);
  }
  std::uint32_t u32() {
    if (!take(4)) return 0;
    return get_u32_at(bytes_, at_ - 4);
  }
  std::int64_t i64() {
    if (!take(8)) return 0;
    return static_cast<std::int64_t>(get_u64_at(bytes_, at_ - 8));
  }
  std::string text() {
    const std::uint32_t size = u32();
    if (bad_ || !take(size)) return {};
    return std::string(bytes_.substr(at_ - size, size));
  }
  std::uint32_t count() {
    const std::uint32_t n = u32();
    if (n > kMaxListLength) bad_ = true;
    return bad_ ? 0 : n;
  }

 private:
  bool take(std::size_t n) {
    if (bad_ || bytes_.size() - at_ < n) {
      bad_ = true;
      return false;
    }
    at_ += n;
    return true;
  }
  std::string_view bytes_;
  std::size_t at_ = 0;
  bool bad_ = false;
};

std::string encode_payload(const AuditRecord& r) {
  std::string out;
  out.reserve(256 + r.reason.size() + r.policy_path.size());
  put_i64(out, r.time_us);
  for (const std::string* text : {&r.service, &r.user, &r.ruser, &r.rhost, &r.tty}) {
    put_text(out, *text);
  }
  out.push_back(r.country ? 1 : 0);
  if (r.country) put_text(out, *r.country);
  out.push_back(r.asn ? 1 : 0);
  if (r.asn) put_u32(out, *r.asn);
  for (const std::string* text : {&r.policy_path, &r.policy_sha256, &r.decision, &r.reason}) {
    put_text(out, *text);
  }
  put_i64(out, r.duration_us);
  put_i64(out, r.pid);
  out.push_back(r.password_asked ? 1 : 0);
  put_u32(out, static_cast<std::uint32_t>(r.factors.size()));
  for (const auto& f : r.factors) {
    put_text(out, f.name);
    put_text(out, f.outcome);
    put_text(out, f.detail);
    put_i64(out, f.duration_us);
  }
  put_u32(out, static_cast<std::uint32_t>(r.unknowns.size()));
  for (const auto& u : r.unknowns) {
    put_text(out, u.condition);
    put_text(out, u.cause);
  }
  // Tagged fields: (tag, text) pairs; only the ones that hold something.
  const std::pair<std::uint32_t, const std::string*> tagged[] = {
      {kTagDecisionId, &r.decision_id}, {kTagSituation, &r.situation}, {kTagShadow, &r.shadow}};
  std::uint32_t present = 0;
  for (const auto& [tag, value] : tagged) present += value->empty() ? 0 : 1;
  put_u32(out, present);
  for (const auto& [tag, value] : tagged) {
    if (value->empty()) continue;
    put_u32(out, tag);
    put_text(out, *value);
  }
  return out;
}

std::optional<AuditRecord> decode_payload(std::string_view payload, bool tagged) {
  Reader in(payload);
  AuditRecord r;
  r.time_us = in.i64();
  for (std::string* text : {&r.service, &r.user, &r.ruser, &r.rhost, &r.tty}) *text = in.text();
  if (in.u8() == 1) r.country = in.text();
  if (in.u8() == 1) r.asn = in.u32();
  for (std::string* text : {&r.policy_path, &r.policy_sha256, &r.decision, &r.reason}) {
    *text = in.text();
  }
  r.duration_us = in.i64();
  r.pid = in.i64();
  r.password_asked = in.u8() == 1;
  for (std::uint32_t n = in.count(), i = 0; i < n && !in.bad(); ++i) {
    FactorAttempt f;
    f.name = in.text();
    f.outcome = in.text();
    f.detail = in.text();
    f.duration_us = in.i64();
    r.factors.push_back(std::move(f));
  }
  for (std::uint32_t n = in.count(), i = 0; i < n && !in.bad(); ++i) {
    UnknownCondition u;
    u.condition = in.text();
    u.cause = in.text();
    r.unknowns.push_back(std::move(u));
  }
  if (tagged) {
    for (std::uint32_t n = in.count(), i = 0; i < n && !in.bad(); ++i) {
      const std::uint32_t tag = in.u32();
      std::string value = in.text();
      // Other tags: a later build's.
      if (tag == kTagDecisionId) r.decision_id = std::move(value);
      if (tag == kTagSituation) r.situation = std::move(value);
      if (tag == kTagShadow) r.shadow = std::move(value);
    }
  }
  if (in.bad() || !in.at_end()) return std::nullopt;
  return r;
}

// The record starting at `at`, with its framed size, when it is whole and its checksum holds.
std::optional<AuditRecord> record_at(std::string_view data, std::size_t at, std::size_t* size) {
  if (data.size() - at < kRecordHeaderBytes) return std::nullopt;
  const bool tagged = std::memcmp(data.data() + at, kRecordMagic, sizeof kRecordMagic) == 0;
  if (!tagged && std::memcmp(data.data() + at, kRecordMagicV1, sizeof kRecordMagicV1) != 0) {
    return std::nullopt;
  }
  const std::uint32_t length = get_u32_at(data, at + 4);
  if (length > kMaxPayloadBytes || data.size() - at - kRecordHeaderBytes < length) {
    return std::nullopt;
  }
  const std::string_view payload = data.substr(at + kRecordHeaderBytes, length);
  if (fnv1a(payload) != get_u64_at(data, at + 8)) return std::nullopt;
  auto record = decode_payload(payload, tagged);
  if (record) *size = kRecordHeaderBytes + length;
  return record;
}

}  // namespace

std::string encode_header(const Header& header) {
  std::string out(kHeaderMagic, sizeof kHeaderMagic);
  put_u64(out, header.generation);
  put_i64(out, header.first_time_us);
  return out;
}

std::optional<Header> parse_header(std::string_view bytes) {
  if (bytes.size() < kHeaderBytes) return std::nullopt;
  if (std::memcmp(bytes.data(), kHeaderMagic, sizeof kHeaderMagic) != 0) return std::nullopt;
  return Header{get_u64_at(bytes, 8), static_cast<std::int64_t>(get_u64_at(bytes, 16))};
}

std::string frame(std::string_view payload, bool tagged) {
  std::string out = tagged ? std::string(kRecordMagic, sizeof kRecordMagic)
                           : std::string(kRecordMagicV1, sizeof kRecordMagicV1);
  put_u32(out, static_cast<std::uint32_t>(payload.size()));
  put_u64(out, fnv1a(payload));
  out += payload;
  return out;
}

std::string encode_record(const AuditRecord& record) {
  return frame(encode_payload(record), true);
}

Scan scan_records(std::string_view data, std::size_t from) {
  Scan scan;
  std::size_t at = from;
  while (at < data.size()) {
    std::size_t size = 0;
    if (auto record = record_at(data, at, &size)) {
      scan.records.push_back(std::move(*record));
      scan.record_bytes += size;
      at += size;
      continue;
    }
    // Not a record that checks out: look for the next one that does.
    std::size_t next = at + 1;
    for (; next < data.size(); ++next) {
      if (data[next] == kRecordMagic[0] && record_at(data, next, &size)) break;  // 'A' of both
    }
    scan.skipped_bytes += next - at;
    at = next;
  }
  return scan;
}

}  // namespace authpolicy::audit::spool
