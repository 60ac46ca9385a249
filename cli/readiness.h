// Who is not ready for a policy (`authpolicy status`): the users who can reach it and lack an
// enrolment that a factor they will need requires, and the day from which they will be refused.
#pragma once

#include <ctime>
#include <optional>
#include <string>
#include <vector>

#include "engine/policy.h"

namespace authpolicy::cli {

struct MissingEnrolment {
  std::string factor;
  Enrolment enrolment;  // none or unknown, with the store's reason
};

struct NotReady {
  std::string user;
  std::vector<MissingEnrolment> missing;
  long refused_from = 0;  // days since 1970-01-01 (local calendar); today when refused already
  bool refused_now = false;
};

// Walks the password database (local accounts: uid 0 and uids from 1000, not nobody) and, for
// each user, decides every kind of request the policy's conditions tell apart (its situation
// space's classes of address, time, failures, remembered passes, ssh.auth, GeoIP; every
// combination up to 4,096, else each class once; and always a local login at noon and one from
// an address in no set of the policy) through the real evaluator: with the user's real groups
// and enrolments (the kits' stores), every factor they are enrolled in passing, and on each day
// that matters (today and every date condition's day). A user counts when such a login would pass were they enrolled in everything, and is
// refused from the first of those days on which it does not. Nothing is asked and nothing is
// written.
std::vector<NotReady> users_not_ready(const Policy& policy, const std::string& service,
                                      std::time_t now = std::time(nullptr));

}  // namespace authpolicy::cli
