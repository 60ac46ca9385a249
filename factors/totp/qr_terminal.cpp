// Drawing a QR code in a terminal with UTF-8 half blocks (libqrencode does the encoding).
#include <qrencode.h>

#include <string>

#include "factors/totp/enrol.h"

namespace authpolicy::totp {

SecretString render_qr_half_blocks(std::string_view text) {
  std::string input(text);
  QRcode* qr = QRcode_encodeString(input.c_str(), 0, QR_ECLEVEL_M, QR_MODE_8, 1);
  secure_wipe(input.data(), input.capacity());
  if (qr == nullptr) return SecretString();
  const int quiet = 2;
  const int width = qr->width;
  const int size = width + 2 * quiet;
  auto dark = [&](int x, int y) {
    x -= quiet;
    y -= quiet;
    if (x < 0 || y < 0 || x >= width || y >= width) return false;
    return (qr->data[y * width + x] & 1) != 0;
  };
  std::string out;
  out.reserve(static_cast<std::size_t>(size) * static_cast<std::size_t>(size + 1) * 3 / 2 + 64);
  for (int y = 0; y < size; y += 2) {
    for (int x = 0; x < size; ++x) {
      bool top_light = !dark(x, y);
      bool bottom_light = y + 1 < size ? !dark(x, y + 1) : false;
      if (top_light && bottom_light) {
        out += "\u2588";
      } else if (top_light) {
        out += "\u2580";
      } else if (bottom_light) {
        out += "\u2584";
      } else {
        out += " ";
      }
    }
    out += "\n";
  }
  secure_wipe(qr->data, static_cast<std::size_t>(width) * static_cast<std::size_t>(width));
  QRcode_free(qr);
  SecretString drawing(out);
  secure_wipe(out.data(), out.capacity());
  return drawing;
}

}  // namespace authpolicy::totp
