// Durations, clock times and weekdays as the policy writes them.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace authpolicy {

// "15s", "10m", "1h30m", "7d"; nullopt with `error` set when malformed or over ten years.
std::optional<std::chrono::seconds> parse_duration(std::string_view text, std::string* error);

// "06:00" -> minutes since midnight; "24:00" only when `allow_end_of_day`.
std::optional<int> parse_clock(std::string_view text, bool allow_end_of_day, std::string* error);

// "mon" or "monday" (any case) -> 0..6 with Monday = 0.
std::optional<int> parse_weekday(std::string_view text);
std::string_view weekday_name(int day);

// A two-letter ISO 3166 country code, upper-cased ("de" -> "DE"); nullopt otherwise.
std::optional<std::string> parse_country_code(std::string_view text);

// An AS number, "15169" or "AS15169" (any case), within 32 bits; nullopt otherwise.
std::optional<std::uint32_t> parse_as_number(std::string_view text);

// Levenshtein distance, for "did you mean" suggestions.
std::size_t edit_distance(std::string_view a, std::string_view b);

}  // namespace authpolicy
