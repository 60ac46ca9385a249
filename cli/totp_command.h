// `authpolicy totp`: enrol users, show and verify codes (callable from tests with streams).
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

namespace authpolicy::cli {

// Exit codes: 0 done/accepted, 1 refused (wrong code, already or not enrolled), 2 usage or
// system error. `verify` reads the code from `in`.
int run_totp_with_input(const std::vector<std::string>& args, std::istream& in, std::ostream& out,
                        std::ostream& err);
int run_totp(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

}  // namespace authpolicy::cli
