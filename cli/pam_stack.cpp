// Reading /etc/pam.d service files and planning the lines `authpolicy enable` adds to them.
#include "cli/pam_stack.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "base/trusted_write.h"

namespace authpolicy::cli {
namespace {

constexpr int kMaxIncludeDepth = 8;  // libpam's own limit is similar; a loop must end

std::vector<std::string> split_lines(std::string_view text) {
  std::vector<std::string> lines;
  std::size_t start = 0;
  while (start < text.size()) {
    const std::size_t end = text.find('\n', start);
    if (end == std::string_view::npos) {
      lines.emplace_back(text.substr(start));
      break;
    }
    lines.emplace_back(text.substr(start, end - start));
    start = end + 1;
  }
  return lines;
}

std::string basename_of(std::string_view path) {
  const auto slash = path.rfind('/');
  return std::string(slash == std::string_view::npos ? path : path.substr(slash + 1));
}

bool is_policy_module(const PamLine& line) {
  return !line.include && basename_of(line.module) == "pam_policy.so";
}

std::string type_of(std::string_view type) {
  return std::string(type.substr(0, 1) == "-" ? type.substr(1) : type);
}

bool runs_policy(const std::string& pam_dir, const std::string& file, std::string_view type,
                 std::string* policy_argument, int depth) {
  if (depth > kMaxIncludeDepth) return false;
  const auto text = read_whole_file(pam_dir + "/" + file);
  if (!text) return false;
  for (const PamLine& line : parse_pam_file(*text)) {
    if (line.include) {
      if (!line.type.empty() && line.type != type) continue;
      if (runs_policy(pam_dir, line.module, type, policy_argument, depth + 1)) return true;
      continue;
    }
    if (line.type != type || !is_policy_module(line)) continue;
    if (policy_argument) {
      policy_argument->clear();
      for (const auto& a : line.arguments) {
        if (a.rfind("policy=", 0) == 0) *policy_argument = a.substr(7);
      }
    }
    return true;
  }
  return false;
}

bool provides(const std::string& pam_dir, const std::string& file, std::string_view type,
              int depth) {
  if (depth > kMaxIncludeDepth) return false;
  const auto text = read_whole_file(pam_dir + "/" + file);
  if (!text) return false;
  for (const PamLine& line : parse_pam_file(*text)) {
    if (line.include && line.type.empty()) {
      if (provides(pam_dir, line.module, type, depth + 1)) return true;
    } else if (line.type == type) {
      return true;
    }
  }
  return false;
}

// Where the stack of `type` first hands over to the stock password stack: an include (of a file
// with such lines), or the type's pam_unix.so line. Returns the line index, or nullopt.
// `covered_by` is set when that include is another file enable edits (su-l includes su).
std::optional<std::size_t> hand_over_point(const std::string& pam_dir,
                                           const std::vector<PamLine>& lines, std::string_view type,
                                           const std::vector<std::string>& planned,
                                           std::string* covered_by, bool any_line_counts) {
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const PamLine& line = lines[i];
    if (line.include) {
      if (!line.type.empty() && line.type != type) continue;
      if (!provides(pam_dir, line.module, type, 0)) continue;
      if (covered_by && std::find(planned.begin(), planned.end(), line.module) != planned.end()) {
        *covered_by = line.module;
      }
      return i;
    }
    if (line.type != type) continue;
    if (any_line_counts || basename_of(line.module) == "pam_unix.so") return i;
  }
  return std::nullopt;
}

std::string marker_line(const std::string& entry_point) {
  return std::string(kMarkerPrefix) + " " + entry_point + "\"; \"authpolicy disable " +
         entry_point + "\" removes it";
}

}  // namespace

