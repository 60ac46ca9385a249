// `authpolicy audit`: who failed where, from which address, with which factor; prune and verify.
#include "cli/audit_command.h"

#include <sys/stat.h>

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <filesystem>
#include <map>
#include <ostream>
#include <set>
#include <string_view>

#include "audit/address_range.h"
#include "audit/audit_store.h"
#include "audit/time_text.h"
#include "base/json_text.h"
#include "cli/args.h"
#include "cli/audit_export.h"
#include "cli/command_registry.h"
#include "engine/load.h"

namespace authpolicy::cli {
namespace {

using audit::AuditStore;
using audit::StoredDecision;

constexpr const char* kDefaultRetention = "90d";

constexpr const char* kUsage =
    "usage: authpolicy audit [list] [--failed] [--shadow-differs] [--user U] [--service S]\n"
    "                               [--rhost ADDR|CIDR]\n"
    "                               [--since 1h|DATE] [--until 1h|DATE] [--limit N]\n"
    "                               [--format table|json|csv] [--db PATH]\n"
    "       authpolicy audit summary [--since 1h|DATE] [--until ...] [--limit N]\n"
    "                        [--format table|json] [--db PATH]\n"
    "       authpolicy audit prune [--older-than 90d] [--db PATH]\n"
    "       authpolicy audit verify [--db PATH]\n"
    "       authpolicy audit flush [--db PATH]\n"
    "       authpolicy audit export [--since 1h|DATE] [--cursor FILE] [--output FILE]\n"
    "                        [--follow] [--interval 1s|250ms] [--db PATH]\n"
    "Every action except verify first moves the decisions waiting in the log's spool into it;\n"
    "flush does only that (before reading the database with other tools).\n"
    "DATE is YYYY-MM-DD[THH:MM[:SS]] in UTC; a duration (30s, 15m, 1h, 90d, 2w) means that long\n"
    "ago. The listing is newest first, 100 rows unless --limit (0 = all).\n";

struct Arguments {
  std::string action = "list";
  std::map<std::string, std::string, std::less<>> values;  // --name VALUE
  std::set<std::string, std::less<>> flags;                // --name
};

// Which options each action accepts, and whether they take a value.
const std::map<std::string, std::map<std::string, bool, std::less<>>, std::less<>>&
action_options() {
  static const std::map<std::string, std::map<std::string, bool, std::less<>>, std::less<>>
      kOptions{
          {"list",
           {{"--db", true},
            {"--failed", false},
            {"--shadow-differs", false},
            {"--user", true},
            {"--service", true},
            {"--rhost", true},
            {"--since", true},
            {"--until", true},
            {"--limit", true},
            {"--format", true}}},
          {"summary",
           {{"--db", true},
            {"--since", true},
            {"--until", true},
            {"--limit", true},
            {"--format", true}}},
          {"prune", {{"--db", true}, {"--older-than", true}}},
          {"verify", {{"--db", true}}},
          {"flush", {{"--db", true}}},
          {"export",
           {{"--db", true},
            {"--since", true},
            {"--cursor", true},
            {"--output", true},
            {"--follow", false},
            {"--interval", true}}},
      };
  return kOptions;
}

// Whether an option takes a value: the same for every action that knows it; nothing for an
// option no action knows.
std::optional<bool> option_takes_value(std::string_view name) {
  for (const auto& [action, options] : action_options()) {
    if (const auto option = options.find(name); option != options.end()) return option->second;
  }
  return std::nullopt;
}

// Reads the arguments into `parsed`; an exit code when the command is not to run (after --help,
// or a usage error). The action word may stand anywhere (`audit --limit 3 list` as well as
// `audit list --limit 3`), so the options are checked against its set once all are read.
std::optional<int> read_audit_arguments(const std::vector<std::string>& args, std::ostream& out,
                                        std::ostream& err, Arguments& parsed) {
  std::string action;
  std::vector<std::string> given;
  std::vector<std::string_view> actions;
  for (const auto& [name, options] : action_options()) actions.push_back(name);
  return read_arguments(
      args, {"audit", kUsage, true}, out, err,
      [&](ArgReader& reader) {
        const std::optional<bool> valued = option_takes_value(reader.flag());
        if (!valued) return false;
        if (*valued) {
          parsed.values[reader.flag()] = reader.value();
        } else {
          parsed.flags.insert(reader.flag());
        }
        given.push_back(reader.flag());
        return true;
      },
      [&](const std::string& word) {
        if (!take_sub_command(action, word, actions, "audit action")) {
          throw UsageError("unexpected argument " + word);
        }
      },
      [&] {
        if (!action.empty()) parsed.action = action;
        const auto& known = action_options().at(parsed.action);
        for (const std::string& name : given) {
          if (!known.contains(name)) {
            throw UsageError("unknown option " + name + " for audit " + parsed.action);
          }
        }
      });
}

std::string database_path(const Arguments& arguments) {
  if (auto given = arguments.values.find("--db"); given != arguments.values.end()) {
    return given->second;
  }
  if (auto configured = common_audit_db()) return *configured;
  return audit::kDefaultDatabasePath;
}

std::optional<std::string> value_of(const Arguments& arguments, std::string_view name) {
  auto found = arguments.values.find(name);
  if (found == arguments.values.end()) return std::nullopt;
  return found->second;
}

bool parse_limit(const Arguments& arguments, std::int64_t fallback, std::int64_t* limit,
                 std::string* error) {
  *limit = fallback;
  auto text = value_of(arguments, "--limit");
  if (!text) return true;
  auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), *limit);
  if (text->empty() || ec != std::errc() || end != text->data() + text->size() || *limit < 0) {
    *error = "--limit needs a whole number >= 0, not \"" + *text + "\"";
    return false;
  }
  return true;
}

