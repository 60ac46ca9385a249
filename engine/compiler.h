// The compiler from parsed files to a checked Policy, shared by the files that implement it:
// load.cpp (files and includes), compile_declarations.cpp (factors, settings, blocks),
// compile_expressions.cpp (auth, lets, unused definitions), compile_conditions.cpp (conditions,
// atoms, sets). Internal to engine/: callers use engine/load.h.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "engine/factor_kit.h"
#include "engine/load.h"
#include "grammar/ast.h"

namespace authpolicy::compiler {

inline constexpr int kMaxIncludeDepth = 16;

std::span<const SettingRule> block_settings(std::string_view block);

// The names a factor may have without pam(), for "did you mean".
std::vector<std::string> kit_names();

inline constexpr std::chrono::seconds kMaxRecentWindow{30L * 24 * 3600};

inline constexpr std::string_view kSubjects[] = {"rhost",   "rhost.country", "rhost.asn", "user",
                                                 "service", "tty",           "ruser",     "time",
                                                 "weekday", "ssh.auth"};

// "did you mean" for a misspelt name among candidates; empty when nothing is close.
std::string suggestion(std::string_view name, const std::vector<std::string>& candidates);

// Which class of values a literal belongs to, for set typing.
enum class ElementClass { address, clock, scalar, duration };
ElementClass element_class(const ast::Literal& lit);
std::string_view class_name(ElementClass c);

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

  void run(const std::string& path, const std::string* text);

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
                 int depth);

  enum class ReadStatus { ok, missing, unreadable, unsafe };
  struct FileRead {
    ReadStatus status = ReadStatus::unreadable;
    std::string content;  // ok: the file's text
    std::string problem;  // otherwise: why, for E013 / E015
  };

  // Reads one policy file through a trusted descriptor (or, with ownership checks off, a plain
  // one) and records its identity.
  FileRead read_file(const std::string& path);

  // ---- Declarations ---------------------------------------------------------------------

  void compile();

  void collect_declarations();

  bool factor_defined_anywhere(std::string_view name) const;

  void duplicate(std::string_view what, const std::string& name, const Location& here,
                 const Location& first);

  std::string location_text(const Location& l) const;

  // Turns `factor` statements into specs: built-in kinds with settings, or pam() delegations.
  void compile_factor_definitions();

  // Types each setting against the kit's description, then applies its rules (ranges, words,
  // rules between settings) through validate_settings: the same call the providers make at
  // login, so a policy that passes here cannot fail there on its settings (E020).
  void apply_factor_settings(const ast::FactorDefinition& def, FactorSpec& spec);

  static std::vector<std::string> split_arguments(const std::string& text);

  static FactorSpec builtin_spec(const std::string& name);

  void apply_settings(const std::vector<ast::Setting>& settings,
                      std::span<const SettingRule> schema, const std::string& owner,
                      Settings& out);

  std::optional<SettingValue> setting_value(const ast::Setting& setting, SettingType type,
                                            const std::string& owner);

  std::optional<std::int64_t> parse_integer(const ast::Literal& lit);

  void compile_blocks();

  // ---- Expressions ----------------------------------------------------------------------

  void compile_auth();

  Expr* new_expr(Expr::Kind kind, const Location& location);

  std::size_t factor_for_use(const std::string& name, const Location& location);

  const Expr* compile_expression(const ast::Expression& e);

  const Expr* compile_name(const ast::Expression& e);

  const Expr* compile_let(NamedLet& let);

  const Expr* compile_combination(const ast::Expression& e);

  const Expr* compile_guarded(const ast::Expression& e);

  // ---- Conditions -----------------------------------------------------------------------

  Condition* new_condition(Condition::Kind kind);

  const Condition* compile_condition(const ast::Condition& c);

  const Condition* add_atom(Atom atom);

  const Condition* compile_failures(const ast::Condition& c);

  // recent(FACTOR, WINDOW[, rhost | tty]). The window is capped: a pass remembered for longer
  // than the audit log keeps decisions would silently be forgotten early, and a remembered
  // second factor for more than a month is no second factor.
  const Condition* compile_recent(const ast::Condition& c);

  // enrolled(FACTOR): FACTOR must be a factor (used or not); its spec carries the settings its
  // kit's enrolment store reads.
  const Condition* compile_enrolled(const ast::Condition& c);
  // date OP YYYY-MM-DD: a real calendar day.
  const Condition* compile_date(const ast::Condition& c);
  const Condition* compile_atom(const ast::Condition& c);

  // Element classes must agree within one set (checked once per named set).
  bool check_set_elements(const ast::SetLiteral& set);

  bool check_set_definition(NamedSet& set);

  bool mismatch(const ast::SetLiteral& set, std::string_view subject, std::string_view wanted,
                const std::string& set_label, const ast::SetRef& ref);

  const Condition* compile_rhost(Atom atom, const ast::SetLiteral& set, NamedSet* named,
                                 const std::string& label, const ast::SetRef& ref);

  const Condition* compile_time(Atom atom, const ast::SetLiteral& set, const std::string& label,
                                const ast::SetRef& ref);

  const Condition* compile_weekday(Atom atom, const ast::SetLiteral& set,
                                   const std::string& label, const ast::SetRef& ref);

  const Condition* compile_names(Atom atom, const std::string& subject,
                                 const ast::SetLiteral& set, const std::string& label,
                                 const ast::SetRef& ref);

  const Condition* compile_ssh_auth(Atom atom, const ast::SetLiteral& set, const std::string& label,
                                    const ast::SetRef& ref);

  // ---- Unused definitions ---------------------------------------------------------------

  void report_unused();
};

}  // namespace authpolicy::compiler
