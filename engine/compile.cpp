// From files to a checked Policy: includes, name resolution, set typing and settings checks.
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
#include "engine/load.h"
#include "engine/self_module.h"
#include "engine/values.h"
#include "grammar/parser.h"

namespace authpolicy {

bool LoadResult::has_errors() const { return count(Severity::error) > 0; }

std::size_t LoadResult::count(Severity severity) const {
  return static_cast<std::size_t>(std::count_if(
      diagnostics.begin(), diagnostics.end(),
      [severity](const Diagnostic& d) { return d.severity == severity; }));
}

std::optional<std::size_t> Policy::factor_index(std::string_view name) const {
  for (std::size_t i = 0; i < factors.size(); ++i) {
    if (factors[i].name == name) return i;
  }
  return std::nullopt;
}

bool Policy::uses_subject(Subject subject) const {
  return std::any_of(atoms.begin(), atoms.end(),
                     [subject](const Atom& a) { return a.subject == subject; });
}

namespace {

constexpr int kMaxIncludeDepth = 16;

// The settings of the blocks that are no factor's (factor kinds describe their own: factors/*/kit.cpp).
constexpr SettingRule kAuditSettings[] = {
    {.key = "db", .type = SettingType::string},
    {.key = "required", .type = SettingType::boolean},
    {.key = "retention", .type = SettingType::duration},
};
constexpr SettingRule kGeoipSettings[] = {
    {.key = "country", .type = SettingType::string},
    {.key = "asn", .type = SettingType::string},
    {.key = "layout", .type = SettingType::string},
};
constexpr SettingRule kTpmSettings[] = {
    {.key = "tcti", .type = SettingType::string},
    {.key = "nv_base", .type = SettingType::integer},
    {.key = "owner_auth_file", .type = SettingType::string},
};

std::span<const SettingRule> block_settings(std::string_view block) {
  if (block == "audit") return kAuditSettings;
  if (block == "geoip") return kGeoipSettings;
  return kTpmSettings;
}

// The names a factor may have without pam(), for "did you mean".
std::vector<std::string> kit_names() {
  std::vector<std::string> names;
  for (const FactorKit* kit : factor_catalogue()) {
    if (kit->named) names.emplace_back(kit->name);
  }
  return names;
}

constexpr std::chrono::seconds kMaxRecentWindow{30L * 24 * 3600};

constexpr std::string_view kSubjects[] = {"rhost",   "rhost.country", "rhost.asn", "user", "service",
                                          "tty",     "ruser",         "time",      "weekday"};

// "did you mean" for a misspelt name among candidates; empty when nothing is close.
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

// Which class of values a literal belongs to, for set typing.
enum class ElementClass { address, clock, scalar, duration };
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

struct NamedSet {
  const ast::SetDefinition* definition = nullptr;
  bool used = false;
  bool checked = false;
  std::shared_ptr<const AddressSet> addresses;  // parsed once, shared by every atom
};

struct NamedLet {
  const ast::LetDefinition* definition = nullptr;
  const Expr* compiled = nullptr;
  bool in_progress = false;
  bool failed = false;
  bool used = false;
};

class Compiler {
 public:
  Compiler(const LoadOptions& options, LoadResult& result)
      : options_(options), result_(result), policy_(std::make_unique<Policy>()) {}

  void run(const std::string& path, const std::string* text) {
    if (!load_file(path, text, nullptr, 0)) {
      result_.files = policy_->files;
      return;
    }
    if (!result_.has_errors()) compile();
    result_.files = policy_->files;
    if (result_.has_errors()) return;
    analyse_policy(*policy_, options_, result_.diagnostics);
    if (result_.has_errors()) return;
    result_.policy = std::shared_ptr<const Policy>(std::move(policy_));
  }

 private:
  const LoadOptions& options_;
  LoadResult& result_;
  std::unique_ptr<Policy> policy_;
  std::vector<ast::File> asts_;
  std::vector<std::string> canonical_;      // canonical path per file index
  std::vector<std::string> include_stack_;  // canonical paths being loaded
  std::vector<std::string> display_stack_;  // the same, as written, for messages
  std::map<std::string, NamedSet, std::less<>> sets_;
  std::map<std::string, NamedLet, std::less<>> lets_;
  std::map<std::string, const ast::FactorDefinition*, std::less<>> factor_definitions_;