bool parse_when(const Arguments& arguments, std::string_view name, std::int64_t now_us,
                std::optional<std::int64_t>* when, std::string* error) {
  auto text = value_of(arguments, name);
  if (!text) return true;
  *when = audit::parse_time_point(*text, now_us);
  if (!*when) {
    *error = std::string(name) + " needs a duration (15m, 1h, 7d) or a UTC date (2026-01-31, " +
             "2026-01-31T08:00), not \"" + *text + "\"";
    return false;
  }
  return true;
}

// Text from the log comes from users and remote hosts: never let it drive the terminal.
std::string printable(std::string_view text) {
  std::string shown;
  for (std::size_t i = 0; i < text.size();) {
    auto c = static_cast<unsigned char>(text[i]);
    int length = c < 0x80           ? 1
                 : (c >> 5) == 0x6  ? 2
                 : (c >> 4) == 0xe  ? 3
                 : (c >> 3) == 0x1e ? 4
                                    : 0;
    bool valid = length > 0 && i + length <= text.size();
    for (int k = 1; valid && k < length; ++k) {
      valid = (static_cast<unsigned char>(text[i + k]) & 0xc0) == 0x80;
    }
    bool control = c < 0x20 || c == 0x7f ||
                   (length == 2 && c == 0xc2 && static_cast<unsigned char>(text[i + 1]) < 0xa0);
    if (!valid || control) {
      char buffer[5];
      std::snprintf(buffer, sizeof buffer, "\\x%02x", c);
      shown += buffer;
      ++i;
      continue;
    }
    shown.append(text.substr(i, length));
    i += length;
  }
  return shown;
}

std::size_t display_width(std::string_view text) {
  std::size_t width = 0;
  for (unsigned char c : text) width += (c & 0xc0) != 0x80;
  return width;
}

std::string csv_field(std::string_view text) {
  bool needs_quotes = text.find_first_of(",\"\r\n") != std::string_view::npos ||
                      (!text.empty() && (text.front() == ' ' || text.back() == ' '));
  if (!needs_quotes) return std::string(text);
  std::string quoted = "\"";
  for (char c : text) {
    if (c == '"') quoted += '"';
    quoted += c;
  }
  quoted += '"';
  return quoted;
}

std::string factors_compact(const audit::AuditRecord& record, bool with_detail) {
  std::string text;
  for (const auto& factor : record.factors) {
    if (!text.empty()) text += with_detail ? ";" : " ";
    text += factor.name + ":" + factor.outcome;
    if (with_detail && !factor.detail.empty()) text += ":" + factor.detail;
  }
  return text;
}

