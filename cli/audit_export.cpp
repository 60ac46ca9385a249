// `authpolicy audit export`: JSON Lines for log shippers, in commit order, resumable by cursor.
#include "cli/audit_export.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <ctime>
#include <ostream>
#include <vector>

#include "audit/audit_store.h"
#include "audit/syslog_line.h"
#include "audit/time_text.h"
#include "base/address.h"
#include "base/fd_io.h"
#include "base/json_text.h"
#include "base/trusted_write.h"
#include "base/unique_fd.h"

namespace authpolicy::cli {
namespace {

constexpr const char* kEcsVersion = "8.11.0";
constexpr std::int64_t kBatch = 500;
constexpr const char* kCursorMagic = "authpolicy-export-cursor 1";
// How far back from the end of --output a killed exporter's last line is looked for.
constexpr off_t kTailWindow = 1 << 20;

volatile sig_atomic_t stop_requested = 0;
void request_stop(int) {
  stop_requested = 1;
}

// Where the export stands: the last id written and that decision's time (0 = not known), to
// notice a log that was replaced (its row ids start again).
struct Cursor {
  std::int64_t id = 0;
  std::int64_t time_us = 0;
};

bool parse_number(std::string_view text, std::int64_t* value) {
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), *value);
  return !text.empty() && ec == std::errc() && end == text.data() + text.size() && *value >= 0;
}

// The folder of a file export keeps (--cursor, --output): walked from "/" following only root's
// symbolic links or the caller's own, so nobody who may change a folder on the way can point
// what export creates, replaces or cuts short somewhere else (base/trusted_write.h). Like fmt,
// export trusts nothing it reads there, so owners and modes are not checked.
TrustRules export_rules() {
  TrustRules rules;
  rules.any_owner = true;
  return rules;
}

bool open_export_folder(const std::string& path, const char* what, FolderEntry* entry,
                        std::string* error) {
  *entry = open_folder_of(path, export_rules());
  if (entry->folder.ok()) return true;
  *error = std::string("cannot open the folder of the ") + what + " " + path + ": " +
           entry->folder.reason;
  return false;
}

// A missing cursor file is a first run. Anything unreadable or malformed is an error: guessing a
// position would print decisions twice or lose them.
bool read_cursor(const FolderEntry& where, const std::string& path, Cursor* cursor,
                 std::string* error) {
  const TrustedFile file = open_at_trusted(where.folder, where.name, export_rules());
  if (file.status == TrustStatus::missing) return true;
  std::string problem;
  const auto content = read_trusted(file, 4096, &problem);  // a cursor is a few dozen bytes
  if (!content) {
    *error = "cannot read the cursor " + path + ": " + problem;
    return false;
  }
  bool have_magic = false, have_id = false, have_time = false;
  std::size_t start = 0;
  while (start < content->size()) {
    std::size_t end = content->find('\n', start);
    if (end == std::string::npos) break;  // a line without its newline was never finished
    const std::string_view line(content->data() + start, end - start);
    start = end + 1;
    if (line == kCursorMagic) have_magic = true;
    if (line.starts_with("id=")) have_id = parse_number(line.substr(3), &cursor->id);
    if (line.starts_with("time_us=")) have_time = parse_number(line.substr(8), &cursor->time_us);
  }
  if (!have_magic || !have_id || !have_time) {
    *error = "the cursor " + path + " is not one `authpolicy audit export` wrote";
    return false;
  }
  return true;
}

// Replaces the cursor file in one rename (base/trusted_write.h: a fresh temporary file, synced,
// renamed, the folder synced), so a reader (or the next run) sees the old or the new position,
// never half of one.
bool write_cursor(const FolderEntry& where, const std::string& path, const Cursor& cursor,
                  std::string* error) {
  const std::string text = std::string(kCursorMagic) + "\nid=" + std::to_string(cursor.id) +
                           "\ntime_us=" + std::to_string(cursor.time_us) + "\n";
  const WriteResult written =
      replace_at(where.folder, where.name, text, NewFile{geteuid(), getegid(), 0600});
  if (!written.ok()) {
    *error = "cannot replace the cursor " + path + ": " + written.reason;
    return false;
  }
  return true;
}

