// DescribeGroups (key 15): state, protocol and members of classic groups.
// Metadata and assignments are shown only for Stable groups, as Kafka
// does; an unknown group is described as Dead with no error.
#include "all_messages.h"
#include "src/broker/handlers/cluster_hints.h"
#include "src/broker/handlers/handlers.h"
#include "src/group/group_coordinator.h"
#include "src/proxy/group_forward.h"

namespace kgw {

namespace {

// Proxy mode: the answer waits for the legacy cluster's descriptions.
struct DescribeCall {
  std::vector<GroupDescription> described;  // the local ones (resp points into them)
  DescribeGroupsResponse resp;
  ForwardStorage storage;
  GroupJoin join;
};

// A legacy description into the client's answer, owning its bytes.
void copy_described(const DescribeGroupsResponse::DescribedGroup& from,
                    DescribeGroupsResponse::DescribedGroup& to, ForwardStorage& st) {
  auto own = [&st](std::string_view s) -> std::string_view { return st.strings.emplace_back(s); };
  auto own_bytes = [&st](Bytes b) {
    auto& v = st.bytes.emplace_back(b.begin(), b.end());
    return Bytes(v.data(), v.size());
  };
  to.error_code = from.error_code;
  to.group_state = own(from.group_state);
  to.protocol_type = own(from.protocol_type);
  to.protocol_data = own(from.protocol_data);
  to.authorized_operations = from.authorized_operations;
  to.members.clear();
  for (const auto& m : from.members) {
    auto& mo = to.members.emplace_back();
    mo.member_id = own(m.member_id);
    if (m.group_instance_id) mo.group_instance_id = own(*m.group_instance_id);
    mo.client_id = own(m.client_id);
    mo.client_host = own(m.client_host);
    mo.member_metadata = own_bytes(m.member_metadata);
    mo.member_assignment = own_bytes(m.member_assignment);
  }
}

}  // namespace

void handle_describe_groups(HandlerContext& ctx, RequestPtr req) {
  DescribeGroupsRequest body;
  if (!ctx.decode(*req, body)) return;
  std::vector<GroupDescription> described;
  described.reserve(body.groups.size());
  std::vector<std::size_t> upstream;
  for (std::string_view g : body.groups) {
    if (group_upstream(ctx, g)) {
      upstream.push_back(described.size());
      described.emplace_back().group_id = std::string(g);
      continue;
    }
    if (const ErrorCode guard = group_coordinator_error(ctx, g); guard != ErrorCode::kNone) {
      GroupDescription d;
      d.error = guard;
      d.group_id = std::string(g);
      described.push_back(std::move(d));
      continue;
    }
    described.push_back(ctx.groups().describe(std::string(g)));
  }
  DescribeGroupsResponse resp;
  for (const auto& d : described) {
    auto& out = resp.groups.emplace_back();
    out.error_code = code(d.error);
    out.group_id = d.group_id;
    out.group_state = d.state;
    out.protocol_type = d.protocol_type;
    out.protocol_data = d.protocol;
    for (const auto& m : d.members) {
      auto& mo = out.members.emplace_back();
      mo.member_id = m.member_id;
      if (m.group_instance_id) mo.group_instance_id = *m.group_instance_id;
      mo.client_id = m.client_id;
      mo.client_host = m.client_host;
      mo.member_metadata = Bytes(m.metadata);
      mo.member_assignment = Bytes(m.assignment);
    }
    // No ACLs yet: every group operation is allowed. Kafka's AclOperation
    // bits: READ(3) DELETE(6) DESCRIBE(8).
    if (body.include_authorized_operations)
      out.authorized_operations = (1 << 3) | (1 << 6) | (1 << 8);
  }
  if (upstream.empty()) {
    ctx.respond(*req, resp);
    return;
  }
  // Proxy mode: each legacy group described by its legacy coordinator.
  auto call = std::make_shared<DescribeCall>();
  call->described = std::move(described);
  call->resp = std::move(resp);
  call->join.done = [&ctx, req, call] { ctx.respond(*req, call->resp); };
  for (std::size_t i : upstream) {
    DescribeGroupsRequest sub;
    sub.groups = {body.groups[i]};
    sub.include_authorized_operations = body.include_authorized_operations;
    ++call->join.pending;
    forward_to_group_coordinator<DescribeGroupsRequest, DescribeGroupsResponse>(
        *ctx.upstream(), body.groups[i], std::move(sub), DescribeGroupsRequest::min_version,
        req->version(), [req, call, i](ErrorCode e, const DescribeGroupsResponse& r) {
          auto& out = call->resp.groups[i];
          if (e != ErrorCode::kNone) {
            out.error_code = code(e);
          } else if (r.groups.empty()) {
            out.error_code = code(ErrorCode::kUnknownServerError);
          } else {
            copy_described(r.groups.front(), out, call->storage);
          }
          call->resp.throttle_time_ms = std::max(call->resp.throttle_time_ms, r.throttle_time_ms);
          call->join.one();
        });
  }
  call->join.one();
}

}  // namespace kgw