std::string milliseconds(std::int64_t micros) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.3f", static_cast<double>(micros) / 1000.0);
  return buffer;
}

void print_table(const std::vector<StoredDecision>& rows, std::ostream& out) {
  std::vector<std::string> headers{"TIME (UTC)", "SERVICE", "USER",  "RHOST",
                                   "DECISION",   "FACTORS", "REASON"};
  // A SHADOW column (before REASON) only when a listed decision had a shadow policy.
  const bool shadow = std::any_of(rows.begin(), rows.end(),
                                  [](const StoredDecision& row) { return !row.record.shadow.empty(); });
  if (shadow) headers.insert(headers.end() - 1, "SHADOW");
  std::vector<std::vector<std::string>> cells;
  for (const auto& row : rows) {
    const auto& record = row.record;
    cells.push_back({audit::format_utc_short(record.time_us), printable(record.service),
                     printable(record.user), record.rhost.empty() ? "-" : printable(record.rhost),
                     record.decision, printable(factors_compact(record, false)),
                     printable(record.reason)});
    if (shadow) {
      cells.back().insert(cells.back().end() - 1,
                          record.shadow.empty() ? "-" : printable(record.shadow));
    }
  }
  std::vector<std::size_t> widths;
  for (const auto& header : headers) widths.push_back(display_width(header));
  for (const auto& line : cells) {
    for (std::size_t column = 0; column < line.size(); ++column) {
      widths[column] = std::max(widths[column], display_width(line[column]));
    }
  }
  auto print_line = [&](const std::vector<std::string>& line) {
    std::string text;
    for (std::size_t column = 0; column < line.size(); ++column) {
      text += line[column];
      if (column + 1 < line.size()) {
        text.append(widths[column] - display_width(line[column]) + 2, ' ');
      }
    }
    out << text << '\n';
  };
  print_line(headers);
  for (const auto& line : cells) print_line(line);
  if (rows.empty()) out << "(no decisions match)\n";
}

void print_json(const std::vector<StoredDecision>& rows, std::ostream& out) {
  out << "[";
  bool first = true;
  for (const auto& row : rows) {
    const auto& record = row.record;
    out << (first ? "\n" : ",\n");
    first = false;
    out << "{\"id\":" << row.id << ",\"decision_id\":" << json_string(record.decision_id)
        << ",\"time\":" << json_string(audit::format_utc_iso(record.time_us))
        << ",\"time_us\":" << record.time_us << ",\"service\":" << json_string(record.service)
        << ",\"user\":" << json_string(record.user) << ",\"ruser\":" << json_string(record.ruser)
        << ",\"rhost\":" << json_string(record.rhost) << ",\"tty\":" << json_string(record.tty)
        << ",\"country\":" << (record.country ? json_string(*record.country) : "null")
        << ",\"asn\":" << (record.asn ? std::to_string(*record.asn) : "null")
        << ",\"decision\":" << json_string(record.decision)
        << ",\"reason\":" << json_string(record.reason)
        << ",\"policy_path\":" << json_string(record.policy_path)
        << ",\"policy_sha256\":" << json_string(record.policy_sha256)
        << ",\"duration_us\":" << record.duration_us << ",\"pid\":" << record.pid
        << ",\"password_asked\":" << (record.password_asked ? "true" : "false")
        << ",\"shadow\":" << (record.shadow.empty() ? "null" : json_string(record.shadow))
        << ",\"situation\":" << json_string(record.situation) << ",\"factors\":[";
    for (std::size_t i = 0; i < record.factors.size(); ++i) {
      const auto& factor = record.factors[i];
      out << (i ? "," : "") << "{\"name\":" << json_string(factor.name)
          << ",\"outcome\":" << json_string(factor.outcome)
          << ",\"detail\":" << json_string(factor.detail)
          << ",\"duration_us\":" << factor.duration_us << "}";
    }
    out << "],\"unknowns\":[";
    for (std::size_t i = 0; i < record.unknowns.size(); ++i) {
      const auto& unknown = record.unknowns[i];
      out << (i ? "," : "") << "{\"condition\":" << json_string(unknown.condition)
          << ",\"cause\":" << json_string(unknown.cause) << "}";
    }
    out << "]}";
  }
  out << (rows.empty() ? "]\n" : "\n]\n");
}

