// The metadata image as etcd holds it (etcd_layout.h): built from a range
// read of the prefix, and kept current by turning each watch revision into
// the MetadataChanges that take the image from before that revision to
// after it, so that listeners on every broker see the same typed changes a
// single node's log produces. After a compaction (or any gap) the image is
// rebuilt from a new range read and the difference of the two images
// becomes changes the same way.
//
// Plain functions, no state, any thread. Keys or values that cannot be
// read (an unknown version, a damaged value) are left out and named in
// `errors` (when given), so one bad key never stops a broker.
//
// The translation of one revision:
//  - brokers/<id> put -> RegisterBroker (epoch = the key's create_revision,
//    unfenced); deleted -> FenceBroker; registered/<id> of an unknown broker
//    -> RegisterBroker fenced; registered/<id> deleted (of a fenced broker)
//    -> UnregisterBroker;
//  - controller put -> SetController (epoch = create_revision); deleted ->
//    SetController{-1, 0};
//  - topics/<name> deleted -> DeleteTopic; a new topic (with its partition
//    keys) -> CreateTopic with their replicas, then SetPartitionStates for
//    the partitions whose stored state differs from CreateTopic's placement
//    (leader = first replica, epoch 0, ISR = replicas); configs changed ->
//    SetTopicConfigs; more partitions -> CreatePartitions (+ states);
//  - partitions/<id>/<index> changed -> SetPartitionStates;
//  - configs/default, configs/broker/<id> -> SetBrokerConfigs;
//  - quotas/<entity> -> one SetClientQuotas for the revision;
//  - cluster, producer-ids, requests/, results/ -> nothing (not image).
// Changes come in that order (brokers first, so assignments name known
// brokers); a revision that changes nothing the image holds gives none.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "src/cluster/etcd/etcd_types.h"
#include "src/cluster/metadata_change.h"
#include "src/cluster/metadata_image.h"

namespace kgw::layout {

// The image of the keys of a range read of prefix `p`.
ImagePtr build_image(std::string_view p, const std::vector<etcd::KeyValue>& kvs,
                     std::vector<std::string>* errors = nullptr);

// The changes that turn `before` into the state after one watch revision
// whose events are `events` (all of them under `p`).
std::vector<MetadataChange> changes_of_revision(std::string_view p, const MetadataImage& before,
                                                const std::vector<etcd::Event>& events,
                                                std::vector<std::string>* errors = nullptr);

// The changes that turn `from` into `to` (applying them in order to `from`
// gives an image equal to `to` in brokers, controller, topics, partitions,
// configs of known brokers and quotas). A broker gone from `to` is
// unregistered (neither of its keys is left).
std::vector<MetadataChange> diff_images(const MetadataImage& from, const MetadataImage& to);

// Equal in what the image keeps of a partition / broker.
bool same_partition(const PartitionImage& a, const PartitionImage& b);
bool same_broker(const BrokerImage& a, const BrokerImage& b);

}  // namespace kgw::layout
