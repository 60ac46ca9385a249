// Prints a parsed policy in the one canonical layout, with the comments where the author put them.
//
// The syntax tree holds no comments and no parentheses, so the text is scanned once more for
// comments (the only '#' outside a string starts one) and each comment is attached to the
// statement, set element or setting beside it. Parentheses are printed where the tree needs them:
// around a lower-precedence operand, and around an operand of the same operator, since
// `a || (b || c)` is a different tree from `a || b || c` (the same policy, but the formatter
// never changes the tree), and where they show the reach of `!` or of a guard.
#include "grammar/format.h"

#include "grammar/parser.h"
#include "grammar/utf8.h"

#include <algorithm>
#include <cstdio>

namespace authpolicy::grammar {
namespace {

struct Comment {
  std::uint32_t begin = 0;
  std::uint32_t line = 0;  // 1-based
  bool own_line = false;   // nothing but spacing before it on its line
  bool blank_before = false;
  std::string text;  // from '#', trailing spacing removed
};

// Byte classes of the text: which bytes are code (tokens), which comments, which spacing.
class Scan {
 public:
  explicit Scan(std::string_view text) : text_(text), code_(text.size(), false) {
    line_starts_.push_back(0);
    bool in_string = false;
    for (std::size_t i = 0; i < text.size(); ++i) {
      const char c = text[i];
      if (c == '\n') {
        line_starts_.push_back(static_cast<std::uint32_t>(i + 1));
        in_string = false;  // strings never span lines in a parsed text
        continue;
      }
      if (in_string) {
        code_[i] = true;
        if (c == '\\' && i + 1 < text.size() && text[i + 1] != '\n') {
          code_[++i] = true;
        } else if (c == '"') {
          in_string = false;
        }
        continue;
      }
      if (c == '"') {
        in_string = true;
        code_[i] = true;
      } else if (c == '#') {
        std::size_t end = text.find('\n', i);
        if (end == std::string_view::npos) end = text.size();
        Comment comment;
        comment.begin = static_cast<std::uint32_t>(i);
        comment.line = static_cast<std::uint32_t>(line_starts_.size());
        std::string_view body = text.substr(i, end - i);
        while (!body.empty() && (body.back() == ' ' || body.back() == '\t' || body.back() == '\r' ||
                                 body.back() == '\f' || body.back() == '\v')) {
          body.remove_suffix(1);
        }
        comment.text = std::string(body);
        comments_.push_back(std::move(comment));
        i = end - 1;
      } else if (c != ' ' && c != '\t' && c != '\r' && c != '\f' && c != '\v') {
        code_[i] = true;
      }
    }
    for (Comment& c : comments_) {
      c.own_line = first_on_line(c.begin);
      c.blank_before = c.own_line && blank_line_before(c.begin);
    }
  }

  const std::vector<Comment>& comments() const { return comments_; }

  std::uint32_t line_of(std::uint32_t offset) const {
    const auto it = std::upper_bound(line_starts_.begin(), line_starts_.end(), offset);
    return static_cast<std::uint32_t>(it - line_starts_.begin());
  }
  std::uint32_t offset_of(const ast::Location& location) const {
    if (location.line == 0 || location.line > line_starts_.size()) return 0;
    return line_starts_[location.line - 1] + (location.column > 0 ? location.column - 1 : 0);
  }
  // Past the last code byte in [begin, end).
  std::uint32_t code_end(std::uint32_t begin, std::uint32_t end) const {
    while (end > begin && !code_[end - 1]) --end;
    return end;
  }
  bool first_on_line(std::uint32_t offset) const {
    for (std::uint32_t i = line_starts_[line_of(offset) - 1]; i < offset; ++i) {
      if (code_[i] || text_[i] == '#') return false;
    }
    return true;
  }
  // The line before `offset`'s line holds only spacing (and `offset` starts its own line).
  bool blank_line_before(std::uint32_t offset) const {
    const std::uint32_t line = line_of(offset);
    if (line < 2 || !first_on_line(offset)) return false;
    for (std::uint32_t i = line_starts_[line - 2]; i < line_starts_[line - 1] - 1; ++i) {
      if (text_[i] != ' ' && text_[i] != '\t' && text_[i] != '\r' && text_[i] != '\f' &&
          text_[i] != '\v') {
        return false;
      }
    }
    return true;
  }

