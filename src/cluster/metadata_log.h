// MetadataLog: the one way cluster metadata changes. Handlers and services
// read the current MetadataImage and submit MetadataChanges; the log
// checks each change against what it will apply to, makes it durable (one
// node: the Store; the cluster: etcd), applies it to the image, tells the
// listeners and answers.
//
// Threads: every method runs on the loop thread, and `done` and listeners
// run there too.
//
// The happy path is: submit(change, done) -> checked -> written -> the
// image becomes image().apply(change) (version + 1) -> each listener is
// called with the images before and after -> done(kNone, ""). Changes are
// applied in the order they were submitted, so a reader that got an answer
// sees its change in image().
//
// Failure modes: a change that does not fit (unknown topic, name in use,
// ...) is refused with Kafka's error code and message, and nothing
// changes; a refusal may be answered inside submit(). A change that could
// not be written is answered KAFKA_STORAGE_ERROR with the storage error,
// and the image does not change.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "protocol/wire/error_code.h"
#include "src/cluster/metadata_change.h"
#include "src/cluster/metadata_image.h"

namespace kgw {

class MetadataLog {
 public:
  using Done = std::function<void(ErrorCode error, std::string message)>;
  using Listener = std::function<void(const MetadataImage& before, const MetadataImage& after,
                                      const MetadataChange& change)>;

  virtual ~MetadataLog() = default;

  virtual void submit(MetadataChange change, Done done) = 0;
  // An ElectLeaders, answered with each partition's outcome (the changes
  // it decides are applied before `done`, as submit's). `error` is set
  // only when the request as a whole failed (outcomes then empty).
  using ElectDone =
      std::function<void(ErrorCode error, std::string message, std::vector<ElectionOutcome>)>;
  virtual void elect_leaders(ElectLeaders request, ElectDone done) = 0;
  // The latest applied image; never null.
  virtual ImagePtr image() const = 0;
  // image() with every accepted change still being written applied: what
  // a read-modify-write (IncrementalAlterConfigs) starts from, so two such
  // changes in a row do not undo each other. Never null.
  virtual ImagePtr latest() const = 0;
  // Called after every applied change, before its `done`, in the order
  // added. Listeners are kept for the log's life.
  virtual void add_listener(Listener fn) = 0;
};

}  // namespace kgw