std::vector<PamLine> parse_pam_file(std::string_view text) {
  std::vector<PamLine> result;
  for (std::string& raw : split_lines(text)) {
    PamLine line;
    line.text = raw;
    line.marker = raw.rfind(kMarkerPrefix, 0) == 0;
    const auto hash = raw.find('#');
    std::string body = hash == std::string::npos ? raw : raw.substr(0, hash);
    std::vector<std::string> tokens;
    std::size_t i = 0;
    while (i < body.size()) {
      while (i < body.size() && (body[i] == ' ' || body[i] == '\t' || body[i] == '\r')) ++i;
      if (i >= body.size()) break;
      std::size_t end = i;
      if (body[i] == '[') {
        end = body.find(']', i);
        end = end == std::string::npos ? body.size() : end + 1;
      } else {
        while (end < body.size() && body[end] != ' ' && body[end] != '\t' && body[end] != '\r')
          ++end;
      }
      tokens.push_back(body.substr(i, end - i));
      i = end;
    }
    if (!tokens.empty() && tokens[0] == "@include" && tokens.size() >= 2) {
      line.include = true;
      line.module = tokens[1];
    } else if (tokens.size() >= 3) {
      line.type = type_of(tokens[0]);
      line.control = tokens[1];
      line.module = tokens[2];
      line.arguments.assign(tokens.begin() + 3, tokens.end());
      line.include = line.control == "include" || line.control == "substack";
    }
    result.push_back(std::move(line));
  }
  return result;
}

std::vector<std::string> entry_point_services(const std::string& entry_point) {
  if (entry_point == "sudo") return {"sudo", "sudo-i"};
  if (entry_point == "su") return {"su", "su-l"};
  return {entry_point};
}

bool provides_type(const std::string& pam_dir, const std::string& file, std::string_view type) {
  return provides(pam_dir, file, type, 0);
}

bool stack_runs_policy(const std::string& pam_dir, const std::string& file, std::string_view type,
                       std::string* policy_argument) {
  return runs_policy(pam_dir, file, type, policy_argument, 0);
}

std::vector<FilePlan> plan_enable(const std::string& entry_point, const EnableSettings& settings) {
  std::vector<FilePlan> plans;
  const std::vector<std::string> services = entry_point_services(entry_point);
  for (const std::string& service : services) {
    FilePlan plan;
    plan.service = service;
    plan.path = settings.pam_dir + "/" + service;
    const auto text = read_whole_file(plan.path);
    if (!text) continue;
    plan.original = *text;
    plan.updated = *text;
    const std::vector<PamLine> lines = parse_pam_file(*text);
    if (std::any_of(lines.begin(), lines.end(), [](const PamLine& l) { return l.marker; })) {
      plan.already_enabled = true;
      plans.push_back(std::move(plan));
      continue;
    }
    if (std::any_of(lines.begin(), lines.end(), is_policy_module)) {
      plan.wired_by_hand = true;
      plans.push_back(std::move(plan));
      continue;
    }
    std::vector<std::string> others;
    for (const auto& s : services) {
      if (s != service) others.push_back(s);
    }
    const auto auth_at =
        hand_over_point(settings.pam_dir, lines, "auth", others, &plan.covered_by, false);
    if (!plan.covered_by.empty()) {
      plans.push_back(std::move(plan));
      continue;
    }
    if (!auth_at) {
      plan.problem =
          "found neither an include of an auth stack nor an auth pam_unix.so line; "
          "wire it by hand (docs/pam.md)";
      plans.push_back(std::move(plan));
      continue;
    }
    const auto account_at = hand_over_point(settings.pam_dir, lines, "account", {}, nullptr, true);

    std::string arguments = " policy=" + settings.policy_path;
    if (settings.missing_ignore) arguments += " missing=ignore";
    const std::string marker = marker_line(entry_point);
    const std::string auth_block =
        marker + "\nauth\t[success=done new_authtok_reqd=done ignore=ignore default=die]\t" +
        settings.module + arguments + "\n";
    const std::string account_block =
        marker + "\naccount\trequired\t" + settings.module + arguments + "\n";

    std::string out;
    const std::vector<std::string> raw = split_lines(*text);
    for (std::size_t i = 0; i < raw.size(); ++i) {
      if (i == *auth_at) out += auth_block;
      if (account_at && i == *account_at) out += account_block;
      out += raw[i];
      if (i + 1 < raw.size() || (!text->empty() && text->back() == '\n')) out += '\n';
    }
    if (!account_at) out += account_block;
    plan.updated = std::move(out);
    plans.push_back(std::move(plan));
  }
  return plans;
}