void print_csv(const std::vector<StoredDecision>& rows, std::ostream& out) {
  out << "time,service,user,ruser,rhost,tty,country,asn,decision,reason,factors,unknowns,"
         "duration_ms,pid,policy_path,policy_sha256,password_asked\r\n";
  for (const auto& row : rows) {
    const auto& record = row.record;
    std::string unknowns;
    for (const auto& unknown : record.unknowns) {
      if (!unknowns.empty()) unknowns += ";";
      unknowns += unknown.condition + ": " + unknown.cause;
    }
    const std::vector<std::string> fields{audit::format_utc_iso(record.time_us),
                                          record.service,
                                          record.user,
                                          record.ruser,
                                          record.rhost,
                                          record.tty,
                                          record.country.value_or(""),
                                          record.asn ? std::to_string(*record.asn) : "",
                                          record.decision,
                                          record.reason,
                                          factors_compact(record, true),
                                          unknowns,
                                          milliseconds(record.duration_us),
                                          std::to_string(record.pid),
                                          record.policy_path,
                                          record.policy_sha256,
                                          record.password_asked ? "yes" : "no"};
    std::string line;
    for (std::size_t i = 0; i < fields.size(); ++i) {
      if (i) line += ',';
      line += csv_field(fields[i]);
    }
    out << line << "\r\n";
  }
}

// Opens an existing log for the CLI. Ownership is not enforced here (verify reports it).
std::unique_ptr<AuditStore> open_existing(const std::string& path, std::ostream& err) {
  // Before the first decision there is no log and often no folder yet: say that, in one line
  // naming the log, rather than which folder of its path is missing. Nothing is created.
  const std::string folder = std::filesystem::path(path).parent_path().string();
  struct stat info {};
  if (!folder.empty() && lstat(folder.c_str(), &info) != 0 && errno == ENOENT) {
    err << "authpolicy audit: no audit database at " << path
        << " (no decision has been recorded on this host yet)\n";
    return nullptr;
  }
  audit::OpenOptions options;
  options.create_if_missing = false;
  options.check_ownership = false;
  auto opened = AuditStore::open(path, options);
  if (!opened.status.ok()) {
    err << "authpolicy audit: cannot read the audit log: " << opened.status.message << "\n";
    return nullptr;
  }
  return std::move(opened.store);
}

int run_list(const Arguments& arguments, std::ostream& out, std::ostream& err) {
  std::string error;
  audit::DecisionFilter filter;
  std::int64_t now = audit::now_utc_us();
  filter.failed_only = arguments.flags.contains("--failed");
  filter.shadow_disagreements = arguments.flags.contains("--shadow-differs");
  filter.user = value_of(arguments, "--user");
  filter.service = value_of(arguments, "--service");
  filter.rhost = value_of(arguments, "--rhost");
  if (!parse_when(arguments, "--since", now, &filter.since_us, &error) ||
      !parse_when(arguments, "--until", now, &filter.until_us, &error) ||
      !parse_limit(arguments, 100, &filter.limit, &error)) {
    err << "authpolicy audit: " << error << "\n" << kUsage;
    return kExitTrouble;
  }
  std::string format = value_of(arguments, "--format").value_or("table");
  if (format != "table" && format != "json" && format != "csv") {
    err << "authpolicy audit: --format must be table, json or csv, not \"" << format << "\"\n";
    return kExitTrouble;
  }
  if (filter.rhost && filter.rhost->find('/') != std::string::npos) {
    std::string range_error;
    if (!audit::parse_address_range(*filter.rhost, &range_error)) {
      err << "authpolicy audit: --rhost " << range_error << "\n";
      return kExitTrouble;
    }
  }
  auto store = open_existing(database_path(arguments), err);
  if (!store) return kExitTrouble;
  std::vector<StoredDecision> rows;
  audit::Status status = store->list(filter, &rows);
  if (!status.ok()) {
    err << "authpolicy audit: " << status.message << "\n";
    return kExitTrouble;
  }
  if (format == "json") {
    print_json(rows, out);
  } else if (format == "csv") {
    print_csv(rows, out);
  } else {
    print_table(rows, out);
  }
  return kExitOk;
}