 private:
  std::string_view text_;
  std::vector<bool> code_;
  std::vector<std::uint32_t> line_starts_;
  std::vector<Comment> comments_;
};

// ---- Printing the tree -------------------------------------------------------------------------

bool valid_utf8(std::string_view s) {
  for (std::size_t i = 0; i < s.size();) {
    const std::size_t length = utf8_sequence_length(s, i);
    if (length == 0) return false;
    i += length;
  }
  return true;
}

// A string literal that decodes to `value`: UTF-8 kept as written, other bytes escaped.
std::string quote(const std::string& value) {
  const bool keep_high = valid_utf8(value);
  std::string out = "\"";
  for (char ch : value) {
    const auto c = static_cast<unsigned char>(ch);
    switch (ch) {
      case '"': out += "\\\""; continue;
      case '\\': out += "\\\\"; continue;
      case '\n': out += "\\n"; continue;
      case '\t': out += "\\t"; continue;
      case '\r': out += "\\r"; continue;
      case '\0': out += "\\0"; continue;
      default: break;
    }
    if (c < 0x20 || c == 0x7F || (c >= 0x80 && !keep_high)) {
      char hex[5];
      std::snprintf(hex, sizeof hex, "\\x%02x", c);
      out += hex;
    } else {
      out.push_back(ch);
    }
  }
  return out + "\"";
}

std::string literal(const ast::Literal& lit) {
  return lit.kind == ast::Literal::Kind::string ? quote(lit.text) : lit.text;
}

std::string set_literal(const ast::SetLiteral& set) {
  if (set.elements.empty()) return "{}";
  std::string out = "{ ";
  for (std::size_t i = 0; i < set.elements.size(); ++i) {
    out += (i ? ", " : "") + literal(set.elements[i]);
  }
  return out + " }";
}

// `time in 22:00..06:00` written without braces: one clock range where the set itself starts.
bool bare_clock_range(const ast::SetRef& ref) {
  if (ref.kind != ast::SetRef::Kind::literal || ref.literal.elements.size() != 1) return false;
  const ast::Literal& only = ref.literal.elements[0];
  return only.kind == ast::Literal::Kind::clock_range && only.location.line == ref.location.line &&
         only.location.column == ref.location.column;
}

std::string set_ref(const ast::SetRef& ref) {
  switch (ref.kind) {
    case ast::SetRef::Kind::named: return ref.name;
    case ast::SetRef::Kind::group: return "group(" + quote(ref.name) + ")";
    case ast::SetRef::Kind::literal:
      return bare_clock_range(ref) ? ref.literal.elements[0].text : set_literal(ref.literal);
  }
  return {};
}

// Expressions and conditions are printed knowing `depth`, how many levels of parentheses, `!` and
// `K of (...)` the parser will have open where the text goes (as it counts them, kMaxNesting at
// most). Parentheses the tree needs are always printed: the source had them too. Parentheses
// that only show a reach (`!(rhost is local)`, `a && (b if c)`) are printed only while they
// leave the output within the parser's limit, so formatted text always parses back.
//
// Whether optional parentheses fit depends on how deep the operand itself goes: `levels` counts
// the levels an operand opens with only the parentheses the tree needs.
bool room_for_one_more(std::size_t depth) {
  return depth + 1 <= kMaxNesting;
}

bool needs_parens_in(const ast::Condition& operand, ast::Condition::Kind parent) {
  using K = ast::Condition::Kind;
  return operand.kind == K::disjunction ||
         (operand.kind == K::conjunction && parent != K::disjunction);
}

std::size_t levels(const ast::Condition& c) {
  using K = ast::Condition::Kind;
  std::size_t deepest = 0;
  for (const auto& op : c.operands) {
    const K parent = c.kind;
    deepest = std::max(deepest, (needs_parens_in(*op, parent) ? 1 : 0) + levels(*op));
  }
  return (c.kind == K::negation ? 1 : 0) + deepest;
}

bool is_compound(const ast::Condition& c) {
  return c.kind == ast::Condition::Kind::conjunction || c.kind == ast::Condition::Kind::disjunction;
}

bool is_operator(const ast::Expression& e) {
  using K = ast::Expression::Kind;
  return e.kind == K::any_of || e.kind == K::all_of || e.kind == K::guarded;
}

std::size_t levels(const ast::Expression& e) {
  using K = ast::Expression::Kind;
  std::size_t deepest = 0;
  for (const auto& op : e.operands) {
    std::size_t own = 0;
    if (e.kind == K::any_of || e.kind == K::all_of) {
      own = op->kind == e.kind || (op->kind == K::any_of && e.kind == K::all_of) ? 1 : 0;
    } else if (e.kind == K::guarded || e.kind == K::negation) {
      own = is_operator(*op) ? 1 : 0;
    } else if (e.kind == K::k_of) {
      own = 1;
    }
    deepest = std::max(deepest, own + levels(*op));
  }
  for (const auto& g : e.guards) {
    deepest = std::max(deepest, (is_compound(*g.condition) ? 1 : 0) + levels(*g.condition));
  }
  return (e.kind == K::negation ? 1 : 0) + deepest;
}

std::string condition(const ast::Condition& c, std::size_t depth);

// An operand of `!`, `&&` or `||` at `depth`, in parentheses unless it binds tighter than `parent`.
std::string condition_operand(const ast::Condition& c, ast::Condition::Kind parent,
                              std::size_t depth) {
  using K = ast::Condition::Kind;
  bool parens = false;
  // `!(rhost is local)` reads plainly where `!rhost is local` does not.
  if (parent == K::negation) {
    parens = c.kind != K::negation && room_for_one_more(depth + levels(c));
  }
  if (needs_parens_in(c, parent)) parens = true;
  if (!parens) return condition(c, depth);
  return "(" + condition(c, depth + 1) + ")";
}

std::string condition(const ast::Condition& c, std::size_t depth) {
  using K = ast::Condition::Kind;
  switch (c.kind) {
    case K::negation:
      return "!" + condition_operand(*c.operands[0], K::negation, depth + 1);
    case K::conjunction:
    case K::disjunction: {
      std::string out;
      for (std::size_t i = 0; i < c.operands.size(); ++i) {
        if (i) out += c.kind == K::conjunction ? " && " : " || ";
        out += condition_operand(*c.operands[i], c.kind, depth);
      }
      return out;
    }
    case K::membership:
      return c.subject + " in " + set_ref(c.set);
    case K::is_local:
      return c.subject + " is local";
    case K::failures:
      return "failures(" + literal(c.window) + (c.by_rhost ? ", rhost" : "") + ") " + c.comparison +
             " " + literal(c.count);
    case K::recent:
      return "recent(" + c.factor + ", " + literal(c.window) +
             (c.by_rhost ? ", rhost"
              : c.by_tty ? ", tty"
                         : "") +
             ")";
    case K::enrolled:
      return "enrolled(" + c.factor + ")";
    case K::date:
      return "date " + c.comparison + " " + c.date;
  }
  return {};
}

// A guard's condition: one unary condition, so compound ones are parenthesised.
std::string guard_condition(const ast::Condition& c, std::size_t depth) {
  return is_compound(c) ? "(" + condition(c, depth + 1) + ")" : condition(c, depth);
}

std::string expression(const ast::Expression& e, std::size_t depth);

// A primary position (guarded operand, `!` operand): anything with an operator or a guard
// needs parentheses.
std::string primary(const ast::Expression& e, std::size_t depth) {
  return is_operator(e) ? "(" + expression(e, depth + 1) + ")" : expression(e, depth);
}

std::string expression(const ast::Expression& e, std::size_t depth) {
  using K = ast::Expression::Kind;
  switch (e.kind) {
    case K::name:
      return e.name;
    case K::permit:
      return "permit";
    case K::any_of:
    case K::all_of: {
      std::string out;
      for (std::size_t i = 0; i < e.operands.size(); ++i) {
        const ast::Expression& op = *e.operands[i];
        if (i) out += e.kind == K::all_of ? " && " : " || ";
        // A guard binds tighter than && and ||; parentheses show how far it reaches, unless
        // its operand is in parentheses already: `password && (pin || u2f) unless C`.
        const bool guard_needs_parens = op.kind == K::guarded && !is_operator(*op.operands[0]) &&
                                        room_for_one_more(depth + levels(op));
        const bool parens = op.kind == e.kind || (op.kind == K::any_of && e.kind == K::all_of) ||
                            guard_needs_parens;
        out += parens ? "(" + expression(op, depth + 1) + ")" : expression(op, depth);
      }
      return out;
    }
    case K::k_of: {
      std::string out = literal(e.k) + " of (";
      for (std::size_t i = 0; i < e.operands.size(); ++i) {
        out += (i ? ", " : "") + expression(*e.operands[i], depth + 1);
      }
      return out + ")";
    }
    case K::guarded: {
      std::string out = primary(*e.operands[0], depth);
      for (const auto& g : e.guards) {
        out += (g.unless ? " unless " : " if ") + guard_condition(*g.condition, depth);
      }
      return out;
    }
    case K::negation:
      return "!" + primary(*e.operands[0], depth + 1);
  }
  return {};
}

std::string setting(const ast::Setting& s) { return s.key + " = " + literal(s.value); }

// ---- Layout ------------------------------------------------------------------------------------

// A list inside a statement (a set's elements, a block's settings) with its items' comments.
struct ItemList {
  std::vector<std::string> items;
  std::vector<std::uint32_t> offsets;
  std::vector<std::vector<std::string>> leading;  // own-line comments above each item
  std::vector<std::string> trailing;              // comment after each item on its line
  bool has_comments() const {
    for (const auto& l : leading) if (!l.empty()) return true;
    for (const auto& t : trailing) if (!t.empty()) return true;
    return false;
  }
};

struct Statement {
  const ast::StatementSpan* span = nullptr;
  std::string head;  // the statement, or what comes before its list: "set trusted = "
  bool has_list = false;
  ItemList list;
  bool list_is_set = false;
  std::uint32_t begin = 0;
  std::uint32_t code_end = 0;
  std::uint32_t end_line = 0;
  bool blank_before = false;
  std::vector<Comment> leading;   // own comments above it, in order
  std::vector<Comment> interior;  // comments inside it that belong to no item: moved above
  std::string trailing;
};

class Formatter {
 public:
  Formatter(std::string_view text, const ast::File& file) : scan_(text), file_(file) {}

