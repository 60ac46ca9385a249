// `authpolicy check`: lint policies with compiler-style diagnostics (text or JSON).
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/args.h"
#include "cli/command_registry.h"
#include "cli/sshd_exposure.h"
#include "engine/load.h"
#include "engine/render.h"

namespace authpolicy::cli {
namespace {

constexpr const char* kCheckUsage =
    "usage: authpolicy check [--format text|json] [--strict] [--ignore-ownership]\n"
    "                        [--no-geoip-databases] FILE...\n"
    "  --no-geoip-databases: the GeoIP databases are not on this machine (a build sandbox): a\n"
    "    'deny if' on them is warning W109 instead of error E027\n"
    "  exit 0: no errors (warnings allowed unless --strict); 1: errors; 2: usage or unreadable "
    "file\n";

int run_check(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  std::string format = "text";
  bool strict = false;
  LoadOptions options;
  options.geoip_deny_errors = true;
  std::vector<std::string> files;
  const auto end = read_arguments(
      args, {"check", kCheckUsage}, out, err,
      [&](ArgReader& reader) {
        if (reader.is("--format") || reader.is("--json")) {
          format = read_json_format(reader) ? "json" : "text";
        } else if (reader.is("--strict")) {
          strict = true;
        } else if (reader.is("--ignore-ownership")) {
          options.check_ownership = false;
        } else if (reader.is("--no-geoip-databases")) {
          options.geoip_deny_errors = false;
        } else {
          return false;
        }
        return true;
      },
      [&](const std::string& file) { files.push_back(file); },
      [&] {
        if (files.empty()) throw UsageError("no policy file given");
      });
  if (end) return *end;

  bool unreadable = false;
  std::size_t errors = 0;
  std::size_t warnings = 0;
  nlohmann::json json_files = nlohmann::json::array();
  nlohmann::json json_diagnostics = nlohmann::json::array();
  for (const auto& file : files) {
    LoadResult result = load_policy_file(file, options);
    if (result.policy) {
      if (auto w = sshd_single_factor_warning(file, *result.policy)) {
        result.diagnostics.push_back(std::move(*w));
      }
    }
    unreadable = unreadable || result.unreadable;
    const std::size_t file_errors = result.count(Severity::error);
    const std::size_t file_warnings = result.count(Severity::warning);
    errors += file_errors;
    warnings += file_warnings;
    if (format == "json") {
      for (const auto& d : result.diagnostics) {
        json_diagnostics.push_back({
            {"file", diagnostic_path(d, result.files, file)},
            {"line", d.location.line},
            {"column", d.location.column},
            {"severity", d.severity == Severity::error ? "error" : "warning"},
            {"code", d.code},
            {"message", d.message},
            {"notes", d.notes},
        });
      }
      json_files.push_back({{"file", file},
                            {"errors", file_errors},
                            {"warnings", file_warnings},
                            {"readable", !result.unreadable},
                            {"ok", file_errors == 0 && !(strict && file_warnings > 0)}});
      continue;
    }
    for (const auto& d : result.diagnostics) {
      std::string text = render_text(d, result.files);
      if (d.location.file >= result.files.size()) text = file + ": " + text;
      out << text;
    }
    out << file << ": " << file_errors << (file_errors == 1 ? " error, " : " errors, ")
        << file_warnings << (file_warnings == 1 ? " warning" : " warnings") << "\n";
  }
  if (format == "json") {
    nlohmann::json report = {{"files", json_files},
                             {"diagnostics", json_diagnostics},
                             {"errors", errors},
                             {"warnings", warnings}};
    out << report.dump(2) << "\n";
  }
  if (unreadable) return 2;
  if (errors > 0 || (strict && warnings > 0)) return 1;
  return 0;
}

const RegisterCommand registration{"check", "lint policies: errors, warnings, open paths",
                                   run_check};

}  // namespace
}  // namespace authpolicy::cli
