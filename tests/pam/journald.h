// The real systemd-journald (and systemd-journal-remote/-upload) for tests: each journald runs in
// its own mount and UTS namespace, where /run/systemd/journal, /run/log/journal, /var/log/journal
// and /etc/machine-id are the test's own folders and file, so nothing reaches the host's journal.
#pragma once

#include <sys/types.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace authpolicy::pam_test {

inline constexpr const char* kJournald = "/lib/systemd/systemd-journald";
inline constexpr const char* kJournalRemote = "/lib/systemd/systemd-journal-remote";
inline constexpr const char* kJournalUpload = "/lib/systemd/systemd-journal-upload";

// One "host": a journald with its own host name and machine id, its files under `folder`.
class TestJournald {
 public:
  TestJournald(const std::string& folder, const std::string& host_name,
               const std::string& machine_id);
  ~TestJournald();
  TestJournald(const TestJournald&) = delete;
  TestJournald& operator=(const TestJournald&) = delete;

  bool running() const { return pid_ > 0; }
  const std::string& problem() const { return problem_; }
  // The native-protocol socket, as a policy's `audit { journal = ... }` names it.
  std::string socket() const { return folder_ + "/run/socket"; }
  // Where the journal files are (journalctl -D, systemd-journal-upload -D).
  std::string journal_folder() const { return folder_ + "/log"; }
  void stop();

 private:
  std::string folder_;
  pid_t pid_ = -1;
  std::string problem_;
};

// `journalctl -o json` entries with our MESSAGE_ID: from `-D folder`, or `--file file`. Waits up
// to 10 s until at least `expected` are there.
std::vector<nlohmann::json> decision_entries_in_folder(const std::string& folder,
                                                       std::size_t expected);
std::vector<nlohmann::json> decision_entries_in_file(const std::string& file, std::size_t expected);

// A journal field as bytes: journalctl prints values that are not printable UTF-8 as an array of
// byte values, and a field sent more than once as an array of values ("<repeated>" then).
std::string field_bytes(const nlohmann::json& entry, const std::string& name);

// Every field of the journal entry against the row `authpolicy audit` shows for the same
// decision; the differences, one a line ("" when they agree).
std::string compare_entry_with_row(const nlohmann::json& entry, const nlohmann::json& row);

// The row whose decision id is the entry's AUTHPOLICY_DECISION_ID, or null (also when the entry
// carries none).
nlohmann::json row_for_entry(const nlohmann::json& rows, const nlohmann::json& entry);

}  // namespace authpolicy::pam_test
