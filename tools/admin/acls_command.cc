// kgw-admin acls (and bin/kafka-acls.sh): add, list and remove ACLs with
// kafka-acls.sh's flags, through librdkafka's CreateAcls / DescribeAcls /
// DeleteAcls. kgw itself has no authorizer yet and answers
// SECURITY_DISABLED, which this prints as Kafka's tool does; against a
// Kafka cluster with one, the commands work.
#include <cstdio>
#include <map>

#include "tools/admin/admin_client.h"
#include "tools/admin/args.h"
#include "tools/admin/commands.h"

namespace kgw::admin {

namespace {

constexpr const char* kWhat = "Error while executing ACL command:";

constexpr const char* kUsage =
    "Usage: kgw-admin acls ACTION --bootstrap-server HOST:PORT [options]\n"
    "       (bin/kafka-acls.sh takes the same flags, the action as --add, --list, --remove)\n"
    "Actions: add, list, remove\n"
    "Resources: --topic T, --group G, --cluster, --transactional-id ID [--resource-pattern-type\n"
    "           literal|prefixed|match|any]\n"
    "Bindings:  --allow-principal P, --deny-principal P, --allow-host H, --deny-host H,\n"
    "           --operation OP (All, Read, Write, Create, Delete, Alter, Describe, ...)\n"
    "Other options: --command-config FILE, --help\n";

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool operation_of(const std::string& name, rd_kafka_AclOperation_t& out) {
  static const std::map<std::string, rd_kafka_AclOperation_t> kOps = {
      {"all", RD_KAFKA_ACL_OPERATION_ALL},
      {"read", RD_KAFKA_ACL_OPERATION_READ},
      {"write", RD_KAFKA_ACL_OPERATION_WRITE},
      {"create", RD_KAFKA_ACL_OPERATION_CREATE},
      {"delete", RD_KAFKA_ACL_OPERATION_DELETE},
      {"alter", RD_KAFKA_ACL_OPERATION_ALTER},
      {"describe", RD_KAFKA_ACL_OPERATION_DESCRIBE},
      {"clusteraction", RD_KAFKA_ACL_OPERATION_CLUSTER_ACTION},
      {"describeconfigs", RD_KAFKA_ACL_OPERATION_DESCRIBE_CONFIGS},
      {"alterconfigs", RD_KAFKA_ACL_OPERATION_ALTER_CONFIGS},
      {"idempotentwrite", RD_KAFKA_ACL_OPERATION_IDEMPOTENT_WRITE},
  };
  auto it = kOps.find(lower(name));
  if (it == kOps.end()) return false;
  out = it->second;
  return true;
}

struct Resource {
  rd_kafka_ResourceType_t type;
  std::string name;
};

}  // namespace

int acls_command(const std::vector<std::string>& raw) {
  const auto args = with_action_flag(raw, {"add", "list", "remove"});
  Args a;
  std::string error;
  if (!a.parse(args,
               {"bootstrap-server", "command-config", "topic", "group", "transactional-id",
                "allow-principal", "deny-principal", "allow-host", "deny-host", "operation",
                "resource-pattern-type", "principal"},
               {"add", "list", "remove", "cluster", "force", "help", "producer", "consumer"},
               error)) {
    std::fprintf(stderr, "%s", kUsage);
    return fail(kWhat, error, 2);
  }
  if (a.has("help")) {
    std::printf("%s", kUsage);
    return 0;
  }
  const std::string action = a.one_of({"add", "list", "remove"});
  if (action.empty()) {
    std::fprintf(stderr, "%s", kUsage);
    return fail(kWhat, "exactly one of add, list or remove is needed", 2);
  }
  std::vector<Resource> resources;
  for (const auto& t : a.all("topic")) resources.push_back({RD_KAFKA_RESOURCE_TOPIC, t});
  for (const auto& g : a.all("group")) resources.push_back({RD_KAFKA_RESOURCE_GROUP, g});
  if (a.has("cluster")) resources.push_back({RD_KAFKA_RESOURCE_BROKER, "kafka-cluster"});
  if (!a.all("transactional-id").empty()) {
    return fail(kWhat, "--transactional-id needs a newer librdkafka than 2.0.2", 2);
  }
  std::string pattern =
      lower(a.get("resource-pattern-type").value_or(action == "add" ? "literal" : "any"));
  rd_kafka_ResourcePatternType_t pt = RD_KAFKA_RESOURCE_PATTERN_LITERAL;
  if (pattern == "prefixed")
    pt = RD_KAFKA_RESOURCE_PATTERN_PREFIXED;
  else if (pattern == "match")
    pt = RD_KAFKA_RESOURCE_PATTERN_MATCH;
  else if (pattern == "any")
    pt = RD_KAFKA_RESOURCE_PATTERN_ANY;
  else if (pattern != "literal")
    return fail(kWhat, "--resource-pattern-type '" + pattern + "' is unknown", 2);

  std::vector<rd_kafka_AclOperation_t> ops;
  for (const auto& o : a.all("operation")) {
    rd_kafka_AclOperation_t op;
    if (!operation_of(o, op)) return fail(kWhat, "--operation '" + o + "' is unknown", 2);
    ops.push_back(op);
  }
  // Principal x host x operation per permission, as kafka-acls.sh expands.
  struct Binding {
    rd_kafka_AclPermissionType_t perm;
    std::string principal, host;
    rd_kafka_AclOperation_t op;
  };
  std::vector<Binding> bindings;
  auto expand = [&](rd_kafka_AclPermissionType_t perm, const char* principals, const char* hosts) {
    std::vector<std::string> hs = a.all(hosts);
    if (hs.empty()) hs.push_back("*");
    for (const auto& p : a.all(principals)) {
      for (const auto& h : hs) {
        for (auto op :
             ops.empty() ? std::vector<rd_kafka_AclOperation_t>{RD_KAFKA_ACL_OPERATION_ALL} : ops) {
          bindings.push_back({perm, p, h, op});
        }
      }
    }
  };
  expand(RD_KAFKA_ACL_PERMISSION_TYPE_ALLOW, "allow-principal", "allow-host");
  expand(RD_KAFKA_ACL_PERMISSION_TYPE_DENY, "deny-principal", "deny-host");

  auto bootstrap = a.get("bootstrap-server");
  if (!bootstrap) return fail(kWhat, "--bootstrap-server HOST:PORT is required", 2);
  auto client = AdminClient::create(*bootstrap, a.get("command-config").value_or(""), error);
  if (!client) return fail(kWhat, error);
  char errstr[512];

  if (action == "add") {
    if (resources.empty())
      return fail(kWhat, "a resource (--topic, --group or --cluster) is required", 2);
    if (bindings.empty())
      return fail(kWhat, "--allow-principal or --deny-principal is required", 2);
    std::vector<rd_kafka_AclBinding_t*> acls;
    for (const auto& r : resources) {
      for (const auto& b : bindings) {
        rd_kafka_AclBinding_t* acl =
            rd_kafka_AclBinding_new(r.type, r.name.c_str(), pt, b.principal.c_str(), b.host.c_str(),
                                    b.op, b.perm, errstr, sizeof errstr);
        if (acl == nullptr) {
          rd_kafka_AclBinding_destroy_array(acls.data(), acls.size());
          return fail(kWhat, errstr, 2);
        }
        acls.push_back(acl);
      }
    }
    rd_kafka_AdminOptions_t* o = client->options(RD_KAFKA_ADMIN_OP_CREATEACLS);
    rd_kafka_CreateAcls(client->rk(), acls.data(), acls.size(), o, client->queue());
    rd_kafka_AdminOptions_destroy(o);
    rd_kafka_AclBinding_destroy_array(acls.data(), acls.size());
    Event ev = client->wait(RD_KAFKA_EVENT_CREATEACLS_RESULT, error);
    if (!ev) return fail(kWhat, error);
    size_t n = 0;
    const rd_kafka_acl_result_t** rs =
        rd_kafka_CreateAcls_result_acls(rd_kafka_event_CreateAcls_result(ev.get()), &n);
    for (size_t i = 0; i < n; ++i) {
      if (const rd_kafka_error_t* e = rd_kafka_acl_result_error(rs[i]))
        return fail(kWhat, rd_kafka_error_string(e));
    }
    std::printf("Adding ACLs for %zu resource(s): done.\n", resources.size());
    return 0;
  }

  // list and remove: one filter per resource (or one matching all).
  if (resources.empty()) resources.push_back({RD_KAFKA_RESOURCE_ANY, ""});
  int status = 0;
  for (const auto& r : resources) {
    rd_kafka_AclBindingFilter_t* f = rd_kafka_AclBindingFilter_new(
        r.type, r.name.empty() ? nullptr : r.name.c_str(), pt,
        a.get("principal") ? a.get("principal")->c_str() : nullptr, nullptr,
        RD_KAFKA_ACL_OPERATION_ANY, RD_KAFKA_ACL_PERMISSION_TYPE_ANY, errstr, sizeof errstr);
    if (f == nullptr) return fail(kWhat, errstr, 2);
    if (action == "list") {
      rd_kafka_AdminOptions_t* o = client->options(RD_KAFKA_ADMIN_OP_DESCRIBEACLS);
      rd_kafka_DescribeAcls(client->rk(), f, o, client->queue());
      rd_kafka_AdminOptions_destroy(o);
      rd_kafka_AclBinding_destroy(f);
      Event ev = client->wait(RD_KAFKA_EVENT_DESCRIBEACLS_RESULT, error);
      if (!ev) return fail(kWhat, error);
      size_t n = 0;
      const rd_kafka_AclBinding_t** acls =
          rd_kafka_DescribeAcls_result_acls(rd_kafka_event_DescribeAcls_result(ev.get()), &n);
      for (size_t i = 0; i < n; ++i) {
        std::printf(
            "(principal=%s, host=%s, operation=%s, permissionType=%s) on %s:%s:%s\n",
            rd_kafka_AclBinding_principal(acls[i]), rd_kafka_AclBinding_host(acls[i]),
            rd_kafka_AclOperation_name(rd_kafka_AclBinding_operation(acls[i])),
            rd_kafka_AclPermissionType_name(rd_kafka_AclBinding_permission_type(acls[i])),
            rd_kafka_ResourceType_name(rd_kafka_AclBinding_restype(acls[i])),
            rd_kafka_ResourcePatternType_name(rd_kafka_AclBinding_resource_pattern_type(acls[i])),
            rd_kafka_AclBinding_name(acls[i]));
      }
    } else {
      rd_kafka_AdminOptions_t* o = client->options(RD_KAFKA_ADMIN_OP_DELETEACLS);
      rd_kafka_DeleteAcls(client->rk(), &f, 1, o, client->queue());
      rd_kafka_AdminOptions_destroy(o);
      rd_kafka_AclBinding_destroy(f);
      Event ev = client->wait(RD_KAFKA_EVENT_DELETEACLS_RESULT, error);
      if (!ev) return fail(kWhat, error);
      size_t n = 0;
      const rd_kafka_DeleteAcls_result_response_t** rs =
          rd_kafka_DeleteAcls_result_responses(rd_kafka_event_DeleteAcls_result(ev.get()), &n);
      for (size_t i = 0; i < n; ++i) {
        if (const rd_kafka_error_t* e = rd_kafka_DeleteAcls_result_response_error(rs[i])) {
          status = fail(kWhat, rd_kafka_error_string(e));
        }
      }
    }
  }
  return status;
}

}  // namespace kgw::admin
