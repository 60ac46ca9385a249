// JSON string literals for text from the audit log, which comes from users and remote hosts.
#pragma once

#include <string>
#include <string_view>

namespace authpolicy::cli {

// `text` as a quoted JSON string: '"' and '\\' escaped, control bytes as \u00XX, and bytes that
// are not valid UTF-8 as \ufffd, so the output is always valid JSON in valid UTF-8.
std::string json_string(std::string_view text);

}  // namespace authpolicy::cli
