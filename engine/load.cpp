// Loading a policy: its files read through trusted descriptors, includes followed, then compiled
// and analysed (engine/load.h).
#include "engine/compiler.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <algorithm>
#include <cctype>
#include <climits>
#include <cstring>
#include <cstdlib>
#include <filesystem>
#include <map>
#include "base/sha256.h"
#include "engine/analysis.h"
#include "engine/describe.h"
#include "engine/self_module.h"
#include "engine/values.h"
#include "grammar/parser.h"

namespace authpolicy {

bool LoadResult::has_errors() const { return count(Severity::error) > 0; }

std::size_t LoadResult::count(Severity severity) const {
  return static_cast<std::size_t>(std::count_if(
      diagnostics.begin(), diagnostics.end(),
      [severity](const Diagnostic& d) { return d.severity == severity; }));
}

std::optional<std::size_t> Policy::factor_index(std::string_view name) const {
  for (std::size_t i = 0; i < factors.size(); ++i) {
    if (factors[i].name == name) return i;
  }
  return std::nullopt;
}

bool Policy::uses_subject(Subject subject) const {
  return std::any_of(atoms.begin(), atoms.end(),
                     [subject](const Atom& a) { return a.subject == subject; });
}

namespace compiler {

void Compiler::run(const std::string& path, const std::string* text) {
  if (!load_file(path, text, nullptr, 0)) {
    result_.files = policy_->files;
    return;
  }
  if (!result_.has_errors()) compile();
  result_.files = policy_->files;
  if (result_.has_errors()) return;
  analyse_policy(*policy_, options_, result_.diagnostics);
  if (result_.has_errors()) return;
  result_.policy = std::shared_ptr<const Policy>(std::move(policy_));
}

bool Compiler::load_file(const std::string& path, const std::string* text, const Location* site,
               int depth) {
  // Only names the file for cycle and include-once checks; what is read is checked below.
  char resolved[PATH_MAX];
  const std::string canonical = realpath(path.c_str(), resolved) ? resolved : path;
  if (std::find(include_stack_.begin(), include_stack_.end(), canonical) != include_stack_.end()) {
    std::string chain;
    for (const auto& p : display_stack_) chain += p + " -> ";
    error("E014", "include cycle: " + path + " includes itself", *site, {"chain: " + chain + path});
    return true;
  }
  if (std::find(canonical_.begin(), canonical_.end(), canonical) != canonical_.end()) {
    return true;  // already included through another file: include once
  }
  if (depth > kMaxIncludeDepth) {
    error("E023", "includes nested deeper than " + std::to_string(kMaxIncludeDepth) + " files",
          *site);
    return true;
  }
  std::string content;
  if (text != nullptr) {
    content = *text;
  } else {
    // Opened once, checked on that descriptor and read from it: what is parsed is what passed.
    FileRead read = read_file(path);
    const ReadStatus status = read.status;
    const std::string& problem = read.problem;
    content = std::move(read.content);
    if (status == ReadStatus::unreadable || status == ReadStatus::missing) {
      if (site == nullptr) {
        result_.unreadable = true;
        result_.missing = status == ReadStatus::missing;
        error("E013", problem, Location{});
        return false;
      }
      error("E013", "cannot include " + path + ": " + problem, *site);
      return true;
    }
    if (status == ReadStatus::unsafe) {
      // Named with an empty text so the diagnostic can point at it; nothing of it is parsed.
      if (site == nullptr) policy_->files.push_back({path, "", ""});
      error("E015", "unsafe policy file: " + problem, site ? *site : Location{0, 1, 1, 1},
            {"policy files must be regular files owned by root and not writable by group or "
             "others, in folders owned by root and not writable by group or others (sticky "
             "folders such as /tmp excepted)"});
      return true;
    }
  }
  const auto index = static_cast<std::uint32_t>(policy_->files.size());
  policy_->files.push_back({path, content, sha256_hex(content)});
  canonical_.push_back(canonical);
  asts_.emplace_back();
  auto parsed = grammar::parse_policy_text(content, index);
  if (parsed.error) {
    error("E001", "syntax error: " + parsed.error->message, parsed.error->location);
    return true;
  }
  asts_[index] = std::move(*parsed.file);
  include_stack_.push_back(canonical);
  display_stack_.push_back(path);
  const std::filesystem::path folder = std::filesystem::path(path).parent_path();
  // Copy: loading may grow asts_ and move the vector's elements.
  const std::vector<ast::Include> includes = asts_[index].includes;
  for (const auto& include : includes) {
    std::filesystem::path target(include.path);
    if (target.is_relative()) target = folder / target;
    load_file(target.string(), nullptr, &include.location, depth + 1);
  }
  include_stack_.pop_back();
  display_stack_.pop_back();
  return true;
}

Compiler::FileRead Compiler::read_file(const std::string& path) {
  FileRead answer;
  std::string& content = answer.content;
  std::string& problem = answer.problem;
  auto finish = [&answer](ReadStatus status) {
    answer.status = status;
    return std::move(answer);
  };
  if (options_.check_ownership) {
    const std::string absolute =
        path.empty() || path.front() == '/' ? path : std::filesystem::absolute(path).string();
    TrustedFile file = open_trusted(absolute, policy_trust_rules());
    switch (file.status) {
      case TrustStatus::ok:
        break;
      case TrustStatus::missing:
      case TrustStatus::io_error:
        problem = "cannot read " + path + ": " +
                  (file.status == TrustStatus::missing && file.error_number == ENOENT
                       ? std::string(std::strerror(ENOENT))
                       : file.reason);
        return finish(file.status == TrustStatus::missing ? ReadStatus::missing
                                                          : ReadStatus::unreadable);
      case TrustStatus::unsafe:
        problem = file.reason;
        return finish(ReadStatus::unsafe);
    }
    std::optional<std::string> text = read_trusted(file, grammar::kMaxPolicyBytes, &problem);
    if (!text) {
      if (static_cast<std::size_t>(file.info.st_size) > grammar::kMaxPolicyBytes) {
        problem = path + " is " + std::to_string(file.info.st_size) + " bytes; the limit is 1 MiB";
      }
      return finish(ReadStatus::unreadable);
    }
    content = std::move(*text);
    result_.identities.push_back(FileIdentity::of(absolute, file.info));
    return finish(ReadStatus::ok);
  }
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0) {
    const int saved = errno;
    problem = "cannot read " + path + ": " + std::strerror(saved);
    return finish(saved == ENOENT || saved == ENOTDIR ? ReadStatus::missing
                                                      : ReadStatus::unreadable);
  }
  struct stat st {};
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    problem = path + " is not a regular file";
    return finish(ReadStatus::unreadable);
  }
  if (st.st_size > static_cast<off_t>(grammar::kMaxPolicyBytes)) {
    close(fd);
    problem = path + " is " + std::to_string(st.st_size) + " bytes; the limit is 1 MiB";
    return finish(ReadStatus::unreadable);
  }
  content.resize(static_cast<std::size_t>(st.st_size));
  std::size_t done = 0;
  while (done < content.size()) {
    const ssize_t n = read(fd, content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    done += static_cast<std::size_t>(n);
  }
  close(fd);
  content.resize(done);
  result_.identities.push_back(FileIdentity::of(path, st));
  return finish(ReadStatus::ok);
}

}  // namespace compiler

