// Runs the PEGTL grammar over a policy text and turns the parse tree into the syntax tree.
#include "grammar/parser.h"

#include <tao/pegtl/contrib/parse_tree.hpp>
#include <vector>

#include "grammar/grammar.h"

namespace authpolicy::grammar {
namespace {

namespace pt = p::parse_tree;

// Parse-tree nodes are recycled through a free list that lives for one parse: PEGTL allocates a
// node for every attempt of a non-leaf rule, so reuse keeps parsing off the allocator (the module
// parses on every login). The thread-local is a plain pointer on purpose: a thread-local with a
// destructor inside a dlopen()ed PAM module outlives the module's unloading badly.
struct NodePool {
  std::vector<void*> free;
  NodePool() = default;
  NodePool(const NodePool&) = delete;
  NodePool& operator=(const NodePool&) = delete;
  ~NodePool() {
    for (void* p : free) ::operator delete(p);
  }
};

NodePool*& active_pool() {
  thread_local NodePool* pool = nullptr;
  return pool;
}

struct Node : pt::basic_node<Node> {
  static void* operator new(std::size_t size) {
    NodePool* pool = active_pool();
    if (pool && size == sizeof(Node) && !pool->free.empty()) {
      void* p = pool->free.back();
      pool->free.pop_back();
      return p;
    }
    return ::operator new(size);
  }
  static void operator delete(void* p, std::size_t size) noexcept {
    NodePool* pool = active_pool();
    if (pool && size == sizeof(Node) && pool->free.size() < 4096) {
      try {
        pool->free.push_back(p);
        return;
      } catch (...) {
      }
    }
    ::operator delete(p);
  }
};

// Makes `pool` the active one for the current scope.
class PoolScope {
 public:
  explicit PoolScope(NodePool& pool) : previous_(active_pool()) { active_pool() = &pool; }
  ~PoolScope() { active_pool() = previous_; }
  PoolScope(const PoolScope&) = delete;
  PoolScope& operator=(const PoolScope&) = delete;

 private:
  NodePool* previous_;
};

// clang-format off
template <typename Rule>
using selector = pt::selector<Rule, pt::store_content::on<
    // names
    set_name, let_name, factor_name, name_ref, set_name_ref, setting_key, block_kind, subject,
    // literals
    string_lit, integer, boolean, duration, clock_range, word_range, address, word, comparison,
    // conditions
    not_condition, paren_condition, cond_and, condition, subject_atom, membership_tail,
    is_local_tail, group_ref, set_literal, failures_atom, by_rhost, window, count,
    // expressions
    expression, all_of, guarded, guard_unless, guard_if, k_of, k_count, negated_expression,
    permit, paren_expression,
    // statements
    setting, settings_block, module_name, module_argument, factor_delegation,
    include_statement, set_statement, let_statement, factor_statement, block_statement,
    deny_statement, auth_statement>>;
// clang-format on

// Thrown inside the converter for problems the grammar cannot express (over-long names).
struct ConversionError {
  ast::Location location;
  std::string message;
};

class Converter {
 public:
  explicit Converter(std::uint32_t file_index) : file_index_(file_index) {}

  ast::File convert_file(const Node& root) {
    ast::File file;
    for (const auto& child : root.children) convert_statement(*child, file);
    return file;
  }

 private:
  std::uint32_t file_index_;

  ast::Location location(const Node& n) const {
    ast::Location loc;
    loc.file = file_index_;
    const auto pos = n.begin();
    loc.line = static_cast<std::uint32_t>(pos.line);
    loc.column = static_cast<std::uint32_t>(pos.column);
    std::string_view text = n.has_content() ? n.string_view() : std::string_view{};
    const auto newline = text.find('\n');
    if (newline != std::string_view::npos) text = text.substr(0, newline);
    while (!text.empty() && (text.back() == ' ' || text.back() == '\t' || text.back() == '\r')) {
      text.remove_suffix(1);
    }
    loc.length = static_cast<std::uint32_t>(std::max<std::size_t>(1, text.size()));
    return loc;
  }

  // The text of a name token with trailing spacing removed, length-checked.
  std::string name_text(const Node& n) const {
    std::string_view text = n.string_view();
    std::string name(text.substr(0, text.find_first_of(" \t\r\n#")));
    if (name.size() > kMaxNameLength) {
      throw ConversionError{location(n), "name longer than " + std::to_string(kMaxNameLength) +
                                             " characters"};
    }
    return name;
  }