  void error(std::string code, std::string message, const Location& location,
             std::vector<std::string> notes = {}) {
    result_.diagnostics.push_back(
        {Severity::error, std::move(code), std::move(message), location, std::move(notes)});
  }
  void warning(std::string code, std::string message, const Location& location) {
    result_.diagnostics.push_back({Severity::warning, std::move(code), std::move(message), location, {}});
  }

  // ---- Files ----------------------------------------------------------------------------

  // Reads, checks and parses one file and (depth first) its includes. Returns false only when
  // the top-level file cannot be read at all.
  bool load_file(const std::string& path, const std::string* text, const Location* site,
                 int depth) {
    // Only names the file for cycle and include-once checks; what is read is checked below.
    char resolved[PATH_MAX];
    const std::string canonical = realpath(path.c_str(), resolved) ? resolved : path;
    if (std::find(include_stack_.begin(), include_stack_.end(), canonical) != include_stack_.end()) {
      std::string chain;
      for (const auto& p : display_stack_) chain += p + " -> ";
      error("E014", "include cycle: " + path + " includes itself", *site, {"chain: " + chain + path});
      return true;
    }
    if (std::find(canonical_.begin(), canonical_.end(), canonical) != canonical_.end()) {
      return true;  // already included through another file: include once
    }
    if (depth > kMaxIncludeDepth) {
      error("E023", "includes nested deeper than " + std::to_string(kMaxIncludeDepth) + " files",
            *site);
      return true;
    }
    std::string content;
    if (text != nullptr) {
      content = *text;
    } else {
      // Opened once, checked on that descriptor and read from it: what is parsed is what passed.
      std::string problem;
      const ReadStatus status = read_file(path, content, problem);
      if (status == ReadStatus::unreadable || status == ReadStatus::missing) {
        if (site == nullptr) {
          result_.unreadable = true;
          result_.missing = status == ReadStatus::missing;
          error("E013", problem, Location{});
          return false;
        }
        error("E013", "cannot include " + path + ": " + problem, *site);
        return true;
      }
      if (status == ReadStatus::unsafe) {
        // Named with an empty text so the diagnostic can point at it; nothing of it is parsed.
        if (site == nullptr) policy_->files.push_back({path, "", ""});
        error("E015", "unsafe policy file: " + problem, site ? *site : Location{0, 1, 1, 1},
              {"policy files must be regular files owned by root and not writable by group or "
               "others, in folders owned by root and not writable by group or others (sticky "
               "folders such as /tmp excepted)"});
        return true;
      }
    }
    const auto index = static_cast<std::uint32_t>(policy_->files.size());
    policy_->files.push_back({path, content, sha256_hex(content)});
    canonical_.push_back(canonical);
    asts_.emplace_back();
    auto parsed = grammar::parse_policy_text(content, index);
    if (parsed.error) {
      error("E001", "syntax error: " + parsed.error->message, parsed.error->location);
      return true;
    }
    asts_[index] = std::move(*parsed.file);
    include_stack_.push_back(canonical);
    display_stack_.push_back(path);
    const std::filesystem::path folder = std::filesystem::path(path).parent_path();
    // Copy: loading may grow asts_ and move the vector's elements.
    const std::vector<ast::Include> includes = asts_[index].includes;
    for (const auto& include : includes) {
      std::filesystem::path target(include.path);
      if (target.is_relative()) target = folder / target;
      load_file(target.string(), nullptr, &include.location, depth + 1);
    }
    include_stack_.pop_back();
    display_stack_.pop_back();
    return true;
  }

  enum class ReadStatus { ok, missing, unreadable, unsafe };

