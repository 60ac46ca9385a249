// `authpolicy pin setup|change|delete|test|status [USER]`: managing TPM PINs from the shell.
#pragma once

#include <iosfwd>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/factor.h"
#include "engine/secret.h"

namespace authpolicy::cli {

// Where the command reads PINs from. nullopt: end of input or a read failure.
class PinInput {
 public:
  virtual ~PinInput() = default;
  virtual bool interactive() const = 0;  // a terminal: prompts are shown and a new PIN repeated
  virtual std::optional<SecretString> read_pin(std::string_view prompt) = 0;
};

// The terminal without echo when stdin is one, else one line of stdin per PIN.
class StdinPinInput : public PinInput {
 public:
  explicit StdinPinInput(std::ostream& prompt_stream);
  bool interactive() const override { return interactive_; }
  std::optional<SecretString> read_pin(std::string_view prompt) override;

 private:
  std::ostream& prompt_stream_;
  bool interactive_;
};

// Exit codes: 0 success / PIN correct, 1 wrong PIN or locked, 2 usage or TPM error.
int run_pin_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err,
                    PinInput& input);
int run_pin_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

// The `tpm { … }` settings of /etc/authpolicy/common.pol, nullopt when there are none.
std::optional<authpolicy::Settings> common_tpm_settings();

}  // namespace authpolicy::cli