// The id in one exported line: lines start {"@timestamp":"…","event":{"sequence":ID,…
std::int64_t line_id(std::string_view line) {
  constexpr std::string_view key = "\"sequence\":";
  const std::size_t at = line.find(key);
  if (at == std::string_view::npos) return 0;
  std::int64_t id = 0;
  const char* begin = line.data() + at + key.size();
  std::from_chars(begin, line.data() + line.size(), id);
  return id;
}

// Opens --output for appending. A line cut short by a killed exporter is cut off, and the id of
// the last whole line comes back in *last_id: what is in the file was written, whatever the cursor
// says, so nothing is written twice.
bool open_output(const std::string& path, UniqueFd* fd, std::int64_t* last_id, std::string* error) {
  *last_id = 0;
  fd->reset();
  FolderEntry where;
  if (!open_export_folder(path, "output", &where, error)) return false;
  *fd->out() = openat(where.folder.fd(), where.name.c_str(),
                      O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0640);
  struct stat info {};
  if (fd->get() < 0 || fstat(fd->get(), &info) != 0) {
    *error = "cannot open the output " + path + ": " + std::strerror(errno);
    return false;
  }
  if (!S_ISREG(info.st_mode) || info.st_size == 0) return true;
  const off_t base = info.st_size > kTailWindow ? info.st_size - kTailWindow : 0;
  std::string tail(static_cast<std::size_t>(info.st_size - base), '\0');
  if (pread(fd->get(), tail.data(), tail.size(), base) != static_cast<ssize_t>(tail.size())) {
    *error = "cannot read the end of the output " + path;
    return false;
  }
  std::size_t end = tail.rfind('\n');
  if (end + 1 != tail.size()) {  // a partial last line (or no newline at all)
    if (end == std::string::npos && base != 0) {
      *error = "the last line of " + path + " is longer than 1 MiB";
      return false;
    }
    const off_t keep = end == std::string::npos ? base : base + static_cast<off_t>(end) + 1;
    if (ftruncate(fd->get(), keep) != 0) {
      *error = "cannot cut the unfinished last line of " + path + ": " + std::strerror(errno);
      return false;
    }
    if (end == std::string::npos) return true;
  }
  const std::size_t begin = end == 0 ? std::string::npos : tail.rfind('\n', end - 1);
  const std::size_t first = begin == std::string::npos ? 0 : begin + 1;
  *last_id = line_id(std::string_view(tail).substr(first, end - first));
  return true;
}

std::string host_name() {
  char name[256] = {};
  if (gethostname(name, sizeof name - 1) != 0) return "";
  return name;
}

// Where to start: after the cursor, unless the log no longer holds the decision the cursor names
// with the time it had (the log was replaced, or emptied and begun again): then from the start,
// or from just after that time when the rows since then all have smaller ids.
Cursor checked_resume(audit::AuditStore& store, const Cursor& cursor, std::ostream& err) {
  if (cursor.id == 0 || cursor.time_us == 0) return cursor;
  audit::DecisionFilter at;
  at.after_id = cursor.id - 1;
  at.oldest_first = true;
  at.limit = 1;
  std::vector<audit::StoredDecision> rows;
  if (!store.list(at, &rows).ok()) return cursor;
  if (!rows.empty() && rows.front().id == cursor.id) {
    if (rows.front().record.time_us == cursor.time_us) return cursor;
    err << "authpolicy audit export: decision " << cursor.id
        << " is not the one the cursor names: the log was replaced; exporting it from the start\n";
    return Cursor{};
  }
  if (!rows.empty()) return cursor;  // pruned by retention; later ones are there
  audit::DecisionFilter newer;
  newer.since_us = cursor.time_us + 1;
  newer.limit = 1;
  if (!store.list(newer, &rows).ok() || rows.empty()) return cursor;
  err << "authpolicy audit export: the log holds decisions newer than the cursor under smaller "
         "ids: it was emptied and begun again; exporting those\n";
  return Cursor{0, 0};
}

