// The one validation of factor settings, driven by each kind's description (engine/factor_kit.h).
#include "engine/factor_kit.h"

#include <algorithm>
#include <chrono>
#include <optional>
#include <variant>

namespace authpolicy {

namespace {

bool has_type(const SettingValue& value, SettingType type) {
  switch (type) {
    case SettingType::string: return std::holds_alternative<std::string>(value);
    case SettingType::integer: return std::holds_alternative<std::int64_t>(value);
    case SettingType::boolean: return std::holds_alternative<bool>(value);
    case SettingType::duration: return std::holds_alternative<std::chrono::seconds>(value);
  }
  return false;
}

std::string number_text(std::int64_t n, SettingType type) {
  return std::to_string(n) + (type == SettingType::duration ? "s" : "");
}

std::string quoted(std::string_view text) { return "\"" + std::string(text) + "\""; }

// "\"sha1\", \"sha256\" or \"sha512\""
std::string word_list(std::span<const std::string_view> words) {
  std::string out;
  for (std::size_t i = 0; i < words.size(); ++i) {
    if (i > 0) out += i + 1 == words.size() ? " or " : ", ";
    out += quoted(words[i]);
  }
  return out;
}

// Lower case without '-': how a folding words rule compares.
std::string folded(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '-') continue;
    out.push_back(c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c);
  }
  return out;
}

// The problem with one value of the right type; nullopt when the rule accepts it.
std::optional<std::string> limit_problem(const SettingRule& rule, const SettingValue& value) {
  switch (rule.limit) {
    case SettingLimit::none:
    case SettingLimit::any_text:
      return std::nullopt;
    case SettingLimit::range: {
      std::int64_t n = 0;
      if (const auto* i = std::get_if<std::int64_t>(&value)) n = *i;
      if (const auto* d = std::get_if<std::chrono::seconds>(&value)) n = d->count();
      if (n >= rule.min && n <= rule.max) return std::nullopt;
      return "must be between " + number_text(rule.min, rule.type) + " and " +
             number_text(rule.max, rule.type) + ", not " + number_text(n, rule.type);
    }
    case SettingLimit::words: {
      const auto& text = std::get<std::string>(value);
      const std::string key = rule.fold ? folded(text) : text;
      if (std::find(rule.words.begin(), rule.words.end(), key) != rule.words.end()) {
        return std::nullopt;
      }
      return "must be " + word_list(rule.words) + ", not " + quoted(text);
    }
    case SettingLimit::non_empty:
      if (std::get<std::string>(value).empty()) return "must not be empty";
      return std::nullopt;
    case SettingLimit::path: {
      const auto& text = std::get<std::string>(value);
      if (text.starts_with("/")) return std::nullopt;
      return "must be an absolute path, not " + quoted(text);
    }
    case SettingLimit::path_or_off: {
      const auto& text = std::get<std::string>(value);
      if (text.empty() || text.starts_with("/")) return std::nullopt;
      return "must be an absolute path (or \"\" for none), not " + quoted(text);
    }
    case SettingLimit::home_path: {
      const auto& text = std::get<std::string>(value);
      if (text.starts_with("/") || text.starts_with("~/")) return std::nullopt;
      return "must be an absolute path or start with ~/, not " + quoted(text);
    }
  }
  return std::nullopt;
}

}  // namespace

std::string_view setting_type_name(SettingType type) noexcept {
  switch (type) {
    case SettingType::string: return "a string";
    case SettingType::integer: return "a number";
    case SettingType::boolean: return "true or false";
    case SettingType::duration: return "a duration such as 15s";
  }
  return "a value";
}

std::string wrong_type_message(std::string_view key, std::string_view owner, SettingType type) {
  return "setting '" + std::string(key) + "' of " + std::string(owner) + " takes " +
         std::string(setting_type_name(type));
}

const SettingRule* FactorKit::setting(std::string_view key) const noexcept {
  for (const auto& rule : settings) {
    if (rule.key == key) return &rule;
  }
  return nullptr;
}

namespace {

// Each value against its rule: known key, type, limit.
std::vector<SettingProblem> rule_problems(std::span<const SettingRule> rules,
                                          const Settings& settings, const std::string& owner) {
  std::vector<SettingProblem> problems;
  for (const auto& [key, value] : settings.values()) {
    const std::string& name = key;  // a structured binding cannot be captured before C++20 in clang 14
    const auto rule = std::find_if(rules.begin(), rules.end(),
                                   [&](const SettingRule& r) { return r.key == name; });
    if (rule == rules.end()) {
      problems.push_back({key, "unknown setting '" + key + "' for " + owner});
      continue;
    }
    if (!has_type(value, rule->type)) {
      problems.push_back({key, wrong_type_message(key, owner, rule->type)});
      continue;
    }
    if (const std::optional<std::string> why = limit_problem(*rule, value)) {
      problems.push_back({key, "setting '" + key + "' of " + owner + " " + *why});
    }
  }
  return problems;
}

}  // namespace

std::vector<SettingProblem> validate_block_settings(std::span<const SettingRule> rules,
                                                    const Settings& settings,
                                                    std::string_view block) {
  return rule_problems(rules, settings, std::string(block) + " settings");
}

std::vector<SettingProblem> validate_settings(const FactorKit& kit, const Settings& settings,
                                              std::string_view factor_name) {
  const std::string owner =
      "factor " + std::string(factor_name.empty() ? kit.name : factor_name);
  std::vector<SettingProblem> problems = rule_problems(kit.settings, settings, owner);
  // The kit's own rules read settings as valid; they only run when each one is.
  if (!problems.empty() || !kit.check) return problems;
  kit.check(settings, problems);
  for (auto& problem : problems) problem.message = owner + ": " + problem.message;
  return problems;
}

}  // namespace authpolicy
