// A conversation for test programs that drive the system's libpam directly (no pam_wrapper): it
// answers echo-off prompts with one secret and echo-on prompts with one visible answer; messages
// are only shown to a user, so they are dropped. And a fail-delay callback that never sleeps.
#pragma once

#include <security/pam_appl.h>

#include <cstdlib>
#include <cstring>

namespace authpolicy::test_support {

struct PamAnswers {
  const char* secret = "";   // the answer to every PAM_PROMPT_ECHO_OFF
  const char* visible = "";  // the answer to every PAM_PROMPT_ECHO_ON
};

// A pam_conv function; `data` points to a PamAnswers.
inline int answer_prompts(int count, const pam_message** messages, pam_response** responses,
                          void* data) {
  if (count <= 0 || messages == nullptr || responses == nullptr || data == nullptr) {
    return PAM_CONV_ERR;
  }
  const auto* answers = static_cast<const PamAnswers*>(data);
  auto* replies = static_cast<pam_response*>(
      std::calloc(static_cast<std::size_t>(count), sizeof(pam_response)));
  if (replies == nullptr) return PAM_BUF_ERR;
  for (int i = 0; i < count; ++i) {
    const int style = messages[i]->msg_style;
    if (style == PAM_PROMPT_ECHO_OFF || style == PAM_PROMPT_ECHO_ON) {
      replies[i].resp = strdup(style == PAM_PROMPT_ECHO_OFF ? answers->secret : answers->visible);
      if (replies[i].resp == nullptr) {
        for (int j = 0; j < i; ++j) std::free(replies[j].resp);
        std::free(replies);
        return PAM_BUF_ERR;
      }
    }
  }
  *responses = replies;
  return PAM_SUCCESS;
}

// For PAM_FAIL_DELAY: a failed password would otherwise sleep for pam_fail_delay's seconds (and
// a load or race test measures the module, not the delay).
inline void no_fail_delay(int, unsigned, void*) {}

}  // namespace authpolicy::test_support
