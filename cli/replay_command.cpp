// `authpolicy replay NEW`: decides the requests of the audit log again through another policy,
// with each request's recorded situation and factor outcomes, and reports what would change.
#include <algorithm>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>

#include "audit/audit_store.h"
#include "audit/time_text.h"
#include "cli/args.h"
#include "cli/audit_command.h"
#include "cli/command_registry.h"
#include "cli/policy_file_arguments.h"
#include "cli/situation.h"
#include "engine/load.h"
#include "engine/recorded_request.h"
#include "engine/scripted.h"

namespace authpolicy::cli {
namespace {

constexpr const char* kReplayUsage =
    "usage: authpolicy replay FILE [--db PATH] [--since 1h|DATE] [--service S]\n"
    "                         [--format text|json] [--ignore-ownership]\n"
    "  Decides every request in the audit log again through the policy FILE (the new one),\n"
    "  with the situation and the factor outcomes recorded with it, asking nobody anything.\n"
    "  Reports the decisions that would change, grouped by the pair of answers (a count and a\n"
    "  real example), and the requests FILE cannot decide because it needs a factor the\n"
    "  request was not asked (or a subject that was not recorded).\n"
    "  exit 0: no decision changes; 1: some would change or cannot be decided; 2: error\n";

// Answers only from the recorded situation. Whatever it does not hold is noted as missing
// (and answered the strict way so that the evaluation can go on): the request then cannot be
// decided.
class RecordedSubjects : public StaticSubjects {
 public:
  RecordedSubjects(const StaticSubjects& recorded, bool groups_unknown)
      : StaticSubjects(recorded), groups_unknown_(groups_unknown) {
    if (!time) time = kFixedTime;
  }

  Tri in_group(const std::string& user, const std::string& group, std::string* cause) override {
    if (groups_unknown_) return miss("the user's groups", cause);
    return StaticSubjects::in_group(user, group, cause);
  }
  Lookup country(const IpAddress& address) override {
    if (!country_answer) {
      miss("rhost.country", nullptr);
      return Lookup{Lookup::Kind::unknown, {}, 0, "not recorded"};
    }
    return StaticSubjects::country(address);
  }
  Lookup asn(const IpAddress& address) override {
    if (!asn_answer) {
      miss("rhost.asn", nullptr);
      return Lookup{Lookup::Kind::unknown, {}, 0, "not recorded"};
    }
    return StaticSubjects::asn(address);
  }
  std::optional<long> failures(const RequestInfo& r, std::chrono::seconds window, bool by_rhost,
                               std::string* cause) override {
    if (!failure_answers.contains(failures_key(window, by_rhost))) {
      miss("failures(" + failures_key(window, by_rhost) + ")", cause);
      return std::nullopt;
    }
    return StaticSubjects::failures(r, window, by_rhost, cause);
  }
  Tri recent(const RequestInfo& r, const Atom& atom, std::string* cause) override {
    if (!recent_answers.contains(recent_key(atom))) {
      return miss("recent(" + recent_key(atom) + ")", cause);
    }
    return StaticSubjects::recent(r, atom, cause);
  }
  Tri enrolled(const RequestInfo& r, const FactorSpec& factor, std::string* cause) override {
    if (!enrolled_answers.contains(factor.name)) {
      return miss("enrolled(" + factor.name + ")", cause);
    }
    return StaticSubjects::enrolled(r, factor, cause);
  }
  const std::vector<std::string>& missing() const { return missing_; }

