// PendingAnswer / PendingCall: a request whose answer waits for several
// asynchronous completions (partition writes, topic creations and
// deletions). `pending` starts at 1 for the handler's own loop, so the
// answer cannot leave while completions are still being started (one may
// call back at once); the loop's end and every completion call
// finish_one(), and the last of them responds.
//
// Threads: loop thread only (completions are posted back to it). No
// failure modes of its own: each completion writes its own error into
// `resp` before calling finish_one().
#pragma once

#include <memory>

#include "src/broker/handler_context.h"

namespace kgw {

template <typename Response>
struct PendingAnswer {
  RequestPtr req;
  Response resp;
  int pending = 1;
};

// With the decoded request, for answers that point into it.
template <typename Request, typename Response>
struct PendingCall : PendingAnswer<Response> {
  Request body;
};

// One completion (or the handler's loop) is done; the last one answers.
template <typename Call>
void finish_one(HandlerContext& ctx, Call& call) {
  if (--call.pending == 0) ctx.respond(*call.req, call.resp);
}

}  // namespace kgw