void print_summary_table(const audit::FailureSummary& summary, std::optional<std::int64_t> since,
                         std::optional<std::int64_t> until, std::ostream& out) {
  out << "Failures: " << summary.failures << " of " << summary.decisions << " decisions";
  if (since) out << " since " << audit::format_utc_short(*since) << " UTC";
  if (until) out << " until " << audit::format_utc_short(*until) << " UTC";
  out << "\n";
  struct Section {
    const char* title;
    const std::vector<audit::CountByName>* counts;
  };
  for (const Section& section :
       {Section{"USER", &summary.by_user}, Section{"SOURCE ADDRESS", &summary.by_rhost},
        Section{"SERVICE", &summary.by_service}, Section{"FACTOR", &summary.by_factor}}) {
    out << "\nFAILURES  " << section.title << "\n";
    if (section.counts->empty()) out << "         -  (none)\n";
    for (const auto& count : *section.counts) {
      char number[32];
      std::snprintf(number, sizeof number, "%10lld", static_cast<long long>(count.failures));
      std::string name = count.name.empty() && section.counts == &summary.by_rhost
                             ? std::string("(local)")
                             : printable(count.name);
      out << number << "  " << name << "\n";
    }
  }
}

void print_summary_json(const audit::FailureSummary& summary, std::optional<std::int64_t> since,
                        std::optional<std::int64_t> until, std::ostream& out) {
  out << "{\"since\":" << (since ? json_string(audit::format_utc_iso(*since)) : "null")
      << ",\"until\":" << (until ? json_string(audit::format_utc_iso(*until)) : "null")
      << ",\"decisions\":" << summary.decisions << ",\"failures\":" << summary.failures;
  struct Group {
    const char* key;
    const char* name;
    const std::vector<audit::CountByName>* counts;
  };
  for (const Group& group :
       {Group{"by_user", "user", &summary.by_user}, Group{"by_rhost", "rhost", &summary.by_rhost},
        Group{"by_service", "service", &summary.by_service},
        Group{"by_factor", "factor", &summary.by_factor}}) {
    out << ",\"" << group.key << "\":[";
    for (std::size_t i = 0; i < group.counts->size(); ++i) {
      const auto& count = (*group.counts)[i];
      out << (i ? "," : "") << "{\"" << group.name << "\":" << json_string(count.name)
          << ",\"failures\":" << count.failures << "}";
    }
    out << "]";
  }
  out << "}\n";
}

int run_summary(const Arguments& arguments, std::ostream& out, std::ostream& err) {
  std::string error;
  std::int64_t now = audit::now_utc_us();
  std::optional<std::int64_t> since;
  std::optional<std::int64_t> until;
  std::int64_t limit = 10;
  if (!parse_when(arguments, "--since", now, &since, &error) ||
      !parse_when(arguments, "--until", now, &until, &error) ||
      !parse_limit(arguments, 10, &limit, &error)) {
    err << "authpolicy audit summary: " << error << "\n" << kUsage;
    return kExitTrouble;
  }
  std::string format = value_of(arguments, "--format").value_or("table");
  if (format != "table" && format != "json") {
    err << "authpolicy audit summary: --format must be table or json, not \"" << format << "\"\n";
    return kExitTrouble;
  }
  auto store = open_existing(database_path(arguments), err);
  if (!store) return kExitTrouble;
  audit::FailureSummary summary;
  audit::Status status = store->summarize(since, until, limit, &summary);
  if (!status.ok()) {
    err << "authpolicy audit summary: " << status.message << "\n";
    return kExitTrouble;
  }
  if (format == "json") {
    print_summary_json(summary, since, until, out);
  } else {
    print_summary_table(summary, since, until, out);
  }
  return kExitOk;
}

int run_prune(const Arguments& arguments, std::ostream& out, std::ostream& err) {
  std::string text = value_of(arguments, "--older-than").value_or(kDefaultRetention);
  auto seconds = audit::parse_duration_seconds(text);
  if (!seconds) {
    err << "authpolicy audit prune: --older-than needs a duration such as 90d, not \"" << text
        << "\"\n";
    return kExitTrouble;
  }
  auto store = open_existing(database_path(arguments), err);
  if (!store) return kExitTrouble;
  std::int64_t before = audit::now_utc_us() - *seconds * 1000000;
  std::int64_t removed = 0;
  audit::Status status = store->prune(before, &removed);
  if (!status.ok()) {
    err << "authpolicy audit prune: " << status.message << " (" << removed
        << " decisions removed before the error)\n";
    return kExitTrouble;
  }
  out << "pruned " << removed << " decisions older than " << audit::format_utc_short(before)
      << " UTC\n";
  return kExitOk;
}

