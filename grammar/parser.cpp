// Runs the PEGTL grammar over a policy text and turns the parse tree into the syntax tree.
#include "grammar/parser.h"

#include <array>
#include <cstddef>
#include <memory_resource>
#include <stdexcept>
#include <type_traits>
#include <vector>

#include "grammar/grammar.h"
#include "grammar/utf8.h"

namespace authpolicy::grammar {
namespace {

// The syntax tree is built from a flat parse tree: one record per match of a selected rule,
// kept in vectors that are reserved once per parse. PEGTL's own parse_tree allocates a heap node
// for every attempt of a selected rule, and that allocation was most of the cost of a login's
// policy load.

// clang-format off
template <typename... Rules>
struct RuleList {
  template <typename Rule>
  static constexpr int index() {
    int i = 0;
    int found = -1;
    ((std::is_same_v<Rule, Rules> ? (found = i, ++i) : ++i), ...);
    return found;
  }
};
using Selected = RuleList<
    // names
    set_name, let_name, factor_name, name_ref, set_name_ref, setting_key, block_kind, subject,
    // literals
    string_lit, integer, boolean, duration, clock_range, word_range, address, word, comparison,
    // conditions
    not_condition, paren_condition, cond_and, condition, subject_atom, membership_tail,
    is_local_tail, group_ref, set_literal, failures_atom, by_rhost, window, count,
    recent_atom, recent_factor, recent_rhost, recent_tty, enrolled_atom, enrolled_factor,
    date_atom, date_day,
    // expressions
    expression, all_of, guarded, guard_unless, guard_if, k_of, k_count, negated_expression,
    permit, paren_expression,
    // statements
    setting, settings_block, module_name, module_argument, factor_delegation,
    include_statement, set_statement, let_statement, factor_statement, block_statement,
    deny_statement, auth_statement>;
// clang-format on

template <typename Rule>
inline constexpr int kRuleId = Selected::index<Rule>();

struct FlatNode {
  int rule;
  const char* begin;
  const char* end;
  std::uint32_t line;
  std::uint32_t column;
  std::uint32_t first_child;  // index into FlatTree::children
  std::uint32_t child_count;
};

// Matched nodes in post-order. `open` holds nodes not yet adopted by a parent; `attempts` one
// entry per rule being tried that can build nodes, so a failed attempt drops what it built.
// The vectors live in a buffer on the parsing thread's stack and only reach the heap for big
// policies.
class FlatTree {
 public:
  FlatTree()
      : arena_(buffer_.data(), buffer_.size()),
        nodes_(&arena_),
        children_(&arena_),
        open_(&arena_),
        attempts_(&arena_) {
    nodes_.reserve(64);
    children_.reserve(64);
    open_.reserve(32);
    attempts_.reserve(64);
  }
  FlatTree(const FlatTree&) = delete;
  FlatTree& operator=(const FlatTree&) = delete;

  template <typename ParseInput>
  void start(const ParseInput& in) {
    const auto& it = in.iterator();
    attempts_.push_back({static_cast<std::uint32_t>(open_.size()),
                         static_cast<std::uint32_t>(nodes_.size()),
                         static_cast<std::uint32_t>(children_.size()), it.data,
                         static_cast<std::uint32_t>(it.line), static_cast<std::uint32_t>(it.column)});
  }

  template <typename ParseInput>
  void success(int rule, const ParseInput& in) {
    const Attempt a = attempts_.back();
    attempts_.pop_back();
    const auto first = static_cast<std::uint32_t>(children_.size());
    children_.insert(children_.end(), open_.begin() + a.open, open_.end());
    open_.resize(a.open);
    nodes_.push_back({rule, a.begin, in.current(), a.line, a.column, first,
                      static_cast<std::uint32_t>(children_.size() - first)});
    open_.push_back(static_cast<std::uint32_t>(nodes_.size() - 1));
  }

  // An unselected rule matched: what it built stays open for the enclosing selected rule.
  void pass() { attempts_.pop_back(); }