std::string remove_added_lines(std::string_view text, std::size_t* removed) {
  std::size_t count = 0;
  std::string out;
  const std::vector<std::string> raw = split_lines(text);
  const std::vector<PamLine> lines = parse_pam_file(text);
  for (std::size_t i = 0; i < raw.size(); ++i) {
    if (lines[i].marker) {
      ++count;
      if (i + 1 < raw.size() && is_policy_module(lines[i + 1])) {
        ++count;
        ++i;
      }
      continue;
    }
    out += raw[i];
    if (i + 1 < raw.size() || (!text.empty() && text.back() == '\n')) out += '\n';
  }
  if (removed) *removed = count;
  return out;
}

std::string unified_diff(const std::string& path, std::string_view before, std::string_view after) {
  const std::vector<std::string> a = split_lines(before);
  const std::vector<std::string> b = split_lines(after);
  // Longest common subsequence table, then the edit script: pam.d files are a few dozen lines.
  std::vector<std::vector<std::size_t>> lcs(a.size() + 1, std::vector<std::size_t>(b.size() + 1));
  for (std::size_t i = a.size(); i-- > 0;) {
    for (std::size_t j = b.size(); j-- > 0;) {
      lcs[i][j] = a[i] == b[j] ? lcs[i + 1][j + 1] + 1 : std::max(lcs[i + 1][j], lcs[i][j + 1]);
    }
  }
  struct Edit {
    char kind;  // ' ', '-', '+'
    std::size_t ai, bi;
  };
  std::vector<Edit> edits;
  std::size_t i = 0, j = 0;
  while (i < a.size() || j < b.size()) {
    if (i < a.size() && j < b.size() && a[i] == b[j]) {
      edits.push_back({' ', i++, j++});
    } else if (j < b.size() && (i >= a.size() || lcs[i][j + 1] >= lcs[i + 1][j])) {
      edits.push_back({'+', i, j++});
    } else {
      edits.push_back({'-', i++, j});
    }
  }
  constexpr std::size_t kContext = 3;
  std::ostringstream out;
  std::size_t k = 0;
  bool header = false;
  while (k < edits.size()) {
    if (edits[k].kind == ' ') {
      ++k;
      continue;
    }
    std::size_t start = k >= kContext ? k - kContext : 0;
    std::size_t end = k;
    // Extend the hunk while changes are within 2 * context of each other.
    while (end < edits.size()) {
      if (edits[end].kind != ' ') {
        ++end;
        continue;
      }
      std::size_t run = end;
      while (run < edits.size() && edits[run].kind == ' ') ++run;
      if (run == edits.size() || run - end > 2 * kContext) {
        end = std::min(edits.size(), end + kContext);
        break;
      }
      end = run;
    }
    std::size_t a_count = 0, b_count = 0;
    for (std::size_t e = start; e < end; ++e) {
      if (edits[e].kind != '+') ++a_count;
      if (edits[e].kind != '-') ++b_count;
    }
    if (!header) {
      out << "--- " << path << "\n+++ " << path << "\n";
      header = true;
    }
    out << "@@ -" << (a_count ? edits[start].ai + 1 : edits[start].ai) << "," << a_count << " +"
        << (b_count ? edits[start].bi + 1 : edits[start].bi) << "," << b_count << " @@\n";
    for (std::size_t e = start; e < end; ++e) {
      out << edits[e].kind << (edits[e].kind == '+' ? b[edits[e].bi] : a[edits[e].ai]) << "\n";
    }
    k = end;
  }
  return out.str();
}

std::optional<std::string> read_whole_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string write_atomically(const TrustedFile& folder, const std::string& name,
                             std::string_view content, unsigned mode) {
  // The old file's owner and permission bits (a symlink in its place is replaced, not followed).
  NewFile attributes{geteuid(), getegid(), static_cast<mode_t>(mode & 0777)};
  struct stat old {};
  if (folder.ok() && fstatat(folder.fd(), name.c_str(), &old, AT_SYMLINK_NOFOLLOW) == 0 &&
      S_ISREG(old.st_mode)) {
    attributes = {old.st_uid, old.st_gid, static_cast<mode_t>(old.st_mode & 0777)};
  }
  const WriteResult written = replace_at(folder, name, content, attributes);
  return written.ok() ? std::string() : written.reason;
}

}  // namespace authpolicy::cli
