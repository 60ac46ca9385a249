// The engine's Conversation over the application's PAM conversation function.
#pragma once

#include <security/pam_modules.h>

#include <optional>
#include <string>
#include <string_view>

#include "engine/factor.h"

namespace authpolicy::pam_front {

class PamConversation final : public Conversation {
 public:
  // `silent` (PAM_SILENT) suppresses info and error messages; prompts are still asked.
  PamConversation(pam_handle_t* pamh, bool silent) : pamh_(pamh), silent_(silent) {}

  std::optional<SecretString> ask_secret(std::string_view prompt) override;
  std::optional<std::string> ask_visible(std::string_view prompt) override;
  void info(std::string_view text) override;
  void error(std::string_view text) override;

  // True once a prompt could not be asked: no conversation function, or it failed.
  bool failed() const { return failed_; }

 private:
  // Sends one message. On success with `answer`, *answer holds the malloc()ed response (the caller
  // wipes and frees it). Returns the PAM code.
  int converse(int style, std::string_view text, char** answer);

  pam_handle_t* pamh_;
  bool silent_;
  bool failed_ = false;
};

}  // namespace authpolicy::pam_front
