// Compiler-style rendering of diagnostics.
#include "engine/render.h"

namespace authpolicy {
namespace {

// The text of line `line` (1-based) of `text`, without its newline.
std::string source_line(const std::string& text, std::uint32_t line) {
  std::size_t start = 0;
  for (std::uint32_t l = 1; l < line; ++l) {
    start = text.find('\n', start);
    if (start == std::string::npos) return {};
    ++start;
  }
  std::size_t end = text.find('\n', start);
  if (end == std::string::npos) end = text.size();
  std::string out = text.substr(start, end - start);
  if (!out.empty() && out.back() == '\r') out.pop_back();
  return out;
}

}  // namespace

std::string diagnostic_path(const Diagnostic& d, const std::vector<SourceFile>& files,
                            const std::string& fallback) {
  if (d.location.file < files.size()) return files[d.location.file].path;
  return fallback;
}

std::string render_text(const Diagnostic& d, const std::vector<SourceFile>& files) {
  const bool has_source = d.location.line > 0 && d.location.file < files.size();
  std::string out;
  if (d.location.file < files.size()) out += files[d.location.file].path + ":";
  if (d.location.line > 0) {
    out += std::to_string(d.location.line) + ":" + std::to_string(d.location.column) + ":";
  }
  if (!out.empty()) out += " ";
  out += (d.severity == Severity::error ? "error[" : "warning[") + d.code + "]: " + d.message + "\n";
  if (has_source) {
    const std::string line = source_line(files[d.location.file].text, d.location.line);
    if (!line.empty()) {
      const std::string number = std::to_string(d.location.line);
      const std::string gutter(number.size(), ' ');
      out += " " + number + " | " + line + "\n";
      std::string marker;
      for (std::uint32_t i = 1; i < d.location.column && i - 1 < line.size(); ++i) {
        marker += line[i - 1] == '\t' ? '\t' : ' ';
      }
      marker += '^';
      const std::uint32_t room = static_cast<std::uint32_t>(
          line.size() >= d.location.column ? line.size() - d.location.column + 1 : 1);
      const std::uint32_t span = std::min(d.location.length, room);
      if (span > 1) marker += std::string(span - 1, '~');
      out += " " + gutter + " | " + marker + "\n";
    }
  }
  for (const auto& note : d.notes) out += "  note: " + note + "\n";
  return out;
}

}  // namespace authpolicy