  void failure() {
    const Attempt a = attempts_.back();
    attempts_.pop_back();
    // Most failed attempts built nothing; skip the calls then.
    if (open_.size() != a.open) open_.resize(a.open);
    if (nodes_.size() != a.nodes) nodes_.resize(a.nodes);
    if (children_.size() != a.children) children_.resize(a.children);
  }

  const FlatNode& node(std::uint32_t index) const { return nodes_[index]; }
  std::uint32_t child(const FlatNode& n, std::uint32_t k) const {
    if (k >= n.child_count) throw std::out_of_range("parse tree child");
    return children_[n.first_child + k];
  }
  // After a whole parse: the statements, in order.
  const std::pmr::vector<std::uint32_t>& roots() const { return open_; }

 private:
  struct Attempt {
    std::uint32_t open;
    std::uint32_t nodes;
    std::uint32_t children;
    const char* begin;
    std::uint32_t line;
    std::uint32_t column;
  };
  std::array<std::byte, 8192> buffer_;
  std::pmr::monotonic_buffer_resource arena_;
  std::pmr::vector<FlatNode> nodes_;
  std::pmr::vector<std::uint32_t> children_;
  std::pmr::vector<std::uint32_t> open_;
  std::pmr::vector<Attempt> attempts_;
};

// Whether matching Rule can build nodes: it is selected or (within a few levels) contains one.
// Past the depth limit the answer is a safe "yes".
template <unsigned Depth, typename Rule>
constexpr bool may_build();
template <unsigned Depth, typename... Rules>
constexpr bool any_may_build(p::type_list<Rules...> /*subs*/) {
  return (may_build<Depth, Rules>() || ...);
}
template <unsigned Depth, typename Rule>
constexpr bool may_build() {
  if constexpr (kRuleId<Rule> >= 0 || Depth == 0) {
    return true;
  } else {
    return any_may_build<Depth - 1>(typename Rule::subs_t{});
  }
}

// The grammar's control (error messages) plus the flat tree's bookkeeping: selected rules make
// nodes; other rules that contain selected ones must drop what they built when they fail.
template <typename Rule>
struct tree_control : control<Rule> {
  static constexpr bool selected = kRuleId<Rule> >= 0;
  static constexpr bool tracked = may_build<8, Rule>();

  template <typename ParseInput>
  static void start(const ParseInput& in, FlatTree& tree) {
    if constexpr (tracked) tree.start(in);
  }
  template <typename ParseInput>
  static void success(const ParseInput& in, FlatTree& tree) {
    if constexpr (selected) {
      tree.success(kRuleId<Rule>, in);
    } else if constexpr (tracked) {
      tree.pass();
    }
  }
  // A failed rule only drops what it built. The base control would raise here for every rule
  // with a message, but those raise through `must<>` already, and `misplaced_condition` is only
  // looked at ahead (`at<>`), where failing is the normal case.
  template <typename ParseInput>
  static void failure(const ParseInput& /*in*/, FlatTree& tree) {
    if constexpr (tracked) tree.failure();
  }
};

// A node of the flat tree as the converter reads it.
class Node {
 public:
  Node(const FlatTree& tree, std::uint32_t index) : tree_(&tree), node_(&tree.node(index)) {}

  template <typename Rule>
  bool is_type() const {
    static_assert(kRuleId<Rule> >= 0, "only selected rules are in the tree");
    return node_->rule == kRuleId<Rule>;
  }
  std::string_view string_view() const {
    return {node_->begin, static_cast<std::size_t>(node_->end - node_->begin)};
  }
  std::uint32_t line() const { return node_->line; }
  std::uint32_t column() const { return node_->column; }
  std::uint32_t child_count() const { return node_->child_count; }
  Node child(std::uint32_t k) const { return Node(*tree_, tree_->child(*node_, k)); }

  // The children in order, for range-for.
  class ChildIterator {
   public:
    ChildIterator(const Node& parent, std::uint32_t k) : parent_(parent), k_(k) {}
    Node operator*() const { return parent_.child(k_); }
    ChildIterator& operator++() {
      ++k_;
      return *this;
    }
    bool operator!=(const ChildIterator& other) const { return k_ != other.k_; }