  std::string run() {
    for (const auto& span : file_.statements) statements_.push_back(describe(span));
    attach_comments();
    std::string out;
    for (const Statement& s : statements_) {
      // The group (leading comments, moved comments, the statement) takes the blank line of
      // whatever came first in it.
      const bool group_blank = s.leading.empty() ? s.blank_before : s.leading.front().blank_before;
      bool first_in_group = true;
      auto line = [&](const std::string& text, bool blank) {
        if (!out.empty() && (first_in_group ? group_blank : blank)) out += "\n";
        first_in_group = false;
        out += text + "\n";
      };
      for (const Comment& c : s.leading) line(c.text, c.blank_before);
      // Moved comments take the statement's blank line; the statement follows them directly.
      for (std::size_t i = 0; i < s.interior.size(); ++i) {
        line(s.interior[i].text, i == 0 && s.blank_before);
      }
      // Moved comments stand right above the statement.
      print_statement(s, s.interior.empty() && s.blank_before,
                      [&](const std::string& text, bool blank) { line(text, blank); });
    }
    for (const Comment& c : end_comments_) {
      if (!out.empty() && c.blank_before) out += "\n";
      out += c.text + "\n";
    }
    return out;
  }

 private:
  Scan scan_;
  const ast::File& file_;
  std::vector<Statement> statements_;
  std::vector<Comment> end_comments_;

