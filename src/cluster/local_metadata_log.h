// LocalMetadataLog: the single-node MetadataLog (metadata_log.h). It keeps
// the metadata where kgw always kept it, in the Store: topics as the
// store's topic records (create_topic, delete_topic, add_partitions,
// set_topic_configs), dynamic broker configs and client quotas as its
// cluster records "dynamic-broker-configs" and "client-quotas" (JSON). The
// data dir format is unchanged: a data dir written before opens with the
// same topics, ids, configs and quotas.
//
// Threads: the loop thread only, as the Store.
//
// The happy path is: at construction the image is built from what the
// store loaded (every partition led by this node, replicas = ISR = [this
// node], leader epoch 0); main registers this node (RegisterBroker, applied
// at once: there is nothing to write). submit() checks a change against
// the image with every change still being written applied (so two creates
// of one name in a row are refused, as the store refuses them), fills in
// what the submitter left open (a topic id, replicas on this node), hands
// it to the store, and applies it when the store's write completes, in
// submission order (the store's one writer keeps that order). A leader's
// AlterPartition is checked as the controller checks it (alter_partition.h);
// on one node the only ISR it can name is this node, the one it has, so it
// is answered at once and nothing is written.
//
// Failure modes: a refused change is answered inside submit() with the
// image's error (MetadataImage::check) and nothing is written. A failed
// write is answered KAFKA_STORAGE_ERROR with the store's error and the
// image does not change (store failures are sticky, so every later write
// fails too and kgw stops). Stored records it cannot read are logged at
// start and left out (the broker starts without them), as before.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "src/cluster/metadata_log.h"

namespace kgw {

class Store;

struct LocalMetadataLogOptions {
  // This node: the leader and only replica of every partition.
  std::int32_t node_id = 1;
  // Checks one stored dynamic broker config at start: "" keeps it, an
  // error drops it with a warning (a config a later version no longer
  // knows must not stop kgw from starting). Unset: every one is kept.
  std::function<std::string(const std::string& name, const std::string& value)> check_broker_config;
};

class LocalMetadataLog : public MetadataLog {
 public:
  // `store` is open and outlives the log.
  LocalMetadataLog(Store& store, LocalMetadataLogOptions options);

  void submit(MetadataChange change, Done done) override;
  // Decided on the image (registered, unfenced brokers may lead): on one
  // node, ELECTION_NOT_NEEDED or UNKNOWN_TOPIC_OR_PARTITION per partition.
  void elect_leaders(ElectLeaders request, ElectDone done) override;
  ImagePtr image() const override { return image_; }
  ImagePtr latest() const override { return projected_; }
  void add_listener(Listener fn) override { listeners_.push_back(std::move(fn)); }

 private:
  void load();
  // Fills what the submitter left open (ids are filled by write()).
  void complete(MetadataChange& change) const;
  // Hands the change to the store; false if the store refused it at once
  // (the error then reaches `written`).
  bool write(MetadataChange& change, std::function<void(std::string)> written);
  void applied(const MetadataChange& change, const std::string& error, const Done& done);
  std::string broker_configs_record(const MetadataImage& image) const;

  Store& store_;
  LocalMetadataLogOptions options_;
  ImagePtr image_;
  // image_ with the changes being written applied: what the next change
  // is checked against (the store shows those changes already).
  ImagePtr projected_;
  std::size_t writing_ = 0;
  std::vector<Listener> listeners_;
};

}  // namespace kgw
