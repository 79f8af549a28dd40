#include "src/cluster/etcd/etcd_types.h"

namespace kgw::etcd {

std::string prefix_end(std::string_view prefix) {
  std::string end(prefix);
  while (!end.empty()) {
    auto last = static_cast<unsigned char>(end.back());
    if (last < 0xff) {
      end.back() = static_cast<char>(last + 1);
      return end;
    }
    end.pop_back();
  }
  // Every byte 0xff (or empty): etcd's "\0" means "to the end of the keys".
  return std::string(1, '\0');
}

}  // namespace kgw::etcd
