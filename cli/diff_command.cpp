// `authpolicy diff OLD NEW`: the exact semantic difference of two policies, situation by situation.
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/args.h"
#include "cli/command_registry.h"
#include "cli/policy_file_arguments.h"
#include "engine/analysis.h"
#include "engine/load.h"

namespace authpolicy::cli {
namespace {

constexpr const char* kDiffUsage =
    "usage: authpolicy diff [--format text|json] [--ignore-ownership] OLD NEW\n"
    "  Compares what two policies decide in every situation: for each pair of differing\n"
    "  answers one concrete situation, both answers, and how many situation classes give it.\n"
    "  exit 0: equivalent; 1: they differ; 2: usage error, unreadable file, a policy with\n"
    "  errors, or too many situations to compare\n";

std::string join(const std::vector<std::string>& parts, const std::string& separator) {
  std::string out;
  for (const auto& p : parts) out += (out.empty() ? "" : separator) + p;
  return out;
}

int run_diff(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  LoadOptions options;
  std::vector<std::string> files;
  bool json = false;
  const auto end = read_arguments(
      args, {"diff", kDiffUsage}, out, err,
      [&](ArgReader& reader) {
        if (reader.is("--ignore-ownership")) {
          options.check_ownership = false;
        } else if (reader.is("--format")) {
          json = read_json_format(reader);
        } else {
          return false;
        }
        return true;
      },
      [&](const std::string& file) { files.push_back(file); },
      [&] {
        if (files.size() != 2) throw UsageError("diff takes two policy files: OLD NEW");
      });
  if (end) return *end;
  const LoadResult before = load_policy_file(files[0], options);
  const LoadResult after = load_policy_file(files[1], options);
  for (const auto* loaded : {&before, &after}) {
    if (loaded->policy) continue;
    report_refused_policy(*loaded, "diff", loaded == &before ? files[0] : files[1], err);
    return kExitTrouble;
  }
  const PolicyDiff diff = diff_policies(*before.policy, *after.policy);
  if (!diff.complete) {
    err << "authpolicy diff: too many situations to compare exactly; no verdict\n";
    return kExitTrouble;
  }
  if (json) {
    nlohmann::json differences = nlohmann::json::array();
    for (const auto& d : diff.differences) {
      differences.push_back({{"situation", d.situation},
                             {"example", d.example},
                             {"old", d.old_answer},
                             {"new", d.new_answer},
                             {"classes", d.classes}});
    }
    out << nlohmann::json{{"equivalent", diff.equivalent()},
                          {"differences", differences},
                          {"factors", diff.factor_differences}}
               .dump(2)
        << "\n";
    return diff.equivalent() ? kExitOk : kExitRefused;
  }
  if (diff.equivalent()) {
    out << "equivalent: the two policies decide alike in every situation\n";
    return kExitOk;
  }
  for (const auto& f : diff.factor_differences) out << f << "\n";
  for (const auto& d : diff.differences) {
    out << "when " << (d.situation.empty() ? "always" : join(d.situation, ", ")) << "\n"
        << "  e.g. " << d.example << "\n"
        << "  old: " << d.old_answer << "\n"
        << "  new: " << d.new_answer << "\n"
        << "  (" << d.classes << (d.classes == 1 ? " situation class" : " situation classes")
        << ")\n";
  }
  return kExitRefused;
}

const RegisterCommand registration{
    "diff", "compare what two policies decide, situation by situation", run_diff};

}  // namespace
}  // namespace authpolicy::cli
