// The syntax tree of one policy file, as written: names unresolved, literals as source text.
//
// The grammar builds it and the engine checks and compiles it. It lives beside the grammar (not in
// engine/) so that grammar/ depends on PEGTL alone and engine/ depends on grammar/, never back.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace authpolicy::ast {

// Where a node starts: the file (an index into the policy's file table) and a 1-based line and
// byte column. `length` is how many bytes the node spans on its first line (for the caret).
struct Location {
  std::uint32_t file = 0;
  std::uint32_t line = 0;
  std::uint32_t column = 0;
  std::uint32_t length = 1;
};

// A literal as written, classified by its shape only; the engine gives it a meaning.
struct Literal {
  enum class Kind {
    string,         // "text" (escapes already decoded into `text`)
    word,           // alice, KP, mon, www-data
    integer,        // 42, 0x01000000
    boolean,        // true, false
    address,        // 10.0.0.0/8, fd00::/8, 192.168.1.7
    duration,       // 15s, 10m, 1h30m, 7d
    clock_range,    // 22:00..06:00 (text holds both ends)
    word_range,     // mon..fri
  };
  Kind kind = Kind::word;
  std::string text;
  Location location;
};

struct SetLiteral {
  std::vector<Literal> elements;
  Location location;
};

// The right-hand side of `SUBJECT in ...`.
struct SetRef {
  enum class Kind { named, literal, group };
  Kind kind = Kind::named;
  std::string name;    // set name, or group name for group("wheel")
  SetLiteral literal;  // for literal
  Location location;
};

struct Condition;
using ConditionPtr = std::unique_ptr<Condition>;

struct Condition {
  enum class Kind {
    negation,
    conjunction,
    disjunction,
    membership,
    is_local,
    failures,
    recent,
    enrolled,  // enrolled(FACTOR): `factor`
    date,      // date OP YYYY-MM-DD: `comparison`, `date`
  };
  Kind kind = Kind::membership;
  Location location;
  std::vector<ConditionPtr> operands;  // negation: 1; conjunction/disjunction: 2 or more

  // membership and is_local: the subject as written ("rhost", "rhost.country", "user", ...)
  std::string subject;
  Location subject_location;
  SetRef set;  // membership only

  // failures(WINDOW[, rhost]) OP COUNT; recent(FACTOR, WINDOW[, rhost | tty])
  Literal window;
  bool by_rhost = false;
  bool by_tty = false;      // recent only
  std::string factor;       // recent and enrolled: the factor name as written
  Location factor_location;
  std::string comparison;  // ">=", ">", "<=", "<", "==", "!="
  Literal count;
  std::string date;  // date only: YYYY-MM-DD as written
  Location date_location;
};

struct Expression;
using ExpressionPtr = std::unique_ptr<Expression>;

struct Guard {
  bool unless = true;  // `unless C` when true, `if C` when false
  ConditionPtr condition;
  Location location;
};

struct Expression {
  enum class Kind {
    name,         // a factor or a let name
    permit,       // passes without asking
    any_of,       // a || b || ...
    all_of,       // a && b && ...
    k_of,         // k of (a, b, ...)
    guarded,      // operands[0] with guards applied innermost first
    negation,     // `!x`: not part of the language; parsed so the checker can say why
  };
  Kind kind = Kind::name;
  Location location;
  std::string name;                     // name
  std::vector<ExpressionPtr> operands;  // any_of, all_of, k_of, guarded (1), negation (1)
  Literal k;                            // k_of
  std::vector<Guard> guards;            // guarded: in source order (first applies first)
};

struct Setting {
  std::string key;
  Literal value;
  Location location;
};

struct Include {
  std::string path;
  Location location;
};

struct SetDefinition {
  std::string name;
  SetLiteral value;
  Location location;  // of the name
};

struct LetDefinition {
  std::string name;
  ExpressionPtr value;
  Location location;  // of the name
};

struct FactorDefinition {
  std::string name;
  bool delegates = false;  // factor NAME = pam("module.so", args...)
  std::string module;
  Location module_location;
  std::vector<std::string> arguments;
  std::vector<Setting> settings;
  Location location;  // of the name
};

struct SettingsBlock {
  std::string kind;  // "audit", "geoip", "tpm"
  std::vector<Setting> settings;
  Location location;
};

struct Deny {
  ConditionPtr condition;
  Location location;
};

struct Auth {
  ExpressionPtr expression;
  Location location;
};

// Where one statement stands in the text, so that a formatter can keep statements in their order
// and comments beside them. Offsets are bytes into the file's text.
struct StatementSpan {
  enum class Kind { include, set, let, factor, block, deny, auth };
  Kind kind = Kind::auth;
  std::size_t index = 0;    // into the File vector of that kind
  std::uint32_t begin = 0;  // its keyword
  std::uint32_t end = 0;    // past its last byte, spacing and comments after it included
};

// Everything one file says, in source order within each kind.
struct File {
  std::vector<Include> includes;
  std::vector<SetDefinition> sets;
  std::vector<LetDefinition> lets;
  std::vector<FactorDefinition> factors;
  std::vector<SettingsBlock> blocks;
  std::vector<Deny> denies;
  std::vector<Auth> auths;
  std::vector<StatementSpan> statements;  // every statement above, in source order
};

}  // namespace authpolicy::ast