  Statement describe(const ast::StatementSpan& span) {
    using K = ast::StatementSpan::Kind;
    Statement s;
    s.span = &span;
    s.begin = span.begin;
    s.code_end = scan_.code_end(span.begin, span.end);
    s.end_line = scan_.line_of(s.code_end > 0 ? s.code_end - 1 : 0);
    s.blank_before = scan_.blank_line_before(span.begin);
    auto settings_list = [&](const std::vector<ast::Setting>& settings) {
      s.has_list = true;
      for (const auto& st : settings) {
        s.list.items.push_back(setting(st));
        s.list.offsets.push_back(scan_.offset_of(st.location));
      }
    };
    switch (span.kind) {
      case K::include: s.head = "include " + quote(file_.includes[span.index].path); break;
      case K::set: {
        const auto& def = file_.sets[span.index];
        s.head = "set " + def.name + " = ";
        s.has_list = true;
        s.list_is_set = true;
        for (const auto& el : def.value.elements) {
          s.list.items.push_back(literal(el));
          s.list.offsets.push_back(scan_.offset_of(el.location));
        }
        break;
      }
      case K::let: {
        const auto& def = file_.lets[span.index];
        s.head = "let " + def.name + " = " + expression(*def.value, 0);
        break;
      }
      case K::factor: {
        const auto& def = file_.factors[span.index];
        s.head = "factor " + def.name + " ";
        if (def.delegates) {
          s.head += "= pam(" + quote(def.module);
          for (const auto& a : def.arguments) s.head += ", " + quote(a);
          s.head += ")";
          if (!def.settings.empty()) {
            s.head += " ";
            settings_list(def.settings);
          }
        } else {
          settings_list(def.settings);
        }
        break;
      }
      case K::block: {
        const auto& block = file_.blocks[span.index];
        s.head = block.kind + " ";
        settings_list(block.settings);
        break;
      }
      case K::deny: s.head = "deny if " + condition(*file_.denies[span.index].condition, 0); break;
      case K::auth: s.head = "auth " + expression(*file_.auths[span.index].expression, 0); break;
    }
    const std::size_t n = s.list.items.size();
    s.list.leading.resize(n);
    s.list.trailing.resize(n);
    return s;
  }

