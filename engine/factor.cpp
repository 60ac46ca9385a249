// Outcome names and typed access to factor settings.
#include "engine/factor.h"

namespace authpolicy {

std::string_view to_string(Outcome outcome) noexcept {
  switch (outcome) {
    case Outcome::pass: return "pass";
    case Outcome::fail: return "fail";
    case Outcome::unavailable: return "unavailable";
    case Outcome::error: return "error";
  }
  return "error";
}

std::optional<Outcome> outcome_from_string(std::string_view text) noexcept {
  for (Outcome o : {Outcome::pass, Outcome::fail, Outcome::unavailable, Outcome::error}) {
    if (to_string(o) == text) return o;
  }
  return std::nullopt;
}

namespace {
// Returns the value stored under key when it has type T, else nullptr.
template <typename T>
const T* find_as(const std::map<std::string, SettingValue, std::less<>>& values, std::string_view key) {
  auto it = values.find(key);
  if (it == values.end()) return nullptr;
  return std::get_if<T>(&it->second);
}
}  // namespace

std::string Settings::string_or(std::string_view key, std::string fallback) const {
  const auto* v = find_as<std::string>(values_, key);
  return v ? *v : std::move(fallback);
}
std::int64_t Settings::integer_or(std::string_view key, std::int64_t fallback) const {
  const auto* v = find_as<std::int64_t>(values_, key);
  return v ? *v : fallback;
}
bool Settings::boolean_or(std::string_view key, bool fallback) const {
  const auto* v = find_as<bool>(values_, key);
  return v ? *v : fallback;
}
std::chrono::seconds Settings::duration_or(std::string_view key, std::chrono::seconds fallback) const {
  const auto* v = find_as<std::chrono::seconds>(values_, key);
  return v ? *v : fallback;
}

}  // namespace authpolicy
