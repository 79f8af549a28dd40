// Client quotas by entity (user, client-id, ip and their default
// entities), as DescribeClientQuotas and AlterClientQuotas see them:
// validated and stored with Kafka's rules. kgw keeps them (in the store,
// across restarts) but does not enforce them yet; enforcement needs
// authenticated users and comes with the security work.
#pragma once

#include <compare>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace kgw {

class ClientQuotas {
 public:
  // One entity: (type, name) pairs sorted by type; a null name is the
  // default entity of that type.
  using Entity = std::vector<std::pair<std::string, std::optional<std::string>>>;
  using Values = std::map<std::string, double>;

  struct Op {
    std::string key;
    double value = 0;
    bool remove = false;
  };
  struct Filter {
    std::string entity_type;
    std::int8_t match_type = 0;  // 0 exact name, 1 the default, 2 any named entity
    std::optional<std::string> match;
  };

  // "" or Kafka's INVALID_REQUEST message for this entity and operations.
  static std::string validate(const Entity& entity, const std::vector<Op>& ops);
  void apply(const Entity& entity, const std::vector<Op>& ops);
  // Entities matching the filters (Kafka's rules); "" or the
  // INVALID_REQUEST message in `error`.
  std::vector<std::pair<Entity, Values>> describe(const std::vector<Filter>& filters, bool strict,
                                                  std::string& error) const;

  std::string encode() const;
  // "" or what is wrong with `text`.
  std::string decode(const std::string& text);

 private:
  std::map<Entity, Values> entries_;
};

}  // namespace kgw