// One JSON object, written member by member in the order given (the order docs/fleet.md shows):
// `"key":value`, comma-separated.
class JsonObject {
 public:
  // A member whose value is JSON already: a literal, an array or another object.
  JsonObject& raw(std::string_view key, std::string_view json) {
    text_.append(text_.size() == 1 ? "\"" : ",\"").append(key).append("\":").append(json);
    return *this;
  }
  JsonObject& text(std::string_view key, std::string_view value) {
    return raw(key, json_string(value));
  }
  JsonObject& number(std::string_view key, std::int64_t value) {
    return raw(key, std::to_string(value));
  }
  std::string done() const { return text_ + "}"; }

 private:
  std::string text_ = "{";
};

// A JSON array of one object a member of `items`, as `object` writes it.
template <typename Item, typename Object>
std::string json_array(const std::vector<Item>& items, Object&& object) {
  std::string array = "[";
  for (const Item& item : items) {
    if (array.size() > 1) array.push_back(',');
    array.append(object(item));
  }
  return array.append("]");
}

}  // namespace

std::string export_line(std::int64_t id, const audit::AuditRecord& record,
                        const std::string& host) {
  const bool permit = record.decision == "permit";
  JsonObject event;
  event.number("sequence", id);
  // event.id: the decision's own id, the journal's AUTHPOLICY_DECISION_ID (none before schema 4).
  if (!record.decision_id.empty()) event.text("id", record.decision_id);
  event.text("kind", "event")
      .raw("category", "[\"authentication\"]")
      .raw("type", "[\"info\"]")
      .text("action", "authpolicy-decision")
      .text("outcome", permit ? "success" : "failure")
      .text("reason", record.reason)
      .number("duration", record.duration_us * 1000)
      .text("module", "authpolicy")
      .text("dataset", "authpolicy.decision");
  JsonObject line;
  line.text("@timestamp", audit::format_utc_iso(record.time_us))
      .raw("event", event.done())
      .raw("ecs", JsonObject().text("version", kEcsVersion).done())
      .raw("host", JsonObject().text("hostname", host).done())
      .raw("service", JsonObject().text("name", record.service).done())
      .raw("user", JsonObject().text("name", record.user).done())
      .raw("process", JsonObject().number("pid", record.pid).done());
  // source: where the request came from (PAM_RHOST) and who asked (PAM_RUSER).
  if (!record.rhost.empty() || !record.ruser.empty() || record.country || record.asn) {
    JsonObject source;
    if (!record.rhost.empty()) {
      source.text("address", record.rhost);
      source.text(IpAddress::parse(record.rhost) ? "ip" : "domain", record.rhost);
    }
    if (!record.ruser.empty()) source.raw("user", JsonObject().text("name", record.ruser).done());
    if (record.country) {
      source.raw("geo", JsonObject().text("country_iso_code", *record.country).done());
    }
    if (record.asn) source.raw("as", JsonObject().number("number", *record.asn).done());
    line.raw("source", source.done());
  }
  const std::string factors = json_array(record.factors, [](const audit::FactorAttempt& factor) {
    return JsonObject()
        .text("name", factor.name)
        .text("outcome", factor.outcome)
        .text("detail", factor.detail)
        .number("duration_us", factor.duration_us)
        .done();
  });
  const std::string unknowns =
      json_array(record.unknowns, [](const audit::UnknownCondition& unknown) {
        return JsonObject().text("condition", unknown.condition).text("cause", unknown.cause).done();
      });
  JsonObject authpolicy;
  authpolicy.text("decision", record.decision)
      .number("time_us", record.time_us)
      .text("ruser", record.ruser)
      .text("rhost", record.rhost)
      .text("tty", record.tty)
      .raw("policy", JsonObject()
                         .text("path", record.policy_path)
                         .text("sha256", record.policy_sha256)
                         .done())
      .raw("password_asked", record.password_asked ? "true" : "false")
      .number("duration_us", record.duration_us)
      .raw("factors", factors)
      .raw("unknowns", unknowns);
  line.text("message", audit::format_syslog_line(record))
      .raw("authpolicy", authpolicy.done());
  return line.done();
}