  static std::string trimmed(const Node& n) {
    std::string_view text = n.string_view();
    while (!text.empty() && (text.back() == ' ' || text.back() == '\t' || text.back() == '\r' ||
                             text.back() == '\n')) {
      text.remove_suffix(1);
    }
    return std::string(text);
  }

  // Decodes a string literal's escapes; the grammar already rejected unknown ones.
  static std::string decode_string(std::string_view quoted) {
    std::string out;
    const std::string_view body = quoted.substr(1, quoted.size() - 2);
    for (std::size_t i = 0; i < body.size(); ++i) {
      if (body[i] != '\\') {
        out.push_back(body[i]);
        continue;
      }
      const char e = body[++i];
      switch (e) {
        case 'n': out.push_back('\n'); break;
        case 't': out.push_back('\t'); break;
        case 'r': out.push_back('\r'); break;
        case '0': out.push_back('\0'); break;
        case 'x': {
          out.push_back(static_cast<char>(std::stoi(std::string(body.substr(i + 1, 2)), nullptr, 16)));
          i += 2;
          break;
        }
        default: out.push_back(e); break;
      }
    }
    return out;
  }

  ast::Literal literal(const Node& n) const {
    ast::Literal lit;
    lit.location = location(n);
    if (n.is_type<string_lit>()) {
      lit.kind = ast::Literal::Kind::string;
      lit.text = decode_string(n.string_view());
      return lit;
    }
    lit.text = trimmed(n);
    if (n.is_type<integer>()) lit.kind = ast::Literal::Kind::integer;
    else if (n.is_type<boolean>()) lit.kind = ast::Literal::Kind::boolean;
    else if (n.is_type<duration>()) lit.kind = ast::Literal::Kind::duration;
    else if (n.is_type<clock_range>()) lit.kind = ast::Literal::Kind::clock_range;
    else if (n.is_type<word_range>()) lit.kind = ast::Literal::Kind::word_range;
    else if (n.is_type<address>()) lit.kind = ast::Literal::Kind::address;
    else lit.kind = ast::Literal::Kind::word;
    if (lit.kind == ast::Literal::Kind::word && lit.text.size() > kMaxNameLength) {
      throw ConversionError{lit.location, "name longer than " + std::to_string(kMaxNameLength) +
                                              " characters"};
    }
    return lit;
  }

  ast::SetLiteral set_literal_of(const Node& n) const {
    ast::SetLiteral set;
    set.location = location(n);
    for (const auto& child : n.children) set.elements.push_back(literal(*child));
    return set;
  }

  ast::SetRef set_ref_of(const Node& n) const {
    ast::SetRef ref;
    ref.location = location(n);
    if (n.is_type<set_literal>()) {
      ref.kind = ast::SetRef::Kind::literal;
      ref.literal = set_literal_of(n);
    } else if (n.is_type<group_ref>()) {
      ref.kind = ast::SetRef::Kind::group;
      ref.name = decode_string(trimmed(*n.children.at(0)));
    } else if (n.is_type<clock_range>()) {
      ref.kind = ast::SetRef::Kind::literal;
      ref.literal.location = ref.location;
      ref.literal.elements.push_back(literal(n));
    } else {
      ref.kind = ast::SetRef::Kind::named;
      ref.name = name_text(n);
    }
    return ref;
  }

  ast::ConditionPtr condition_of(const Node& n) const {
    auto c = std::make_unique<ast::Condition>();
    c->location = location(n);
    if (n.is_type<condition>() || n.is_type<cond_and>()) {
      if (n.children.size() == 1) return condition_of(*n.children[0]);
      c->kind = n.is_type<condition>() ? ast::Condition::Kind::disjunction
                                       : ast::Condition::Kind::conjunction;
      for (const auto& child : n.children) c->operands.push_back(condition_of(*child));
      return c;
    }
    if (n.is_type<paren_condition>()) return condition_of(*n.children.at(0));
    if (n.is_type<not_condition>()) {
      c->kind = ast::Condition::Kind::negation;
      c->operands.push_back(condition_of(*n.children.at(0)));
      return c;
    }
    if (n.is_type<failures_atom>()) {
      c->kind = ast::Condition::Kind::failures;
      c->subject = "failures";
      c->subject_location = c->location;
      for (const auto& child : n.children) {
        if (child->is_type<window>()) c->window = literal(*child->children.at(0));
        else if (child->is_type<by_rhost>()) c->by_rhost = true;
        else if (child->is_type<comparison>()) c->comparison = trimmed(*child);
        else if (child->is_type<count>()) c->count = literal(*child->children.at(0));
      }
      return c;
    }
    // subject_atom: subject, then `in SET` or `is local`
    const Node& subject_node = *n.children.at(0);
    c->subject = name_text(subject_node);
    c->subject_location = location(subject_node);
    const Node& tail = *n.children.at(1);
    if (tail.is_type<is_local_tail>()) {
      c->kind = ast::Condition::Kind::is_local;
      return c;
    }
    c->kind = ast::Condition::Kind::membership;
    c->set = set_ref_of(*tail.children.at(0));
    return c;
  }

