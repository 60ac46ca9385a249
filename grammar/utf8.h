// UTF-8 as the policy language takes it: the parser refuses text that is not, the formatter keeps
// such text as written.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace authpolicy::grammar {

// The length (1 to 4) of the well-formed UTF-8 sequence that starts at text[at]; 0 when the
// bytes there are not one (a stray continuation byte, a cut sequence, an overlong form, a
// surrogate, a code point above U+10FFFF).
inline std::size_t utf8_sequence_length(std::string_view text, std::size_t at) {
  const auto c = static_cast<unsigned char>(text[at]);
  std::size_t extra = 0;
  std::uint32_t code = 0;
  if (c < 0x80) return 1;
  if ((c & 0xE0) == 0xC0) {
    extra = 1;
    code = c & 0x1F;
  } else if ((c & 0xF0) == 0xE0) {
    extra = 2;
    code = c & 0x0F;
  } else if ((c & 0xF8) == 0xF0) {
    extra = 3;
    code = c & 0x07;
  } else {
    return 0;
  }
  if (at + extra >= text.size()) return 0;
  for (std::size_t k = 1; k <= extra; ++k) {
    const auto cc = static_cast<unsigned char>(text[at + k]);
    if ((cc & 0xC0) != 0x80) return 0;
    code = (code << 6) | (cc & 0x3F);
  }
  const bool overlong = (extra == 1 && code < 0x80) || (extra == 2 && code < 0x800) ||
                        (extra == 3 && code < 0x10000);
  if (overlong || code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF)) return 0;
  return extra + 1;
}

}  // namespace authpolicy::grammar
