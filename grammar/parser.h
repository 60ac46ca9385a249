// Parses the text of one policy file into its syntax tree, or says where and why it cannot.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "grammar/ast.h"

namespace authpolicy::grammar {

inline constexpr std::size_t kMaxPolicyBytes = 1024 * 1024;
inline constexpr std::size_t kMaxNameLength = 128;
// Levels of parentheses, `!` and `K of (...)` a statement may nest: deeper is a syntax error, not
// an exhausted stack. The formatter adds its optional parentheses only within this room.
inline constexpr std::size_t kMaxNesting = 64;

struct SyntaxError {
  ast::Location location;
  std::string message;
};

struct ParseResult {
  std::optional<ast::File> file;     // set when the text parsed
  std::optional<SyntaxError> error;  // set when it did not
};

// `file_index` is stored in every node's location. Never throws for bad input.
ParseResult parse_policy_text(std::string_view text, std::uint32_t file_index);

}  // namespace authpolicy::grammar
