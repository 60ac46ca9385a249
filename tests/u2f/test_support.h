// Shared helpers for the u2f tests: a scripted conversation, the factor's settings and a
// temporary authfile folder.
#pragma once

#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <deque>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "engine/factor.h"
#include "tests/support/temp_folder.h"

namespace authpolicy::testing {

// Answers secrets from a script and records everything shown, in order.
class ScriptedConversation final : public Conversation {
 public:
  std::deque<std::string> secrets;
  std::vector<std::string> prompts;
  std::vector<std::string> infos;
  std::vector<std::string> errors;
  std::vector<std::string> events;  // "prompt:…", "info:…", "error:…" in order

  std::optional<SecretString> ask_secret(std::string_view prompt) override {
    prompts.emplace_back(prompt);
    events.push_back("prompt:" + std::string(prompt));
    if (secrets.empty()) return std::nullopt;
    SecretString answer(secrets.front());
    secrets.pop_front();
    return answer;
  }
  std::optional<std::string> ask_visible(std::string_view prompt) override {
    prompts.emplace_back(prompt);
    return std::nullopt;
  }
  void info(std::string_view text) override {
    infos.emplace_back(text);
    events.push_back("info:" + std::string(text));
  }
  void error(std::string_view text) override {
    errors.emplace_back(text);
    events.push_back("error:" + std::string(text));
  }
};

// The origin (relying party) the tests' credentials are made for.
constexpr const char* kOrigin = "pam://test-host";

// The u2f factor's settings for the tests: `authfile`, kOrigin, and no wait for a key to appear.
inline Settings u2f_settings(const std::string& authfile) {
  Settings settings;
  settings.set("authfile", authfile);
  settings.set("origin", std::string(kOrigin));
  settings.set("detect", std::chrono::seconds(0));
  return settings;
}

// A temporary folder removed at the end of the test.
using TempFolder = authpolicy::test_support::TempFolder;

inline std::string read_text(const std::filesystem::path& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

}  // namespace authpolicy::testing
