// The factor catalogue, walked: every setting of every kind refuses a value of the wrong type and
// a value its rule does not allow, as an E020 error at the value, in `authpolicy check` and in
// every program that loads a policy (they share the checker). A setting added to a kit without a
// rule the walk can break fails here.
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <set>

#include "engine/compiler.h"
#include "engine/factor_kit.h"
#include "test_support.h"

namespace authpolicy::test {
namespace {

// A literal of another type than the rule's.
std::string wrong_type_literal(const SettingRule& rule) {
  return rule.type == SettingType::string ? "5s" : "\"x\"";
}

// A literal of the rule's type that the rule does not allow; empty when every value is allowed.
std::string refused_literal(const SettingRule& rule) {
  auto number = [&](std::int64_t n) {
    return std::to_string(n) + (rule.type == SettingType::duration ? "s" : "");
  };
  switch (rule.limit) {
    case SettingLimit::none:
    case SettingLimit::any_text: return {};
    case SettingLimit::range: return number(rule.min > 0 ? rule.min - 1 : rule.max + 1);
    case SettingLimit::words: return "\"no-such-word\"";
    case SettingLimit::non_empty: return "\"\"";
    case SettingLimit::path:
    case SettingLimit::path_or_off:
    case SettingLimit::home_path: return "\"relative/file\"";
  }
  return {};
}

// A literal of the rule's type that the rule allows: its default, as the kit writes it.
std::string accepted_literal(const SettingRule& rule) {
  const std::string value(rule.default_text);
  return rule.type == SettingType::string ? "\"" + value + "\"" : value;
}

struct Written {
  std::string text;
  std::uint32_t column = 0;  // of the value, on line 1
};

// `factor … { key = value }` for one kit, with an auth statement that uses it.
Written policy_with(const FactorKit& kit, const SettingRule& rule, const std::string& value) {
  const std::string name = kit.named ? std::string(kit.name) : "custom";
  std::string head = "factor " + name;
  if (!kit.named) head += " = pam(\"pam_permit.so\")";
  head += " { " + std::string(rule.key) + " = ";
  Written w;
  w.column = static_cast<std::uint32_t>(head.size() + 1);
  w.text = head + value + " }\n";
  w.text += name == "password" ? "auth password\n" : "auth password && " + name + "\n";
  return w;
}

std::vector<const Diagnostic*> errors_of(const LoadResult& r, std::string_view code) {
  std::vector<const Diagnostic*> out;
  for (const auto& d : r.diagnostics) {
    if (d.severity == Severity::error && d.code == code) out.push_back(&d);
  }
  return out;
}

TEST(FactorCatalogue, ListsEveryKindOnceWithTheDelegatedKindLast) {
  std::set<std::string_view> names;
  for (const FactorKit* kit : factor_catalogue()) {
    EXPECT_TRUE(names.insert(kit->name).second) << kit->name;
    EXPECT_FALSE(kit->settings.empty()) << kit->name;
    if (kit->delivery == Delivery::plugin) {
      EXPECT_FALSE(kit->plugin.empty()) << kit->name;
    }
  }
  for (std::string_view kind : {"password", "pin", "u2f", "totp", "fingerprint"}) {
    ASSERT_NE(find_factor_kit(kind), nullptr) << kind;
    EXPECT_EQ(find_factor_kit(kind)->name, kind);
  }
  EXPECT_EQ(find_factor_kit("pam"), nullptr);  // pam() factors are named by the policy
  EXPECT_FALSE(delegated_factor_kit().named);
}

// docs/language.md's table of factors has one row per named kind, as the kit says it: its name,
// its summary and its settings in the kit's order. A kind added to the catalogue without its
// row, or a setting without its mention, fails here.
TEST(FactorCatalogue, TheLanguageDocsListEveryKindWithItsSummaryAndSettings) {
  const std::string docs = read_file(source_dir() + "/docs/language.md");
  for (const FactorKit* kit : factor_catalogue()) {
    if (!kit->named) continue;
    std::string settings;
    for (const SettingRule& rule : kit->settings) {
      settings += (settings.empty() ? "`" : ", `") + std::string(rule.key) + "`";
    }
    const std::string row = "| `" + std::string(kit->name) + "` | " + std::string(kit->summary) +
                            " | " + settings + " |\n";
    EXPECT_NE(docs.find(row), std::string::npos) << "docs/language.md has no row\n" << row;
  }
}

TEST(FactorCatalogue, EverySettingRefusesAWrongTypeAndAValueItsRuleDoesNotAllow) {
  for (const FactorKit* kit : factor_catalogue()) {
    for (const SettingRule& rule : kit->settings) {
      const std::string where = std::string(kit->name) + "." + std::string(rule.key);
      SCOPED_TRACE(where);
      EXPECT_FALSE(rule.meaning.empty());
      EXPECT_FALSE(rule.default_text.empty());

      const Written good = policy_with(*kit, rule, accepted_literal(rule));
      const LoadResult accepted = load_text(good.text);
      EXPECT_TRUE(errors_of(accepted, "E020").empty()) << good.text;

      const Written typed = policy_with(*kit, rule, wrong_type_literal(rule));
      const LoadResult wrong = load_text(typed.text);
      const auto type_errors = errors_of(wrong, "E020");
      ASSERT_EQ(type_errors.size(), 1u) << typed.text;
      EXPECT_EQ(type_errors[0]->location.line, 1u);
      EXPECT_EQ(type_errors[0]->location.column, typed.column);
      EXPECT_NE(type_errors[0]->message.find(setting_type_name(rule.type)), std::string::npos);
      EXPECT_FALSE(wrong.policy);

      const std::string refused = refused_literal(rule);
      if (refused.empty()) {
        // Only a boolean, or a string its kit says may be anything, accepts every value.
        EXPECT_TRUE(rule.limit == SettingLimit::none ? rule.type == SettingType::boolean
                                                     : rule.type == SettingType::string)
            << "a setting that takes any " << setting_type_name(rule.type)
            << ": give it a limit in its kit (any_text for a string that may be anything)";
        continue;
      }
      const Written bad = policy_with(*kit, rule, refused);
      const LoadResult r = load_text(bad.text);
      const auto limit_errors = errors_of(r, "E020");
      ASSERT_EQ(limit_errors.size(), 1u) << bad.text;
      EXPECT_EQ(limit_errors[0]->location.line, 1u);
      EXPECT_EQ(limit_errors[0]->location.column, bad.column);
      EXPECT_NE(limit_errors[0]->message.find("setting '" + std::string(rule.key) + "'"),
                std::string::npos)
          << limit_errors[0]->message;
      EXPECT_FALSE(r.policy);
    }
  }
}

TEST(FactorCatalogue, RulesBetweenSettingsAreErrorsAtTheSetting) {
  const LoadResult pin = load_text(
      "factor pin {\n  min_length = 6\n  max_length = 4\n}\nauth pin || password\n");
  const auto pin_errors = errors_of(pin, "E020");
  ASSERT_EQ(pin_errors.size(), 1u);
  EXPECT_EQ(pin_errors[0]->message, "factor pin: min_length (6) is larger than max_length (4)");
  EXPECT_EQ(pin_errors[0]->location.line, 2u);

  const LoadResult totp =
      load_text("factor totp { secrets = \"~/.google_authenticator\" }\nauth password && totp\n");
  const auto totp_errors = errors_of(totp, "E020");
  ASSERT_EQ(totp_errors.size(), 1u);
  EXPECT_EQ(totp_errors[0]->message,
            "factor totp: secrets in the user's home folder need allow_user_files = true");
  EXPECT_TRUE(load_text("factor totp { secrets = \"~/.google_authenticator\"; "
                        "allow_user_files = true }\nauth password && totp\n")
                  .policy);
}

// The settings blocks go through the same rules: a relative log path, journal socket or GeoIP
// database, an unknown GeoIP layout, an empty tcti or an nv_base outside the TPM's owner range
// is an E020 at the value, in check and in the module, instead of a login-time surprise.
TEST(SettingsBlocks, EverySettingRefusesAValueItsRuleDoesNotAllow) {
  const std::set<std::string> any_value = {
      "audit.retention",  // any duration; 0 keeps everything (docs/audit.md)
  };
  const std::map<std::string, std::string> accepted = {
      {"audit.db", "\"/var/lib/authpolicy/audit.db\""},
      {"audit.journal", "\"\""},
      {"audit.retention", "0s"},
      {"geoip.country", "\"/usr/share/GeoIP/GeoLite2-Country.mmdb\""},
      {"geoip.asn", "\"/usr/share/GeoIP/GeoLite2-ASN.mmdb\""},
      {"geoip.layout", "\"flat\""},
      {"tpm.tcti", "\"swtpm:port=2321\""},
      {"tpm.nv_base", "0x01BFFFFF"},
      {"tpm.owner_auth_file", "\"/etc/authpolicy/tpm-owner\""},
  };
  for (std::string_view block : {"audit", "geoip", "tpm"}) {
    for (const SettingRule& rule : compiler::block_settings(block)) {
      const std::string where = std::string(block) + "." + std::string(rule.key);
      SCOPED_TRACE(where);
      const std::string head = std::string(block) + " { " + std::string(rule.key) + " = ";
      if (rule.type != SettingType::boolean) {
        ASSERT_TRUE(accepted.count(where)) << "give the walk an accepted value";
        const LoadResult good = load_text(head + accepted.at(where) + " }\nauth password\n");
        EXPECT_TRUE(errors_of(good, "E020").empty()) << accepted.at(where);
      }
      const std::string refused = refused_literal(rule);
      if (refused.empty()) {
        EXPECT_TRUE(rule.type == SettingType::boolean || any_value.count(where))
            << "a block setting that takes any " << setting_type_name(rule.type);
        continue;
      }
      const LoadResult r = load_text(head + refused + " }\nauth password\n");
      const auto errors = errors_of(r, "E020");
      ASSERT_EQ(errors.size(), 1u) << refused;
      EXPECT_EQ(errors[0]->location.column, head.size() + 1);
      EXPECT_NE(errors[0]->message.find("setting '" + std::string(rule.key) + "' of " +
                                        std::string(block) + " settings"),
                std::string::npos)
          << errors[0]->message;
      EXPECT_FALSE(r.policy);
    }
  }
  // The TPM range's edges, and the journal's own way to say "off".
  EXPECT_FALSE(errors_of(load_text("tpm { nv_base = 0x00FFFFFF }\nauth password\n"), "E020").empty());
  EXPECT_FALSE(errors_of(load_text("tpm { nv_base = 0x01C00000 }\nauth password\n"), "E020").empty());
  EXPECT_TRUE(errors_of(load_text("tpm { nv_base = 0x01000000 }\nauth password\n"), "E020").empty());
  EXPECT_TRUE(errors_of(load_text("audit { journal = \"/run/systemd/journal/socket\" }\n"
                                  "auth password\n"), "E020").empty());
}

// Issue #22's two policies that passed check and failed every login.
TEST(FactorCatalogue, CheckRefusesWhatTheLoginWouldRefuse) {
  TempDir dir;
  const std::string path = dir.path() + "/t9b.pol";
  std::ofstream(path) << "factor totp { digits = 9 }\nauth password && totp\n";
  RunResult r = run_cli({"check", "--ignore-ownership", path});
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_NE(r.out.find("t9b.pol:1:24: error[E020]: setting 'digits' of factor totp must be "
                       "between 6 and 8, not 9"),
            std::string::npos)
      << r.out;
  std::ofstream(path) << "factor pin { min_length = 0 }\nauth pin || password\n";
  r = run_cli({"check", "--ignore-ownership", path});
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_NE(r.out.find("error[E020]: setting 'min_length' of factor pin must be between 1 and "
                       "32, not 0"),
            std::string::npos)
      << r.out;
}

}  // namespace
}  // namespace authpolicy::test
