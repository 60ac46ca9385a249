// Printing conditions and expressions the way a person would write them.
#include "engine/describe.h"

namespace authpolicy {

std::string describe(const ast::Literal& literal) {
  if (literal.kind != ast::Literal::Kind::string) return literal.text;
  std::string out = "\"";
  for (char c : literal.text) {
    if (c == '"' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  return out + "\"";
}

namespace {

std::string describe_set(const ast::SetRef& set) {
  switch (set.kind) {
    case ast::SetRef::Kind::named: return set.name;
    case ast::SetRef::Kind::group: return "group(\"" + set.name + "\")";
    case ast::SetRef::Kind::literal: break;
  }
  if (set.literal.elements.size() == 1 &&
      set.literal.elements[0].kind == ast::Literal::Kind::clock_range) {
    return set.literal.elements[0].text;
  }
  std::string out = "{ ";
  for (std::size_t i = 0; i < set.literal.elements.size(); ++i) {
    if (i) out += ", ";
    out += describe(set.literal.elements[i]);
  }
  return out + " }";
}

// Wraps compound operands in parentheses so the text reads back with the same meaning.
std::string operand(const ast::Condition& c) {
  const bool compound = c.kind == ast::Condition::Kind::conjunction ||
                        c.kind == ast::Condition::Kind::disjunction;
  return compound ? "(" + describe(c) + ")" : describe(c);
}

}  // namespace

std::string describe(const ast::Condition& c) {
  switch (c.kind) {
    case ast::Condition::Kind::negation: {
      const auto& inner = *c.operands.at(0);
      const bool atomic = inner.kind == ast::Condition::Kind::negation;
      return "!" + (atomic ? describe(inner) : "(" + describe(inner) + ")");
    }
    case ast::Condition::Kind::conjunction:
    case ast::Condition::Kind::disjunction: {
      const char* op = c.kind == ast::Condition::Kind::conjunction ? " && " : " || ";
      std::string out;
      for (std::size_t i = 0; i < c.operands.size(); ++i) {
        if (i) out += op;
        out += operand(*c.operands[i]);
      }
      return out;
    }
    case ast::Condition::Kind::is_local: return c.subject + " is local";
    case ast::Condition::Kind::membership: return c.subject + " in " + describe_set(c.set);
    case ast::Condition::Kind::failures:
      return "failures(" + c.window.text + (c.by_rhost ? ", rhost" : "") + ") " + c.comparison +
             " " + c.count.text;
    case ast::Condition::Kind::recent:
      return "recent(" + c.factor + ", " + c.window.text +
             (c.by_rhost ? ", rhost" : c.by_tty ? ", tty" : "") + ")";
    case ast::Condition::Kind::enrolled: return "enrolled(" + c.factor + ")";
    case ast::Condition::Kind::date: return "date " + c.comparison + " " + c.date;
  }
  return "?";
}

std::string describe(const Policy& policy, const Condition& c) {
  switch (c.kind) {
    case Condition::Kind::atom: return policy.atoms.at(c.atom).text;
    case Condition::Kind::negation: return "!(" + describe(policy, *c.operands.at(0)) + ")";
    case Condition::Kind::conjunction:
    case Condition::Kind::disjunction: {
      std::string out;
      for (std::size_t i = 0; i < c.operands.size(); ++i) {
        if (i) out += c.kind == Condition::Kind::conjunction ? " && " : " || ";
        const bool compound = c.operands[i]->kind == Condition::Kind::conjunction ||
                              c.operands[i]->kind == Condition::Kind::disjunction;
        out += compound ? "(" + describe(policy, *c.operands[i]) + ")"
                        : describe(policy, *c.operands[i]);
      }
      return out;
    }
  }
  return "?";
}

namespace {

// Lets share nodes, so the text of an expression can be exponentially longer than its policy
// (`let l2 = l1 && l1`, ...): writing stops at this many bytes.
constexpr std::size_t kExpressionTextLimit = 65536;

void append(const Policy& policy, const Expr& e, std::string& out) {
  if (out.size() >= kExpressionTextLimit) return;
  auto wrapped = [&](const Expr& operand, bool wrap) {
    if (wrap) out += "(";
    append(policy, operand, out);
    if (wrap) out += ")";
  };
  switch (e.kind) {
    case Expr::Kind::factor: out += policy.factors.at(e.factor).name; return;
    case Expr::Kind::permit: out += "permit"; return;
    case Expr::Kind::any_of:
    case Expr::Kind::all_of:
      for (std::size_t i = 0; i < e.operands.size() && out.size() < kExpressionTextLimit; ++i) {
        if (i) out += e.kind == Expr::Kind::all_of ? " && " : " || ";
        const auto kind = e.operands[i]->kind;
        wrapped(*e.operands[i], kind == Expr::Kind::any_of || kind == Expr::Kind::all_of ||
                                    kind == Expr::Kind::guarded);
      }
      return;
    case Expr::Kind::k_of:
      out += std::to_string(e.k) + " of (";
      for (std::size_t i = 0; i < e.operands.size() && out.size() < kExpressionTextLimit; ++i) {
        if (i) out += ", ";
        append(policy, *e.operands[i], out);
      }
      out += ")";
      return;
    case Expr::Kind::guarded: {
      const auto kind = e.operands.at(0)->kind;
      wrapped(*e.operands[0], kind == Expr::Kind::any_of || kind == Expr::Kind::all_of);
      for (const auto& g : e.guards) {
        if (out.size() >= kExpressionTextLimit) return;
        out += (g.unless ? " unless " : " if ") + g.text;
      }
      return;
    }
  }
  out += "?";
}

}  // namespace

std::string describe(const Policy& policy, const Expr& e) {
  std::string out;
  append(policy, e, out);
  if (out.size() >= kExpressionTextLimit) {
    out.resize(kExpressionTextLimit);
    while (!out.empty() && (static_cast<unsigned char>(out.back()) & 0xC0) == 0x80) out.pop_back();
    if (!out.empty() && static_cast<unsigned char>(out.back()) >= 0xC0) out.pop_back();  // lead byte
    out += " ...";
  }
  return out;
}

}  // namespace authpolicy
