// Parsing durations, clock times and weekdays; edit distance for suggestions.
#include "engine/values.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <vector>

namespace authpolicy {

std::optional<std::chrono::seconds> parse_duration(std::string_view text, std::string* error) {
  constexpr long long kMax = 3650LL * 24 * 3600;
  long long total = 0;
  std::size_t i = 0;
  auto fail = [&](std::string message) -> std::optional<std::chrono::seconds> {
    if (error) *error = std::move(message);
    return std::nullopt;
  };
  if (text.empty()) return fail("empty duration");
  while (i < text.size()) {
    long long number = 0;
    const std::size_t start = i;
    while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) {
      number = number * 10 + (text[i] - '0');
      if (number > kMax) return fail("duration '" + std::string(text) + "' is longer than 10 years");
      ++i;
    }
    if (i == start || i == text.size()) {
      return fail("invalid duration '" + std::string(text) + "' (use s, m, h or d, e.g. 15m)");
    }
    long long unit = 0;
    switch (text[i]) {
      case 's': unit = 1; break;
      case 'm': unit = 60; break;
      case 'h': unit = 3600; break;
      case 'd': unit = 86400; break;
      default: return fail("invalid duration unit in '" + std::string(text) + "'");
    }
    ++i;
    total += number * unit;
    if (total > kMax) return fail("duration '" + std::string(text) + "' is longer than 10 years");
  }
  return std::chrono::seconds(total);
}

std::optional<int> parse_clock(std::string_view text, bool allow_end_of_day, std::string* error) {
  const auto colon = text.find(':');
  auto fail = [&]() -> std::optional<int> {
    if (error) *error = "invalid time '" + std::string(text) + "' (use HH:MM from 00:00 to 23:59)";
    return std::nullopt;
  };
  if (colon == std::string_view::npos || colon == 0 || colon > 2 || text.size() != colon + 3) {
    return fail();
  }
  int hours = 0;
  for (std::size_t i = 0; i < colon; ++i) hours = hours * 10 + (text[i] - '0');
  const int minutes = (text[colon + 1] - '0') * 10 + (text[colon + 2] - '0');
  if (minutes > 59) return fail();
  if (hours == 24 && minutes == 0 && allow_end_of_day) return 24 * 60;
  if (hours > 23) return fail();
  return hours * 60 + minutes;
}

namespace {
constexpr std::array<std::string_view, 7> kShort = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};
constexpr std::array<std::string_view, 7> kLong = {"monday", "tuesday", "wednesday", "thursday",
                                                    "friday", "saturday", "sunday"};
}  // namespace

std::optional<int> parse_weekday(std::string_view text) {
  std::string lower(text);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  for (int d = 0; d < 7; ++d) {
    if (lower == kShort[d] || lower == kLong[d]) return d;
  }
  return std::nullopt;
}

std::string_view weekday_name(int day) { return kShort.at(static_cast<std::size_t>(day)); }

std::optional<std::string> parse_country_code(std::string_view text) {
  if (text.size() != 2 || !std::isalpha(static_cast<unsigned char>(text[0])) ||
      !std::isalpha(static_cast<unsigned char>(text[1]))) {
    return std::nullopt;
  }
  std::string upper(text);
  for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return upper;
}

std::optional<std::uint32_t> parse_as_number(std::string_view text) {
  if (text.size() > 2 && (text[0] == 'A' || text[0] == 'a') && (text[1] == 'S' || text[1] == 's')) {
    text.remove_prefix(2);
  }
  if (text.empty() || text.size() > 10) return std::nullopt;
  std::uint64_t n = 0;
  for (char c : text) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return std::nullopt;
    n = n * 10 + static_cast<std::uint64_t>(c - '0');
  }
  if (n > 0xffffffffULL) return std::nullopt;
  return static_cast<std::uint32_t>(n);
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = up;
    }
  }
  return row[b.size()];
}

}  // namespace authpolicy