  ast::ExpressionPtr expression_of(const Node& n) const {
    auto e = std::make_unique<ast::Expression>();
    e->location = location(n);
    if (n.is_type<expression>() || n.is_type<all_of>()) {
      if (n.children.size() == 1) return expression_of(*n.children[0]);
      e->kind = n.is_type<expression>() ? ast::Expression::Kind::any_of
                                        : ast::Expression::Kind::all_of;
      for (const auto& child : n.children) e->operands.push_back(expression_of(*child));
      return e;
    }
    if (n.is_type<guarded>()) {
      if (n.children.size() == 1) return expression_of(*n.children[0]);
      e->kind = ast::Expression::Kind::guarded;
      e->operands.push_back(expression_of(*n.children[0]));
      for (std::size_t i = 1; i + 1 < n.children.size(); i += 2) {
        ast::Guard g;
        g.unless = n.children[i]->is_type<guard_unless>();
        g.location = location(*n.children[i]);
        g.condition = condition_of(*n.children[i + 1]);
        e->guards.push_back(std::move(g));
      }
      return e;
    }
    if (n.is_type<paren_expression>()) return expression_of(*n.children.at(0));
    if (n.is_type<permit>()) {
      e->kind = ast::Expression::Kind::permit;
      e->location.length = 6;
      return e;
    }
    if (n.is_type<negated_expression>()) {
      e->kind = ast::Expression::Kind::negation;
      e->operands.push_back(expression_of(*n.children.at(0)));
      return e;
    }
    if (n.is_type<k_of>()) {
      e->kind = ast::Expression::Kind::k_of;
      e->k = literal(*n.children.at(0)->children.at(0));
      for (std::size_t i = 1; i < n.children.size(); ++i) {
        e->operands.push_back(expression_of(*n.children[i]));
      }
      return e;
    }
    e->kind = ast::Expression::Kind::name;
    e->name = name_text(n);
    e->location.length = static_cast<std::uint32_t>(e->name.size());
    return e;
  }

  std::vector<ast::Setting> settings_of(const Node& block) const {
    std::vector<ast::Setting> out;
    for (const auto& s : block.children) {
      ast::Setting setting;
      setting.key = name_text(*s->children.at(0));
      setting.location = location(*s->children.at(0));
      setting.value = literal(*s->children.at(1));
      out.push_back(std::move(setting));
    }
    return out;
  }

