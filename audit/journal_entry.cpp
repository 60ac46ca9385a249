// Decision records as journald native-protocol datagrams, sent without waiting.
#include "audit/journal_entry.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>

#include "audit/syslog_line.h"
#include "audit/time_text.h"
#include "base/file_trust.h"
#include "base/unique_fd.h"

namespace authpolicy::audit {
namespace {

// NAME=value, or the binary-safe form when the value holds a newline (a plain field ends there).
void field(std::string* entry, std::string_view name, std::string_view value) {
  entry->append(name);
  if (value.find('\n') == std::string_view::npos) {
    entry->push_back('=');
    entry->append(value);
    entry->push_back('\n');
    return;
  }
  entry->push_back('\n');
  std::uint64_t length = value.size();
  for (int i = 0; i < 8; ++i) entry->push_back(static_cast<char>((length >> (8 * i)) & 0xff));
  entry->append(value);
  entry->push_back('\n');
}

// An entry too large for one datagram goes as a sealed memfd, which journald reads instead.
bool send_as_memfd(int socket_fd, const sockaddr_un& address, socklen_t address_length,
                   const std::string& entry) {
  UniqueFd memory(memfd_create("authpolicy-journal", MFD_ALLOW_SEALING | MFD_CLOEXEC));
  if (memory.get() < 0) return false;
  for (std::size_t done = 0; done < entry.size();) {
    const ssize_t n = write(memory.get(), entry.data() + done, entry.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<std::size_t>(n);
  }
  if (fcntl(memory.get(), F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) <
      0) {
    return false;
  }
  msghdr message{};
  message.msg_name = const_cast<sockaddr_un*>(&address);
  message.msg_namelen = address_length;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  message.msg_control = control;
  message.msg_controllen = sizeof control;
  cmsghdr* header = CMSG_FIRSTHDR(&message);
  header->cmsg_level = SOL_SOCKET;
  header->cmsg_type = SCM_RIGHTS;
  header->cmsg_len = CMSG_LEN(sizeof(int));
  const int fd = memory.get();
  std::memcpy(CMSG_DATA(header), &fd, sizeof fd);
  return sendmsg(socket_fd, &message, MSG_NOSIGNAL | MSG_DONTWAIT) >= 0;
}

}  // namespace

std::string encode_journal_entry(const AuditRecord& record) {
  std::string entry;
  entry.reserve(1024);
  field(&entry, "MESSAGE", format_syslog_line(record));
  field(&entry, "MESSAGE_ID", kDecisionMessageId);
  field(&entry, "PRIORITY", record.decision == "permit" ? "6" : "5");
  field(&entry, "SYSLOG_IDENTIFIER", "pam_policy");
  field(&entry, "SYSLOG_FACILITY", "10");  // authpriv, as the syslog line
  field(&entry, "AUTHPOLICY_DECISION", record.decision);
  field(&entry, "AUTHPOLICY_TIME", format_utc_iso(record.time_us));
  field(&entry, "AUTHPOLICY_TIME_US", std::to_string(record.time_us));
  field(&entry, "AUTHPOLICY_DECISION_ID", record.decision_id);
  field(&entry, "AUTHPOLICY_SERVICE", record.service);
  field(&entry, "AUTHPOLICY_USER", record.user);
  field(&entry, "AUTHPOLICY_RUSER", record.ruser);
  field(&entry, "AUTHPOLICY_RHOST", record.rhost);
  field(&entry, "AUTHPOLICY_TTY", record.tty);
  if (record.country) field(&entry, "AUTHPOLICY_COUNTRY", *record.country);
  if (record.asn) field(&entry, "AUTHPOLICY_ASN", std::to_string(*record.asn));
  field(&entry, "AUTHPOLICY_REASON", record.reason);
  field(&entry, "AUTHPOLICY_POLICY_PATH", record.policy_path);
  field(&entry, "AUTHPOLICY_POLICY_SHA256", record.policy_sha256);
  field(&entry, "AUTHPOLICY_PASSWORD_ASKED", record.password_asked ? "true" : "false");
  field(&entry, "AUTHPOLICY_DURATION_US", std::to_string(record.duration_us));
  field(&entry, "AUTHPOLICY_PID", std::to_string(record.pid));
  // One field to match on ("password:pass;totp:fail:wrong code", as `audit --format csv`), and
  // each attempt's parts on their own.
  std::string factors;
  int index = 0;
  for (const auto& factor : record.factors) {
    if (!factors.empty()) factors += ';';
    factors.append(factor.name).append(":").append(factor.outcome);
    if (!factor.detail.empty()) factors.append(":").append(factor.detail);
    std::string prefix = "AUTHPOLICY_FACTOR_";
    prefix.append(std::to_string(++index));
    field(&entry, prefix + "_NAME", factor.name);
    field(&entry, prefix + "_OUTCOME", factor.outcome);
    field(&entry, prefix + "_DETAIL", factor.detail);
    field(&entry, prefix + "_DURATION_US", std::to_string(factor.duration_us));
  }
  field(&entry, "AUTHPOLICY_FACTORS", factors);
  index = 0;
  for (const auto& unknown : record.unknowns) {
    std::string prefix = "AUTHPOLICY_UNKNOWN_";
    prefix.append(std::to_string(++index));
    field(&entry, prefix + "_CONDITION", unknown.condition);
    field(&entry, prefix + "_CAUSE", unknown.cause);
  }
  return entry;
}

JournalDelivery send_journal_entry(const std::string& socket_path,
                                   const AuditRecord& record) noexcept {
  const auto delivered = [] { return JournalDelivery{JournalOutcome::sent, {}}; };
  const auto absent = [] { return JournalDelivery{JournalOutcome::absent, {}}; };
  const auto refused = [](std::string reason) {
    return JournalDelivery{JournalOutcome::refused, std::move(reason)};
  };
  try {
    if (socket_path.empty()) return absent();
    const std::size_t slash = socket_path.rfind('/');
    if (socket_path.front() != '/' || slash == std::string::npos ||
        slash + 1 == socket_path.size()) {
      return refused("journal socket " + socket_path + " is not an absolute path to a socket");
    }
    // The folder by the trust walk, then the socket in it by that descriptor: the entry goes to
    // what was checked, never to a name someone else could swap meanwhile.
    TrustRules rules;
    rules.folder = true;
    const std::string folder_path = slash == 0 ? std::string("/") : socket_path.substr(0, slash);
    TrustedFile folder = open_trusted(folder_path, rules);
    if (folder.status == TrustStatus::missing) return absent();
    if (!folder.ok()) return refused("journal socket folder refused: " + folder.reason);
    const std::string name = socket_path.substr(slash + 1);
    struct stat info {};
    if (fstatat(folder.fd(), name.c_str(), &info, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno == ENOENT) return absent();
      return refused("journal socket " + socket_path + ": " + std::strerror(errno));
    }
    if (!S_ISSOCK(info.st_mode) || info.st_uid != 0) {
      return refused("journal socket " + socket_path + " is not a socket owned by root");
    }
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    const std::string through = "/proc/self/fd/" + std::to_string(folder.fd()) + "/" + name;
    if (through.size() >= sizeof address.sun_path) return refused("journal socket name too long");
    std::memcpy(address.sun_path, through.c_str(), through.size() + 1);
    const auto address_length =
        static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + through.size() + 1);

    const std::string entry = encode_journal_entry(record);
    UniqueFd sock(socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (sock.get() < 0) return refused(std::string("journal socket: ") + std::strerror(errno));
    ssize_t written;
    do {
      written = sendto(sock.get(), entry.data(), entry.size(), MSG_NOSIGNAL | MSG_DONTWAIT,
                       reinterpret_cast<const sockaddr*>(&address), address_length);
    } while (written < 0 && errno == EINTR);
    if (written >= 0) return delivered();
    const int error = errno;
    if (error == ECONNREFUSED) return absent();  // a socket left behind by a stopped journald
    if ((error == EMSGSIZE || error == ENOBUFS) &&
        send_as_memfd(sock.get(), address, address_length, entry)) {
      return delivered();
    }
    return refused("journal entry not sent to " + socket_path + ": " + std::strerror(error));
  } catch (...) {
    return refused("journal entry not sent: out of memory");
  }
}

}  // namespace authpolicy::audit
