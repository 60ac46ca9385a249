// A string for passwords, PINs and codes that wipes its bytes when it goes away.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>

namespace authpolicy {

// Overwrites `size` bytes at `data` in a way the compiler may not elide.
void secure_wipe(void* data, std::size_t size) noexcept;

// Owns a secret. Copying is explicit (clone()) so secrets are not duplicated by accident;
// every buffer it ever held is wiped before release.
class SecretString {
 public:
  SecretString() = default;
  explicit SecretString(std::string_view text) { assign(text); }
  SecretString(const SecretString&) = delete;
  SecretString& operator=(const SecretString&) = delete;
  SecretString(SecretString&& other) noexcept : text_(std::move(other.text_)) { other.wipe(); }
  SecretString& operator=(SecretString&& other) noexcept {
    if (this != &other) {
      wipe();
      text_ = std::move(other.text_);
      other.wipe();
    }
    return *this;
  }
  ~SecretString() { wipe(); }

  void assign(std::string_view text) {
    wipe();
    text_.reserve(text.size() + 1);  // reserve first so the buffer is never reallocated with a copy
    text_.append(text);
  }
  SecretString clone() const { return SecretString(view()); }
  std::string_view view() const noexcept { return text_; }
  const char* c_str() const noexcept { return text_.c_str(); }
  std::size_t size() const noexcept { return text_.size(); }
  bool empty() const noexcept { return text_.empty(); }
  // Wipes the whole capacity: a moved-from short string keeps its bytes in the inline buffer.
  void wipe() noexcept {
    secure_wipe(text_.data(), text_.capacity());
    text_.clear();
  }

 private:
  std::string text_;
};

}  // namespace authpolicy
