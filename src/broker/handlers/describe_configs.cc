// DescribeConfigs (key 32): the configs in force for topics and this broker,
// with their sources, synonyms (v1+), types and documentation (v3+). In
// proxy mode a topic only the legacy cluster has is described by a legacy
// broker (src/proxy/admin_forward.h).
#include <deque>
#include <memory>

#include "all_messages.h"
#include "src/broker/handlers/handlers.h"
#include "src/broker/handlers/pending_call.h"
#include "src/cluster/metadata_log.h"
#include "src/proxy/admin_forward.h"
#include "src/proxy/migration_state.h"
#include "src/replica/partition_resolver.h"

namespace kgw {

namespace {

constexpr std::int8_t kTopicResource = 2;
constexpr std::int8_t kBrokerResource = 4;
constexpr std::int8_t kBrokerLoggerResource = 8;

void fill(const DescribeConfigsRequest& body,
          const DescribeConfigsRequest::DescribeConfigsResource& want,
          const std::vector<ConfigValue>& values, std::deque<std::string>& strings,
          DescribeConfigsResponse::DescribeConfigsResult& out) {
  for (const ConfigValue& v : values) {
    if (want.configuration_keys) {
      bool asked = false;
      for (auto k : *want.configuration_keys) asked = asked || k == v.name;
      if (!asked) continue;
    }
    auto& c = out.configs.emplace_back();
    c.name = strings.emplace_back(v.name);
    if (v.value) c.value = strings.emplace_back(*v.value);
    c.read_only = v.read_only;
    c.is_default = v.source == ConfigSource::kDefault;
    c.config_source = static_cast<std::int8_t>(v.source);
    c.config_type = static_cast<std::int8_t>(v.type);
    if (body.include_documentation) c.documentation = std::string_view(v.doc);
    if (body.include_synonyms) {
      for (const ConfigSynonymValue& syn : v.synonyms) {
        auto& s = c.synonyms.emplace_back();
        s.name = strings.emplace_back(syn.name);
        if (syn.value) s.value = strings.emplace_back(*syn.value);
        s.source = static_cast<std::int8_t>(syn.source);
      }
    }
  }
}

struct DescribeCall : PendingAnswer<DescribeConfigsResponse> {
  std::deque<std::string> strings;
};

// A legacy broker's configs for one resource, into ours (its strings
// owned by the call).
void copy_configs(const DescribeConfigsResponse::DescribeConfigsResult& from,
                  DescribeConfigsResponse::DescribeConfigsResult& to,
                  std::deque<std::string>& strings) {
  auto own = [&strings](std::optional<std::string_view> v) -> std::optional<std::string_view> {
    if (!v) return std::nullopt;
    return std::string_view(strings.emplace_back(*v));
  };
  to.configs.clear();
  for (const auto& c : from.configs) {
    auto& o = to.configs.emplace_back();
    o.name = strings.emplace_back(c.name);
    o.value = own(c.value);
    o.read_only = c.read_only;
    o.is_default = c.is_default;
    o.config_source = c.config_source;
    o.is_sensitive = c.is_sensitive;
    for (const auto& syn : c.synonyms) {
      auto& so = o.synonyms.emplace_back();
      so.name = strings.emplace_back(syn.name);
      so.value = own(syn.value);
      so.source = syn.source;
    }
    o.config_type = c.config_type;
    o.documentation = own(c.documentation);
  }
}

// kgw's own configs of a topic only the legacy cluster has: its migration
// state, `upstream` (kgw.migration.*, kgw's to answer, not the legacy
// cluster's).
std::vector<ConfigValue> upstream_topic_configs(HandlerContext& ctx) {
  std::vector<ConfigValue> out;
  for (ConfigValue& v : ctx.config().describe_topic(
           {{std::string(PartitionResolver::kMigrationState), "upstream"}})) {
    if (std::string_view(v.name).starts_with(kMigrationConfigPrefix)) out.push_back(std::move(v));
  }
  return out;
}

// Every key asked is one of kgw's migration configs.
bool only_migration_keys(const DescribeConfigsRequest::DescribeConfigsResource& want) {
  if (!want.configuration_keys || want.configuration_keys->empty()) return false;
  for (auto k : *want.configuration_keys) {
    if (!k.starts_with(kMigrationConfigPrefix)) return false;
  }
  return true;
}

void describe_on_legacy(HandlerContext& ctx, const std::shared_ptr<DescribeCall>& call,
                        DescribeConfigsRequest fwd, std::vector<std::size_t> indexes) {
  Upstream& upstream = *ctx.upstream();
  ++call->pending;
  // What was asked of each resource, for kgw's own configs added to the
  // answers (a copy: `fwd` itself goes with the call).
  DescribeConfigsRequest asked;
  asked.resources = fwd.resources;
  asked.include_synonyms = fwd.include_synonyms;
  asked.include_documentation = fwd.include_documentation;
  forward_admin<DescribeConfigsRequest, DescribeConfigsResponse>(
      upstream, AdminTarget::kAnyBroker, std::move(fwd), call->req->version(),
      [&ctx, call, indexes, asked = std::move(asked)](ErrorCode e,
                                                      const DescribeConfigsResponse& r) {
        for (std::size_t k = 0; k < indexes.size(); ++k) {
          auto& out = call->resp.results[indexes[k]];
          const DescribeConfigsResponse::DescribeConfigsResult* got = nullptr;
          for (const auto& res : r.results) {
            if (res.resource_type == out.resource_type && res.resource_name == out.resource_name) {
              got = &res;
            }
          }
          if (!take_legacy_error(e, got, out, call->strings)) continue;
          copy_configs(*got, out, call->strings);
          if (got->error_code == 0) {
            fill(asked, asked.resources[k], upstream_topic_configs(ctx), call->strings, out);
          }
        }
        finish_one(ctx, *call);
      });
}

}  // namespace

void handle_describe_configs(HandlerContext& ctx, RequestPtr req) {
  DescribeConfigsRequest body;
  if (!ctx.decode(*req, body)) return;
  auto call = std::make_shared<DescribeCall>();
  call->req = req;
  DescribeConfigsResponse& resp = call->resp;
  std::deque<std::string>& strings = call->strings;
  const std::string node = std::to_string(ctx.identity().node_id);
  const ImagePtr image = ctx.metadata().image();
  DescribeConfigsRequest legacy;
  legacy.include_synonyms = body.include_synonyms;
  legacy.include_documentation = body.include_documentation;
  std::vector<std::size_t> legacy_indexes;
  for (const auto& want : body.resources) {
    auto& out = resp.results.emplace_back();
    out.resource_type = want.resource_type;
    out.resource_name = want.resource_name;
    out.error_message = std::nullopt;
    if (want.resource_type == kTopicResource &&
        legacy_only_topic(ctx.upstream(), *image, want.resource_name) != nullptr) {
      if (only_migration_keys(want)) {
        // kgw-admin migrate status: kgw's answer alone.
        fill(body, want, upstream_topic_configs(ctx), strings, out);
        continue;
      }
      legacy.resources.push_back(want);
      legacy_indexes.push_back(resp.results.size() - 1);
      continue;
    }
    if (want.resource_type == kTopicResource) {
      const TopicPtr t = image->topic(want.resource_name);
      if (t == nullptr) {
        out.error_code = code(ErrorCode::kUnknownTopicOrPartition);
        out.error_message =
            strings.emplace_back("Topic '" + std::string(want.resource_name) + "' does not exist.");
        continue;
      }
      fill(body, want, ctx.config().describe_topic(t->configs), strings, out);
    } else if (want.resource_type == kBrokerResource) {
      if (!want.resource_name.empty() && want.resource_name != node) {
        out.error_code = code(ErrorCode::kInvalidRequest);
        out.error_message = strings.emplace_back("Unexpected broker id, expected " + node +
                                                 " or empty string, but received " +
                                                 std::string(want.resource_name));
        continue;
      }
      fill(body, want, ctx.config().describe_broker(), strings, out);
    } else if (want.resource_type == kBrokerLoggerResource) {
      out.error_code = code(ErrorCode::kInvalidRequest);
      out.error_message = "Broker logger configs are not supported; use --log-level";
    } else {
      out.error_code = code(ErrorCode::kInvalidRequest);
      out.error_message = "Unsupported resource type";
    }
  }
  if (!legacy_indexes.empty()) {
    describe_on_legacy(ctx, call, std::move(legacy), std::move(legacy_indexes));
  }
  finish_one(ctx, *call);
}

}  // namespace kgw
