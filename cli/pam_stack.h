// Reading /etc/pam.d service files and planning the lines `authpolicy enable` adds to them.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/file_trust.h"

namespace authpolicy::cli {

// The marker comment in front of every line `authpolicy enable` adds; `disable` and `status`
// recognise added lines by it and nothing else.
inline constexpr std::string_view kMarkerPrefix = "# authpolicy: added by \"authpolicy enable";

// One line of a service file, tokenised the way libpam reads it (comments dropped, bracketed
// controls kept whole).
struct PamLine {
  std::string text;      // the line as written, without its newline
  bool include = false;  // "@include NAME", or TYPE include|substack NAME
  std::string type;      // auth, account, password, session ("" for @include)
  std::string control;   // required, [success=done ...], include, ...
  std::string module;    // module path, or the included file
  std::vector<std::string> arguments;
  bool marker = false;  // one of our marker comments
};

std::vector<PamLine> parse_pam_file(std::string_view text);

// The service files one entry point authenticates through: sudo -> sudo, sudo-i;
// su -> su, su-l; anything else -> itself.
std::vector<std::string> entry_point_services(const std::string& entry_point);

// Whether `file` (in `pam_dir`, following includes) has lines of `type` (auth, account).
bool provides_type(const std::string& pam_dir, const std::string& file, std::string_view type);

// Whether the `type` stack of `file` (following includes) runs pam_policy.so.
bool stack_runs_policy(const std::string& pam_dir, const std::string& file, std::string_view type,
                       std::string* policy_argument = nullptr);

// What enable does to one service file.
struct FilePlan {
  std::string service;
  std::string path;
  std::string original;          // bytes read
  std::string updated;           // bytes to write (== original when nothing changes)
  std::string covered_by;        // non-empty: its auth stack includes this other planned file
  bool already_enabled = false;  // our marker is there already
  bool wired_by_hand = false;    // a pam_policy.so line not added by us
  std::string problem;           // non-empty: cannot be enabled (why)
};

struct EnableSettings {
  std::string pam_dir = "/etc/pam.d";
  std::string policy_path;  // the policy every file of the entry point uses
  std::string module = "pam_policy.so";
  bool missing_ignore = false;
};

// Plans enable for every existing service file of the entry point. A file that does not exist
// is left out (sudo-i on systems without it).
std::vector<FilePlan> plan_enable(const std::string& entry_point, const EnableSettings& settings);

// `text` without our marker lines and the pam_policy.so line after each; `removed` counts lines.
std::string remove_added_lines(std::string_view text, std::size_t* removed);

// A unified diff of two versions of one file (line based, small files).
std::string unified_diff(const std::string& path, std::string_view before, std::string_view after);

// Reads a whole file; nullopt when it cannot be opened.
std::optional<std::string> read_whole_file(const std::string& path);

// Replaces `name` in `folder` (opened by the trust walk) by `content` atomically, relative to the
// folder's descriptor (base/trusted_write.h): the old file's owner and permission bits (never
// set-id bits), or `mode` for a new file. Returns an error message, or empty on success.
std::string write_atomically(const TrustedFile& folder, const std::string& name,
                             std::string_view content, unsigned mode = 0644);

}  // namespace authpolicy::cli