  void convert_statement(const Node& n, ast::File& file) const {
    if (n.is_type<include_statement>()) {
      const Node& path = *n.children.at(0);
      file.includes.push_back({decode_string(trimmed(path)), location(path)});
    } else if (n.is_type<set_statement>()) {
      ast::SetDefinition def;
      def.name = name_text(*n.children.at(0));
      def.location = location(*n.children.at(0));
      def.value = set_literal_of(*n.children.at(1));
      file.sets.push_back(std::move(def));
    } else if (n.is_type<let_statement>()) {
      ast::LetDefinition def;
      def.name = name_text(*n.children.at(0));
      def.location = location(*n.children.at(0));
      def.value = expression_of(*n.children.at(1));
      file.lets.push_back(std::move(def));
    } else if (n.is_type<factor_statement>()) {
      ast::FactorDefinition def;
      def.name = name_text(*n.children.at(0));
      def.location = location(*n.children.at(0));
      const Node& body = *n.children.at(1);
      if (body.is_type<settings_block>()) {
        def.settings = settings_of(body);
      } else {  // factor_delegation: module_name, module_argument..., settings_block?
        def.delegates = true;
        for (const auto& part : body.children) {
          if (part->is_type<module_name>()) {
            def.module = decode_string(trimmed(*part->children.at(0)));
            def.module_location = location(*part);
          } else if (part->is_type<module_argument>()) {
            def.arguments.push_back(decode_string(trimmed(*part->children.at(0))));
          } else if (part->is_type<settings_block>()) {
            def.settings = settings_of(*part);
          }
        }
      }
      file.factors.push_back(std::move(def));
    } else if (n.is_type<block_statement>()) {
      ast::SettingsBlock block;
      block.kind = trimmed(*n.children.at(0));
      block.location = location(*n.children.at(0));
      block.settings = settings_of(*n.children.at(1));
      file.blocks.push_back(std::move(block));
    } else if (n.is_type<deny_statement>()) {
      file.denies.push_back({condition_of(*n.children.at(0)), location(n)});
    } else if (n.is_type<auth_statement>()) {
      ast::Auth auth;
      auth.location = location(n);
      auth.location.length = 4;
      auth.expression = expression_of(*n.children.at(0));
      file.auths.push_back(std::move(auth));
    }
  }
};

// Returns the location of the first byte that is NUL or breaks UTF-8, if any.
std::optional<SyntaxError> check_encoding(std::string_view text, std::uint32_t file_index) {
  std::uint32_t line = 1;
  std::uint32_t column = 1;
  auto fail = [&](const char* message) {
    return SyntaxError{ast::Location{file_index, line, column, 1}, message};
  };
  for (std::size_t i = 0; i < text.size();) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c == 0) return fail("NUL byte in policy text");
    if (c == '\n') {
      ++line;
      column = 1;
      ++i;
      continue;
    }
    std::size_t extra = 0;
    std::uint32_t code = 0;
    if (c < 0x80) extra = 0;
    else if ((c & 0xE0) == 0xC0) { extra = 1; code = c & 0x1F; }
    else if ((c & 0xF0) == 0xE0) { extra = 2; code = c & 0x0F; }
    else if ((c & 0xF8) == 0xF0) { extra = 3; code = c & 0x07; }
    else return fail("invalid UTF-8 in policy text");
    if (extra > 0 && i + extra >= text.size()) return fail("invalid UTF-8 in policy text");
    for (std::size_t k = 1; k <= extra; ++k) {
      const auto cc = static_cast<unsigned char>(text[i + k]);
      if ((cc & 0xC0) != 0x80) return fail("invalid UTF-8 in policy text");
      code = (code << 6) | (cc & 0x3F);
    }
    const bool overlong = (extra == 1 && code < 0x80) || (extra == 2 && code < 0x800) ||
                          (extra == 3 && code < 0x10000);
    if (overlong || code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF)) {
      return fail("invalid UTF-8 in policy text");
    }
    i += extra + 1;
    ++column;
  }
  return std::nullopt;
}

}  // namespace

ParseResult parse_policy_text(std::string_view text, std::uint32_t file_index) {
  ParseResult result;
  if (text.size() > kMaxPolicyBytes) {
    result.error = SyntaxError{ast::Location{file_index, 1, 1, 1},
                               "policy text is " + std::to_string(text.size()) +
                                   " bytes; the limit is 1 MiB"};
    return result;
  }
  if (auto bad = check_encoding(text, file_index)) {
    result.error = std::move(bad);
    return result;
  }
  NestingDepth::value() = 0;
  NodePool pool;  // declared before the scope: every node returns to it before it goes
  PoolScope pool_scope(pool);
  try {
    p::memory_input<> in(text.data(), text.size(), "policy");
    auto root = pt::parse<policy, Node, selector, p::nothing, control>(in);
    if (!root) {
      result.error = SyntaxError{ast::Location{file_index, 1, 1, 1}, "not a policy"};
      return result;
    }
    result.file = Converter(file_index).convert_file(*root);
  } catch (const p::parse_error& e) {
    const auto& pos = e.positions().front();
    result.error = SyntaxError{ast::Location{file_index, static_cast<std::uint32_t>(pos.line),
                                             static_cast<std::uint32_t>(pos.column), 1},
                               std::string(e.message())};
  } catch (const ConversionError& e) {
    result.error = SyntaxError{e.location, e.message};
  } catch (const std::exception& e) {
    result.error = SyntaxError{ast::Location{file_index, 1, 1, 1},
                               std::string("cannot parse: ") + e.what()};
  }
  return result;
}

}  // namespace authpolicy::grammar