int run_export(const ExportOptions& options, std::ostream& out, std::ostream& err) {
  stop_requested = 0;
  struct sigaction action {};
  action.sa_handler = request_stop;
  action.sa_flags = SA_RESTART;  // a write to a slow reader finishes; the loop then stops
  sigemptyset(&action.sa_mask);
  for (int signal_number : {SIGTERM, SIGINT, SIGHUP}) sigaction(signal_number, &action, nullptr);
  signal(SIGPIPE, SIG_IGN);  // a closed reader is a failed write, not a silent death

  std::string error;
  Cursor cursor;
  FolderEntry cursor_file;
  if (!options.cursor_path.empty() &&
      (!open_export_folder(options.cursor_path, "cursor", &cursor_file, &error) ||
       !read_cursor(cursor_file, options.cursor_path, &cursor, &error))) {
    err << "authpolicy audit export: " << error << "\n";
    return 2;
  }
  UniqueFd output;
  if (!options.output_path.empty()) {
    std::int64_t written = 0;
    if (!open_output(options.output_path, &output, &written, &error)) {
      err << "authpolicy audit export: " << error << "\n";
      return 2;
    }
    // Written to the output but killed before the cursor said so: the output is right.
    if (written > cursor.id) cursor = Cursor{written, 0};
  }
  const std::string host = host_name();
  bool resumed = false;
  std::string last_problem;
  while (!stop_requested) {
    // Opening moves the spool into the tables (audit_store.h), so spooled decisions get their
    // ids, in the order they were made, before anything is read.
    audit::OpenOptions open_options;
    open_options.create_if_missing = false;
    open_options.check_ownership = false;
    auto opened = audit::AuditStore::open(options.db, open_options);
    if (!opened.status.ok()) {
      // Following, the same trouble is said once, not at every look.
      if (opened.status.message != last_problem) {
        err << "authpolicy audit export: cannot read the audit log: " << opened.status.message
            << "\n";
        last_problem = opened.status.message;
      }
      if (!options.follow) return 2;
    } else {
      last_problem.clear();
      auto& store = *opened.store;
      if (!resumed) {
        cursor = checked_resume(store, cursor, err);
        resumed = true;
      }
      for (;;) {
        audit::DecisionFilter filter;
        filter.after_id = cursor.id;
        filter.since_us = options.since_us;
        filter.oldest_first = true;
        filter.limit = kBatch;
        std::vector<audit::StoredDecision> rows;
        const audit::Status status = store.list(filter, &rows);
        if (!status.ok()) {
          err << "authpolicy audit export: " << status.message << "\n";
          return 2;
        }
        if (rows.empty()) break;
        std::string batch;
        for (const auto& row : rows)
          batch.append(export_line(row.id, row.record, host)).append("\n");
        if (output.get() >= 0) {
          if (!write_all(output.get(), batch)) {
            err << "authpolicy audit export: cannot write " << options.output_path << ": "
                << std::strerror(errno) << "\n";
            return 2;
          }
        } else {
          out << batch;
          out.flush();
          if (!out) {
            err << "authpolicy audit export: cannot write the output\n";
            return 2;
          }
        }
        cursor = Cursor{rows.back().id, rows.back().record.time_us};
        if (!options.cursor_path.empty() &&
            !write_cursor(cursor_file, options.cursor_path, cursor, &error)) {
          err << "authpolicy audit export: " << error << "\n";
          return 2;
        }
        if (static_cast<std::int64_t>(rows.size()) < kBatch || stop_requested) break;
      }
    }
    if (!options.follow) break;
    // Sleep in short steps so a stop request ends the export promptly.
    for (std::int64_t slept = 0; slept < options.interval_ms && !stop_requested; slept += 50) {
      const timespec step{0, 50 * 1000 * 1000};
      nanosleep(&step, nullptr);
    }
  }
  return 0;
}

}  // namespace authpolicy::cli
