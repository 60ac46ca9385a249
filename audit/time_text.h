// Durations ("15m", "90d") and UTC dates as the audit settings and `authpolicy audit` write them.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace authpolicy::audit {

// Microseconds since the Unix epoch, UTC, from the system clock.
std::int64_t now_utc_us() noexcept;

// "30s", "15m", "1h", "90d", "2w", or a sum like "1h30m". Returns seconds; nullopt when malformed,
// zero-length units or overflow.
std::optional<std::int64_t> parse_duration_seconds(std::string_view text);

// "YYYY-MM-DD", "YYYY-MM-DDTHH:MM[:SS]" or "YYYY-MM-DD HH:MM[:SS]", optional trailing "Z";
// always UTC. Returns microseconds since the epoch.
std::optional<std::int64_t> parse_utc_date(std::string_view text);

// A point in time for --since/--until: a duration means "that long before now_us", else a date.
std::optional<std::int64_t> parse_time_point(std::string_view text, std::int64_t now_us);

// "2026-11-21T19:44:55.123456Z"
std::string format_utc_iso(std::int64_t time_us);
// "2026-11-21 19:44:55" (for tables; the header says UTC)
std::string format_utc_short(std::int64_t time_us);

}  // namespace authpolicy::audit