std::optional<Settings> load_common_settings(const std::string& block, const std::string& path) {
  if (access(path.c_str(), F_OK) != 0) return std::nullopt;
  // A settings file has no auth statement of its own: load it as the include of one.
  LoadOptions options;
  options.warnings = false;
  std::string quoted;
  for (char c : path) {
    if (c == '"' || c == '\\') quoted.push_back('\\');
    quoted.push_back(c);
  }
  const std::string folder = std::filesystem::path(path).parent_path().string();
  const LoadResult result = load_policy_text("include \"" + quoted + "\"\nauth password\n",
                                             folder + "/.common-settings.pol", options);
  if (!result.policy) return std::nullopt;
  const Policy& p = *result.policy;
  const Settings& s = block == "tpm" ? p.tpm : block == "audit" ? p.audit : p.geoip;
  if (s.values().empty()) return std::nullopt;
  return s;
}

TrustRules policy_trust_rules() {
  return TrustRules{};  // root only, no group/other write, root-owned sticky folders allowed
}

LoadResult load_policy_file(const std::string& path, const LoadOptions& options) {
  LoadResult result;
  try {
    compiler::Compiler(options, result).run(path, nullptr);
  } catch (const std::exception& e) {
    result.policy.reset();
    result.diagnostics.push_back(
        {Severity::error, "E000", std::string("internal error: ") + e.what(), Location{}, {}});
  }
  return result;
}

LoadResult load_policy_text(std::string_view text, const std::string& path,
                            const LoadOptions& options) {
  LoadResult result;
  const std::string copy(text);
  try {
    compiler::Compiler(options, result).run(path, &copy);
  } catch (const std::exception& e) {
    result.policy.reset();
    result.diagnostics.push_back(
        {Severity::error, "E000", std::string("internal error: ") + e.what(), Location{}, {}});
  }
  return result;
}

}  // namespace authpolicy