// Opening the log moves what waits in its spool into the tables (audit_store.h); this says how
// many, so an admin about to read the database with sqlite3 knows it is complete.
int run_flush(const Arguments& arguments, std::ostream& out, std::ostream& err) {
  const std::string path = database_path(arguments);
  auto store = open_existing(path, err);
  if (!store) return kExitTrouble;
  const std::int64_t moved = store->folded();
  out << path << ": moved " << moved << " decision" << (moved == 1 ? "" : "s")
      << " from the spool into the log\n";
  return kExitOk;
}

int run_verify(const Arguments& arguments, std::ostream& out, std::ostream& err) {
  std::string path = database_path(arguments);
  auto report = audit::verify_database(path, audit::OpenOptions{});
  if (!report.status.ok()) {
    err << "authpolicy audit verify: " << report.status.message << "\n";
    return kExitTrouble;
  }
  if (report.problems.empty()) {
    out << path << ": ok\n";
    return kExitOk;
  }
  out << path << ": " << report.problems.size() << " problem"
      << (report.problems.size() == 1 ? "" : "s") << "\n";
  for (const auto& problem : report.problems) out << "  " << printable(problem) << "\n";
  return kExitRefused;
}

// JSON Lines for shippers (cli/audit_export.h, docs/fleet.md).
int run_export_action(const Arguments& arguments, std::ostream& out, std::ostream& err) {
  std::string error;
  ExportOptions options;
  options.db = database_path(arguments);
  if (!parse_when(arguments, "--since", audit::now_utc_us(), &options.since_us, &error)) {
    err << "authpolicy audit export: " << error << "\n" << kUsage;
    return kExitTrouble;
  }
  options.cursor_path = value_of(arguments, "--cursor").value_or("");
  options.output_path = value_of(arguments, "--output").value_or("");
  options.follow = arguments.flags.contains("--follow");
  if (auto interval = value_of(arguments, "--interval")) {
    std::int64_t milliseconds = 0;
    const std::string_view text = *interval;
    bool valid = false;
    if (text.ends_with("ms")) {
      auto [end, ec] = std::from_chars(text.data(), text.data() + text.size() - 2, milliseconds);
      valid = ec == std::errc() && end == text.data() + text.size() - 2;
    } else if (auto seconds = audit::parse_duration_seconds(text)) {
      milliseconds = *seconds * 1000;
      valid = true;
    }
    if (!valid || milliseconds < 50 || milliseconds > 3600 * 1000) {
      err << "authpolicy audit export: --interval needs a duration from 50ms to 1h, not \""
          << *interval << "\"\n";
      return kExitTrouble;
    }
    options.interval_ms = milliseconds;
  }
  return run_export(options, out, err);
}

}  // namespace

std::optional<std::string> common_audit_db() {
  const auto settings = load_common_settings("audit");
  if (!settings || !settings->has("db")) return std::nullopt;
  return settings->string_or("db", "");
}

int run_audit_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  try {
    Arguments arguments;
    if (auto code = read_audit_arguments(args, out, err, arguments)) return *code;
    if (arguments.action == "summary") return run_summary(arguments, out, err);
    if (arguments.action == "prune") return run_prune(arguments, out, err);
    if (arguments.action == "verify") return run_verify(arguments, out, err);
    if (arguments.action == "flush") return run_flush(arguments, out, err);
    if (arguments.action == "export") return run_export_action(arguments, out, err);
    return run_list(arguments, out, err);
  } catch (const std::exception& error) {
    err << "authpolicy audit: " << error.what() << "\n";
    return kExitTrouble;
  }
}

namespace {
const RegisterCommand kRegisterAudit{"audit", "list, summarize, prune, verify, flush and export the audit log",
                                     run_audit_command};
}  // namespace

}  // namespace authpolicy::cli
