// The audit query behind recent(FACTOR, WINDOW[, rhost | tty]): did this factor pass lately?
//
// Kept apart from audit_store.h so the store's own header stays as it is; it is answered by the
// same store (same ownership checks, bounded waits, read-only open).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "audit/audit_store.h"

namespace authpolicy::audit {

// A pass of `factor` counts only when it was recorded in a decision that PERMITTED (a pass in a
// denied decision proves nothing the policy accepted), for the same user and the same service
// (another service's policy may define a factor of that name differently), with
// now - window <= time <= now. With `rhost`, only decisions from that source: an IP literal
// matches the same address in any spelling, other text matches exactly, and "" matches local
// requests only (so a remote pass never waives a local login, nor a local pass a remote one).
// With `tty`, only decisions on that terminal; an empty tty never matches.
struct RecentPassQuery {
  std::string user;
  std::string service;
  std::string factor;
  std::int64_t window_seconds = 0;
  std::optional<std::string> rhost;
  std::optional<std::string> tty;
  std::int64_t now_us = 0;  // 0 = the current time
};

struct RecentPass {
  std::optional<bool> found;  // nullopt = unknown: the log could not be read
  std::string cause;          // why it is unknown
  std::int64_t time_us = 0;   // the latest matching pass, when found
};

// A missing database counts as "no pass yet"; anything else unreadable is unknown.
RecentPass find_recent_pass(const std::string& path, const OpenOptions& options,
                            const RecentPassQuery& query) noexcept;

}  // namespace authpolicy::audit
