// The canonical layout of a policy file (`authpolicy fmt`), and a location-free dump of the
// syntax tree that says whether two texts are the same policy statement by statement.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "grammar/ast.h"
#include "grammar/parser.h"

namespace authpolicy::grammar {

// The widest line the formatter writes before it puts a set's elements or a block's settings
// one per line.
inline constexpr std::size_t kFormatWidth = 100;

struct FormatResult {
  std::optional<std::string> text;   // the formatted text, when the input parsed
  std::optional<SyntaxError> error;  // why it did not
};

// Formats policy text: statements in their order, one per line, comments kept, at most one
// blank line where the text had one or more. Needs only the syntax, not a valid policy.
FormatResult format_policy_text(std::string_view text);

// The syntax tree without locations or spacing, one node per line: equal dumps mean the two
// texts parse to the same statements, conditions and expressions.
std::string syntax_dump(const ast::File& file);

}  // namespace authpolicy::grammar
