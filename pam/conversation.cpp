// The PAM conversation adapter: one message per call, responses wiped and freed.
#include "pam/conversation.h"

#include <security/pam_appl.h>

#include <cstdlib>
#include <cstring>

#include "engine/secret.h"

namespace authpolicy::pam_front {
namespace {

// Wipes and frees a response string the application allocated.
void discard_response(char* text) noexcept {
  if (!text) return;
  secure_wipe(text, std::strlen(text));
  std::free(text);
}

}  // namespace

int PamConversation::converse(int style, std::string_view text, char** answer) {
  if (answer) *answer = nullptr;
  const void* item = nullptr;
  if (pam_get_item(pamh_, PAM_CONV, &item) != PAM_SUCCESS || item == nullptr ||
      static_cast<const pam_conv*>(item)->conv == nullptr) {
    return PAM_CONV_ERR;
  }
  const auto* conv = static_cast<const pam_conv*>(item);
  // Applications may keep fixed buffers of PAM_MAX_MSG_SIZE.
  const std::string message(text.substr(0, PAM_MAX_MSG_SIZE - 1));
  pam_message one{style, message.c_str()};
  const pam_message* messages[1] = {&one};
  pam_response* responses = nullptr;
  const int rc = conv->conv(1, messages, &responses, conv->appdata_ptr);
  char* response = nullptr;
  if (responses) {
    response = responses[0].resp;
    std::free(responses);
  }
  if (rc != PAM_SUCCESS) {
    discard_response(response);
    return rc;
  }
  if (answer) {
    *answer = response;
  } else {
    discard_response(response);
  }
  return PAM_SUCCESS;
}

std::optional<SecretString> PamConversation::ask_secret(std::string_view prompt) {
  char* response = nullptr;
  if (converse(PAM_PROMPT_ECHO_OFF, prompt, &response) != PAM_SUCCESS || response == nullptr) {
    failed_ = true;
    return std::nullopt;
  }
  // Copy into a wiping string first, then wipe the application's buffer.
  std::optional<SecretString> secret;
  try {
    secret.emplace(std::string_view(response));
  } catch (...) {
    discard_response(response);
    throw;
  }
  discard_response(response);
  return secret;
}

std::optional<std::string> PamConversation::ask_visible(std::string_view prompt) {
  char* response = nullptr;
  if (converse(PAM_PROMPT_ECHO_ON, prompt, &response) != PAM_SUCCESS || response == nullptr) {
    failed_ = true;
    return std::nullopt;
  }
  std::optional<std::string> text;
  try {
    text.emplace(response);
  } catch (...) {
    discard_response(response);
    throw;
  }
  discard_response(response);
  return text;
}

void PamConversation::info(std::string_view text) {
  if (silent_) return;
  converse(PAM_TEXT_INFO, text, nullptr);  // a cue that cannot be shown changes no decision
}

void PamConversation::error(std::string_view text) {
  if (quiet_) return;
  if (silent_) {
    held_.emplace_back(text);
    return;
  }
  converse(PAM_ERROR_MSG, text, nullptr);
}

void PamConversation::refusal(std::string_view text) {
  if (quiet_) return;
  converse(PAM_ERROR_MSG, text, nullptr);
}

void PamConversation::show_held(bool show) {
  std::vector<std::string> held;
  held.swap(held_);
  if (!show || quiet_) return;
  for (const auto& text : held) converse(PAM_ERROR_MSG, text, nullptr);
}

}  // namespace authpolicy::pam_front
