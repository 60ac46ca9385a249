// JSON string escaping through nlohmann::json (base/json_text.h).
#include "base/json_text.h"

#include <nlohmann/json.hpp>

namespace authpolicy {

std::string json_string(std::string_view text) {
  const std::string written = nlohmann::json(std::string(text))
                                  .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  // DEL is valid in JSON, but is a control character to a terminal: escaped like the others.
  std::string out;
  out.reserve(written.size());
  for (char c : written) {
    if (c == '\x7f') {
      out += "\\u007f";
      continue;
    }
    out += c;
  }
  return out;
}

}  // namespace authpolicy
