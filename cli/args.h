// Small helpers for sub-command arguments: "--flag VALUE" and "--flag=VALUE" forms.
#pragma once

#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace authpolicy::cli {

struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Walks arguments; `value()` takes the flag's value from "=..." or the next argument.
class ArgReader {
 public:
  explicit ArgReader(const std::vector<std::string>& args) : args_(args) {}
  bool next() {
    if (++index_ >= args_.size()) return false;
    const std::string& a = args_[index_];
    inline_value_.reset();
    const auto eq = a.find('=');
    if (a.rfind("--", 0) == 0 && eq != std::string::npos) {
      flag_ = a.substr(0, eq);
      inline_value_ = a.substr(eq + 1);
    } else {
      flag_ = a;
    }
    return true;
  }
  const std::string& flag() const { return flag_; }
  bool is_option() const { return flag_.size() > 1 && flag_[0] == '-' && !positional_only_; }
  std::string value() {
    if (inline_value_) return *inline_value_;
    if (index_ + 1 >= args_.size()) throw UsageError(flag_ + " needs a value");
    return args_[++index_];
  }
  const std::string& raw() const { return args_[index_]; }

 private:
  const std::vector<std::string>& args_;
  std::size_t index_ = static_cast<std::size_t>(-1);
  std::string flag_;
  std::optional<std::string> inline_value_;
  bool positional_only_ = false;
};

}  // namespace authpolicy::cli