   private:
    const Node& parent_;
    std::uint32_t k_;
  };
  struct Children {
    const Node& parent;
    ChildIterator begin() const { return {parent, 0}; }
    ChildIterator end() const { return {parent, parent.child_count()}; }
  };
  Children children() const { return Children{*this}; }

 private:
  const FlatTree* tree_;
  const FlatNode* node_;
};

// Thrown inside the converter for problems the grammar cannot express (over-long names).
struct ConversionError {
  ast::Location location;
  std::string message;
};

class Converter {
 public:
  Converter(std::uint32_t file_index, const char* text) : file_index_(file_index), text_(text) {}

  ast::File convert_file(const FlatTree& tree) {
    ast::File file;
    file.statements.reserve(tree.roots().size());
    for (std::uint32_t index : tree.roots()) convert_statement(Node(tree, index), file);
    return file;
  }

 private:
  std::uint32_t file_index_;
  const char* text_;  // the whole text, for statement offsets

  void add_span(ast::File& file, ast::StatementSpan::Kind kind, std::size_t index, Node n) const {
    const std::string_view text = n.string_view();
    file.statements.push_back({kind, index, static_cast<std::uint32_t>(text.data() - text_),
                               static_cast<std::uint32_t>(text.data() + text.size() - text_)});
  }

  ast::Location location(Node n) const {
    ast::Location loc;
    loc.file = file_index_;
    loc.line = n.line();
    loc.column = n.column();
    std::string_view text = n.string_view();
    const auto newline = text.find('\n');
    if (newline != std::string_view::npos) text = text.substr(0, newline);
    while (!text.empty() && (text.back() == ' ' || text.back() == '\t' || text.back() == '\r')) {
      text.remove_suffix(1);
    }
    loc.length = static_cast<std::uint32_t>(std::max<std::size_t>(1, text.size()));
    return loc;
  }

  // The text of a name token with trailing spacing removed, length-checked.
  std::string name_text(Node n) const {
    std::string_view text = n.string_view();
    std::string name(text.substr(0, text.find_first_of(" \t\r\n#")));
    if (name.size() > kMaxNameLength) {
      throw ConversionError{location(n), "name longer than " + std::to_string(kMaxNameLength) +
                                             " characters"};
    }
    return name;
  }

