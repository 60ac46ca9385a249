// Parsing and printing of durations and UTC timestamps for audit settings and the CLI.
#include "audit/time_text.h"

#include <chrono>
#include <cstdio>
#include <limits>

namespace authpolicy::audit {
namespace {

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

// Reads exactly `width` digits at text[*pos]; advances *pos.
std::optional<int> read_digits(std::string_view text, std::size_t* pos, std::size_t width) {
  if (*pos + width > text.size()) return std::nullopt;
  int value = 0;
  for (std::size_t i = 0; i < width; ++i) {
    char c = text[*pos + i];
    if (!is_digit(c)) return std::nullopt;
    value = value * 10 + (c - '0');
  }
  *pos += width;
  return value;
}

}  // namespace

std::int64_t now_utc_us() noexcept {
  using namespace std::chrono;
  return duration_cast<microseconds>(system_clock::now().time_since_epoch()).count();
}

std::optional<std::int64_t> parse_duration_seconds(std::string_view text) {
  if (text.empty()) return std::nullopt;
  std::int64_t total = 0;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::int64_t number = 0;
    std::size_t start = pos;
    while (pos < text.size() && is_digit(text[pos])) {
      if (number > std::numeric_limits<std::int64_t>::max() / 10 - 10) return std::nullopt;
      number = number * 10 + (text[pos] - '0');
      ++pos;
    }
    if (pos == start || pos == text.size()) return std::nullopt;  // a number needs a unit
    std::int64_t unit = 0;
    switch (text[pos]) {
      case 's':
        unit = 1;
        break;
      case 'm':
        unit = 60;
        break;
      case 'h':
        unit = 3600;
        break;
      case 'd':
        unit = 86400;
        break;
      case 'w':
        unit = 7 * 86400;
        break;
      default:
        return std::nullopt;
    }
    ++pos;
    // Keep the result representable in microseconds as well.
    constexpr std::int64_t kMaxSeconds = std::numeric_limits<std::int64_t>::max() / 1000000 / 2;
    if (number > kMaxSeconds / unit || total > kMaxSeconds - number * unit) return std::nullopt;
    total += number * unit;
  }
  return total;
}

std::optional<std::int64_t> parse_utc_date(std::string_view text) {
  using namespace std::chrono;
  if (!text.empty() && (text.back() == 'Z' || text.back() == 'z')) text.remove_suffix(1);
  std::size_t pos = 0;
  auto year = read_digits(text, &pos, 4);
  if (!year || pos >= text.size() || text[pos++] != '-') return std::nullopt;
  auto month = read_digits(text, &pos, 2);
  if (!month || pos >= text.size() || text[pos++] != '-') return std::nullopt;
  auto day = read_digits(text, &pos, 2);
  if (!day) return std::nullopt;
  int hour = 0, minute = 0, second = 0;
  if (pos < text.size()) {
    if (text[pos] != 'T' && text[pos] != 't' && text[pos] != ' ') return std::nullopt;
    ++pos;
    auto h = read_digits(text, &pos, 2);
    if (!h || pos >= text.size() || text[pos++] != ':') return std::nullopt;
    auto m = read_digits(text, &pos, 2);
    if (!m) return std::nullopt;
    hour = *h;
    minute = *m;
    if (pos < text.size()) {
      if (text[pos++] != ':') return std::nullopt;
      auto s = read_digits(text, &pos, 2);
      if (!s) return std::nullopt;
      second = *s;
    }
  }
  if (pos != text.size()) return std::nullopt;
  year_month_day date{std::chrono::year{*year}, std::chrono::month{static_cast<unsigned>(*month)},
                      std::chrono::day{static_cast<unsigned>(*day)}};
  if (!date.ok() || hour > 23 || minute > 59 || second > 60) return std::nullopt;
  auto time = sys_days{date} + hours{hour} + minutes{minute} + seconds{second};
  return duration_cast<microseconds>(time.time_since_epoch()).count();
}

std::optional<std::int64_t> parse_time_point(std::string_view text, std::int64_t now_us) {
  if (auto seconds = parse_duration_seconds(text)) return now_us - *seconds * 1000000;
  return parse_utc_date(text);
}

namespace {

std::string format_utc(std::int64_t time_us, bool iso) {
  using namespace std::chrono;
  std::int64_t seconds_part = time_us / 1000000;
  std::int64_t micros = time_us % 1000000;
  if (micros < 0) {
    micros += 1000000;
    --seconds_part;
  }
  sys_seconds point{seconds{seconds_part}};
  auto days = floor<std::chrono::days>(point);
  year_month_day date{days};
  hh_mm_ss clock{point - days};
  char buffer[64];
  if (iso) {
    std::snprintf(buffer, sizeof buffer, "%04d-%02u-%02uT%02d:%02d:%02d.%06lldZ",
                  static_cast<int>(date.year()), static_cast<unsigned>(date.month()),
                  static_cast<unsigned>(date.day()), static_cast<int>(clock.hours().count()),
                  static_cast<int>(clock.minutes().count()),
                  static_cast<int>(clock.seconds().count()), static_cast<long long>(micros));
  } else {
    std::snprintf(buffer, sizeof buffer, "%04d-%02u-%02u %02d:%02d:%02d",
                  static_cast<int>(date.year()), static_cast<unsigned>(date.month()),
                  static_cast<unsigned>(date.day()), static_cast<int>(clock.hours().count()),
                  static_cast<int>(clock.minutes().count()),
                  static_cast<int>(clock.seconds().count()));
  }
  return buffer;
}

}  // namespace

std::string format_utc_iso(std::int64_t time_us) {
  return format_utc(time_us, true);
}
std::string format_utc_short(std::int64_t time_us) {
  return format_utc(time_us, false);
}

}  // namespace authpolicy::audit