 private:
  Tri miss(const std::string& what, std::string* cause) {
    if (std::find(missing_.begin(), missing_.end(), what) == missing_.end()) {
      missing_.push_back(what);
    }
    if (cause) *cause = "not recorded";
    return Tri::unknown;
  }
  bool groups_unknown_ = false;
  std::vector<std::string> missing_;
};

struct Example {
  std::int64_t id = 0;
  std::int64_t time_us = 0;
  std::string user, service, rhost, old_reason, new_reason;
};

struct Group {
  std::int64_t count = 0;
  Example example;
  std::vector<std::int64_t> ids;
};

// One replayed request.
struct Replayed {
  enum class Kind { unchanged, changed, undecidable, not_replayable } kind = Kind::not_replayable;
  std::string new_decision;  // permit | deny
  std::string new_reason;
  std::string needs;  // what NEW needed that the record does not hold
};

Replayed replay_one(const Policy& policy, const audit::AuditRecord& record) {
  Replayed out;
  if (record.situation.empty()) return out;
  Situation situation;
  situation.set("service", record.service, "service");
  situation.set("user", record.user, "user");
  situation.set("tty", record.tty, "tty");
  situation.set("ruser", record.ruser, "ruser");
  if (!record.rhost.empty()) situation.set("rhost", record.rhost, "rhost");
  bool groups_unknown = false;
  std::size_t start = 0;
  while (start < record.situation.size()) {
    std::size_t end = record.situation.find('\n', start);
    if (end == std::string::npos) end = record.situation.size();
    const std::string line = record.situation.substr(start, end - start);
    start = end + 1;
    const auto space = line.find(' ');
    if (space == std::string::npos) continue;
    const std::string knob = line.substr(0, space);
    const std::string value = line.substr(space + 1);
    if (knob == "groups") {  // "groups unknown": not looked up, or the name service failed
      groups_unknown = true;
    } else if (Situation::is_knob(knob)) {
      try {
        situation.set(knob, value, knob);
      } catch (const UsageError&) {
        return out;  // a line this release cannot read: not replayable
      }
    }
    // A knob this release does not know records a subject NEW cannot name either: skipped.
  }
  RecordedSubjects subjects(situation.answers, groups_unknown);
  RecordedFactors factors;
  for (const auto& attempt : record.factors) {
    if (auto outcome = outcome_from_string(attempt.outcome)) factors.set(attempt.name, *outcome);
  }
  SilentConversation nobody;
  const bool account = record.reason.starts_with("account: ");
  const RequestInfo& request = situation.request;
  const Decision decision = account ? check_denies(policy, request, subjects)
                                    : decide(policy, request, subjects, factors, nobody);
  out.new_decision = decision.permit ? "permit" : "deny";
  out.new_reason = (account ? "account: " : "") + decision.reason;
  if (!factors.missing().empty()) {
    out.kind = Replayed::Kind::undecidable;
    out.needs = factors.missing().front() + ", which was not asked";
    return out;
  }
  if (!subjects.missing().empty()) {
    out.kind = Replayed::Kind::undecidable;
    out.needs = subjects.missing().front() + ", which was not recorded";
    return out;
  }
  out.kind =
      out.new_decision == record.decision ? Replayed::Kind::unchanged : Replayed::Kind::changed;
  return out;
}

void add_to(Group& group, const audit::StoredDecision& row, const Replayed& replayed) {
  if (group.count++ == 0) {
    group.example = {row.id,           row.record.time_us, row.record.user,    row.record.service,
                     row.record.rhost, row.record.reason,  replayed.new_reason};
  }
  group.ids.push_back(row.id);
}

nlohmann::json example_json(const Example& e) {
  return {{"id", e.id},
          {"time", audit::format_utc_iso(e.time_us)},
          {"user", e.user},
          {"service", e.service},
          {"rhost", e.rhost},
          {"old_reason", e.old_reason},
          {"new_reason", e.new_reason}};
}

void print_example(const Example& e, std::ostream& out) {
  out << "  e.g. " << audit::format_utc_short(e.time_us) << " UTC  " << e.user << " on "
      << e.service << (e.rhost.empty() ? std::string(" (local)") : " from " + e.rhost)
      << "  (decision " << e.id << ")\n";
}

int run_replay(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  LoadOptions options;
  std::string file;
  std::optional<std::string> db;
  std::optional<std::string> since;
  std::optional<std::string> service;
  bool json = false;
  const auto end = read_policy_file_arguments(
      args, {"replay", kReplayUsage}, out, err, file, options, [&](ArgReader& reader) {
        if (reader.is("--db")) {
          db = reader.value();
        } else if (reader.is("--since")) {
          since = reader.value();
        } else if (reader.is("--service")) {
          service = reader.value();
        } else if (reader.is("--format") || reader.is("--json")) {
          json = read_json_format(reader);
        } else {
          return false;
        }
        return true;
      });
  if (end) return *end;

  audit::DecisionFilter filter;
  filter.limit = 0;
  filter.oldest_first = true;
  filter.service = service;
  if (since) {
    filter.since_us = audit::parse_time_point(*since, audit::now_utc_us());
    if (!filter.since_us) {
      err << "authpolicy replay: --since needs a duration (15m, 1h, 7d) or a UTC date "
             "(2026-01-31, 2026-01-31T08:00), not \""
          << *since << "\"\n";
      return kExitTrouble;
    }
  }
  const LoadResult loaded = load_policy_file(file, options);
  if (!loaded.policy) {
    report_refused_policy(loaded, "replay", file, err);
    return kExitTrouble;
  }
  const std::string path = db ? *db : common_audit_db().value_or(audit::kDefaultDatabasePath);
  audit::OpenOptions open_options;
  open_options.create_if_missing = false;
  open_options.check_ownership = false;
  auto opened = audit::AuditStore::open(path, open_options);
  if (!opened.status.ok()) {
    err << "authpolicy replay: cannot read the audit log: " << opened.status.message << "\n";
    return kExitTrouble;
  }
  std::vector<audit::StoredDecision> rows;
  if (auto status = opened.store->list(filter, &rows); !status.ok()) {
    err << "authpolicy replay: " << status.message << "\n";
    return kExitTrouble;
  }

  std::map<std::pair<std::string, std::string>, Group> changes;  // (old, new)
  std::map<std::string, Group> undecidable;                      // by what NEW needs
  Group not_replayable;
  std::int64_t unchanged = 0;
  for (const auto& row : rows) {
    const Replayed replayed = replay_one(*loaded.policy, row.record);
    switch (replayed.kind) {
      case Replayed::Kind::unchanged:
        ++unchanged;
        break;
      case Replayed::Kind::changed:
        add_to(changes[{row.record.decision, replayed.new_decision}], row, replayed);
        break;
      case Replayed::Kind::undecidable:
        add_to(undecidable[replayed.needs], row, replayed);
        break;
      case Replayed::Kind::not_replayable:
        add_to(not_replayable, row, replayed);
        break;
    }
  }
  std::int64_t changed = 0;
  for (const auto& [pair, group] : changes) changed += group.count;
  std::int64_t cannot = 0;
  for (const auto& [needs, group] : undecidable) cannot += group.count;
  const int code = changed == 0 && cannot == 0 ? kExitOk : kExitRefused;

  if (json) {
    nlohmann::json change_list = nlohmann::json::array();
    for (const auto& [pair, group] : changes) {
      change_list.push_back({{"old", pair.first},
                             {"new", pair.second},
                             {"count", group.count},
                             {"example", example_json(group.example)},
                             {"ids", group.ids}});
    }
    nlohmann::json undecidable_list = nlohmann::json::array();
    for (const auto& [needs, group] : undecidable) {
      undecidable_list.push_back({{"needs", needs},
                                  {"count", group.count},
                                  {"example", example_json(group.example)},
                                  {"ids", group.ids}});
    }
    out << nlohmann::json{{"replayed",
                           rows.size() - static_cast<std::size_t>(not_replayable.count)},
                          {"unchanged", unchanged},
                          {"changed", changed},
                          {"undecidable", cannot},
                          {"not_replayable", not_replayable.count},
                          {"changes", change_list},
                          {"cannot_decide", undecidable_list}}
               .dump(2)
        << "\n";
    return code;
  }
  for (const auto& [pair, group] : changes) {
    out << pair.first << " -> " << pair.second << ": " << group.count
        << (group.count == 1 ? " request\n" : " requests\n");
    print_example(group.example, out);
    out << "  was: " << pair.first << " (" << group.example.old_reason << ")\n"
        << "  now: " << pair.second << " (" << group.example.new_reason << ")\n";
  }
  for (const auto& [needs, group] : undecidable) {
    out << "cannot decide: " << group.count
        << (group.count == 1 ? " request needs " : " requests need ") << needs << "\n";
    print_example(group.example, out);
  }
  if (not_replayable.count > 0) {
    out << "not replayed: " << not_replayable.count
        << (not_replayable.count == 1 ? " decision was" : " decisions were")
        << " recorded without its situation (an older release, or an unusable policy)\n";
  }
  out << "replayed " << rows.size() - static_cast<std::size_t>(not_replayable.count)
      << " requests through " << file << ": " << unchanged << " unchanged, " << changed
      << " would change, " << cannot << " cannot be decided\n";
  return code;
}

const RegisterCommand registration{
    "replay", "decide the audit log's requests again through another policy", run_replay};

}  // namespace
}  // namespace authpolicy::cli
