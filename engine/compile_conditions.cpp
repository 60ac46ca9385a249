// Compiling conditions into atoms: subjects, typed sets, failures() and recent().
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>

#include "base/address.h"
#include "base/sha256.h"
#include "engine/analysis.h"
#include "engine/compiler.h"
#include "engine/describe.h"
#include "engine/evaluate.h"
#include "engine/self_module.h"
#include "engine/ssh_auth.h"
#include "engine/values.h"
#include "grammar/parser.h"

namespace authpolicy {

namespace compiler {

Condition* Compiler::new_condition(Condition::Kind kind) {
  policy_->conditions.push_back(std::make_unique<Condition>());
  Condition* c = policy_->conditions.back().get();
  c->id = policy_->conditions.size() - 1;
  c->kind = kind;
  return c;
}

const Condition* Compiler::compile_condition(const ast::Condition& c) {
  switch (c.kind) {
    case ast::Condition::Kind::negation:
    case ast::Condition::Kind::conjunction:
    case ast::Condition::Kind::disjunction: {
      Condition* node = new_condition(c.kind == ast::Condition::Kind::negation
                                          ? Condition::Kind::negation
                                      : c.kind == ast::Condition::Kind::conjunction
                                          ? Condition::Kind::conjunction
                                          : Condition::Kind::disjunction);
      bool ok = true;
      for (const auto& operand : c.operands) {
        const Condition* compiled = compile_condition(*operand);
        ok = ok && compiled;
        node->operands.push_back(compiled);
      }
      return ok ? node : nullptr;
    }
    case ast::Condition::Kind::failures: return compile_failures(c);
    case ast::Condition::Kind::recent: return compile_recent(c);
    case ast::Condition::Kind::enrolled: return compile_enrolled(c);
    case ast::Condition::Kind::date: return compile_date(c);
    case ast::Condition::Kind::is_local:
    case ast::Condition::Kind::membership: return compile_atom(c);
  }
  return nullptr;
}

const Condition* Compiler::add_atom(Atom atom) {
  policy_->atoms.push_back(std::move(atom));
  Condition* node = new_condition(Condition::Kind::atom);
  node->atom = policy_->atoms.size() - 1;
  return node;
}

const Condition* Compiler::compile_failures(const ast::Condition& c) {
  Atom atom;
  atom.subject = Subject::failures;
  atom.location = c.location;
  atom.text = describe(c);
  std::string problem;
  auto window = parse_duration(c.window.text, &problem);
  if (!window || window->count() == 0) {
    error("E009", window ? "the failures() window must be longer than 0s" : problem,
          c.window.location);
    return nullptr;
  }
  atom.window = *window;
  atom.by_rhost = c.by_rhost;
  static const std::map<std::string_view, Comparison> ops = {
      {">=", Comparison::ge}, {">", Comparison::gt}, {"<=", Comparison::le},
      {"<", Comparison::lt},  {"==", Comparison::eq}, {"!=", Comparison::ne}};
  atom.comparison = ops.at(c.comparison);
  auto count = parse_integer(c.count);
  if (!count) return nullptr;
  if (*count > 1000000000) {
    error("E024", "failure count '" + c.count.text + "' is out of range", c.count.location);
    return nullptr;
  }
  atom.count = static_cast<long>(*count);
  return add_atom(std::move(atom));
}

const Condition* Compiler::compile_recent(const ast::Condition& c) {
  Atom atom;
  atom.subject = Subject::recent;
  atom.location = c.location;
  atom.text = describe(c);
  if (!find_factor_kit(c.factor) && !factor_definitions_.count(c.factor)) {
    std::vector<std::string> names = kit_names();
    for (const auto& [n, def] : factor_definitions_) names.push_back(n);
    std::string message = "recent() needs a factor, and '" + c.factor + "' is not one" +
                          suggestion(c.factor, names);
    if (lets_.count(c.factor)) message += ": '" + c.factor + "' is a let";
    error("E002", message, c.factor_location);
    return nullptr;
  }
  std::string problem;
  auto window = parse_duration(c.window.text, &problem);
  if (!window || window->count() == 0) {
    error("E009", window ? "the recent() window must be longer than 0s" : problem,
          c.window.location);
    return nullptr;
  }
  if (*window > kMaxRecentWindow) {
    error("E009", "the recent() window '" + c.window.text + "' is longer than 30d",
          c.window.location,
          {"a remembered factor stands in for asking it; keep the window short (hours)"});
    return nullptr;
  }
  atom.window = *window;
  atom.factor = c.factor;
  atom.scope = c.by_rhost ? RecentScope::rhost : c.by_tty ? RecentScope::tty : RecentScope::any;
  return add_atom(std::move(atom));
}

const Condition* Compiler::compile_enrolled(const ast::Condition& c) {
  Atom atom;
  atom.subject = Subject::enrolled;
  atom.location = c.location;
  atom.text = describe(c);
  if (!find_factor_kit(c.factor) && !factor_definitions_.count(c.factor)) {
    std::vector<std::string> names = kit_names();
    for (const auto& [n, def] : factor_definitions_) names.push_back(n);
    std::string message = "enrolled() needs a factor, and '" + c.factor + "' is not one" +
                          suggestion(c.factor, names);
    if (lets_.count(c.factor)) message += ": '" + c.factor + "' is a let";
    error("E002", message, c.factor_location);
    return nullptr;
  }
  // The spec is shared with auth's uses of the factor (its settings say where enrolments live);
  // naming it here does not make it asked.
  atom.factor = c.factor;
  atom.factor_index = factor_for_use(c.factor, c.factor_location);
  const FactorSpec& spec = policy_->factors[atom.factor_index];
  if (spec.kit->enrolment.self_managed) {
    if (const std::string where = spec.kit->enrolment.self_managed(spec.settings); !where.empty()) {
      warning("W114",
              "enrolled(" + c.factor + ") is told by " + where +
                  ": the user can delete it, and is then not enrolled, so wherever enrolled() "
                  "waives '" + c.factor + "' the user can waive it",
              c.location);
    }
  }
  return add_atom(std::move(atom));
}

const Condition* Compiler::compile_date(const ast::Condition& c) {
  Atom atom;
  atom.subject = Subject::date;
  atom.location = c.location;
  atom.text = describe(c);
  static const std::map<std::string_view, Comparison> ops = {
      {">=", Comparison::ge}, {">", Comparison::gt}, {"<=", Comparison::le},
      {"<", Comparison::lt},  {"==", Comparison::eq}, {"!=", Comparison::ne}};
  atom.comparison = ops.at(c.comparison);
  const int year = std::atoi(c.date.substr(0, 4).c_str());
  const int month = std::atoi(c.date.substr(5, 2).c_str());
  const int day = std::atoi(c.date.substr(8, 2).c_str());
  const bool plausible = year >= 1970 && year <= 9999 && month >= 1 && month <= 12 && day >= 1;
  const long days = plausible ? days_from_civil(year, month, day) : 0;
  if (!plausible || date_text(days) != c.date) {
    error("E010", "invalid date '" + c.date + "': no such day (use YYYY-MM-DD)", c.date_location);
    return nullptr;
  }
  atom.day = days;
  return add_atom(std::move(atom));
}

const Condition* Compiler::compile_atom(const ast::Condition& c) {
  Atom atom;
  atom.location = c.subject_location;
  atom.text = describe(c);
  const std::string& s = c.subject;
  if (std::find(std::begin(kSubjects), std::end(kSubjects), s) == std::end(kSubjects)) {
    std::vector<std::string> names(std::begin(kSubjects), std::end(kSubjects));
    error("E004", "unknown subject '" + s + "'" + suggestion(s, names), c.subject_location,
          {"subjects: rhost, rhost.country, rhost.asn, user, service, tty, ruser, time, "
           "weekday, ssh.auth, failures(WINDOW)"});
    return nullptr;
  }
  if (c.kind == ast::Condition::Kind::is_local) {
    if (s != "rhost") {
      error("E005", "type mismatch: 'is local' applies to rhost, not to " + s,
            c.subject_location);
      return nullptr;
    }
    atom.subject = Subject::rhost_local;
    return add_atom(std::move(atom));
  }
  const ast::SetRef& ref = c.set;
  if (ref.kind == ast::SetRef::Kind::group) {
    if (s != "user") {
      error("E005", "type mismatch: group(...) applies to user, not to " + s, ref.location);
      return nullptr;
    }
    if (ref.name.empty() || ref.name.find('\0') != std::string::npos) {
      error("E005", "group() needs a group name", ref.location);
      return nullptr;
    }
    atom.subject = Subject::group;
    atom.group = ref.name;
    return add_atom(std::move(atom));
  }
  const ast::SetLiteral* literal = &ref.literal;
  NamedSet* named = nullptr;
  if (ref.kind == ast::SetRef::Kind::named) {
    auto it = sets_.find(ref.name);
    if (it == sets_.end()) {
      std::vector<std::string> names;
      for (const auto& [n, set] : sets_) names.push_back(n);
      std::string message = "unknown set '" + ref.name + "'" + suggestion(ref.name, names);
      error("E003", message, ref.location);
      return nullptr;
    }
    named = &it->second;
    named->used = true;
    if (!named->checked && !check_set_definition(*named)) return nullptr;
    literal = &named->definition->value;
  } else if (!check_set_elements(*literal)) {
    return nullptr;
  }
  const std::string set_label = named ? "set '" + ref.name + "'" : std::string("the set");
  if (s == "rhost") return compile_rhost(std::move(atom), *literal, named, set_label, ref);
  if (s == "time") return compile_time(std::move(atom), *literal, set_label, ref);
  if (s == "weekday") return compile_weekday(std::move(atom), *literal, set_label, ref);
  if (s == "ssh.auth") return compile_ssh_auth(std::move(atom), *literal, set_label, ref);
  return compile_names(std::move(atom), s, *literal, set_label, ref);
}

bool Compiler::check_set_elements(const ast::SetLiteral& set) {
  bool ok = true;
  for (const auto& e : set.elements) {
    if (element_class(e) == ElementClass::duration) {
      error("E005", "type mismatch: a duration ('" + e.text + "') cannot be a set element",
            e.location);
      ok = false;
    }
  }
  if (!ok || set.elements.empty()) return ok;
  const ElementClass first = element_class(set.elements.front());
  for (const auto& e : set.elements) {
    if (element_class(e) != first) {
      error("E021",
            "mixed set: '" + e.text + "' is not one of " + std::string(class_name(first)) +
                " like the set's first element '" + set.elements.front().text + "'",
            e.location);
      return false;
    }
  }
  return true;
}

bool Compiler::check_set_definition(NamedSet& set) {
  set.checked = true;
  return check_set_elements(set.definition->value);
}

bool Compiler::mismatch(const ast::SetLiteral& set, std::string_view subject, std::string_view wanted,
              const std::string& set_label, const ast::SetRef& ref) {
  const ElementClass found = set.elements.empty() ? ElementClass::scalar
                                                  : element_class(set.elements.front());
  error("E005",
        "type mismatch: " + std::string(subject) + " is tested against " + set_label +
            ", which holds " + std::string(class_name(found)) + "; " + std::string(subject) +
            " needs " + std::string(wanted),
        ref.location);
  return false;
}

const Condition* Compiler::compile_rhost(Atom atom, const ast::SetLiteral& set, NamedSet* named,
                               const std::string& label, const ast::SetRef& ref) {
  atom.subject = Subject::rhost;
  for (const auto& e : set.elements) {
    if (e.kind != ast::Literal::Kind::address) {
      mismatch(set, "rhost", "addresses or CIDR blocks", label, ref);
      return nullptr;
    }
  }
  if (named && named->addresses) {
    atom.addresses = named->addresses;
    return add_atom(std::move(atom));
  }
  auto addresses = std::make_shared<AddressSet>();
  bool ok = true;
  for (const auto& e : set.elements) {
    const CidrText read = read_cidr(e.text);
    if (read.status == CidrText::Status::bad_address) {
      error("E008", "invalid address '" + std::string(read.address_text) + "'", e.location);
      ok = false;
      continue;
    }
    if (read.status == CidrText::Status::bad_prefix) {
      error("E008",
            "invalid prefix length '/" + std::string(read.prefix_text) + "' (at most " +
                std::to_string(read.max_prefix) + ")",
            e.location);
      ok = false;
      continue;
    }
    // A policy's block with host bits is meant as its network: a warning, not a refusal.
    if (read.block.host_bits_set) {
      warning("W101", "host bits set in '" + e.text + "': it means " + read.block.to_string(),
              e.location);
    }
    addresses->add(read.block);
  }
  if (!ok) return nullptr;
  addresses->finish();
  if (named) named->addresses = addresses;
  atom.addresses = std::move(addresses);
  return add_atom(std::move(atom));
}

const Condition* Compiler::compile_time(Atom atom, const ast::SetLiteral& set, const std::string& label,
                              const ast::SetRef& ref) {
  atom.subject = Subject::time;
  for (const auto& e : set.elements) {
    if (e.kind != ast::Literal::Kind::clock_range) {
      mismatch(set, "time", "clock ranges such as 22:00..06:00", label, ref);
      return nullptr;
    }
    const auto dots = e.text.find("..");
    std::string problem;
    auto start = parse_clock(e.text.substr(0, dots), false, &problem);
    auto end = start ? parse_clock(e.text.substr(dots + 2), true, &problem) : std::nullopt;
    if (!start || !end) {
      error("E010", problem, e.location);
      return nullptr;
    }
    if (*start == *end % (24 * 60)) {
      error("E010", "empty time range '" + e.text + "': start and end are the same",
            e.location);
      return nullptr;
    }
    atom.clock_ranges.push_back({*start, *end});
  }
  return add_atom(std::move(atom));
}

const Condition* Compiler::compile_weekday(Atom atom, const ast::SetLiteral& set,
                                 const std::string& label, const ast::SetRef& ref) {
  atom.subject = Subject::weekday;
  for (const auto& e : set.elements) {
    if (e.kind != ast::Literal::Kind::word && e.kind != ast::Literal::Kind::word_range &&
        e.kind != ast::Literal::Kind::string) {
      mismatch(set, "weekday", "weekdays such as mon..fri", label, ref);
      return nullptr;
    }
    const auto dots = e.text.find("..");
    const auto first = parse_weekday(e.text.substr(0, dots));
    const auto last = dots == std::string::npos ? first : parse_weekday(e.text.substr(dots + 2));
    if (!first || !last) {
      error("E010", "invalid weekday in '" + e.text + "' (use mon, tue, wed, thu, fri, sat, sun)",
            e.location);
      return nullptr;
    }
    for (int d = *first;; d = (d + 1) % 7) {  // ranges may wrap: fri..mon
      atom.weekdays |= 1u << d;
      if (d == *last) break;
    }
  }
  return add_atom(std::move(atom));
}

const Condition* Compiler::compile_names(Atom atom, const std::string& subject,
                               const ast::SetLiteral& set, const std::string& label,
                               const ast::SetRef& ref) {
  atom.subject = subject == "user"            ? Subject::user
                 : subject == "service"       ? Subject::service
                 : subject == "tty"           ? Subject::tty
                 : subject == "ruser"         ? Subject::ruser
                 : subject == "rhost.country" ? Subject::country
                                              : Subject::asn;
  for (const auto& e : set.elements) {
    const bool scalar = e.kind == ast::Literal::Kind::word ||
                        e.kind == ast::Literal::Kind::string ||
                        e.kind == ast::Literal::Kind::integer;
    if (!scalar) {
      mismatch(set, subject, atom.subject == Subject::asn ? "AS numbers" : "names", label, ref);
      return nullptr;
    }
    if (atom.subject == Subject::country) {
      auto code = parse_country_code(e.text);
      if (!code) {
        error("E007",
              "invalid country code '" + e.text + "': use two-letter ISO 3166 codes such as \"DE\"",
              e.location);
        return nullptr;
      }
      atom.names.insert(std::move(*code));
      continue;
    }
    if (atom.subject == Subject::asn) {
      auto number = parse_as_number(e.text);
      if (!number) {
        error("E024", "invalid AS number '" + e.text + "'", e.location);
        return nullptr;
      }
      atom.numbers.insert(*number);
      continue;
    }
    atom.names.insert(e.text);
  }
  return add_atom(std::move(atom));
}

const Condition* Compiler::compile_ssh_auth(Atom atom, const ast::SetLiteral& set,
                                            const std::string& label, const ast::SetRef& ref) {
  atom.subject = Subject::ssh_auth;
  for (const auto& e : set.elements) {
    if (e.kind != ast::Literal::Kind::word && e.kind != ast::Literal::Kind::string) {
      mismatch(set, "ssh.auth", "sshd's method names such as publickey", label, ref);
      return nullptr;
    }
    const auto bit = ssh_method_bit(e.text);
    if (!bit) {
      const std::vector<std::string> methods(std::begin(kSshMethods), std::end(kSshMethods));
      error("E005",
            "type mismatch: '" + e.text + "' is not an sshd authentication method" +
                suggestion(e.text, methods),
            e.location, {"ssh.auth holds sshd's method names: " + ssh_method_list(~0u)});
      return nullptr;
    }
    atom.ssh_methods |= *bit;
  }
  return add_atom(std::move(atom));
}

}  // namespace compiler

}  // namespace authpolicy