  void attach_comments() {
    const auto& comments = scan_.comments();
    std::size_t next = 0;  // statement index whose begin is after the comment
    for (const Comment& c : comments) {
      while (next < statements_.size() && statements_[next].begin <= c.begin) ++next;
      if (next == 0) {
        if (statements_.empty()) end_comments_.push_back(c);
        else statements_[0].leading.push_back(c);
        continue;
      }
      Statement& s = statements_[next - 1];
      if (c.begin < s.code_end) {
        attach_interior(s, c);
      } else if (!c.own_line && c.line == s.end_line && s.trailing.empty()) {
        s.trailing = c.text;
      } else if (next < statements_.size()) {
        statements_[next].leading.push_back(c);
      } else {
        end_comments_.push_back(c);
      }
    }
  }

  void attach_interior(Statement& s, const Comment& c) {
    ItemList& list = s.list;
    if (!c.own_line) {
      for (std::size_t i = list.offsets.size(); i-- > 0;) {
        if (list.offsets[i] < c.begin) {
          if (scan_.line_of(list.offsets[i]) == c.line && list.trailing[i].empty()) {
            list.trailing[i] = c.text;
            return;
          }
          break;
        }
      }
    }
    for (std::size_t i = 0; i < list.offsets.size(); ++i) {
      if (list.offsets[i] > c.begin) {
        list.leading[i].push_back(c.text);
        return;
      }
    }
    s.interior.push_back(c);
  }

