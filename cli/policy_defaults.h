// Defaults the sub-commands share: the service a file stands for, the invoking user, and the
// failure counter of a policy's audit log.
#pragma once

#include <optional>
#include <string>

#include "engine/policy.h"
#include "engine/system_subjects.h"

namespace authpolicy::cli {

// "/etc/authpolicy/sudo.pol" -> "sudo".
std::string service_from_path(const std::string& path);

std::string current_user_name();

// Counts failures in the audit log the policy names (or the default one).
SystemSubjects::FailureCounter failure_counter_for(const Policy& policy);
// Answers recent() from the audit log the policy names (or the default one).
SystemSubjects::RecentChecker recent_checker_for(const Policy& policy);

}  // namespace authpolicy::cli
