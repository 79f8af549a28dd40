// Partition reassignments of the Controller (controller.h, step 5): an
// AlterReassignment request decided by reassignment.h and written as the
// partition's new state. Completion is written by the ISR change that
// makes it possible (controller_isr.cc).
#include "common/log.h"
#include "src/cluster/alter_partition.h"
#include "src/cluster/controller.h"
#include "src/cluster/etcd_layout.h"
#include "src/cluster/reassignment.h"

namespace kgw {

Controller::Ops Controller::reassignment_ops(const AlterReassignment& change,
                                             const MetadataImage& image,
                                             std::int64_t revision) const {
  Ops out;
  TopicPtr t = image.topic(change.topic);
  const PartitionImage* now = t == nullptr ? nullptr : t->partition(change.partition);
  if (now == nullptr) return out;  // check() refused it before
  const std::optional<PartitionImage> next =
      reassigned_partition(*now, change, [&](std::int32_t id) { return eligible(image, id); });
  if (!next) return out;  // the replicas it has: only the result is written
  const std::string& p = options_.prefix;
  const std::string key = layout::partition_key(p, change.topic, change.partition);
  out.changes_image = true;
  unchanged_since(out.compare, key, revision);
  if (next->leader != now->leader && next->leader != -1) {
    out.compare.push_back(etcd::Compare{layout::broker_key(p, next->leader),
                                        etcd::Compare::kVersion, etcd::Compare::kGreater, 0, ""});
  }
  out.ops.push_back(etcd::put_op(key, layout::encode_partition(*next)));
  const char* what = !change.replicas      ? "cancelled"
                     : next->reassigning() ? "started"
                                           : "done at once";
  LOG_INFO("controller",
           "%s-%d: reassignment %s: replicas %s -> %s (adding %s, removing %s), ISR %s, leader %d",
           t->name.c_str(), change.partition, what, ids_text(now->replicas).c_str(),
           ids_text(next->replicas).c_str(), ids_text(next->adding).c_str(),
           ids_text(next->removing).c_str(), ids_text(next->isr).c_str(), next->leader);
  return out;
}

}  // namespace kgw
