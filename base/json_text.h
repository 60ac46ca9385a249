// The one JSON string escaping: a string as a quoted JSON value, written by nlohmann::json.
#pragma once

#include <string>
#include <string_view>

namespace authpolicy {

// `text` as a JSON string, quotes included. Control characters and DEL are escaped (a log's
// contents must not drive the reader's terminal); bytes that are not UTF-8 become U+FFFD, so the
// output is valid JSON whatever the input holds.
std::string json_string(std::string_view text);

}  // namespace authpolicy
