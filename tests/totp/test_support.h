// Helpers for the totp tests: temporary folders, files, real child processes, a scripted
// conversation.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <vector>

#include "engine/factor.h"
#include "factors/totp/otp.h"
#include "tests/support/temp_folder.h"

namespace totp_test {

using TempDir = authpolicy::test_support::TempFolder;

void write_file(const std::string& path, const std::string& contents, mode_t mode = 0600);
std::string read_file(const std::string& path);

struct ProcessResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};
// Runs argv[0] (looked up in PATH) with `input` on stdin; the test fails naming a missing tool.
ProcessResult run_process(const std::vector<std::string>& argv, const std::string& input = "");

// oathtool's TOTP value for a hex key at unix time `when`.
std::string oathtool_totp(const std::string& hex_key, std::int64_t when,
                          authpolicy::totp::HashAlgorithm algorithm, int digits, int step = 30);

// The code our implementation computes for a base32 secret.
std::string code_for(
    const std::string& base32_secret, std::int64_t when,
    authpolicy::totp::HashAlgorithm algorithm = authpolicy::totp::HashAlgorithm::sha1,
    int digits = 6, int step = 30);

std::string hex_of_base32(const std::string& base32_secret);

// A conversation that answers from a script and records what it was asked and told.
class ScriptedConversation : public authpolicy::Conversation {
 public:
  std::deque<std::optional<std::string>> answers;
  std::vector<std::string> secret_prompts;
  std::vector<std::string> visible_prompts;
  std::vector<std::string> infos;
  std::vector<std::string> errors;

  std::optional<authpolicy::SecretString> ask_secret(std::string_view prompt) override;
  std::optional<std::string> ask_visible(std::string_view prompt) override;
  void info(std::string_view text) override { infos.emplace_back(text); }
  void error(std::string_view text) override { errors.emplace_back(text); }
};

// A fixed well-known test secret (20 bytes).
inline const std::string kSecret = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";  // "12345678901234567890"

}  // namespace totp_test