  template <typename Line>
  void print_statement(const Statement& s, bool blank_before, Line line) const {
    const std::string trailing = s.trailing.empty() ? "" : "  " + s.trailing;
    if (!s.has_list) {
      line(s.head + trailing, blank_before);
      return;
    }
    const ItemList& list = s.list;
    std::string one_line;
    if (list.items.empty()) {
      one_line = s.head + "{}";
    } else if (s.list_is_set) {
      one_line = s.head + "{ ";
      for (std::size_t i = 0; i < list.items.size(); ++i) one_line += (i ? ", " : "") + list.items[i];
      one_line += " }";
    } else {
      one_line = s.head + "{ ";
      for (std::size_t i = 0; i < list.items.size(); ++i) one_line += (i ? "; " : "") + list.items[i];
      one_line += " }";
    }
    if (!list.has_comments() && one_line.size() <= kFormatWidth) {
      line(one_line + trailing, blank_before);
      return;
    }
    line(s.head + "{", blank_before);
    for (std::size_t i = 0; i < list.items.size(); ++i) {
      for (const auto& c : list.leading[i]) line("  " + c, false);
      const std::string comment = list.trailing[i].empty() ? "" : "  " + list.trailing[i];
      // The grammar takes no comma after a set's last element.
      const bool comma = s.list_is_set && i + 1 < list.items.size();
      line("  " + list.items[i] + (comma ? "," : "") + comment, false);
    }
    line("}" + trailing, false);
  }
};

// ---- Dump ----------------------------------------------------------------------------------------

void dump_literal(std::string& out, const ast::Literal& lit) {
  out += "literal " + std::to_string(static_cast<int>(lit.kind)) + " " + quote(lit.text);
}

void dump_condition(std::string& out, const ast::Condition& c, int depth) {
  out += std::string(depth * 2, ' ') + "condition " + std::to_string(static_cast<int>(c.kind)) +
         " " + c.subject;
  if (c.kind == ast::Condition::Kind::membership) {
    out += " set " + std::to_string(static_cast<int>(c.set.kind)) + " " + quote(c.set.name);
    for (const auto& el : c.set.literal.elements) {
      out += " ";
      dump_literal(out, el);
    }
  }
  if (c.kind == ast::Condition::Kind::recent) {
    out += " factor " + c.factor + " window ";
    dump_literal(out, c.window);
    out += c.by_rhost ? " by rhost" : c.by_tty ? " by tty" : "";
  }
  if (c.kind == ast::Condition::Kind::enrolled) out += " factor " + c.factor;
  if (c.kind == ast::Condition::Kind::date) out += " " + c.comparison + " " + c.date;
  if (c.kind == ast::Condition::Kind::failures) {
    out += " window ";
    dump_literal(out, c.window);
    out += std::string(c.by_rhost ? " by rhost " : " ") + c.comparison + " ";
    dump_literal(out, c.count);
  }
  out += "\n";
  for (const auto& op : c.operands) dump_condition(out, *op, depth + 1);
}

void dump_expression(std::string& out, const ast::Expression& e, int depth) {
  out += std::string(depth * 2, ' ') + "expression " + std::to_string(static_cast<int>(e.kind)) +
         " " + e.name;
  if (e.kind == ast::Expression::Kind::k_of) {
    out += " k ";
    dump_literal(out, e.k);
  }
  out += "\n";
  for (const auto& op : e.operands) dump_expression(out, *op, depth + 1);
  for (const auto& g : e.guards) {
    out += std::string(depth * 2 + 2, ' ') + (g.unless ? "unless\n" : "if\n");
    dump_condition(out, *g.condition, depth + 2);
  }
}

void dump_settings(std::string& out, const std::vector<ast::Setting>& settings) {
  for (const auto& s : settings) {
    out += "  setting " + s.key + " ";
    dump_literal(out, s.value);
    out += "\n";
  }
}

}  // namespace

FormatResult format_policy_text(std::string_view text) {
  FormatResult result;
  ParseResult parsed = parse_policy_text(text, 0);
  if (!parsed.file) {
    result.error = std::move(parsed.error);
    return result;
  }
  result.text = Formatter(text, *parsed.file).run();
  return result;
}

std::string syntax_dump(const ast::File& file) {
  using K = ast::StatementSpan::Kind;
  std::string out;
  for (const auto& span : file.statements) {
    switch (span.kind) {
      case K::include: out += "include " + quote(file.includes[span.index].path) + "\n"; break;
      case K::set:
        out += "set " + file.sets[span.index].name + "\n";
        for (const auto& el : file.sets[span.index].value.elements) {
          out += "  ";
          dump_literal(out, el);
          out += "\n";
        }
        break;
      case K::let:
        out += "let " + file.lets[span.index].name + "\n";
        dump_expression(out, *file.lets[span.index].value, 1);
        break;
      case K::factor: {
        const auto& f = file.factors[span.index];
        out += "factor " + f.name + (f.delegates ? " pam " + quote(f.module) : "");
        for (const auto& a : f.arguments) out += " " + quote(a);
        out += "\n";
        dump_settings(out, f.settings);
        break;
      }
      case K::block:
        out += "block " + file.blocks[span.index].kind + "\n";
        dump_settings(out, file.blocks[span.index].settings);
        break;
      case K::deny:
        out += "deny\n";
        dump_condition(out, *file.denies[span.index].condition, 1);
        break;
      case K::auth:
        out += "auth\n";
        dump_expression(out, *file.auths[span.index].expression, 1);
        break;
    }
  }
  return out;
}

}  // namespace authpolicy::grammar
