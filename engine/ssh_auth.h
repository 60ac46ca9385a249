// `ssh.auth`: the authentication methods sshd says completed before PAM runs (SSH_AUTH_INFO_0).
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace authpolicy {

// sshd's method names (OpenSSH's, plus Debian's gssapi-keyex). A set tested against ssh.auth may
// name only these: a misspelt method would silently never match.
inline constexpr std::string_view kSshMethods[] = {
    "publickey",    "password", "keyboard-interactive", "hostbased", "gssapi-with-mic",
    "gssapi-keyex", "none"};

// The method's bit in a method mask, or nullopt for a name that is not one of kSshMethods.
std::optional<unsigned> ssh_method_bit(std::string_view method);

// The method names of a mask, in kSshMethods order, joined with ", " ("none" for an empty mask
// reads as the method named none, so an empty mask gives "").
std::string ssh_method_list(unsigned mask);

// What SSH_AUTH_INFO_0 says, as a method mask, or nullopt with `problem` set when the value is not
// what sshd writes. sshd (OpenSSH 7.8 and later) puts one line per method that completed, in
// order, each "METHOD[/SUBMETHOD][ DETAIL]\n" (DETAIL: the key, for publickey and hostbased), and
// the empty string when none has. Methods this build does not know are read and ignored: no set
// can name them.
std::optional<unsigned> parse_ssh_auth_info(std::string_view value, std::string* problem);

// SSH_AUTH_INFO_0 as sshd would write it for these methods (no key details): what `eval
// --ssh-auth` and the checker's witnesses give the evaluator.
std::string ssh_auth_info_for(unsigned mask);

}  // namespace authpolicy
