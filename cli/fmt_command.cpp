// `authpolicy fmt`: rewrite policy files in the canonical layout, or say which ones differ.
//
// A file is only rewritten when its formatted text parses to the same syntax tree and formats to
// itself again; the new text goes to a temporary file in the same folder, with the old file's
// owner and mode, and is renamed over it. Symbolic links are refused, never followed.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <iterator>

#include "base/unique_fd.h"
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

std::string errno_text() {
  return std::strerror(errno);
}

std::string read_all(int fd) {
  std::string text;
  char buffer[8192];
  for (;;) {
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw FileError("cannot read: " + errno_text());
    if (n == 0) return text;
    text.append(buffer, static_cast<std::size_t>(n));
    if (text.size() > grammar::kMaxPolicyBytes) throw FileError("larger than 1 MiB");
  }
}

void write_all(int fd, const std::string& text) {
  std::size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw FileError("cannot write: " + errno_text());
    done += static_cast<std::size_t>(n);
  }
}

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

// Replaces the file `path` (open as `fd`, described by `st`) with `text`, atomically.
void replace_file(const std::string& path, const struct stat& st, const std::string& text) {
  const std::filesystem::path target(path);
  const std::filesystem::path folder = target.has_parent_path() ? target.parent_path() : ".";
  std::string temp = (folder / ("." + target.filename().string() + ".fmt-XXXXXX")).string();
  UniqueFd fd(::mkostemp(temp.data(), O_CLOEXEC));
  if (fd.get() < 0) throw FileError(path + ": cannot create a temporary file: " + errno_text());
  auto fail = [&](const std::string& what) {
    ::unlink(temp.c_str());
    throw FileError(path + ": " + what);
  };
  if (::fchown(fd.get(), st.st_uid, st.st_gid) != 0) fail("cannot keep the owner: " + errno_text());
  if (::fchmod(fd.get(), st.st_mode & 07777) != 0) fail("cannot keep the mode: " + errno_text());
  try {
    write_all(fd.get(), text);
  } catch (const FileError& e) {
    fail(e.what());
  }
  if (::fsync(fd.get()) != 0) fail("cannot write: " + errno_text());
  if (::close(fd.release()) != 0) fail("cannot write: " + errno_text());
  // The name must still be the file that was read: never replace whatever took its place.
  struct stat now {};
  if (::lstat(path.c_str(), &now) != 0 || now.st_dev != st.st_dev || now.st_ino != st.st_ino) {
    fail("changed while it was being formatted; left as it is");
  }
  if (::rename(temp.c_str(), path.c_str()) != 0) fail("cannot replace: " + errno_text());
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
      UniqueFd fd(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
      if (fd.get() < 0) {
        if (errno == ELOOP) throw FileError(path + ": a symbolic link; fmt does not follow links");
        throw FileError(path + ": cannot open: " + errno_text());
      }
      struct stat st {};
      if (::fstat(fd.get(), &st) != 0) throw FileError(path + ": cannot stat: " + errno_text());
      if (!S_ISREG(st.st_mode)) throw FileError(path + ": not a regular file");
      std::string text;
      try {
        text = read_all(fd.get());
      } catch (const FileError& e) {
        throw FileError(path + ": " + e.what());
      }
      const std::string result = formatted(text, path);
      if (result == text) continue;
      if (check) {
        would_change = true;
        out << path << "\n";
        continue;
      }
      replace_file(path, st, result);
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
