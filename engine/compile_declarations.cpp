// Compiling declarations: names defined once, factor kinds and their settings checked against
// their kit (engine/factor_kit.h), settings blocks.
#include "engine/compiler.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <algorithm>
#include <cctype>
#include <climits>
#include <cstring>
#include <cstdlib>
#include <filesystem>
#include <map>
#include "base/sha256.h"
#include "engine/analysis.h"
#include "engine/describe.h"
#include "engine/self_module.h"
#include "engine/values.h"
#include "grammar/parser.h"

namespace authpolicy {

namespace compiler {

constexpr SettingRule kAuditSettings[] = {
    {.key = "db", .type = SettingType::string, .limit = SettingLimit::path},
    {.key = "required", .type = SettingType::boolean},
    {.key = "retention", .type = SettingType::duration},
    // The journald socket; "" sends no journal entries.
    {.key = "journal", .type = SettingType::string, .limit = SettingLimit::path_or_off},
    // Record every group of the user with each decision (for authpolicy replay).
    {.key = "groups", .type = SettingType::boolean},
};

constexpr std::string_view kGeoipLayouts[] = {"auto", "geoip2", "flat"};
constexpr SettingRule kGeoipSettings[] = {
    {.key = "country", .type = SettingType::string, .limit = SettingLimit::path},
    {.key = "asn", .type = SettingType::string, .limit = SettingLimit::path},
    {.key = "layout", .type = SettingType::string, .limit = SettingLimit::words,
     .words = kGeoipLayouts},
};

// nv_base: the range the TPM PIN factor's tpm_config accepts (TPM2 owner NV indices
// 0x01000000..0x01BFFFFF, factors/tpm/tpm_config.h).
constexpr SettingRule kTpmSettings[] = {
    {.key = "tcti", .type = SettingType::string, .limit = SettingLimit::non_empty},
    {.key = "nv_base", .type = SettingType::integer, .limit = SettingLimit::range,
     .min = 0x01000000, .max = 0x01BFFFFF},
    {.key = "owner_auth_file", .type = SettingType::string, .limit = SettingLimit::path},
};

std::span<const SettingRule> block_settings(std::string_view block) {
  if (block == "audit") return kAuditSettings;
  if (block == "geoip") return kGeoipSettings;
  return kTpmSettings;
}

std::vector<std::string> kit_names() {
  std::vector<std::string> names;
  for (const FactorKit* kit : factor_catalogue()) {
    if (kit->named) names.emplace_back(kit->name);
  }
  return names;
}

std::string suggestion(std::string_view name, const std::vector<std::string>& candidates) {
  std::string best;
  std::size_t best_distance = name.size() <= 4 ? 1 : 2;
  for (const auto& candidate : candidates) {
    const std::size_t d = edit_distance(name, candidate);
    if (d <= best_distance && d < candidate.size()) {
      if (best.empty() || d < best_distance) best = candidate;
      best_distance = d;
    }
  }
  return best.empty() ? std::string{} : " (did you mean '" + best + "'?)";
}

ElementClass element_class(const ast::Literal& lit) {
  switch (lit.kind) {
    case ast::Literal::Kind::address: return ElementClass::address;
    case ast::Literal::Kind::clock_range: return ElementClass::clock;
    case ast::Literal::Kind::duration: return ElementClass::duration;
    default: return ElementClass::scalar;
  }
}

std::string_view class_name(ElementClass c) {
  switch (c) {
    case ElementClass::address: return "addresses";
    case ElementClass::clock: return "clock ranges";
    case ElementClass::duration: return "durations";
    case ElementClass::scalar: return "names";
  }
  return "values";
}

void Compiler::compile() {
  collect_declarations();
  compile_factor_definitions();
  compile_blocks();
  for (std::uint32_t f = 0; f < asts_.size(); ++f) {
    for (const auto& deny : asts_[f].denies) {
      const Condition* c = compile_condition(*deny.condition);
      if (c) policy_->denies.push_back({c, describe(*deny.condition), deny.location});
    }
  }
  compile_auth();
  for (auto& [name, let] : lets_) {
    if (!let.compiled && !let.failed) compile_let(let);  // report errors in unused lets too
  }
  for (auto& [name, set] : sets_) {
    if (!set.checked) check_set_definition(set);
  }
  report_unused();
}

void Compiler::collect_declarations() {
  std::map<std::string, Location, std::less<>> blocks_seen;
  for (const auto& file : asts_) {
    for (const auto& def : file.sets) {
      auto [it, fresh] = sets_.try_emplace(def.name, NamedSet{&def, false, false, nullptr});
      if (!fresh) duplicate("set", def.name, def.location, it->second.definition->location);
    }
    for (const auto& def : file.lets) {
      if (find_factor_kit(def.name) || factor_defined_anywhere(def.name)) {
        error("E017", "let '" + def.name + "' has the name of a factor", def.location);
        continue;
      }
      auto [it, fresh] = lets_.try_emplace(def.name, NamedLet{&def, nullptr, false, false, false});
      if (!fresh) duplicate("let", def.name, def.location, it->second.definition->location);
    }
    for (const auto& def : file.factors) {
      auto [it, fresh] = factor_definitions_.try_emplace(def.name, &def);
      if (!fresh) duplicate("factor", def.name, def.location, it->second->location);
    }
  }
}

bool Compiler::factor_defined_anywhere(std::string_view name) const {
  for (const auto& file : asts_) {
    for (const auto& def : file.factors) {
      if (def.name == name) return true;
    }
  }
  return false;
}

void Compiler::duplicate(std::string_view what, const std::string& name, const Location& here,
               const Location& first) {
  error("E017", std::string(what) + " '" + name + "' is defined twice", here,
        {"first defined at " + location_text(first)});
}

std::string Compiler::location_text(const Location& l) const {
  return policy_->files.at(l.file).path + ":" + std::to_string(l.line) + ":" +
         std::to_string(l.column);
}

void Compiler::compile_factor_definitions() {
  for (const auto& [name, def] : factor_definitions_) {
    const FactorKit* named_kit = find_factor_kit(name);
    if (!named_kit && !def->delegates) {
      error("E002",
            "unknown factor '" + name + "'" + suggestion(name, kit_names()) +
                ": a new factor is declared with factor " + name + " = pam(\"module.so\", ...)",
            def->location);
      continue;
    }
    FactorSpec spec = builtin_spec(name);
    spec.declared = true;
    spec.location = def->location;
    if (def->delegates) {
      if (def->module.empty() || def->module.find('\0') != std::string::npos) {
        error("E020", "pam() needs a module file name", def->module_location);
      } else if (const std::optional<std::string> why = names_this_module(def->module)) {
        error("E026", "factor '" + name + "' delegates to pam_policy.so: " + *why,
              def->module_location,
              {"a policy cannot ask itself; the module would call itself until the host "
               "crashed"});
      }
      // A delegated kind (password, fingerprint) keeps its kind with another module; any other
      // kind's provider is replaced by the module (its presence and lockout traits stay).
      if (!named_kit || named_kit->delivery != Delivery::delegated) {
        spec.kit = &delegated_factor_kit();
      }
      spec.module = def->module;
      spec.arguments = def->arguments;
    }
    apply_factor_settings(*def, spec);
    if (spec.settings.has("module")) spec.module = spec.settings.string_or("module", spec.module);
    if (spec.settings.has("arguments")) {
      spec.arguments = split_arguments(spec.settings.string_or("arguments", ""));
    }
    spec.remote_allowed = spec.settings.boolean_or("remote", false);
    // Only a module of our own choosing may declare itself a presence factor; u2f's own
    // `presence` setting is about the touch and never makes it usable remotely.
    if (spec.kit->traits.presence_setting && spec.settings.has("presence")) {
      spec.presence = spec.settings.boolean_or("presence", false);
    }
    policy_->factors.push_back(std::move(spec));
  }
}

void Compiler::apply_factor_settings(const ast::FactorDefinition& def, FactorSpec& spec) {
  const std::string owner = "factor " + def.name;
  const std::size_t before = result_.diagnostics.size();
  apply_settings(def.settings, spec.kit->settings, owner, spec.settings);
  if (result_.diagnostics.size() != before) return;  // typed badly: reported already
  std::vector<SettingProblem> problems = validate_settings(*spec.kit, spec.settings, def.name);
  // In the order the policy writes the settings; a problem of the factor as a whole last.
  for (const auto& setting : def.settings) {
    for (auto& problem : problems) {
      if (problem.key != setting.key) continue;
      error("E020", std::move(problem.message), setting.value.location);
      problem.key = "\n";  // reported
    }
  }
  for (auto& problem : problems) {
    if (problem.key != "\n") error("E020", std::move(problem.message), def.location);
  }
}

std::vector<std::string> Compiler::split_arguments(const std::string& text) {
  std::vector<std::string> out;
  std::string current;
  for (char c : text) {
    if (c == ' ' || c == '\t') {
      if (!current.empty()) out.push_back(std::move(current));
      current.clear();
      continue;
    }
    current.push_back(c);
  }
  if (!current.empty()) out.push_back(std::move(current));
  return out;
}

FactorSpec Compiler::builtin_spec(const std::string& name) {
  FactorSpec spec;
  spec.name = name;
  const FactorKit* kit = find_factor_kit(name);
  spec.kit = kit ? kit : &delegated_factor_kit();
  if (!kit) return spec;
  spec.module = std::string(kit->module);
  spec.presence = kit->traits.presence;
  spec.lockout = kit->traits.lockout;
  return spec;
}

void Compiler::apply_settings(const std::vector<ast::Setting>& settings,
                    std::span<const SettingRule> schema, const std::string& owner,
                    Settings& out) {
  std::map<std::string, Location, std::less<>> seen;
  for (const auto& setting : settings) {
    const auto it = std::find_if(schema.begin(), schema.end(),
                                 [&](const SettingRule& s) { return s.key == setting.key; });
    if (it == schema.end()) {
      std::vector<std::string> keys;
      for (const auto& s : schema) keys.emplace_back(s.key);
      std::string known;
      for (const auto& k : keys) known += (known.empty() ? "" : ", ") + k;
      error("E020",
            "unknown setting '" + setting.key + "' for " + owner + suggestion(setting.key, keys),
            setting.location, {"known settings: " + known});
      continue;
    }
    if (auto [prev, fresh] = seen.try_emplace(setting.key, setting.location); !fresh) {
      error("E017", "setting '" + setting.key + "' is given twice for " + owner,
            setting.location, {"first given at " + location_text(prev->second)});
      continue;
    }
    if (auto value = setting_value(setting, it->type, owner)) out.set(setting.key, *value);
  }
}

std::optional<SettingValue> Compiler::setting_value(const ast::Setting& setting, SettingType type,
                                          const std::string& owner) {
  const ast::Literal& v = setting.value;
  auto mismatch = [&]() -> std::optional<SettingValue> {
    error("E020", wrong_type_message(setting.key, owner, type), v.location);
    return std::nullopt;
  };
  switch (type) {
    case SettingType::string:
      if (v.kind != ast::Literal::Kind::string && v.kind != ast::Literal::Kind::word) return mismatch();
      if (v.text.find('\0') != std::string::npos) return mismatch();
      return SettingValue{v.text};
    case SettingType::boolean:
      if (v.kind != ast::Literal::Kind::boolean) return mismatch();
      return SettingValue{v.text == "true"};
    case SettingType::integer: {
      if (v.kind != ast::Literal::Kind::integer) return mismatch();
      auto n = parse_integer(v);
      if (!n) return std::nullopt;
      return SettingValue{*n};
    }
    case SettingType::duration: {
      if (v.kind != ast::Literal::Kind::duration) return mismatch();
      std::string problem;
      auto d = parse_duration(v.text, &problem);
      if (!d) {
        error("E009", problem, v.location);
        return std::nullopt;
      }
      return SettingValue{*d};
    }
  }
  return std::nullopt;
}

std::optional<std::int64_t> Compiler::parse_integer(const ast::Literal& lit) {
  const bool hex = lit.text.size() > 2 && (lit.text[1] == 'x' || lit.text[1] == 'X');
  errno = 0;
  char* end = nullptr;
  const unsigned long long n = std::strtoull(lit.text.c_str(), &end, hex ? 16 : 10);
  if (errno != 0 || *end != '\0' || n > static_cast<unsigned long long>(INT64_MAX)) {
    error("E024", "number '" + lit.text + "' is out of range", lit.location);
    return std::nullopt;
  }
  return static_cast<std::int64_t>(n);
}

void Compiler::compile_blocks() {
  std::map<std::string, Location, std::less<>> seen;
  for (const auto& file : asts_) {
    for (const auto& block : file.blocks) {
      if (auto [prev, fresh] = seen.try_emplace(block.kind, block.location); !fresh) {
        error("E017", "settings block '" + block.kind + "' appears twice", block.location,
              {"first at " + location_text(prev->second)});
        continue;
      }
      Settings& target = block.kind == "audit" ? policy_->audit
                         : block.kind == "geoip" ? policy_->geoip
                                                 : policy_->tpm;
      apply_settings(block.settings, block_settings(block.kind), block.kind + " settings",
                     target);
      // Values of the right type against their limits (paths, ranges, words): one problem a
      // setting, at its value (an error: the policy is not used, by check or by the module).
      for (auto& problem : validate_block_settings(block_settings(block.kind), target,
                                                   block.kind)) {
        const auto it = std::find_if(block.settings.begin(), block.settings.end(),
                                     [&](const ast::Setting& s) { return s.key == problem.key; });
        error("E020", std::move(problem.message),
              it != block.settings.end() ? it->value.location : block.location);
      }
    }
  }
}

}  // namespace compiler

}  // namespace authpolicy
