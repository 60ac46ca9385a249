// The authpolicy grammar as PEGTL rules, with the "expected ..." message of every hard failure.
//
// Read it top to bottom: lexical pieces, literals, conditions, expressions, statements, file.
// Every `must<X>` failure raises a SyntaxFailure whose message is `error_message<X>` below.
#pragma once

#include <cstddef>
#include <tao/pegtl.hpp>

#include "grammar/parser.h"

namespace authpolicy::grammar {

namespace p = tao::pegtl;

// What a hard failure throws: where and why. Not PEGTL's parse_error, which formats its position
// through std::ostringstream: that alone links libstdc++'s whole locale machinery (~45 more libc
// symbols to bind and ~1,000 relocations) into pam_policy.so, paid by every login that loads it.
struct SyntaxFailure {
  std::size_t line;
  std::size_t column;
  const char* message;
};

template <typename ParseInput>
[[noreturn]] void raise_syntax_failure(const ParseInput& in, const char* message) {
  const auto at = in.position();
  throw SyntaxFailure{at.line, at.column, message};
}

// Counts how deep the parser is inside parentheses and `!`; one counter per parsing thread.
struct NestingDepth {
  static std::size_t& value() {
    thread_local std::size_t depth = 0;
    return depth;
  }
};

// Matches Rule one level deeper; fails the whole parse past kMaxNesting.
template <typename Rule>
struct nest : p::seq<Rule> {
  template <p::apply_mode A, p::rewind_mode M, template <typename...> class Action,
            template <typename...> class Control, typename ParseInput, typename... States>
  static bool match(ParseInput& in, States&&... st) {
    std::size_t& depth = NestingDepth::value();
    if (depth >= kMaxNesting) {
      raise_syntax_failure(in, "nesting deeper than 64 levels of parentheses or '!'");
    }
    ++depth;
    struct Restore {
      std::size_t& d;
      ~Restore() { --d; }
    } restore{depth};
    return p::seq<Rule>::template match<A, M, Action, Control>(in, st...);
  }
};

// A rule in a position where it must match; its failure raises error_message<expect<Rule>>.
template <typename Rule>
struct expect : p::seq<Rule> {};
template <typename Rule>
using need = p::must<expect<Rule>>;

// Tries Rule only when the next byte can start it: every attempt of a rule that builds tree
// nodes costs bookkeeping, so failing early and cheaply matters on the module's hot path.
template <typename First, typename Rule>
struct when_at : p::seq<p::at<First>, Rule> {};

// ---- Spacing -------------------------------------------------------------------------------

struct comment : p::seq<p::one<'#'>, p::star<p::not_one<'\n'>>> {};
struct space : p::sor<p::one<' ', '\t', '\r', '\n', '\f', '\v'>, comment> {};
struct sp : p::star<space> {};
template <typename Rule>
struct tok : p::seq<Rule, sp> {};
template <char... C>
struct sym : tok<p::string<C...>> {};

struct ident_first : p::ranges<'a', 'z', 'A', 'Z', '_'> {};
struct ident_other : p::ranges<'a', 'z', 'A', 'Z', '0', '9', '_'> {};
template <typename Key>
struct keyword : p::seq<Key, p::not_at<ident_other>, sp> {};

// clang-format off
struct kw_include : keyword<TAO_PEGTL_STRING("include")> {};
struct kw_set : keyword<TAO_PEGTL_STRING("set")> {};
struct kw_let : keyword<TAO_PEGTL_STRING("let")> {};
struct kw_factor : keyword<TAO_PEGTL_STRING("factor")> {};
struct kw_pam : keyword<TAO_PEGTL_STRING("pam")> {};
struct kw_deny : keyword<TAO_PEGTL_STRING("deny")> {};
struct kw_auth : keyword<TAO_PEGTL_STRING("auth")> {};
struct kw_if : keyword<TAO_PEGTL_STRING("if")> {};
struct kw_unless : keyword<TAO_PEGTL_STRING("unless")> {};
struct kw_of : keyword<TAO_PEGTL_STRING("of")> {};
struct kw_in : keyword<TAO_PEGTL_STRING("in")> {};
struct kw_is : keyword<TAO_PEGTL_STRING("is")> {};
struct kw_local : keyword<TAO_PEGTL_STRING("local")> {};
struct kw_permit : keyword<TAO_PEGTL_STRING("permit")> {};
struct kw_group : keyword<TAO_PEGTL_STRING("group")> {};
struct kw_failures : keyword<TAO_PEGTL_STRING("failures")> {};
struct kw_rhost : keyword<TAO_PEGTL_STRING("rhost")> {};
struct kw_recent : keyword<TAO_PEGTL_STRING("recent")> {};
struct kw_tty : keyword<TAO_PEGTL_STRING("tty")> {};
struct kw_enrolled : keyword<TAO_PEGTL_STRING("enrolled")> {};
struct kw_date : keyword<TAO_PEGTL_STRING("date")> {};
struct kw_true : keyword<TAO_PEGTL_STRING("true")> {};
struct kw_false : keyword<TAO_PEGTL_STRING("false")> {};
// clang-format on

// ---- Names -----------------------------------------------------------------------------------

struct identifier : p::seq<ident_first, p::star<ident_other>> {};
// Statement and operator words cannot name anything, so `deny if rhost in` never swallows the
// next line's `auth` as a set name.
struct reserved : p::seq<p::sor<TAO_PEGTL_STRING("include"), TAO_PEGTL_STRING("set"),
                                 TAO_PEGTL_STRING("let"), TAO_PEGTL_STRING("factor"),
                                 TAO_PEGTL_STRING("deny"), TAO_PEGTL_STRING("auth"),
                                 TAO_PEGTL_STRING("unless"), TAO_PEGTL_STRING("if"),
                                 TAO_PEGTL_STRING("of"), TAO_PEGTL_STRING("in"),
                                 TAO_PEGTL_STRING("is"), TAO_PEGTL_STRING("permit")>,
                         p::not_at<ident_other>> {};
struct name : p::seq<p::not_at<reserved>, identifier> {};
struct set_name : name {};
struct let_name : name {};
struct factor_name : name {};
struct name_ref : name {};      // a factor or let inside an expression
struct set_name_ref : name {};  // a named set inside a condition
struct setting_key : identifier {};
struct block_kind : p::sor<TAO_PEGTL_STRING("audit"), TAO_PEGTL_STRING("geoip"),
                           TAO_PEGTL_STRING("tpm")> {};
struct subject : p::seq<identifier, p::star<p::one<'.'>, identifier>> {};

// ---- Literals --------------------------------------------------------------------------------

struct escaped : p::one<'"', '\\', 'n', 't', 'r', '0'> {};
struct hex_escape : p::seq<p::one<'x'>, p::xdigit, p::xdigit> {};
struct escape : p::seq<p::one<'\\'>, need<p::sor<escaped, hex_escape>>> {};
struct string_char : p::sor<escape, p::not_one<'"', '\\', '\n', '\r'>> {};
struct string_body : p::star<string_char> {};
struct string_close : p::one<'"'> {};
struct string_lit : p::seq<p::one<'"'>, string_body, need<string_close>> {};

struct digits : p::plus<p::digit> {};
struct hex_integer : p::seq<p::one<'0'>, p::one<'x', 'X'>, p::plus<p::xdigit>> {};
struct integer : p::seq<p::sor<hex_integer, digits>, p::not_at<ident_other>> {};
struct boolean : p::sor<kw_true, kw_false> {};

struct duration_unit : p::one<'s', 'm', 'h', 'd'> {};
struct duration : p::seq<p::plus<digits, duration_unit>, p::not_at<ident_other>> {};

struct clock : p::seq<p::digit, p::opt<p::digit>, p::one<':'>, p::digit, p::digit> {};
struct clock_range : p::seq<clock, p::string<'.', '.'>, need<clock>> {};

struct word_char : p::ranges<'a', 'z', 'A', 'Z', '0', '9', '_', '_', '-', '-', '@', '@'> {};
struct word : p::seq<ident_first, p::star<p::sor<word_char, p::seq<p::one<'.'>, p::not_at<p::one<'.'>>>>>> {};
struct word_range : p::seq<ident_first, p::star<word_char>, p::string<'.', '.'>, need<word>> {};

// Addresses are recognised by shape (a colon, or four dotted numbers); the engine validates them.
struct ipv4_shape : p::seq<digits, p::one<'.'>, digits, p::one<'.'>, digits, p::one<'.'>, digits> {};
struct ipv6_shape : p::seq<p::star<p::xdigit>, p::one<':'>, p::star<p::sor<p::xdigit, p::one<':', '.'>>>> {};
struct prefix_length : p::seq<p::one<'/'>, need<digits>> {};
struct address : p::seq<p::sor<ipv4_shape, ipv6_shape>, p::opt<prefix_length>, p::not_at<ident_other>> {};

struct element : p::sor<when_at<p::digit, clock_range>, when_at<ident_first, word_range>,
                        when_at<p::sor<p::xdigit, p::one<':'>>, address>,
                        when_at<p::one<'"'>, string_lit>, when_at<p::digit, duration>,
                        when_at<p::digit, integer>, word> {};
struct open_brace : sym<'{'> {};
struct close_brace : sym<'}'> {};
struct set_element : tok<element> {};
struct set_literal
    : p::seq<open_brace,
             p::opt<set_element, p::star<sym<','>, need<set_element>>, p::opt<sym<','>>>,
             need<close_brace>> {};

struct value : p::sor<when_at<p::one<'"'>, string_lit>, when_at<p::digit, duration>,
                      when_at<p::digit, integer>, boolean, word> {};

// ---- Conditions ------------------------------------------------------------------------------

struct condition;
struct cond_unary;

struct group_ref : p::seq<kw_group, need<sym<'('>>, need<tok<string_lit>>, need<sym<')'>>> {};
struct clock_set : tok<clock_range> {};
struct set_ref : p::sor<when_at<p::one<'{'>, set_literal>, when_at<p::one<'g'>, group_ref>,
                        when_at<p::digit, clock_set>, tok<set_name_ref>> {};
struct membership_tail : p::seq<kw_in, need<set_ref>> {};
struct is_local_tail : p::seq<kw_is, need<kw_local>> {};
struct subject_atom : p::seq<tok<subject>, need<p::sor<membership_tail, is_local_tail>>> {};

struct window : tok<duration> {};
struct by_rhost : p::seq<sym<','>, need<kw_rhost>> {};
struct comparison : p::sor<p::string<'>', '='>, p::string<'<', '='>, p::string<'=', '='>,
                           p::string<'!', '='>, p::one<'>'>, p::one<'<'>> {};
struct count : tok<integer> {};
struct failures_atom : p::seq<kw_failures, need<sym<'('>>, need<window>, p::opt<by_rhost>,
                              need<sym<')'>>, need<tok<comparison>>, need<count>> {};

// recent(FACTOR, WINDOW[, rhost | tty]): FACTOR passed for this user within WINDOW.
struct recent_factor : tok<name> {};
struct recent_rhost : kw_rhost {};
struct recent_tty : kw_tty {};
struct recent_scope : p::seq<sym<','>, need<p::sor<recent_rhost, recent_tty>>> {};
struct recent_atom : p::seq<kw_recent, need<sym<'('>>, need<recent_factor>, need<sym<','>>,
                            need<window>, p::opt<recent_scope>, need<sym<')'>>> {};

// enrolled(FACTOR): the user has an enrolment for FACTOR.
struct enrolled_factor : tok<name> {};
struct enrolled_atom : p::seq<kw_enrolled, need<sym<'('>>, need<enrolled_factor>,
                              need<sym<')'>>> {};

// date OP YYYY-MM-DD: the local calendar date compared with a day.
// The day alone is a tree node, without the spacing and comments its token swallows after it.
struct date_day : p::seq<p::rep<4, p::digit>, p::one<'-'>, p::rep<2, p::digit>, p::one<'-'>,
                         p::rep<2, p::digit>, p::not_at<ident_other>> {};
struct date_value : tok<date_day> {};
struct date_atom : p::seq<kw_date, need<tok<comparison>>, need<date_value>> {};

struct not_condition : nest<p::seq<sym<'!'>, need<cond_unary>>> {};
struct paren_condition : nest<p::seq<sym<'('>, need<condition>, need<sym<')'>>>> {};
struct cond_unary : p::sor<when_at<p::one<'!'>, not_condition>, when_at<p::one<'('>, paren_condition>,
                          when_at<p::one<'f'>, failures_atom>, when_at<p::one<'r'>, recent_atom>,
                          when_at<kw_enrolled, enrolled_atom>, when_at<kw_date, date_atom>,
                          subject_atom> {};
struct cond_and : p::seq<cond_unary, p::star<sym<'&', '&'>, need<cond_unary>>> {};
struct condition : p::seq<cond_and, p::star<sym<'|', '|'>, need<cond_and>>> {};

// ---- Expressions -----------------------------------------------------------------------------

struct expression;
struct primary;

struct guard_unless : kw_unless {};
struct guard_if : kw_if {};
struct guard : p::seq<p::sor<when_at<p::one<'u'>, guard_unless>, when_at<p::one<'i'>, guard_if>>,
                     need<cond_unary>> {};
struct paren_expression : nest<p::seq<sym<'('>, need<expression>, need<sym<')'>>>> {};
struct k_count : tok<integer> {};
struct k_of : nest<p::seq<k_count, kw_of, need<sym<'('>>, need<expression>,
                          p::star<sym<','>, need<expression>>, need<sym<')'>>>> {};
struct negated_expression : nest<p::seq<sym<'!'>, need<primary>>> {};
struct permit : kw_permit {};
// A condition where an operand belongs, as in `x unless A || user in B`: guards take one
// condition, so compound ones need parentheses. Said plainly instead of "expected a statement".
struct misplaced_condition : p::seq<subject, sp, p::sor<kw_in, kw_is>> {};
struct primary : p::sor<when_at<p::one<'('>, paren_expression>, when_at<p::digit, k_of>,
                        when_at<p::one<'!'>, negated_expression>, when_at<p::one<'p'>, permit>,
                        p::seq<p::at<misplaced_condition>, p::raise<misplaced_condition>>,
                        tok<name_ref>> {};
struct guarded : p::seq<primary, p::star<guard>> {};
struct all_of : p::seq<guarded, p::star<sym<'&', '&'>, need<guarded>>> {};
struct expression : p::seq<all_of, p::star<sym<'|', '|'>, need<all_of>>> {};

// ---- Statements ------------------------------------------------------------------------------

struct setting : p::seq<tok<setting_key>, need<sym<'='>>, need<tok<value>>> {};
struct settings_block
    : p::seq<open_brace, p::star<setting, p::opt<sym<';'>>>, need<close_brace>> {};
struct module_argument : tok<string_lit> {};
struct module_name : tok<string_lit> {};
struct pam_call : p::seq<kw_pam, need<sym<'('>>, need<module_name>,
                         p::star<sym<','>, need<module_argument>>, need<sym<')'>>> {};
struct factor_delegation : p::seq<sym<'='>, need<pam_call>, p::opt<settings_block>> {};
struct factor_body : p::sor<when_at<p::one<'{'>, settings_block>, factor_delegation> {};

struct include_path : tok<string_lit> {};
struct include_statement : p::seq<kw_include, need<include_path>> {};
struct set_statement
    : p::seq<kw_set, need<tok<set_name>>, need<sym<'='>>, need<set_literal>> {};
struct let_statement
    : p::seq<kw_let, need<tok<let_name>>, need<sym<'='>>, need<expression>> {};
struct factor_statement : p::seq<kw_factor, need<tok<factor_name>>, need<factor_body>> {};
struct block_statement : p::seq<keyword<block_kind>, need<settings_block>> {};
struct deny_statement : p::seq<kw_deny, need<kw_if>, need<condition>> {};
struct auth_statement : p::seq<kw_auth, need<expression>> {};

struct statement
    : p::seq<p::sor<when_at<p::one<'i'>, include_statement>, when_at<p::one<'s'>, set_statement>,
                    when_at<p::one<'l'>, let_statement>, when_at<p::one<'f'>, factor_statement>,
                    block_statement, when_at<p::one<'d'>, deny_statement>,
                    when_at<p::one<'a'>, auth_statement>>,
             p::opt<sym<';'>>> {};
struct end_of_policy : p::eof {};
struct policy : p::seq<sp, p::star<statement>, need<end_of_policy>> {};

// ---- Messages for hard failures --------------------------------------------------------------

template <typename Rule>
inline constexpr const char* error_message = nullptr;

// Where a condition or an operand is expected, one message whichever rule of it failed.
inline constexpr const char* kExpectedCondition =
    "expected a condition such as 'rhost in trusted', 'user in admins' or '(...)'";
inline constexpr const char* kExpectedOperand =
    "expected a factor name, permit, 'k of (...)' or '(...)'";

// clang-format off
template <> inline constexpr auto error_message<expect<end_of_policy>> = "expected a statement: include, set, let, factor, audit, geoip, tpm, deny if, or auth";
template <> inline constexpr auto error_message<expect<p::sor<escaped, hex_escape>>> = "unknown escape in string (use \\\" \\\\ \\n \\t \\r \\0 or \\xHH)";
template <> inline constexpr auto error_message<expect<string_close>> = "unterminated string: expected '\"' before the end of the line";
template <> inline constexpr auto error_message<expect<clock>> = "expected a clock time such as 06:00 after '..'";
template <> inline constexpr auto error_message<expect<word>> = "expected a name after '..'";
template <> inline constexpr auto error_message<expect<digits>> = "expected a prefix length after '/'";
template <> inline constexpr auto error_message<expect<set_element>> = "expected a set element (address, CIDR, name, string, number, or range)";
template <> inline constexpr auto error_message<expect<close_brace>> = "expected '}' (elements are separated by ',' and settings by ';')";
template <> inline constexpr auto error_message<expect<sym<'('>>> = "expected '('";
template <> inline constexpr auto error_message<expect<sym<')'>>> = "expected ')'";
template <> inline constexpr auto error_message<expect<sym<'='>>> = "expected '='";
template <> inline constexpr auto error_message<expect<tok<string_lit>>> = "expected a quoted string";
template <> inline constexpr auto error_message<expect<set_ref>> = "expected a set: a set name, { ... }, group(\"name\"), or a clock range such as 22:00..06:00";
template <> inline constexpr auto error_message<expect<p::sor<membership_tail, is_local_tail>>> = "expected 'in' or 'is local' after the subject";
template <> inline constexpr auto error_message<expect<kw_local>> = "expected 'local' after 'is'";
template <> inline constexpr auto error_message<expect<window>> = "expected a duration window such as 15m";
template <> inline constexpr auto error_message<expect<kw_rhost>> = "expected 'rhost' after ','";
template <> inline constexpr auto error_message<expect<recent_factor>> = "expected a factor name: recent(FACTOR, DURATION[, rhost | tty])";
template <> inline constexpr auto error_message<expect<sym<','>>> = "expected ','";
template <> inline constexpr auto error_message<expect<p::sor<recent_rhost, recent_tty>>> = "expected 'rhost' or 'tty' after ',' in recent(...)";
template <> inline constexpr auto error_message<expect<tok<comparison>>> = "expected a comparison (>=, >, <=, <, ==, !=) after failures(...)";
template <> inline constexpr auto error_message<expect<count>> = "expected a number";
template <> inline constexpr auto error_message<expect<enrolled_factor>> = "expected a factor name: enrolled(FACTOR)";
template <> inline constexpr auto error_message<expect<date_value>> = "expected a date such as 2027-01-15 (YYYY-MM-DD)";
template <> inline constexpr auto error_message<expect<cond_unary>> = kExpectedCondition;
template <> inline constexpr auto error_message<expect<cond_and>> = kExpectedCondition;
template <> inline constexpr auto error_message<expect<condition>> = kExpectedCondition;
template <> inline constexpr auto error_message<expect<expression>> = "expected an expression: a factor name, permit, 'k of (...)' or '(...)'";
template <> inline constexpr auto error_message<expect<guarded>> = kExpectedOperand;
template <> inline constexpr auto error_message<expect<all_of>> = kExpectedOperand;
template <> inline constexpr auto error_message<expect<primary>> = kExpectedOperand;
template <> inline constexpr auto error_message<expect<tok<value>>> = "expected a value: a string, number, duration, true/false or a name";
template <> inline constexpr auto error_message<expect<module_name>> = "expected the module file name as a quoted string, e.g. \"pam_fprintd.so\"";
template <> inline constexpr auto error_message<expect<module_argument>> = "expected a module argument as a quoted string";
template <> inline constexpr auto error_message<expect<pam_call>> = "expected pam(\"module.so\", args...) after '='";
template <> inline constexpr auto error_message<expect<factor_body>> = "expected '{ settings }' or '= pam(\"module.so\", ...)' after the factor name";
template <> inline constexpr auto error_message<expect<include_path>> = "expected the included file as a quoted string";
template <> inline constexpr auto error_message<expect<tok<set_name>>> = "expected a set name";
template <> inline constexpr auto error_message<expect<tok<let_name>>> = "expected a name for the let";
template <> inline constexpr auto error_message<expect<tok<factor_name>>> = "expected a factor name";
template <> inline constexpr auto error_message<expect<set_literal>> = "expected '{' starting the set's elements";
template <> inline constexpr auto error_message<expect<settings_block>> = "expected '{' starting the settings";
template <> inline constexpr auto error_message<misplaced_condition> = "a condition cannot stand where a factor is expected: a guard takes one condition, so write compound ones in parentheses, e.g. 'x unless (rhost in a || user in b)'";
template <> inline constexpr auto error_message<expect<kw_if>> = "expected 'if' after 'deny'";
// clang-format on

// PEGTL's must_if control, raising SyntaxFailure: a rule with a message raises when it fails, and
// every rule that can raise (`must<>`, `raise<>`) has a message.
template <typename Rule>
struct control : p::normal<Rule> {
  template <typename ParseInput, typename... States>
  static void failure(const ParseInput& in, States&&... st) {
    if constexpr (error_message<Rule> != nullptr) {
      raise(in, st...);
    } else {
      p::normal<Rule>::failure(in, st...);
    }
  }
  template <typename ParseInput, typename... States>
  [[noreturn]] static void raise(const ParseInput& in, States&&... /*unused*/) {
    static_assert(error_message<Rule> != nullptr, "a rule that can raise needs an error_message");
    raise_syntax_failure(in, error_message<Rule>);
  }
};

}  // namespace authpolicy::grammar
