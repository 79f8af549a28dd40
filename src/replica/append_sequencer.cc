#include "src/replica/append_sequencer.h"

namespace kgw {

std::uint64_t AppendSequencer::enter(const Key& key) {
  return partitions_[key].next_ticket++;
}

void AppendSequencer::ready(const Key& key, std::uint64_t ticket, std::function<void()> append) {
  auto it = partitions_.find(key);
  if (it == partitions_.end()) return;  // programmer error: no such ticket
  it->second.waiting.emplace(ticket, std::move(append));
  for (;;) {
    it = partitions_.find(key);
    if (it == partitions_.end()) return;
    Line& line = it->second;
    auto next = line.waiting.find(line.next_to_run);
    if (next == line.waiting.end()) return;
    std::function<void()> fn = std::move(next->second);
    line.waiting.erase(next);
    ++line.next_to_run;
    if (line.next_to_run == line.next_ticket) partitions_.erase(it);  // nothing left in line
    fn();                                                             // may enter() again
  }
}

}  // namespace kgw
