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
// denied decision proves nothing the policy accepted), for the same user, under the same policy
// file (`policy_path`: the services one `authpolicy enable` wires to one policy, sudo and sudo-i,
// su and su-l, are one; a policy file defines each factor name once, so a pam() factor of that
// name means the same module there, while another service's policy may define it differently),
// or, when `policy_path` is empty, for the same service; with
// now - window <= time <= now. With `rhost`, only decisions from that source: an IP literal
// matches the same address in any spelling, other text matches exactly, and "" matches local
// requests only (so a remote pass never waives a local login, nor a local pass a remote one).
// With `tty`, only decisions on that terminal; an empty tty never matches.
struct RecentPassQuery {
  std::string user;
  std::string service;
  std::string policy_path;  // the policy file the decision uses; empty: match `service` instead
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
