// StoreMirror: keeps this broker's Store holding every topic of the
// cluster's metadata image, so that partitions this broker hosts can be
// written and read, and the store's log maintenance (retention,
// compaction) sees each topic's configs. On one node the store *is* the
// metadata (LocalMetadataLog); in a cluster etcd is, and the store follows.
//
// Threads: the loop thread only, as the Store.
//
// The happy path is: reconcile(image) once after the image is first built
// (topics in the store that the image lacks, or holds under another id,
// are deleted; missing ones are created with the image's id, partition
// count and configs; counts and configs brought up to the image's), then
// changed(after, change) for every applied change, which does the same for
// the one topic the change touched. Store writes complete later; the
// store shows each change at once (find_topic), which is what a handler
// reading after the listeners needs.
//
// Failure modes: a store write that fails is logged (store failures are
// sticky and stop kgw elsewhere); a topic the store refuses (a name it
// cannot hold) is logged and left out, the image keeps it. A partition
// count that shrank (a topic deleted and re-created under the same id is
// impossible; ids are random) is logged and left as is.
#pragma once

#include "src/cluster/metadata_change.h"
#include "src/cluster/metadata_image.h"

namespace kgw {

class Store;

class StoreMirror {
 public:
  // `store` is open and outlives the mirror.
  explicit StoreMirror(Store& store) : store_(store) {}

  void reconcile(const MetadataImage& image);
  // After `change` was applied, giving `after`.
  void changed(const MetadataImage& after, const MetadataChange& change);

 private:
  // Brings the store's topic of id `id` (and name `name`) to the image's.
  void sync(const MetadataImage& image, const Uuid& id);

  Store& store_;
};

}  // namespace kgw
