// Enrolment: a new credential from the key, and atomic edits of the authfile.
#include "factors/u2f/enroll.h"

#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>

#include "base/file_trust.h"
#include "base/trusted_write.h"

namespace authpolicy::u2f {
namespace {

struct CredDeleter {
  void operator()(fido_cred_t* c) const noexcept { fido_cred_free(&c); }
};

bool fill_random(unsigned char* buffer, std::size_t size) {
  std::size_t done = 0;
  while (done < size) {
    const ssize_t n = ::getrandom(buffer + done, size - done, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return false;
    done += static_cast<std::size_t>(n);
  }
  return true;
}

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> lines;
  std::size_t start = 0;
  while (start < text.size()) {
    const std::size_t end = text.find('\n', start);
    if (end == std::string::npos) {
      lines.push_back(text.substr(start));
      break;
    }
    lines.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return lines;
}

// An authfile opened for editing: its folder as the trust walk reached it (root's or the user's
// folders, only root's symlinks followed), the file read through that folder's descriptor, and
// what it was, so the edit replaces exactly the file read, in the folder checked.
struct EditTarget {
  TrustedFile folder;
  std::string name;
  bool exists = false;
  struct stat info {};
  std::string text;     // "" when it does not exist yet
  std::string problem;  // why it cannot be edited, or empty
};

EditTarget load_for_edit(const std::string& path, const std::string& user) {
  EditTarget target;
  const std::size_t slash = path.rfind('/');
  if (slash == std::string::npos) {
    target.problem = path + " is not an absolute path";
    return target;
  }
  // The factor's rules (authfile.cpp): root's or the user's, not writable by group or others.
  TrustRules rules;
  if (auto owner = uid_of_user(user); owner && *owner != 0) rules.extra_owners = {*owner};
  target.folder = open_folder_trusted(slash == 0 ? "/" : path.substr(0, slash), rules);
  if (!target.folder.ok()) {
    target.problem = target.folder.reason;
    return target;
  }
  target.name = path.substr(slash + 1);
  const TrustedFile file = open_at_trusted(target.folder, target.name, rules);
  if (file.status == TrustStatus::missing) return target;
  std::optional<std::string> text = read_trusted(file, 1 << 20, &target.problem);
  if (!text) return target;
  target.text = std::move(*text);
  target.exists = true;
  target.info = file.info;
  return target;
}

// Replaces the authfile by `text` atomically (base/trusted_write.h), only while its name is still
// the file that was read: the old file's owner and mode, never writable by others and never
// set-id; 0644 and the caller's for a new file.
std::optional<std::string> write_atomically(const EditTarget& target, const std::string& text) {
  NewFile attributes{::geteuid(), ::getegid(), 0644};
  if (target.exists) {
    attributes = {target.info.st_uid, target.info.st_gid,
                  static_cast<mode_t>(target.info.st_mode & 0777 & ~S_IWOTH)};
  }
  const WriteResult written = target.exists
                                  ? replace_at(target.folder, target.name, text, attributes,
                                               &target.info)
                                  : write_new_at(target.folder, target.name, text, attributes);
  if (!written.ok()) return written.reason;
  return std::nullopt;
}

std::string join_lines(const std::vector<std::string>& lines) {
  std::string text;
  for (const auto& line : lines) text += line + "\n";
  return text;
}

}  // namespace

std::variant<Credential, std::string> make_credential(fido_dev_t* device,
                                                      const EnrollOptions& options,
                                                      const std::vector<Credential>& exclude,
                                                      Conversation& conversation) {
  std::unique_ptr<fido_cred_t, CredDeleter> cred(fido_cred_new());
  if (!cred) return std::string("out of memory");
  unsigned char challenge[32];
  unsigned char user_id[32];
  if (!fill_random(challenge, sizeof(challenge)) || !fill_random(user_id, sizeof(user_id)))
    return std::string("no randomness");
  if (fido_cred_set_type(cred.get(), COSE_ES256) != FIDO_OK ||
      fido_cred_set_clientdata_hash(cred.get(), challenge, sizeof(challenge)) != FIDO_OK ||
      fido_cred_set_rp(cred.get(), options.origin.c_str(), options.origin.c_str()) != FIDO_OK ||
      fido_cred_set_user(cred.get(), user_id, sizeof(user_id), options.user.c_str(),
                         options.user.c_str(), nullptr) != FIDO_OK ||
      fido_cred_set_rk(cred.get(), options.resident ? FIDO_OPT_TRUE : FIDO_OPT_OMIT) != FIDO_OK)
    return std::string("cannot prepare the credential request");
  for (const auto& c : exclude)
    if (!c.resident) fido_cred_exclude(cred.get(), c.key_handle.data(), c.key_handle.size());

  std::optional<SecretString> pin;
  if (fido_dev_has_pin(device)) {
    pin = conversation.ask_secret(options.pin_prompt);
    if (!pin) return std::string("no PIN given");
  } else if (options.attributes.pin) {
    return std::string("the key has no PIN set; set one first (fido2-token -S)");
  }
  if (options.attributes.verification && !pin && !fido_dev_has_uv(device))
    return std::string("the key cannot verify its user (no PIN, no built-in verification)");

  const long long ms = options.timeout.count();
  fido_dev_set_timeout(device, ms > INT_MAX ? INT_MAX : int(ms < 1 ? 1 : ms));
  conversation.info(options.cue);
  const int r = fido_dev_make_cred(device, cred.get(), pin ? pin->c_str() : nullptr);
  pin.reset();
  if (r == FIDO_ERR_CREDENTIAL_EXCLUDED) return "this key is already enrolled for " + options.user;
  if (r == FIDO_ERR_PIN_INVALID) return std::string("wrong key PIN");
  if (r != FIDO_OK) return std::string("the key did not make a credential: ") + fido_strerr(r);

  // Self-attested keys (no certificate) sign with the new key itself.
  const int v = fido_cred_x5c_len(cred.get()) == 0 ? fido_cred_verify_self(cred.get())
                                                   : fido_cred_verify(cred.get());
  if (v != FIDO_OK) return std::string("the key's attestation does not verify: ") + fido_strerr(v);

  Credential credential;
  credential.format = CredentialFormat::current;
  credential.type = CoseType::es256;
  credential.resident = options.resident;
  credential.attributes = options.attributes;
  const auto* id = fido_cred_id_ptr(cred.get());
  credential.key_handle.assign(id, id + fido_cred_id_len(cred.get()));
  const auto* pk = fido_cred_pubkey_ptr(cred.get());
  credential.public_key.assign(pk, pk + fido_cred_pubkey_len(cred.get()));
  credential.key_handle_text = options.resident ? "*" : base64_encode(credential.key_handle);
  return credential;
}

std::optional<std::string> add_to_authfile(const std::string& path, const std::string& user,
                                           const Credential& credential) {
  const EditTarget target = load_for_edit(path, user);
  if (!target.problem.empty()) return target.problem;
  const std::string& text = target.text;
  const Authfile file = parse_authfile(text);
  std::vector<std::string> lines = split_lines(text);
  const AuthfileLine* entry = file.entry_for(user);
  if (entry != nullptr && entry->error)
    return "line " + std::to_string(entry->line) + " for " + user + " is malformed (" +
           *entry->error + "); fix or remove it first";
  if (entry == nullptr) {
    lines.push_back(user + ":" + credential.to_field());
  } else {
    std::string& line = lines[std::size_t(entry->line - 1)];
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    if (line.empty() || line.back() != ':') line += ":";
    line += credential.to_field();
  }
  return write_atomically(target, join_lines(lines));
}

std::variant<int, std::string> remove_from_authfile(const std::string& path,
                                                    const std::string& user,
                                                    const std::optional<std::string>& key_handle) {
  const EditTarget target = load_for_edit(path, user);
  if (!target.problem.empty()) return target.problem;
  if (!target.exists) return path + " does not exist";
  const std::string& text = target.text;
  const Authfile file = parse_authfile(text);
  std::vector<std::string> lines = split_lines(text);
  int removed = 0;
  if (!key_handle) {
    for (const auto& line : file.lines) {
      if (line.user != user) continue;
      lines[std::size_t(line.line - 1)].clear();
      removed += line.error ? 1 : int(line.credentials.size());
    }
  } else {
    const AuthfileLine* entry = file.entry_for(user);
    if (entry == nullptr) return user + " has no line in " + path;
    if (entry->error)
      return "line " + std::to_string(entry->line) + " for " + user + " is malformed (" +
             *entry->error + "); remove it with --all";
    std::string rebuilt = user + ":";
    bool first = true;
    for (const auto& c : entry->credentials) {
      if (c.key_handle_text == *key_handle) {
        ++removed;
        continue;
      }
      // Keep the other credentials exactly as written (old-format fields stay old).
      if (!first) rebuilt += ":";
      first = false;
      rebuilt += c.format == CredentialFormat::old
                     ? c.key_handle_text + "," + hex_encode(c.public_key)
                     : c.key_handle_text + "," + base64_encode(c.public_key) + "," +
                           std::string(to_string(c.type)) + "," + c.attributes.to_string();
    }
    if (removed == 0) return "no credential with that key handle for " + user;
    lines[std::size_t(entry->line - 1)] = first ? std::string() : rebuilt;
  }
  if (removed == 0) return user + " has no line in " + path;
  std::vector<std::string> kept;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    bool was_users = false;
    for (const auto& line : file.lines)
      if (std::size_t(line.line - 1) == i && line.user == user) was_users = true;
    if (was_users && lines[i].empty()) continue;  // drop emptied lines of this user
    kept.push_back(lines[i]);
  }
  if (auto problem = write_atomically(target, join_lines(kept))) return *problem;
  return removed;
}

}  // namespace authpolicy::u2f
