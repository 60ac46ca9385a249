// The evaluator's specification as a table: (policy, situation, factor outcomes) -> decision and
// the order in which factors were asked.
#include <gtest/gtest.h>

#include <optional>

#include "engine/evaluate.h"
#include "engine/scripted.h"
#include "test_support.h"

namespace authpolicy::test {
namespace {

constexpr Outcome P = Outcome::pass;
constexpr Outcome F = Outcome::fail;
constexpr Outcome U = Outcome::unavailable;
constexpr Outcome E = Outcome::error;

struct Situation {
  std::optional<std::string> rhost = std::nullopt;
  std::string user = "alice";
  std::string service = "sudo";
  std::string tty = "pts/0";
  std::optional<std::vector<std::string>> groups = std::vector<std::string>{};
  int minute = 12 * 60;
  int weekday = 2;  // Wednesday
  Lookup country = {};  // no record by default
  Lookup asn = {};
  std::optional<long> failures = 0;
  Tri recent = Tri::no;  // every recent() atom
};

struct Case {
  const char* name;
  const char* policy;
  Situation situation;
  std::vector<std::pair<std::string, Outcome>> factors;
  bool permit;
  std::vector<std::string> asked;  // factors that asked something, in order
  int unknowns = -1;               // expected number of unknown conditions, -1: not checked
};

Lookup country(const char* code) { return Lookup{Lookup::Kind::value, code, 0, {}}; }
Lookup asn(std::uint32_t n) { return Lookup{Lookup::Kind::value, {}, n, {}}; }
Lookup geo_unknown() { return Lookup{Lookup::Kind::unknown, {}, 0, "database missing"}; }

const char* const kCard =
    "set trusted = { 10.0.0.0/8, 192.168.1.0/24, fd00::/8 }\n"
    "auth password && (pin || u2f) unless rhost in trusted\n";
const char* const kRemoteOtp =
    "set trusted = { 10.0.0.0/8, 2001:db8::/32 }\n"
    "auth password && totp unless rhost in trusted\n";
const char* const kGeo =
    "deny if rhost.country in { \"KP\", \"IR\" }\n"
    "auth password\n";

const std::vector<Case> kCases = {
    // ---- single factors and outcomes
    {"single_pass", "auth password", {}, {{"password", P}}, true, {"password"}},
    {"single_fail", "auth password", {}, {{"password", F}}, false, {"password"}},
    {"single_error_counts_as_fail", "auth password", {}, {{"password", E}}, false, {"password"}},
    {"single_unavailable_denies", "auth password", {}, {}, false, {}},
    {"permit_asks_nothing", "auth permit", {}, {}, true, {}},

    // ---- ||
    {"or_first_passes_second_not_asked", "auth u2f || password", {}, {{"u2f", P}, {"password", P}}, true, {"u2f"}},
    {"or_first_fails_second_asked", "auth u2f || password", {}, {{"u2f", F}, {"password", P}}, true, {"u2f", "password"}},
    {"or_unavailable_falls_through", "auth u2f || password", {}, {{"password", P}}, true, {"password"}},
    {"or_both_fail", "auth u2f || password", {}, {{"u2f", F}, {"password", F}}, false, {"u2f", "password"}},
    {"or_everything_unavailable_denies", "auth u2f || pin || totp", {}, {}, false, {}},
    {"or_error_moves_on", "auth pin || password", {}, {{"pin", E}, {"password", P}}, true, {"pin", "password"}},

    // ---- &&
    {"and_both_pass", "auth password && totp", {}, {{"password", P}, {"totp", P}}, true, {"password", "totp"}},
    {"and_first_fails_second_not_asked", "auth password && totp", {}, {{"password", F}, {"totp", P}}, false, {"password"}},
    {"and_second_fails", "auth password && totp", {}, {{"password", P}, {"totp", F}}, false, {"password", "totp"}},
    {"and_unavailable_fails", "auth password && totp", {}, {{"password", P}}, false, {"password"}},
    {"and_first_unavailable_second_not_asked", "auth totp && password", {}, {{"password", P}}, false, {}},

    // ---- precedence: && binds tighter than ||
    {"and_before_or", "auth password && totp || u2f", {}, {{"password", F}, {"u2f", P}}, true, {"password", "u2f"}},
    {"and_before_or_left_passes", "auth password && totp || u2f", {}, {{"password", P}, {"totp", P}}, true, {"password", "totp"}},
    {"parentheses_group", "auth password && (totp || u2f)", {}, {{"password", P}, {"totp", F}, {"u2f", P}}, true, {"password", "totp", "u2f"}},

    // ---- memoised factors are asked once
    {"factor_asked_once", "auth (password && pin) || (password && totp)", {}, {{"password", P}, {"pin", F}, {"totp", P}}, true, {"password", "pin", "totp"}},
    {"let_shares_subexpression", "let second = pin || u2f\nauth password && second", {}, {{"password", P}, {"pin", U}, {"u2f", P}}, true, {"password", "u2f"}},

    // ---- the design card: unless applies to (pin || u2f) only
    {"card_trusted_password_only", kCard, {.rhost = "10.1.2.3"}, {{"password", P}, {"pin", P}}, true, {"password"}},
    {"card_trusted_wrong_password", kCard, {.rhost = "10.1.2.3"}, {{"password", F}}, false, {"password"}},
    {"card_untrusted_needs_second", kCard, {.rhost = "203.0.113.9"}, {{"password", P}, {"pin", P}}, true, {"password", "pin"}},
    {"card_untrusted_remote_u2f_unavailable", kCard, {.rhost = "203.0.113.9"}, {{"password", P}, {"pin", F}, {"u2f", P}}, false, {"password", "pin"}},
    {"card_local_u2f_allowed", kCard, {}, {{"password", P}, {"pin", F}, {"u2f", P}}, true, {"password", "pin", "u2f"}},
    {"card_loopback_is_local", kCard, {.rhost = "127.0.0.1"}, {{"password", P}, {"pin", U}, {"u2f", P}}, true, {"password", "u2f"}},
    {"card_ipv6_loopback_is_local", kCard, {.rhost = "::1"}, {{"password", P}, {"u2f", P}}, true, {"password", "u2f"}},
    {"card_ipv6_trusted", kCard, {.rhost = "fd00::42"}, {{"password", P}}, true, {"password"}},
    {"card_mapped_ipv4_matches", kCard, {.rhost = "::ffff:10.1.2.3"}, {{"password", P}}, true, {"password"}},
    {"card_mapped_ipv4_outside", kCard, {.rhost = "::ffff:203.0.113.9"}, {{"password", P}}, false, {"password"}},
    {"card_hostname_is_unknown_not_waived", kCard, {.rhost = "office.example.com"}, {{"password", P}, {"pin", P}}, true, {"password", "pin"}, 1},
    {"card_hostname_makes_u2f_remote", kCard, {.rhost = "office.example.com"}, {{"password", P}, {"pin", F}, {"u2f", P}}, false, {"password", "pin"}},
    {"card_garbage_rhost", kCard, {.rhost = "10.0.0.0.0/evil"}, {{"password", P}}, false, {"password"}, 1},
    {"card_empty_rhost_is_local", kCard, {.rhost = ""}, {{"password", P}, {"u2f", P}}, true, {"password", "u2f"}},
    {"card_192_168_edge", kCard, {.rhost = "192.168.1.255"}, {{"password", P}}, true, {"password"}},
    {"card_192_168_outside", kCard, {.rhost = "192.168.2.1"}, {{"password", P}}, false, {"password"}},

    // ---- unless vs ||
    {"unless_binds_to_one_operand", "set t = { 10.0.0.0/8 }\nauth pin || password && totp unless rhost in t", {.rhost = "10.0.0.1"}, {{"pin", F}, {"password", P}}, true, {"pin", "password"}},
    {"unless_not_waived_outside", "set t = { 10.0.0.0/8 }\nauth pin || password && totp unless rhost in t", {.rhost = "11.0.0.1"}, {{"pin", F}, {"password", P}, {"totp", P}}, true, {"pin", "password", "totp"}},
    {"remote_otp_trusted", kRemoteOtp, {.rhost = "10.9.9.9"}, {{"password", P}}, true, {"password"}},
    {"remote_otp_untrusted", kRemoteOtp, {.rhost = "198.51.100.7"}, {{"password", P}, {"totp", P}}, true, {"password", "totp"}},
    {"remote_otp_untrusted_wrong_code", kRemoteOtp, {.rhost = "198.51.100.7"}, {{"password", P}, {"totp", F}}, false, {"password", "totp"}},
    {"remote_otp_ipv6_trusted", kRemoteOtp, {.rhost = "2001:db8::1"}, {{"password", P}}, true, {"password"}},
    {"remote_otp_local_request_needs_code", kRemoteOtp, {}, {{"password", P}, {"totp", P}}, true, {"password", "totp"}},

    // ---- if guards
    {"if_required_when_true", "auth password && (totp if failures(1h) >= 3)", {.failures = 5}, {{"password", P}, {"totp", F}}, false, {"password", "totp"}},
    {"if_waived_when_false", "auth password && (totp if failures(1h) >= 3)", {.failures = 1}, {{"password", P}, {"totp", F}}, true, {"password"}},
    {"if_unknown_requires", "auth password && (totp if failures(1h) >= 3)", {.failures = std::nullopt}, {{"password", P}, {"totp", P}}, true, {"password", "totp"}, 1},
    {"guards_outermost_first", "set t = { 10.0.0.0/8 }\nauth password && (totp unless rhost in t if user in { bob })", {.rhost = "192.0.2.1", .user = "alice"}, {{"password", P}}, true, {"password"}},

    // ---- k of
    {"k_of_stops_at_k", "auth 2 of (password, pin, totp)", {}, {{"password", P}, {"pin", P}, {"totp", P}}, true, {"password", "pin"}},
    {"k_of_continues_after_fail", "auth 2 of (password, pin, totp)", {}, {{"password", P}, {"pin", F}, {"totp", P}}, true, {"password", "pin", "totp"}},
    {"k_of_gives_up_when_unreachable", "auth 2 of (password, pin, totp)", {}, {{"password", F}, {"pin", F}, {"totp", P}}, false, {"password", "pin"}},
    {"k_of_unavailable_skipped", "auth 2 of (u2f, pin, totp)", {}, {{"pin", P}, {"totp", P}}, true, {"pin", "totp"}},
    {"k_of_with_waived_operand", "set t = { 10.0.0.0/8 }\nauth 2 of (password, totp unless rhost in t, pin)", {.rhost = "10.0.0.1"}, {{"password", P}}, true, {"password"}},

    // ---- deny if
    {"deny_country", kGeo, {.rhost = "175.45.176.1", .country = country("KP")}, {{"password", P}}, false, {}},
    {"deny_other_country_passes", kGeo, {.rhost = "192.0.2.1", .country = country("DE")}, {{"password", P}}, true, {"password"}},
    {"deny_no_record_is_false", kGeo, {.rhost = "192.0.2.1"}, {{"password", P}}, true, {"password"}},
    {"deny_unknown_geoip_denies", kGeo, {.rhost = "192.0.2.1", .country = geo_unknown()}, {{"password", P}}, false, {}, 1},
    {"deny_local_request_has_no_country", kGeo, {.country = geo_unknown()}, {{"password", P}}, true, {"password"}, 0},
    {"deny_hostname_unknown_denies", kGeo, {.rhost = "attacker.example"}, {{"password", P}}, false, {}, 1},
    {"deny_asn", "deny if rhost.asn in { 64496 }\nauth password", {.rhost = "192.0.2.1", .asn = asn(64496)}, {{"password", P}}, false, {}},
    {"deny_failures", "deny if failures(15m) >= 3\nauth password", {.failures = 3}, {{"password", P}}, false, {}},
    {"deny_failures_below", "deny if failures(15m) >= 3\nauth password", {.failures = 2}, {{"password", P}}, true, {"password"}},
    {"deny_failures_unknown", "deny if failures(15m) >= 3\nauth password", {.failures = std::nullopt}, {{"password", P}}, false, {}, 1},
    {"deny_negated_unknown_still_unknown", "deny if !(rhost.country in { \"DE\" })\nauth password", {.rhost = "192.0.2.1", .country = geo_unknown()}, {{"password", P}}, false, {}, 1},
    {"deny_conjunction_false_wins_over_unknown", "deny if rhost.country in { \"KP\" } && user in { mallory }\nauth password", {.rhost = "192.0.2.1", .country = geo_unknown()}, {{"password", P}}, true, {"password"}},

    // ---- users, groups, services, ttys
    {"user_in_admins_waives", "set admins = { alice }\nauth password && (totp unless user in admins)", {}, {{"password", P}}, true, {"password"}},
    {"group_member", "auth password && (totp unless user in group(\"wheel\"))", {.groups = std::vector<std::string>{"wheel"}}, {{"password", P}}, true, {"password"}},
    {"group_not_member", "auth password && (totp unless user in group(\"wheel\"))", {}, {{"password", P}}, false, {"password"}},
    {"group_unknown_not_waived", "auth password && (totp unless user in group(\"wheel\"))", {.groups = std::nullopt}, {{"password", P}, {"totp", P}}, true, {"password", "totp"}, 1},
    {"service_condition", "auth password && (totp if service in { sshd })", {.service = "sshd"}, {{"password", P}}, false, {"password"}},
    {"tty_condition", "auth password && (totp unless tty in { tty1 })", {.tty = "tty1"}, {{"password", P}}, true, {"password"}},

    // ---- time windows
    {"night_window_late", "auth password && (totp if time in 22:00..06:00)", {.minute = 23 * 60}, {{"password", P}}, false, {"password"}},
    {"night_window_early_morning", "auth password && (totp if time in 22:00..06:00)", {.minute = 5 * 60 + 59}, {{"password", P}}, false, {"password"}},
    {"night_window_end_exclusive", "auth password && (totp if time in 22:00..06:00)", {.minute = 6 * 60}, {{"password", P}}, true, {"password"}},
    {"night_window_midday", "auth password && (totp if time in 22:00..06:00)", {.minute = 12 * 60}, {{"password", P}}, true, {"password"}},
    {"weekday_range", "auth password && (totp unless weekday in { mon..fri })", {.weekday = 4}, {{"password", P}}, true, {"password"}},
    {"weekend", "auth password && (totp unless weekday in { mon..fri })", {.weekday = 6}, {{"password", P}}, false, {"password"}},
    {"weekday_range_wraps", "auth password && (totp unless weekday in { fri..mon })", {.weekday = 6}, {{"password", P}}, true, {"password"}},

    // ---- recent(): a remembered pass waives; no pass or an unreadable log asks (strict)
    {"recent_pass_waives_code", "auth password && (totp unless recent(totp, 8h, rhost))", {.recent = Tri::yes}, {{"password", P}}, true, {"password"}, 0},
    {"recent_none_asks_code", "auth password && (totp unless recent(totp, 8h, rhost))", {.recent = Tri::no}, {{"password", P}, {"totp", P}}, true, {"password", "totp"}, 0},
    {"recent_unknown_asks_code", "auth password && (totp unless recent(totp, 8h, rhost))", {.recent = Tri::unknown}, {{"password", P}, {"totp", P}}, true, {"password", "totp"}, 1},
    {"recent_unknown_if_guard_asks", "auth password && (totp if !recent(totp, 1h))", {.recent = Tri::unknown}, {{"password", P}}, false, {"password"}, 1},
    {"recent_deny_unknown_denies", "deny if !recent(u2f, 10m, tty)\nauth password", {.recent = Tri::unknown}, {{"password", P}}, false, {}, 1},

    // ---- the scenarios of policies/
    {"scenario_screen_unlock_fingerprint", "auth fingerprint || password", {}, {{"fingerprint", P}}, true, {"fingerprint"}},
    {"scenario_screen_unlock_no_reader", "auth fingerprint || password", {}, {{"password", P}}, true, {"password"}},
    {"scenario_sudo_key_remote_denied", "auth fingerprint || u2f", {.rhost = "192.0.2.1"}, {{"fingerprint", P}, {"u2f", P}}, false, {}},
    {"scenario_pin_fallback", "auth pin || password", {}, {{"pin", F}, {"password", P}}, true, {"pin", "password"}},
    {"scenario_login", "auth password && (fingerprint || u2f)", {}, {{"password", P}, {"u2f", P}}, true, {"password", "u2f"}},
};

class Evaluate : public testing::TestWithParam<Case> {};

TEST_P(Evaluate, DecisionAndAskingOrder) {
  const Case& c = GetParam();
  const LoadResult loaded = load_text(c.policy);
  ASSERT_TRUE(loaded.policy) << "policy does not compile: " << c.policy;
  RequestInfo request{c.situation.user, c.situation.service, c.situation.tty, "", c.situation.rhost};
  StaticSubjects subjects;
  subjects.groups = c.situation.groups;
  subjects.time = LocalTime{c.situation.minute, c.situation.weekday};
  subjects.country_answer = c.situation.country;
  subjects.asn_answer = c.situation.asn;
  subjects.failure_count = c.situation.failures;
  subjects.recent_answer = c.situation.recent;
  ScriptedFactors factors(Outcome::unavailable);
  for (const auto& [name, outcome] : c.factors) factors.set(name, outcome);
  SilentConversation conversation;
  const Decision d = decide(*loaded.policy, request, subjects, factors, conversation);
  EXPECT_EQ(d.permit, c.permit) << d.reason;
  EXPECT_EQ(d.asked(), c.asked) << d.reason;
  if (c.unknowns >= 0) {
    EXPECT_EQ(static_cast<int>(d.unknowns.size()), c.unknowns) << d.reason;
  }
  for (const auto& u : d.unknowns) EXPECT_FALSE(u.cause.empty()) << u.condition;
  EXPECT_FALSE(d.reason.empty());
}

INSTANTIATE_TEST_SUITE_P(Table, Evaluate, testing::ValuesIn(kCases),
                         [](const testing::TestParamInfo<Case>& info) { return info.param.name; });

TEST(Evaluate, TableIsLargeEnough) { EXPECT_GE(kCases.size(), 60u); }

TEST(Evaluate, RecentAnswersPerAtom) {
  const LoadResult loaded =
      load_text("auth password && (totp unless recent(totp, 8h, rhost)) && (pin unless recent(pin, 1h))");
  ASSERT_TRUE(loaded.policy);
  RequestInfo request{"alice", "sshd", "", "", std::string("192.0.2.1")};
  StaticSubjects subjects;
  subjects.recent_answers["totp/28800s/rhost"] = Tri::yes;
  ScriptedFactors factors(Outcome::pass);
  SilentConversation conversation;
  const Decision d = decide(*loaded.policy, request, subjects, factors, conversation);
  EXPECT_TRUE(d.permit);
  EXPECT_EQ(d.asked(), (std::vector<std::string>{"password", "pin"}));
}

TEST(Evaluate, DenyRuleIsNamedAndNothingAsked) {
  const LoadResult loaded = load_text(kGeo);
  ASSERT_TRUE(loaded.policy);
  RequestInfo request{"alice", "sshd", "", "", std::string("175.45.176.1")};
  StaticSubjects subjects;
  subjects.country_answer = country("KP");
  ScriptedFactors factors(Outcome::pass);
  SilentConversation conversation;
  const Decision d = decide(*loaded.policy, request, subjects, factors, conversation);
  EXPECT_FALSE(d.permit);
  EXPECT_TRUE(d.attempts.empty());
  ASSERT_TRUE(d.deny_rule.has_value());
  EXPECT_NE(d.deny_rule->find("KP"), std::string::npos);
}

TEST(Evaluate, UnknownCausesAreRecorded) {
  const LoadResult loaded = load_text(kCard);
  ASSERT_TRUE(loaded.policy);
  RequestInfo request{"alice", "sudo", "", "", std::string("vpn.example.com")};
  StaticSubjects subjects;
  ScriptedFactors factors(Outcome::pass);
  SilentConversation conversation;
  const Decision d = decide(*loaded.policy, request, subjects, factors, conversation);
  ASSERT_EQ(d.unknowns.size(), 1u);
  EXPECT_EQ(d.unknowns[0].condition, "rhost in trusted");
  EXPECT_NE(d.unknowns[0].cause.find("never resolved"), std::string::npos);
}

TEST(Evaluate, PasswordAskedIsRecorded) {
  const LoadResult loaded = load_text(kCard);
  ASSERT_TRUE(loaded.policy);
  StaticSubjects subjects;
  SilentConversation conversation;
  ScriptedFactors only_key(Outcome::unavailable);
  RequestInfo request{"alice", "sudo", "", "", std::nullopt};
  EXPECT_FALSE(decide(*loaded.policy, request, subjects, only_key, conversation).password_asked);
  ScriptedFactors with_password(Outcome::unavailable);
  with_password.set("password", Outcome::fail);
  EXPECT_TRUE(decide(*loaded.policy, request, subjects, with_password, conversation).password_asked);
}

// A provider that throws must become an error outcome, never an exception to the host.
class ThrowingSource : public FactorSource {
  class Thrower : public FactorProvider {
   public:
    std::optional<FactorResult> probe(const FactorRequest&) override { return std::nullopt; }
    FactorResult authenticate(const FactorRequest&, Conversation&) override {
      throw std::runtime_error("device exploded");
    }
  };
  Thrower thrower_;

