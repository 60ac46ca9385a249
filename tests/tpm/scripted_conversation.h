// A Conversation with canned answers that records what the person would have seen.
#pragma once

#include <deque>
#include <optional>
#include <string>
#include <vector>

#include "engine/factor.h"

namespace authpolicy::testing {

class ScriptedConversation : public Conversation {
 public:
  explicit ScriptedConversation(std::vector<std::optional<std::string>> answers = {})
      : answers_(answers.begin(), answers.end()) {}

  std::optional<SecretString> ask_secret(std::string_view prompt) override {
    prompts.emplace_back(prompt);
    if (answers_.empty()) return std::nullopt;
    auto answer = answers_.front();
    answers_.pop_front();
    if (!answer) return std::nullopt;
    return SecretString(*answer);
  }
  std::optional<std::string> ask_visible(std::string_view prompt) override {
    prompts.emplace_back(prompt);
    return std::nullopt;
  }
  void info(std::string_view text) override { infos.emplace_back(text); }
  void error(std::string_view text) override { errors.emplace_back(text); }

  std::vector<std::string> prompts;
  std::vector<std::string> infos;
  std::vector<std::string> errors;

 private:
  std::deque<std::optional<std::string>> answers_;
};

}  // namespace authpolicy::testing
