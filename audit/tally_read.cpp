// failures() and recent() answered from the tally (tally.h), without locks: the state, the user's
// file and the state again, retried or left to the log when anything moved; then the window's
// arithmetic over the user's entries.
#include "audit/tally.h"

#include <fcntl.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <system_error>

#include "audit/audit_store_impl.h"
#include "audit/tally_files.h"
#include "audit/tally_format.h"
#include "audit/time_text.h"
#include "base/unique_fd.h"

namespace authpolicy::audit::tally {
namespace {

constexpr int kReadAttempts = 3;

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

// A query's answer from the user's entries when they cover its window (`window_seconds` before
// `now_us`, 0: now): answer(entries, now, since) gets the window's ends. Otherwise nullopt, and
// *why says whether the log must answer because the tally is unusable or because the window
// reaches before what it holds. `window_valid` false: the query is not the tally's to answer.
template <typename Answer, typename Query, typename Scan>
std::optional<Answer> answer_in_window(const std::string& path, const OpenOptions& options,
                                       const Query& query, bool window_valid, Miss* why,
                                       Scan&& answer) noexcept {
  Miss ignored;
  Miss& miss = why != nullptr ? *why : ignored;
  miss = Miss::unusable;
  try {
    if (!window_valid) return std::nullopt;
    bool too_long = false;
    const auto view = read_user(path, options, query.user, &too_long);
    if (too_long) miss = Miss::window;
    if (!view) return std::nullopt;
    const std::int64_t now = query.now_us != 0 ? query.now_us : now_utc_us();
    const std::int64_t since = now - query.window_seconds * 1000000;
    if (since < view->complete_from_us) {
      miss = Miss::window;
      return std::nullopt;
    }
    return answer(view->entries, now, since);
  } catch (...) {
    return std::nullopt;
  }
}

}  // namespace

std::optional<FailureCount> count_failures(const std::string& path, const OpenOptions& options,
                                           const FailureQuery& query, Miss* why) noexcept {
  auto count_in = [&](std::string_view entries, std::int64_t,
                      std::int64_t since) -> std::optional<FailureCount> {
    std::optional<AddressKey> key;
    if (query.rhost) key = address_key(*query.rhost);
    std::int64_t count = 0;
    const bool whole = for_each_entry(entries, [&](const Entry& entry, std::string_view) {
      if (!entry.permit && entry.time_us >= since &&
          (!query.rhost || entry.from(*query.rhost, key))) {
        ++count;
      }
    });
    if (!whole) return std::nullopt;
    return FailureCount{count, {}};
  };
  return answer_in_window<FailureCount>(path, options, query, query.window_seconds >= 0, why,
                                        count_in);
}

std::optional<RecentPass> find_recent_pass(const std::string& path, const OpenOptions& options,
                                           const RecentPassQuery& query, Miss* why) noexcept {
  auto latest_in = [&](std::string_view entries, std::int64_t now,
                       std::int64_t since) -> std::optional<RecentPass> {
    if (query.tty && query.tty->empty()) return RecentPass{false, {}, 0};
    std::optional<AddressKey> key;
    if (query.rhost && !query.rhost->empty()) key = address_key(*query.rhost);
    bool found = false;
    std::int64_t latest = 0;
    const bool whole = for_each_entry(entries, [&](const Entry& entry, std::string_view) {
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
  };
  return answer_in_window<RecentPass>(path, options, query, query.window_seconds > 0, why,
                                      latest_in);
}

}  // namespace authpolicy::audit::tally
