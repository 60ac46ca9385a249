// `authpolicy fmt`: rewrite policy files in the canonical layout, or say which ones differ.
//
// A file is only rewritten when its formatted text parses to the same syntax tree and formats to
// itself again; the new text goes to a temporary file in the same folder, with the old file's
// owner and permission bits (never set-id bits), and is renamed over it, all relative to the
// folder's descriptor (base/trusted_write.h). The file's own symbolic link is refused; on the way
// to its folder only root's are followed.
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <iostream>
#include <iterator>

#include "base/file_trust.h"
#include "base/trusted_write.h"
#include "cli/args.h"
#include "cli/command_registry.h"
#include "grammar/format.h"

namespace authpolicy::cli {
namespace {

constexpr const char* kFmtUsage =
    "usage: authpolicy fmt [--check] FILE...\n"
    "  Rewrites each policy file in the canonical layout (comments kept) and names each file it\n"
    "  changed. With --check nothing is written: the files that would change are listed.\n"
    "  FILE '-' formats standard input to standard output. Symbolic links are refused.\n"
    "  exit 0: done (--check: every file is formatted); 1 (--check): some would change;\n"
    "  2: usage, unreadable file, or syntax error\n";

struct FileError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Formats `text`, and makes sure the result says the same and is stable.
std::string formatted(const std::string& text, const std::string& name) {
  const grammar::FormatResult result = grammar::format_policy_text(text);
  if (!result.text) {
    const auto& e = *result.error;
    throw FileError(name + ":" + std::to_string(e.location.line) + ":" +
                    std::to_string(e.location.column) + ": syntax error: " + e.message);
  }
  const grammar::ParseResult before = grammar::parse_policy_text(text, 0);
  const grammar::ParseResult after = grammar::parse_policy_text(*result.text, 0);
  const grammar::FormatResult again = grammar::format_policy_text(*result.text);
  if (!after.file || grammar::syntax_dump(*before.file) != grammar::syntax_dump(*after.file) ||
      !again.text || *again.text != *result.text) {
    throw FileError(name +
                    ": the formatter would change what this policy says; left as it is "
                    "(please report this as a bug)");
  }
  return *result.text;
}

// The folder of `path` and the file's name in it. The folder is walked from "/" following only
// root's symbolic links (or the caller's own): whoever else may change a folder on the way cannot
// turn it into a link to somewhere root writes (base/file_trust.h). Nothing read is trusted, so
// owners and modes are not checked.
FolderEntry policy_folder_of(const std::string& path) {
  TrustRules rules;
  rules.any_owner = true;
  FolderEntry result = open_folder_of(path, rules);
  if (!result.folder.ok()) throw FileError(path + ": " + result.folder.reason);
  return result;
}

// Opens the policy `name` in its folder: a regular file, no symbolic link, one link.
TrustedFile open_policy(const FolderEntry& where, const std::string& path) {
  TrustRules rules;
  rules.any_owner = true;
  TrustedFile file = open_at_trusted(where.folder, where.name, rules);
  if (file.ok()) return file;
  if (file.error_number == ELOOP) throw FileError(path + ": a symbolic link; fmt does not follow links");
  throw FileError(path + ": " + file.reason);
}

// Replaces the file (described by `st`) with `text`, atomically, in the folder it was read from:
// same owner and group, same permission bits but never setuid/setgid/sticky (base/trusted_write.h).
void replace_file(const FolderEntry& where, const std::string& path, const struct stat& st,
                  const std::string& text) {
  const NewFile attributes{st.st_uid, st.st_gid, static_cast<mode_t>(st.st_mode & 0777)};
  // The name must still be the file that was read: never replace whatever took its place.
  const WriteResult written = replace_at(where.folder, where.name, text, attributes, &st);
  if (written.status == WriteStatus::changed) {
    throw FileError(path + ": changed while it was being formatted; left as it is");
  }
  if (!written.ok()) throw FileError(path + ": " + written.reason);
}

int run_fmt(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  bool check = false;
  std::vector<std::string> files;
  const auto end = read_arguments(
      args, {"fmt", kFmtUsage}, out, err,
      [&](ArgReader& reader) {
        if (!reader.is("--check")) return false;
        check = true;
        return true;
      },
      [&](const std::string& file) { files.push_back(file); },
      [&] {
        if (files.empty()) throw UsageError("no policy file given");
      });
  if (end) return *end;

  bool trouble = false;
  bool would_change = false;
  for (const auto& path : files) {
    try {
      if (path == "-") {
        const std::string text(std::istreambuf_iterator<char>(std::cin), {});
        const std::string result = formatted(text, "<stdin>");
        if (check) {
          if (result != text) {
            would_change = true;
            out << "<stdin>\n";
          }
        } else {
          out << result;
        }
        continue;
      }
      const FolderEntry where = policy_folder_of(path);
      const TrustedFile file = open_policy(where, path);
      const struct stat& st = file.info;
      std::string problem;
      const auto read = read_trusted(file, grammar::kMaxPolicyBytes, &problem);
      if (!read) throw FileError(path + ": " + problem);
      const std::string& text = *read;
      const std::string result = formatted(text, path);
      if (result == text) continue;
      if (check) {
        would_change = true;
        out << path << "\n";
        continue;
      }
      replace_file(where, path, st, result);
      out << "formatted " << path << "\n";
    } catch (const FileError& e) {
      err << "authpolicy fmt: " << e.what() << "\n";
      trouble = true;
    }
  }
  if (trouble) return kExitTrouble;
  return would_change ? kExitRefused : kExitOk;
}

const RegisterCommand registration{"fmt", "rewrite policies in the canonical layout", run_fmt};

}  // namespace
}  // namespace authpolicy::cli
