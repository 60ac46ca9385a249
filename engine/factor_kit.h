// What a factor kind is, said once: its settings with their rules, the traits the checker needs,
// how the module reaches its provider. Each kind's description lives in its folder under
// factors/ (factors/<kind>/kit.cpp); factors/catalogue.cpp lists them. See ARCHITECTURE.md.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "engine/factor.h"

namespace authpolicy {

enum class SettingType { string, integer, boolean, duration };

// "a string", "a number", "true or false", "a duration such as 15s": as diagnostics say it.
std::string_view setting_type_name(SettingType type) noexcept;

// Which values of its type a setting accepts besides the type itself.
enum class SettingLimit {
  none,       // booleans: either value
  any_text,   // strings that may deliberately be anything, even empty (a module's arguments)
  range,      // integers and durations (in seconds): min..max inclusive
  words,      // strings: one of `words`
  non_empty,  // strings: anything but ""
  path,       // strings: an absolute path
  path_or_off,  // strings: an absolute path, or "" to turn the thing off (audit's journal)
  home_path,  // strings: an absolute path or one in the user's home folder ("~/...")
};

// One `key = value` a factor accepts.
struct SettingRule {
  std::string_view key;
  SettingType type = SettingType::string;
  std::string_view meaning;       // one line, for docs and `authpolicy check`'s notes
  std::string_view default_text;  // the default as the docs write it
  SettingLimit limit = SettingLimit::none;
  std::int64_t min = 0;  // range: the smallest accepted value (seconds for durations)
  std::int64_t max = 0;  // range: the largest
  std::span<const std::string_view> words = {};  // words: what is accepted
  bool fold = false;  // words: compared ignoring case and '-' ("SHA-256" is "sha256")
};

// A problem with one factor's settings: `key` names the setting it sits on (empty: the factor as
// a whole), `message` is the whole sentence ("setting 'digits' of factor totp must be between 6
// and 8, not 9"). The checker puts it at the setting's location.
struct SettingProblem {
  std::string key;
  std::string message;
};

// What the checker and the evaluator need to know of a kind, beyond its settings.
struct FactorTraits {
  bool presence = false;          // needs a person at the machine: unavailable for remote
                                  // requests unless `remote = true` (u2f, fingerprint)
  bool presence_setting = false;  // `presence = true` declares it a presence factor (pam())
  bool lockout = false;           // locks itself after repeated failures (W108)
  bool password = false;          // asks the account password (W112, the decision's
                                  // password_asked)
  bool weak_second_step = false;  // alone beside the password it replaces it (W112)
  bool needs_origin = false;      // its credentials are bound to `origin`: W111 when unset
};

// How the module reaches a provider of this kind.
enum class Delivery {
  delegated,  // a PAM module, run through factors/pam_delegate (pam_unix.so, pam_fprintd.so...)
  plugin,     // pam_policy-factors/factor_<plugin>.so, loaded on the first use
};

// Whether a user has enrolled in a factor, as its kind's enrolment store tells it
// (enrolled(FACTOR), `authpolicy status`).
struct Enrolment {
  enum class State {
    enrolled,  // a usable enrolment is there (the provider still checks it when asked)
    none,      // certainly none: the store is readable and holds nothing for the user
    unknown,   // cannot be told: unsafe or unreadable store, name service down, or a kind that
               // cannot say (pam(), password, fingerprint)
  };
  State state = State::unknown;
  std::string detail;  // why, for the audit record and `authpolicy status`; never a secret
};

// How enrolled(FACTOR) is told for a kind: read by the checker (W114), the module, `eval` and
// `status` alike.
struct EnrolmentStore {
  // Looks the user's enrolment up with the factor's settings. Null: the kind cannot tell, so
  // enrolled() is always unknown for it.
  Enrolment (*probe)(const Settings& settings, std::string_view user) = nullptr;
  // True when the kind's plugin tells instead (probe stays null): its store needs libraries the
  // kits library must not link (pin reads the TPM through tpm2-tss). The front end reaches the
  // plugin's enrolment entry only when a policy evaluates enrolled() of such a factor
  // (SystemSubjects::set_plugin_enrolment); without one, enrolled() is unknown.
  bool plugin = false;
  // With these settings, where the user alone can delete their own enrolment (a file in their
  // home folder): the place, as a sentence fragment ("~/.google_authenticator"); empty when only
  // root can. Null: never.
  std::string (*self_managed)(const Settings& settings) = nullptr;
};

// Whether enrolled() of this kind can be anything but unknown: its kit or its plugin reads a store.
inline bool tells_enrolment(const EnrolmentStore& store) noexcept {
  return store.probe != nullptr || store.plugin;
}

struct FactorKit {
  std::string_view name;
  // False only for the kind of `NAME = pam("x.so")` factors: it has no name of its own.
  bool named = true;
  std::string_view summary;  // one line, as docs/language.md's table says it
  std::span<const SettingRule> settings;
  FactorTraits traits;
  Delivery delivery = Delivery::delegated;
  std::string_view module;  // delegated: the module asked unless `module = …` or pam() says
  std::string_view plugin;  // plugin: the file factor_<plugin>.so
  // Rules between settings (min_length <= max_length...), run after each setting passed its own
  // rule; appends problems whose message validate_settings prefixes with "factor NAME: ". May be
  // null.
  void (*check)(const Settings& settings, std::vector<SettingProblem>& problems) = nullptr;
  // What `authpolicy status` checks on this machine for a used factor of this kind (its secret
  // folder, authfile, TPM), as one line a problem. May be null.
  void (*deployment)(const Settings& settings, std::vector<std::string>& problems) = nullptr;
  // How enrolled(FACTOR) tells whether a user has enrolled (kit_enrolment.cpp beside the kit).
  EnrolmentStore enrolment = {};

  const SettingRule* setting(std::string_view key) const noexcept;
};

// Every rule of `kit` applied to settings whose values are already of their declared types
// (the checker typed them): ranges, words, non-empty, paths, then the kit's own check. Unknown
// keys and wrong types are reported too, for callers that build Settings by hand. Empty when the
// settings are fine. The checker (so `check`, `enable` and the module alike) and every provider
// read through this one function. Messages name the factor `factor_name` (default: the kind).
std::vector<SettingProblem> validate_settings(const FactorKit& kit, const Settings& settings,
                                              std::string_view factor_name = {});

// The same rules for a settings block's values (audit, geoip, tpm: engine/compiler.h's
// block_settings): problems name "BLOCK settings". Check and the module both compile blocks
// through this.
std::vector<SettingProblem> validate_block_settings(std::span<const SettingRule> rules,
                                                    const Settings& settings,
                                                    std::string_view block);

// The message for a setting whose value has the wrong type: "setting 'digits' of factor totp
// takes a number".
std::string wrong_type_message(std::string_view key, std::string_view owner, SettingType type);

// ---- The catalogue (factors/catalogue.cpp) -------------------------------------------------

// Every kind this build knows, in the order docs/language.md lists them.
std::span<const FactorKit* const> factor_catalogue() noexcept;
// The kind a factor of this name is without pam(): nullptr for a name no kit has.
const FactorKit* find_factor_kit(std::string_view name) noexcept;
// The kind of `NAME = pam("x.so", …)` factors.
const FactorKit& delegated_factor_kit() noexcept;

}  // namespace authpolicy
