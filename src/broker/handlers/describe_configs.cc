// DescribeConfigs (key 32): the configs in force for topics and this broker,
// with their sources, synonyms (v1+), types and documentation (v3+).
#include <deque>

#include "all_messages.h"
#include "src/broker/handlers/handlers.h"
#include "src/cluster/metadata_log.h"

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

}  // namespace

void handle_describe_configs(HandlerContext& ctx, RequestPtr req) {
  DescribeConfigsRequest body;
  if (!ctx.decode(*req, body)) return;
  DescribeConfigsResponse resp;
  std::deque<std::string> strings;
  const std::string node = std::to_string(ctx.identity().node_id);
  const ImagePtr image = ctx.metadata().image();
  for (const auto& want : body.resources) {
    auto& out = resp.results.emplace_back();
    out.resource_type = want.resource_type;
    out.resource_name = want.resource_name;
    out.error_message = std::nullopt;
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
  ctx.respond(*req, resp);
}

}  // namespace kgw
