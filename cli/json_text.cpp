// JSON string literals for text from the audit log (shared by `audit --format json` and export).
#include "cli/json_text.h"

#include <cstdio>

namespace authpolicy::cli {

std::string json_string(std::string_view text) {
  std::string quoted = "\"";
  for (std::size_t i = 0; i < text.size();) {
    auto c = static_cast<unsigned char>(text[i]);
    if (c == '"' || c == '\\') {
      quoted += '\\';
      quoted += static_cast<char>(c);
      ++i;
      continue;
    }
    if (c < 0x20 || c == 0x7f) {
      char buffer[8];
      std::snprintf(buffer, sizeof buffer, "\\u%04x", c);
      quoted += buffer;
      ++i;
      continue;
    }
    if (c < 0x80) {
      quoted += static_cast<char>(c);
      ++i;
      continue;
    }
    int length = (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 0;
    bool valid = length > 0 && i + length <= text.size();
    for (int k = 1; valid && k < length; ++k) {
      valid = (static_cast<unsigned char>(text[i + k]) & 0xc0) == 0x80;
    }
    if (!valid) {
      quoted += "\\ufffd";  // JSON must stay valid UTF-8 whatever the log holds
      ++i;
      continue;
    }
    quoted.append(text.substr(i, length));
    i += length;
  }
  quoted += '"';
  return quoted;
}

}  // namespace authpolicy::cli