  static std::string trimmed(Node n) {
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

  ast::Literal literal(Node n) const {
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

  ast::SetLiteral set_literal_of(Node n) const {
    ast::SetLiteral set;
    set.location = location(n);
    for (Node child : n.children()) set.elements.push_back(literal(child));
    return set;
  }

  ast::SetRef set_ref_of(Node n) const {
    ast::SetRef ref;
    ref.location = location(n);
    if (n.is_type<set_literal>()) {
      ref.kind = ast::SetRef::Kind::literal;
      ref.literal = set_literal_of(n);
    } else if (n.is_type<group_ref>()) {
      ref.kind = ast::SetRef::Kind::group;
      ref.name = decode_string(trimmed(n.child(0)));
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

  ast::ConditionPtr condition_of(Node n) const {
    auto c = std::make_unique<ast::Condition>();
    c->location = location(n);
    if (n.is_type<condition>() || n.is_type<cond_and>()) {
      if (n.child_count() == 1) return condition_of(n.child(0));
      c->kind = n.is_type<condition>() ? ast::Condition::Kind::disjunction
                                       : ast::Condition::Kind::conjunction;
      for (Node child : n.children()) c->operands.push_back(condition_of(child));
      return c;
    }
    if (n.is_type<paren_condition>()) return condition_of(n.child(0));
    if (n.is_type<not_condition>()) {
      c->kind = ast::Condition::Kind::negation;
      c->operands.push_back(condition_of(n.child(0)));
      return c;
    }
    if (n.is_type<failures_atom>()) {
      c->kind = ast::Condition::Kind::failures;
      c->subject = "failures";
      c->subject_location = c->location;
      for (Node child : n.children()) {
        if (child.is_type<window>()) c->window = literal(child.child(0));
        else if (child.is_type<by_rhost>()) c->by_rhost = true;
        else if (child.is_type<comparison>()) c->comparison = trimmed(child);
        else if (child.is_type<count>()) c->count = literal(child.child(0));
      }
      return c;
    }
    if (n.is_type<recent_atom>()) {
      c->kind = ast::Condition::Kind::recent;
      c->subject = "recent";
      c->subject_location = c->location;
      for (Node child : n.children()) {
        if (child.is_type<recent_factor>()) {
          c->factor = name_text(child);
          c->factor_location = location(child);
          c->factor_location.length = static_cast<std::uint32_t>(c->factor.size());
        } else if (child.is_type<window>()) {
          c->window = literal(child.child(0));
        } else if (child.is_type<recent_rhost>()) {
          c->by_rhost = true;
        } else if (child.is_type<recent_tty>()) {
          c->by_tty = true;
        }
      }
      return c;
    }
    if (n.is_type<enrolled_atom>()) {
      c->kind = ast::Condition::Kind::enrolled;
      c->subject = "enrolled";
      c->subject_location = c->location;
      Node factor = n.child(0);
      c->factor = name_text(factor);
      c->factor_location = location(factor);
      c->factor_location.length = static_cast<std::uint32_t>(c->factor.size());
      return c;
    }
    if (n.is_type<date_atom>()) {
      c->kind = ast::Condition::Kind::date;
      c->subject = "date";
      c->subject_location = c->location;
      for (Node child : n.children()) {
        if (child.is_type<comparison>()) {
          c->comparison = trimmed(child);
        } else if (child.is_type<date_day>()) {
          c->date = std::string(child.string_view());
          c->date_location = location(child);
          c->date_location.length = static_cast<std::uint32_t>(c->date.size());
        }
      }
      return c;
    }
    // subject_atom: subject, then `in SET` or `is local`
    Node subject_node = n.child(0);
    c->subject = name_text(subject_node);
    c->subject_location = location(subject_node);
    Node tail = n.child(1);
    if (tail.is_type<is_local_tail>()) {
      c->kind = ast::Condition::Kind::is_local;
      return c;
    }
    c->kind = ast::Condition::Kind::membership;
    c->set = set_ref_of(tail.child(0));
    return c;
  }

  ast::ExpressionPtr expression_of(Node n) const {
    auto e = std::make_unique<ast::Expression>();
    e->location = location(n);
    if (n.is_type<expression>() || n.is_type<all_of>()) {
      if (n.child_count() == 1) return expression_of(n.child(0));
      e->kind = n.is_type<expression>() ? ast::Expression::Kind::any_of
                                        : ast::Expression::Kind::all_of;
      for (Node child : n.children()) e->operands.push_back(expression_of(child));
      return e;
    }
    if (n.is_type<guarded>()) {
      if (n.child_count() == 1) return expression_of(n.child(0));
      e->kind = ast::Expression::Kind::guarded;
      e->operands.push_back(expression_of(n.child(0)));
      for (std::uint32_t i = 1; i + 1 < n.child_count(); i += 2) {
        ast::Guard g;
        g.unless = n.child(i).is_type<guard_unless>();
        g.location = location(n.child(i));
        g.condition = condition_of(n.child(i + 1));
        e->guards.push_back(std::move(g));
      }
      return e;
    }
    if (n.is_type<paren_expression>()) return expression_of(n.child(0));
    if (n.is_type<permit>()) {
      e->kind = ast::Expression::Kind::permit;
      e->location.length = 6;
      return e;
    }
    if (n.is_type<negated_expression>()) {
      e->kind = ast::Expression::Kind::negation;
      e->operands.push_back(expression_of(n.child(0)));
      return e;
    }
    if (n.is_type<k_of>()) {
      e->kind = ast::Expression::Kind::k_of;
      e->k = literal(n.child(0).child(0));
      for (std::uint32_t i = 1; i < n.child_count(); ++i) {
        e->operands.push_back(expression_of(n.child(i)));
      }
      return e;
    }
    e->kind = ast::Expression::Kind::name;
    e->name = name_text(n);
    e->location.length = static_cast<std::uint32_t>(e->name.size());
    return e;
  }

  std::vector<ast::Setting> settings_of(Node block) const {
    std::vector<ast::Setting> out;
    for (Node s : block.children()) {
      ast::Setting setting;
      setting.key = name_text(s.child(0));
      setting.location = location(s.child(0));
      setting.value = literal(s.child(1));
      out.push_back(std::move(setting));
    }
    return out;
  }

  void convert_statement(Node n, ast::File& file) const {
    if (n.is_type<include_statement>()) {
      Node path = n.child(0);
      add_span(file, ast::StatementSpan::Kind::include, file.includes.size(), n);
      file.includes.push_back({decode_string(trimmed(path)), location(path)});
    } else if (n.is_type<set_statement>()) {
      ast::SetDefinition def;
      def.name = name_text(n.child(0));
      def.location = location(n.child(0));
      def.value = set_literal_of(n.child(1));
      add_span(file, ast::StatementSpan::Kind::set, file.sets.size(), n);
      file.sets.push_back(std::move(def));
    } else if (n.is_type<let_statement>()) {
      ast::LetDefinition def;
      def.name = name_text(n.child(0));
      def.location = location(n.child(0));
      def.value = expression_of(n.child(1));
      add_span(file, ast::StatementSpan::Kind::let, file.lets.size(), n);
      file.lets.push_back(std::move(def));
    } else if (n.is_type<factor_statement>()) {
      ast::FactorDefinition def;
      def.name = name_text(n.child(0));
      def.location = location(n.child(0));
      Node body = n.child(1);
      if (body.is_type<settings_block>()) {
        def.settings = settings_of(body);
      } else {  // factor_delegation: module_name, module_argument..., settings_block?
        def.delegates = true;
        for (Node part : body.children()) {
          if (part.is_type<module_name>()) {
            def.module = decode_string(trimmed(part.child(0)));
            def.module_location = location(part);
          } else if (part.is_type<module_argument>()) {
            def.arguments.push_back(decode_string(trimmed(part.child(0))));
          } else if (part.is_type<settings_block>()) {
            def.settings = settings_of(part);
          }
        }
      }
      add_span(file, ast::StatementSpan::Kind::factor, file.factors.size(), n);
      file.factors.push_back(std::move(def));
    } else if (n.is_type<block_statement>()) {
      ast::SettingsBlock block;
      block.kind = trimmed(n.child(0));
      block.location = location(n.child(0));
      block.settings = settings_of(n.child(1));
      add_span(file, ast::StatementSpan::Kind::block, file.blocks.size(), n);
      file.blocks.push_back(std::move(block));
    } else if (n.is_type<deny_statement>()) {
      add_span(file, ast::StatementSpan::Kind::deny, file.denies.size(), n);
      file.denies.push_back({condition_of(n.child(0)), location(n)});
    } else if (n.is_type<auth_statement>()) {
      ast::Auth auth;
      auth.location = location(n);
      auth.location.length = 4;
      auth.expression = expression_of(n.child(0));
      add_span(file, ast::StatementSpan::Kind::auth, file.auths.size(), n);
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
    const std::size_t length = utf8_sequence_length(text, i);
    if (length == 0) return fail("invalid UTF-8 in policy text");
    i += length;
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
  try {
    p::memory_input<> in(text.data(), text.size(), "policy");
    FlatTree tree;
    if (!p::parse<policy, p::nothing, tree_control>(in, tree)) {
      result.error = SyntaxError{ast::Location{file_index, 1, 1, 1}, "not a policy"};
      return result;
    }
    result.file = Converter(file_index, text.data()).convert_file(tree);
  } catch (const SyntaxFailure& e) {
    result.error = SyntaxError{ast::Location{file_index, static_cast<std::uint32_t>(e.line),
                                             static_cast<std::uint32_t>(e.column), 1},
                               e.message};
  } catch (const ConversionError& e) {
    result.error = SyntaxError{e.location, e.message};
  } catch (const std::exception& e) {
    result.error = SyntaxError{ast::Location{file_index, 1, 1, 1},
                               std::string("cannot parse: ") + e.what()};
  }
  return result;
}

}  // namespace authpolicy::grammar
