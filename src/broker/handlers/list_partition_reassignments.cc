// ListPartitionReassignments (key 46): on one node nothing is ever being
// reassigned (AlterPartitionReassignments completes at once), so the list
// is empty, whatever partitions are asked about, as Kafka answers when
// none of them is moving.
#include "all_messages.h"
#include "src/broker/handlers/handlers.h"

namespace kgw {

void handle_list_partition_reassignments(HandlerContext& ctx, RequestPtr req) {
  ListPartitionReassignmentsRequest body;
  if (!ctx.decode(*req, body)) return;
  ListPartitionReassignmentsResponse resp;
  resp.error_message = std::nullopt;
  ctx.respond(*req, resp);
}

}  // namespace kgw
