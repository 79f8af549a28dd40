#include "tools/admin/args.h"

#include <charconv>

namespace kgw::admin {

bool Args::parse(const std::vector<std::string>& argv, const std::set<std::string>& valued,
                 const std::set<std::string>& switches, std::string& error) {
  for (std::size_t i = 0; i < argv.size(); ++i) {
    std::string flag = argv[i];
    std::optional<std::string> inline_value;
    if (flag.rfind("--", 0) == 0) {
      auto eq = flag.find('=');
      if (eq != std::string::npos) {
        inline_value = flag.substr(eq + 1);
        flag = flag.substr(0, eq);
      }
    }
    const std::string name = flag.rfind("--", 0) == 0 ? flag.substr(2) : flag;
    if (flag.rfind("--", 0) != 0) {
      error = "unexpected argument '" + argv[i] + "'";
      return false;
    }
    if (switches.count(name) != 0) {
      if (inline_value) {
        error = "option --" + name + " takes no value";
        return false;
      }
      values_[name];
      continue;
    }
    if (valued.count(name) == 0) {
      error = "unrecognized option '" + flag + "'";
      return false;
    }
    if (!inline_value) {
      if (i + 1 >= argv.size()) {
        error = "option --" + name + " requires an argument";
        return false;
      }
      inline_value = argv[++i];
    }
    values_[name].push_back(*inline_value);
  }
  return true;
}

std::optional<std::string> Args::get(const std::string& name) const {
  auto it = values_.find(name);
  if (it == values_.end() || it->second.empty()) return std::nullopt;
  return it->second.back();
}

const std::vector<std::string>& Args::all(const std::string& name) const {
  static const std::vector<std::string> kNone;
  auto it = values_.find(name);
  return it == values_.end() ? kNone : it->second;
}

std::string Args::one_of(const std::vector<std::string>& names) const {
  std::string found;
  for (const auto& n : names) {
    if (!has(n)) continue;
    if (!found.empty()) return "";
    found = n;
  }
  return found;
}

bool parse_long(const std::string& s, long long& out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return !s.empty() && ec == std::errc() && p == s.data() + s.size();
}

}  // namespace kgw::admin