 public:
  FactorProvider* provider(const FactorSpec&, std::string*) override { return &thrower_; }
};

TEST(Evaluate, ThrowingProviderIsErrorAndDenies) {
  const LoadResult loaded = load_text("auth password");
  ASSERT_TRUE(loaded.policy);
  RequestInfo request{"alice", "sudo", "", "", std::nullopt};
  StaticSubjects subjects;
  ThrowingSource source;
  SilentConversation conversation;
  const Decision d = decide(*loaded.policy, request, subjects, source, conversation);
  EXPECT_FALSE(d.permit);
  ASSERT_EQ(d.attempts.size(), 1u);
  EXPECT_EQ(d.attempts[0].outcome, Outcome::error);
  EXPECT_NE(d.attempts[0].detail.find("device exploded"), std::string::npos);
}

TEST(Evaluate, AccountCheckAsksNothing) {
  const LoadResult loaded = load_text("deny if user in { mallory }\nauth password");
  ASSERT_TRUE(loaded.policy);
  StaticSubjects subjects;
  EXPECT_FALSE(check_denies(*loaded.policy, {"mallory", "sshd", "", "", std::nullopt}, subjects).permit);
  EXPECT_TRUE(check_denies(*loaded.policy, {"alice", "sshd", "", "", std::nullopt}, subjects).permit);
}

// eval's shape: what the flags give stands in front of the running system, and what they leave
// open is asked of it. The system here is another StaticSubjects whose answers all differ from
// the fixed defaults, so every subject shows where its answer came from.
TEST(StaticSubjects, GivenAnswersStandInFrontOfTheFallbackOpenOnesAreAskedOfIt) {
  StaticSubjects system;
  system.time = LocalTime{9 * 60, 2, 20000};
  system.country_answer = Lookup{Lookup::Kind::value, "DE", 0, ""};
  system.asn_answer = Lookup{Lookup::Kind::value, "", 3320, ""};
  system.failure_count = 7;
  system.recent_answer = Tri::yes;
  system.enrolled_answer = Tri::no;

  const RequestInfo request{"alice", "sshd", "", "", std::string("192.0.2.1")};
  const IpAddress address = *IpAddress::parse("192.0.2.1");
  Atom recent_totp;
  recent_totp.factor = "totp";
  recent_totp.window = std::chrono::hours(8);
  FactorSpec totp;
  totp.name = "totp";
  std::string cause;

  StaticSubjects open;
  open.fallback = &system;
  EXPECT_EQ(open.local_time().minute_of_day, 9 * 60);
  EXPECT_EQ(open.local_time().day, 20000);
  EXPECT_EQ(open.country(address).text, "DE");
  EXPECT_EQ(open.asn(address).number, 3320u);
  EXPECT_EQ(open.failures(request, std::chrono::minutes(15), false, &cause), 7);
  EXPECT_EQ(open.recent(request, recent_totp, &cause), Tri::yes);
  EXPECT_EQ(open.enrolled(request, totp, &cause), Tri::no);
  EXPECT_EQ(open.in_group("alice", "wheel", &cause), Tri::no);  // groups are never open

  StaticSubjects given = open;
  given.time = LocalTime{23 * 60, 6, 1};
  given.country_answer = Lookup{};
  given.failure_answers["900s/rhost"] = 2;
  given.recent_answers["totp"] = Tri::no;
  given.enrolled_answers["totp"] = Tri::unknown;
  given.groups->push_back("wheel");
  EXPECT_EQ(given.local_time().minute_of_day, 23 * 60);
  EXPECT_EQ(given.country(address).kind, Lookup::Kind::no_value);
  EXPECT_EQ(given.asn(address).number, 3320u);  // still open
  EXPECT_EQ(given.failures(request, std::chrono::minutes(15), true, &cause), 2);
  EXPECT_EQ(given.failures(request, std::chrono::minutes(15), false, &cause), 7);
  EXPECT_EQ(given.recent(request, recent_totp, &cause), Tri::no);
  cause.clear();
  EXPECT_EQ(given.enrolled(request, totp, &cause), Tri::unknown);
  EXPECT_EQ(cause, "given as unknown");
  EXPECT_EQ(given.in_group("alice", "wheel", &cause), Tri::yes);
  given.failure_count = StaticSubjects::Count{};  // `--failures unknown`: every other window
  cause.clear();
  EXPECT_EQ(given.failures(request, std::chrono::minutes(15), false, &cause), std::nullopt);
  EXPECT_EQ(cause, "given as unknown");

  StaticSubjects fixed;  // no fallback: the fixed defaults
  EXPECT_EQ(fixed.local_time().minute_of_day, 0);
  EXPECT_EQ(fixed.country(address).kind, Lookup::Kind::no_value);
  EXPECT_EQ(fixed.failures(request, std::chrono::minutes(15), false, &cause), 0);
  EXPECT_EQ(fixed.recent(request, recent_totp, &cause), Tri::no);
  EXPECT_EQ(fixed.enrolled(request, totp, &cause), Tri::yes);
}

}  // namespace
}  // namespace authpolicy::test