  // Reads one policy file through a trusted descriptor (or, with ownership checks off, a plain
  // one) and records its identity.
  ReadStatus read_file(const std::string& path, std::string& content, std::string& problem) {
    if (options_.check_ownership) {
      const std::string absolute =
          path.empty() || path.front() == '/' ? path : std::filesystem::absolute(path).string();
      TrustedFile file = open_trusted(absolute, policy_trust_rules());
      switch (file.status) {
        case TrustStatus::ok:
          break;
        case TrustStatus::missing:
        case TrustStatus::io_error:
          problem = "cannot read " + path + ": " +
                    (file.status == TrustStatus::missing && file.error_number == ENOENT
                         ? std::string(std::strerror(ENOENT))
                         : file.reason);
          return file.status == TrustStatus::missing ? ReadStatus::missing
                                                     : ReadStatus::unreadable;
        case TrustStatus::unsafe:
          problem = file.reason;
          return ReadStatus::unsafe;
      }
      if (!read_trusted(file, grammar::kMaxPolicyBytes, content, problem)) {
        if (static_cast<std::size_t>(file.info.st_size) > grammar::kMaxPolicyBytes) {
          problem = path + " is " + std::to_string(file.info.st_size) + " bytes; the limit is 1 MiB";
        }
        return ReadStatus::unreadable;
      }
      result_.identities.push_back(FileIdentity::of(absolute, file.info));
      return ReadStatus::ok;
    }
    const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
      const int saved = errno;
      problem = "cannot read " + path + ": " + std::strerror(saved);
      return saved == ENOENT || saved == ENOTDIR ? ReadStatus::missing : ReadStatus::unreadable;
    }
    struct stat st {};
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
      close(fd);
      problem = path + " is not a regular file";
      return ReadStatus::unreadable;
    }
    if (st.st_size > static_cast<off_t>(grammar::kMaxPolicyBytes)) {
      close(fd);
      problem = path + " is " + std::to_string(st.st_size) + " bytes; the limit is 1 MiB";
      return ReadStatus::unreadable;
    }
    content.resize(static_cast<std::size_t>(st.st_size));
    std::size_t done = 0;
    while (done < content.size()) {
      const ssize_t n = read(fd, content.data() + done, content.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      done += static_cast<std::size_t>(n);
    }
    close(fd);
    content.resize(done);
    result_.identities.push_back(FileIdentity::of(path, st));
    return ReadStatus::ok;
  }

  // ---- Declarations ---------------------------------------------------------------------

