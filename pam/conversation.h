// The engine's Conversation over the application's PAM conversation function.
#pragma once

#include <security/pam_modules.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/factor.h"

namespace authpolicy::pam_front {

// What the person is told, and when. PAM_SILENT (`silent`; sudo passes it by default) drops the
// progress cues (info). Errors say why the person is refused (a rate limit, a locked PIN): under
// PAM_SILENT they are held back and shown only when the module decides to (show_held: once a
// first factor passed, so they tell an attacker nothing new). sudo, su and sshd display every
// PAM_ERROR_MSG they receive, also when they passed PAM_SILENT. `quiet` (the module argument, for
// sites that must show nothing after a failed logon) drops errors and refusal lines altogether.
class PamConversation final : public Conversation {
 public:
  PamConversation(pam_handle_t* pamh, bool silent, bool quiet = false)
      : pamh_(pamh), silent_(silent), quiet_(quiet) {}

  std::optional<SecretString> ask_secret(std::string_view prompt) override;
  std::optional<std::string> ask_visible(std::string_view prompt) override;
  void info(std::string_view text) override;
  void error(std::string_view text) override;

  // True once a prompt could not be asked: no conversation function, or it failed.
  bool failed() const { return failed_; }

  // A line saying why the person is refused, shown now unless `quiet` (PAM_SILENT or not).
  void refusal(std::string_view text);
  // Shows (show = true) or forgets the errors PAM_SILENT held back.
  void show_held(bool show);

 private:
  // Sends one message. On success with `answer`, *answer holds the malloc()ed response (the caller
  // wipes and frees it). Returns the PAM code.
  int converse(int style, std::string_view text, char** answer);

  pam_handle_t* pamh_;
  bool silent_;
  bool quiet_;
  bool failed_ = false;
  std::vector<std::string> held_;
};

}  // namespace authpolicy::pam_front
