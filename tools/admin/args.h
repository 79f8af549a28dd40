// Command-line flags in the style of Kafka's tools (joptsimple): "--name
// value" or "--name=value", repeatable where Kafka repeats them (--config),
// and bare switches (--list, --if-exists).
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace kgw::admin {

class Args {
 public:
  // Parses `argv` knowing which flags take a value and which are switches.
  // On error returns false with one line in `error` naming the flag.
  bool parse(const std::vector<std::string>& argv, const std::set<std::string>& valued,
             const std::set<std::string>& switches, std::string& error);

  bool has(const std::string& name) const { return values_.count(name) != 0; }
  std::optional<std::string> get(const std::string& name) const;
  const std::vector<std::string>& all(const std::string& name) const;
  // Exactly one of `names` given: its name, else "".
  std::string one_of(const std::vector<std::string>& names) const;

 private:
  std::map<std::string, std::vector<std::string>> values_;
};

// Parses an int64; false if `s` is not one.
bool parse_long(const std::string& s, long long& out);

}  // namespace kgw::admin