  void compile() {
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

  void collect_declarations() {
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

  bool factor_defined_anywhere(std::string_view name) const {
    for (const auto& file : asts_) {
      for (const auto& def : file.factors) {
        if (def.name == name) return true;
      }
    }
    return false;
  }

  void duplicate(std::string_view what, const std::string& name, const Location& here,
                 const Location& first) {
    error("E017", std::string(what) + " '" + name + "' is defined twice", here,
          {"first defined at " + location_text(first)});
  }

  std::string location_text(const Location& l) const {
    return policy_->files.at(l.file).path + ":" + std::to_string(l.line) + ":" +
           std::to_string(l.column);
  }

  // Turns `factor` statements into specs: built-in kinds with settings, or pam() delegations.
  void compile_factor_definitions() {
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
        } else if (const std::string why = names_this_module(def->module); !why.empty()) {
          error("E026", "factor '" + name + "' delegates to pam_policy.so: " + why,
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

  // Types each setting against the kit's description, then applies its rules (ranges, words,
  // rules between settings) through validate_settings: the same call the providers make at
  // login, so a policy that passes here cannot fail there on its settings (E020).
  void apply_factor_settings(const ast::FactorDefinition& def, FactorSpec& spec) {
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

  static std::vector<std::string> split_arguments(const std::string& text) {
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

  static FactorSpec builtin_spec(const std::string& name) {
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

  void apply_settings(const std::vector<ast::Setting>& settings,
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

  std::optional<SettingValue> setting_value(const ast::Setting& setting, SettingType type,
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

  std::optional<std::int64_t> parse_integer(const ast::Literal& lit) {
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

  void compile_blocks() {
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
        if (block.kind == "geoip" && target.has("layout")) {
          const std::string layout = target.string_or("layout", "");
          if (layout != "auto" && layout != "geoip2" && layout != "flat") {
            const auto it = std::find_if(block.settings.begin(), block.settings.end(),
                                         [](const ast::Setting& s) { return s.key == "layout"; });
            error("E020", "geoip layout must be \"auto\", \"geoip2\" or \"flat\", not \"" + layout + "\"",
                  it->value.location);
          }
        }
      }
    }
  }

  // ---- Expressions ----------------------------------------------------------------------

  void compile_auth() {
    const ast::Auth* first = nullptr;
    for (const auto& file : asts_) {
      for (const auto& auth : file.auths) {
        if (first) {
          error("E012", "repeated 'auth': a policy has exactly one auth statement", auth.location,
                {"first auth at " + location_text(first->location)});
          continue;
        }
        first = &auth;
      }
    }
    if (!first) {
      error("E011", "missing 'auth': a policy needs exactly one auth statement, e.g. 'auth password'",
            Location{0, 1, 1, 1});
      return;
    }
    policy_->auth = compile_expression(*first->expression);
    policy_->auth_location = first->location;
  }

  Expr* new_expr(Expr::Kind kind, const Location& location) {
    policy_->expressions.push_back(std::make_unique<Expr>());
    Expr* e = policy_->expressions.back().get();
    e->id = policy_->expressions.size() - 1;
    e->kind = kind;
    e->location = location;
    return e;
  }

  std::size_t factor_for_use(const std::string& name, const Location& location) {
    if (auto index = policy_->factor_index(name)) return *index;
    FactorSpec spec = builtin_spec(name);
    spec.location = location;
    policy_->factors.push_back(std::move(spec));
    return policy_->factors.size() - 1;
  }

  const Expr* compile_expression(const ast::Expression& e) {
    switch (e.kind) {
      case ast::Expression::Kind::name: return compile_name(e);
      case ast::Expression::Kind::permit: return new_expr(Expr::Kind::permit, e.location);
      case ast::Expression::Kind::negation:
        error("E006",
              "type mismatch: '!' applies to conditions, not to factors or expressions",
              e.location,
              {"to waive or require a factor by situation use 'unless' or 'if'; to refuse a "
               "situation use 'deny if'"});
        compile_expression(*e.operands.at(0));
        return nullptr;
      case ast::Expression::Kind::any_of:
      case ast::Expression::Kind::all_of:
      case ast::Expression::Kind::k_of: return compile_combination(e);
      case ast::Expression::Kind::guarded: return compile_guarded(e);
    }
    return nullptr;
  }

  const Expr* compile_name(const ast::Expression& e) {
    if (auto it = lets_.find(e.name); it != lets_.end()) {
      it->second.used = true;
      return compile_let(it->second);
    }
    if (find_factor_kit(e.name) || factor_definitions_.count(e.name)) {
      const auto index = factor_for_use(e.name, e.location);
      policy_->factors[index].used = true;
      Expr* node = new_expr(Expr::Kind::factor, e.location);
      node->factor = index;
      return node;
    }
    std::vector<std::string> names = kit_names();
    for (const auto& [n, def] : factor_definitions_) names.push_back(n);
    for (const auto& [n, let] : lets_) names.push_back(n);
    std::string message = "unknown factor or let '" + e.name + "'" + suggestion(e.name, names);
    if (sets_.count(e.name)) message += ": '" + e.name + "' is a set, usable only in conditions";
    error("E002", message, e.location);
    return nullptr;
  }

  const Expr* compile_let(NamedLet& let) {
    if (let.compiled) return let.compiled;
    if (let.failed) return nullptr;
    if (let.in_progress) {
      error("E018", "let '" + let.definition->name + "' refers to itself", let.definition->location);
      let.failed = true;
      return nullptr;
    }
    let.in_progress = true;
    let.compiled = compile_expression(*let.definition->value);
    let.in_progress = false;
    if (!let.compiled) let.failed = true;
    return let.compiled;
  }

  const Expr* compile_combination(const ast::Expression& e) {
    const Expr::Kind kind = e.kind == ast::Expression::Kind::any_of   ? Expr::Kind::any_of
                            : e.kind == ast::Expression::Kind::all_of ? Expr::Kind::all_of
                                                                      : Expr::Kind::k_of;
    std::vector<const Expr*> operands;
    bool ok = true;
    for (const auto& operand : e.operands) {
      const Expr* compiled = compile_expression(*operand);
      ok = ok && compiled;
      operands.push_back(compiled);
    }
    std::size_t k = 0;
    if (kind == Expr::Kind::k_of) {
      auto n = parse_integer(e.k);
      if (!n) return nullptr;
      if (*n < 1 || static_cast<std::size_t>(*n) > operands.size()) {
        error("E019",
              "'" + e.k.text + " of' needs between 1 and " + std::to_string(operands.size()) +
                  " (the number of operands)",
              e.k.location);
        return nullptr;
      }
      k = static_cast<std::size_t>(*n);
    }
    if (!ok) return nullptr;
    Expr* node = new_expr(kind, e.location);
    node->operands = std::move(operands);
    node->k = k;
    return node;
  }

  const Expr* compile_guarded(const ast::Expression& e) {
    const Expr* operand = compile_expression(*e.operands.at(0));
    std::vector<Guard> guards;
    bool ok = operand != nullptr;
    for (const auto& g : e.guards) {
      const Condition* c = compile_condition(*g.condition);
      ok = ok && c;
      const bool compound = g.condition->kind == ast::Condition::Kind::conjunction ||
                            g.condition->kind == ast::Condition::Kind::disjunction;
      const std::string text = describe(*g.condition);
      guards.push_back({g.unless, c, compound ? "(" + text + ")" : text, g.location});
    }
    if (!ok) return nullptr;
    Expr* node = new_expr(Expr::Kind::guarded, e.location);
    node->operands.push_back(operand);
    node->guards = std::move(guards);
    return node;
  }

  // ---- Conditions -----------------------------------------------------------------------

  Condition* new_condition(Condition::Kind kind) {
    policy_->conditions.push_back(std::make_unique<Condition>());
    Condition* c = policy_->conditions.back().get();
    c->id = policy_->conditions.size() - 1;
    c->kind = kind;
    return c;
  }

  const Condition* compile_condition(const ast::Condition& c) {
    switch (c.kind) {
      case ast::Condition::Kind::negation:
      case ast::Condition::Kind::conjunction:
      case ast::Condition::Kind::disjunction: {
        Condition* node = new_condition(c.kind == ast::Condition::Kind::negation
                                            ? Condition::Kind::negation
                                        : c.kind == ast::Condition::Kind::conjunction
                                            ? Condition::Kind::conjunction
                                            : Condition::Kind::disjunction);
        bool ok = true;
        for (const auto& operand : c.operands) {
          const Condition* compiled = compile_condition(*operand);
          ok = ok && compiled;
          node->operands.push_back(compiled);
        }
        return ok ? node : nullptr;
      }
      case ast::Condition::Kind::failures: return compile_failures(c);
      case ast::Condition::Kind::recent: return compile_recent(c);
      case ast::Condition::Kind::is_local:
      case ast::Condition::Kind::membership: return compile_atom(c);
    }
    return nullptr;
  }

  const Condition* add_atom(Atom atom) {
    policy_->atoms.push_back(std::move(atom));
    Condition* node = new_condition(Condition::Kind::atom);
    node->atom = policy_->atoms.size() - 1;
    return node;
  }

  const Condition* compile_failures(const ast::Condition& c) {
    Atom atom;
    atom.subject = Subject::failures;
    atom.location = c.location;
    atom.text = describe(c);
    std::string problem;
    auto window = parse_duration(c.window.text, &problem);
    if (!window || window->count() == 0) {
      error("E009", window ? "the failures() window must be longer than 0s" : problem,
            c.window.location);
      return nullptr;
    }
    atom.window = *window;
    atom.by_rhost = c.by_rhost;
    static const std::map<std::string_view, Comparison> ops = {
        {">=", Comparison::ge}, {">", Comparison::gt}, {"<=", Comparison::le},
        {"<", Comparison::lt},  {"==", Comparison::eq}, {"!=", Comparison::ne}};
    atom.comparison = ops.at(c.comparison);
    auto count = parse_integer(c.count);
    if (!count) return nullptr;
    if (*count > 1000000000) {
      error("E024", "failure count '" + c.count.text + "' is out of range", c.count.location);
      return nullptr;
    }
    atom.count = static_cast<long>(*count);
    return add_atom(std::move(atom));
  }

  // recent(FACTOR, WINDOW[, rhost | tty]). The window is capped: a pass remembered for longer
  // than the audit log keeps decisions would silently be forgotten early, and a remembered
  // second factor for more than a month is no second factor.
  const Condition* compile_recent(const ast::Condition& c) {
    Atom atom;
    atom.subject = Subject::recent;
    atom.location = c.location;
    atom.text = describe(c);
    if (!find_factor_kit(c.factor) && !factor_definitions_.count(c.factor)) {
      std::vector<std::string> names = kit_names();
      for (const auto& [n, def] : factor_definitions_) names.push_back(n);
      std::string message = "recent() needs a factor, and '" + c.factor + "' is not one" +
                            suggestion(c.factor, names);
      if (lets_.count(c.factor)) message += ": '" + c.factor + "' is a let";
      error("E002", message, c.factor_location);
      return nullptr;
    }
    std::string problem;
    auto window = parse_duration(c.window.text, &problem);
    if (!window || window->count() == 0) {
      error("E009", window ? "the recent() window must be longer than 0s" : problem,
            c.window.location);
      return nullptr;
    }
    if (*window > kMaxRecentWindow) {
      error("E009", "the recent() window '" + c.window.text + "' is longer than 30d",
            c.window.location,
            {"a remembered factor stands in for asking it; keep the window short (hours)"});
      return nullptr;
    }
    atom.window = *window;
    atom.factor = c.factor;
    atom.scope = c.by_rhost ? RecentScope::rhost : c.by_tty ? RecentScope::tty : RecentScope::any;
    return add_atom(std::move(atom));
  }

  const Condition* compile_atom(const ast::Condition& c) {
    Atom atom;
    atom.location = c.subject_location;
    atom.text = describe(c);
    const std::string& s = c.subject;
    if (std::find(std::begin(kSubjects), std::end(kSubjects), s) == std::end(kSubjects)) {
      std::vector<std::string> names(std::begin(kSubjects), std::end(kSubjects));
      error("E004", "unknown subject '" + s + "'" + suggestion(s, names), c.subject_location,
            {"subjects: rhost, rhost.country, rhost.asn, user, service, tty, ruser, time, "
             "weekday, failures(WINDOW)"});
      return nullptr;
    }
    if (c.kind == ast::Condition::Kind::is_local) {
      if (s != "rhost") {
        error("E005", "type mismatch: 'is local' applies to rhost, not to " + s,
              c.subject_location);
        return nullptr;
      }
      atom.subject = Subject::rhost_local;
      return add_atom(std::move(atom));
    }
    const ast::SetRef& ref = c.set;
    if (ref.kind == ast::SetRef::Kind::group) {
      if (s != "user") {
        error("E005", "type mismatch: group(...) applies to user, not to " + s, ref.location);
        return nullptr;
      }
      if (ref.name.empty() || ref.name.find('\0') != std::string::npos) {
        error("E005", "group() needs a group name", ref.location);
        return nullptr;
      }
      atom.subject = Subject::group;
      atom.group = ref.name;
      return add_atom(std::move(atom));
    }
    const ast::SetLiteral* literal = &ref.literal;
    NamedSet* named = nullptr;
    if (ref.kind == ast::SetRef::Kind::named) {
      auto it = sets_.find(ref.name);
      if (it == sets_.end()) {
        std::vector<std::string> names;
        for (const auto& [n, set] : sets_) names.push_back(n);
        std::string message = "unknown set '" + ref.name + "'" + suggestion(ref.name, names);
        error("E003", message, ref.location);
        return nullptr;
      }
      named = &it->second;
      named->used = true;
      if (!named->checked && !check_set_definition(*named)) return nullptr;
      literal = &named->definition->value;
    } else if (!check_set_elements(*literal)) {
      return nullptr;
    }
    const std::string set_label = named ? "set '" + ref.name + "'" : std::string("the set");
    if (s == "rhost") return compile_rhost(std::move(atom), *literal, named, set_label, ref);
    if (s == "time") return compile_time(std::move(atom), *literal, set_label, ref);
    if (s == "weekday") return compile_weekday(std::move(atom), *literal, set_label, ref);
    return compile_names(std::move(atom), s, *literal, set_label, ref);
  }

  // Element classes must agree within one set (checked once per named set).
  bool check_set_elements(const ast::SetLiteral& set) {
    bool ok = true;
    for (const auto& e : set.elements) {
      if (element_class(e) == ElementClass::duration) {
        error("E005", "type mismatch: a duration ('" + e.text + "') cannot be a set element",
              e.location);
        ok = false;
      }
    }
    if (!ok || set.elements.empty()) return ok;
    const ElementClass first = element_class(set.elements.front());
    for (const auto& e : set.elements) {
      if (element_class(e) != first) {
        error("E021",
              "mixed set: '" + e.text + "' is not one of " + std::string(class_name(first)) +
                  " like the set's first element '" + set.elements.front().text + "'",
              e.location);
        return false;
      }
    }
    return true;
  }

  bool check_set_definition(NamedSet& set) {
    set.checked = true;
    return check_set_elements(set.definition->value);
  }

  bool mismatch(const ast::SetLiteral& set, std::string_view subject, std::string_view wanted,
                const std::string& set_label, const ast::SetRef& ref) {
    const ElementClass found = set.elements.empty() ? ElementClass::scalar
                                                    : element_class(set.elements.front());
    error("E005",
          "type mismatch: " + std::string(subject) + " is tested against " + set_label +
              ", which holds " + std::string(class_name(found)) + "; " + std::string(subject) +
              " needs " + std::string(wanted),
          ref.location);
    return false;
  }

  const Condition* compile_rhost(Atom atom, const ast::SetLiteral& set, NamedSet* named,
                                 const std::string& label, const ast::SetRef& ref) {
    atom.subject = Subject::rhost;
    for (const auto& e : set.elements) {
      if (e.kind != ast::Literal::Kind::address) {
        mismatch(set, "rhost", "addresses or CIDR blocks", label, ref);
        return nullptr;
      }
    }
    if (named && named->addresses) {
      atom.addresses = named->addresses;
      return add_atom(std::move(atom));
    }
    auto addresses = std::make_shared<AddressSet>();
    bool ok = true;
    for (const auto& e : set.elements) {
      std::string problem;
      auto cidr = Cidr::parse(e.text, &problem);
      if (!cidr) {
        error("E008", problem, e.location);
        ok = false;
        continue;
      }
      if (cidr->host_bits_set) {
        warning("W101",
                "host bits set in '" + e.text + "': it means " + cidr->to_string(),
                e.location);
      }
      addresses->add(*cidr);
    }
    if (!ok) return nullptr;
    addresses->finish();
    if (named) named->addresses = addresses;
    atom.addresses = std::move(addresses);
    return add_atom(std::move(atom));
  }

  const Condition* compile_time(Atom atom, const ast::SetLiteral& set, const std::string& label,
                                const ast::SetRef& ref) {
    atom.subject = Subject::time;
    for (const auto& e : set.elements) {
      if (e.kind != ast::Literal::Kind::clock_range) {
        mismatch(set, "time", "clock ranges such as 22:00..06:00", label, ref);
        return nullptr;
      }
      const auto dots = e.text.find("..");
      std::string problem;
      auto start = parse_clock(e.text.substr(0, dots), false, &problem);
      auto end = start ? parse_clock(e.text.substr(dots + 2), true, &problem) : std::nullopt;
      if (!start || !end) {
        error("E010", problem, e.location);
        return nullptr;
      }
      if (*start == *end % (24 * 60)) {
        error("E010", "empty time range '" + e.text + "': start and end are the same",
              e.location);
        return nullptr;
      }
      atom.clock_ranges.push_back({*start, *end});
    }
    return add_atom(std::move(atom));
  }

  const Condition* compile_weekday(Atom atom, const ast::SetLiteral& set,
                                   const std::string& label, const ast::SetRef& ref) {
    atom.subject = Subject::weekday;
    for (const auto& e : set.elements) {
      if (e.kind != ast::Literal::Kind::word && e.kind != ast::Literal::Kind::word_range &&
          e.kind != ast::Literal::Kind::string) {
        mismatch(set, "weekday", "weekdays such as mon..fri", label, ref);
        return nullptr;
      }
      const auto dots = e.text.find("..");
      const auto first = parse_weekday(e.text.substr(0, dots));
      const auto last = dots == std::string::npos ? first : parse_weekday(e.text.substr(dots + 2));
      if (!first || !last) {
        error("E010", "invalid weekday in '" + e.text + "' (use mon, tue, wed, thu, fri, sat, sun)",
              e.location);
        return nullptr;
      }
      for (int d = *first;; d = (d + 1) % 7) {  // ranges may wrap: fri..mon
        atom.weekdays |= 1u << d;
        if (d == *last) break;
      }
    }
    return add_atom(std::move(atom));
  }

  const Condition* compile_names(Atom atom, const std::string& subject,
                                 const ast::SetLiteral& set, const std::string& label,
                                 const ast::SetRef& ref) {
    atom.subject = subject == "user"            ? Subject::user
                   : subject == "service"       ? Subject::service
                   : subject == "tty"           ? Subject::tty
                   : subject == "ruser"         ? Subject::ruser
                   : subject == "rhost.country" ? Subject::country
                                                : Subject::asn;
    for (const auto& e : set.elements) {
      const bool scalar = e.kind == ast::Literal::Kind::word ||
                          e.kind == ast::Literal::Kind::string ||
                          e.kind == ast::Literal::Kind::integer;
      if (!scalar) {
        mismatch(set, subject, atom.subject == Subject::asn ? "AS numbers" : "names", label, ref);
        return nullptr;
      }
      if (atom.subject == Subject::country) {
        auto code = parse_country_code(e.text);
        if (!code) {
          error("E007",
                "invalid country code '" + e.text + "': use two-letter ISO 3166 codes such as \"DE\"",
                e.location);
          return nullptr;
        }
        atom.names.insert(std::move(*code));
        continue;
      }
      if (atom.subject == Subject::asn) {
        auto number = parse_as_number(e.text);
        if (!number) {
          error("E024", "invalid AS number '" + e.text + "'", e.location);
          return nullptr;
        }
        atom.numbers.insert(*number);
        continue;
      }
      atom.names.insert(e.text);
    }
    return add_atom(std::move(atom));
  }

  // ---- Unused definitions ---------------------------------------------------------------

  void report_unused() {
    // Only the policy's own file: shared includes legitimately define more than one service uses.
    for (const auto& [name, set] : sets_) {
      if (!set.used && set.definition->location.file == 0) {
        warning("W102", "unused set '" + name + "'", set.definition->location);
      }
    }
    for (const auto& [name, let] : lets_) {
      if (!let.used && let.definition->location.file == 0) {
        warning("W103", "unused let '" + name + "'", let.definition->location);
      }
    }
    for (const auto& spec : policy_->factors) {
      if (spec.declared && !spec.used && spec.location.file == 0) {
        warning("W104", "unused factor '" + spec.name + "': it is configured but auth never asks it",
                spec.location);
      }
    }
  }
};

}  // namespace

std::optional<Settings> load_common_settings(const std::string& block, const std::string& path) {
  if (access(path.c_str(), F_OK) != 0) return std::nullopt;
  // A settings file has no auth statement of its own: load it as the include of one.
  LoadOptions options;
  options.warnings = false;
  std::string quoted;
  for (char c : path) {
    if (c == '"' || c == '\\') quoted.push_back('\\');
    quoted.push_back(c);
  }
  const std::string folder = std::filesystem::path(path).parent_path().string();
  const LoadResult result = load_policy_text("include \"" + quoted + "\"\nauth password\n",
                                             folder + "/.common-settings.pol", options);
  if (!result.policy) return std::nullopt;
  const Policy& p = *result.policy;
  const Settings& s = block == "tpm" ? p.tpm : block == "audit" ? p.audit : p.geoip;
  if (s.values().empty()) return std::nullopt;
  return s;
}

TrustRules policy_trust_rules() {
  return TrustRules{};  // root only, no group/other write, root-owned sticky folders allowed
}

LoadResult load_policy_file(const std::string& path, const LoadOptions& options) {
  LoadResult result;
  try {
    Compiler(options, result).run(path, nullptr);
  } catch (const std::exception& e) {
    result.policy.reset();
    result.diagnostics.push_back(
        {Severity::error, "E000", std::string("internal error: ") + e.what(), Location{}, {}});
  }
  return result;
}

LoadResult load_policy_text(std::string_view text, const std::string& path,
                            const LoadOptions& options) {
  LoadResult result;
  const std::string copy(text);
  try {
    Compiler(options, result).run(path, &copy);
  } catch (const std::exception& e) {
    result.policy.reset();
    result.diagnostics.push_back(
        {Severity::error, "E000", std::string("internal error: ") + e.what(), Location{}, {}});
  }
  return result;
}

}  // namespace authpolicy
