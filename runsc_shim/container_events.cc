#include "runsc_shim/container_events.h"

namespace gvisor::shim {
namespace {

using Kind = ContainerChange::Kind;

// Appear adds the events of a container that is new in after.
void Appear(const ContainerInfo& c, std::vector<ContainerChange>* out) {
  out->push_back({Kind::kAttached, c});
  if (c.state == ContainerState::kDisconnected) {
    out->push_back({Kind::kDisconnected, c});
  }
}

// GoferVersion is the version of c's managed-gofer record, 0 for none.
uint64_t GoferVersion(const ContainerInfo& c) {
  return c.gofer.has_value() ? c.gofer->version : 0;
}

}  // namespace

std::vector<ContainerChange> Diff(const std::vector<ContainerInfo>& before,
                                  const std::vector<ContainerInfo>& after) {
  std::vector<ContainerChange> out;
  auto b = before.begin();
  auto a = after.begin();
  while (b != before.end() || a != after.end()) {
    if (a == after.end() || (b != before.end() && b->name < a->name)) {
      out.push_back({Kind::kDetached, *b++});
      continue;
    }
    if (b == before.end() || a->name < b->name) {
      Appear(*a++, &out);
      continue;
    }
    // The same name in both.
    const size_t events = out.size();
    if (b->attach_time != a->attach_time) {
      out.push_back({Kind::kDetached, *b});
      Appear(*a, &out);
    } else if (b->reattaches != a->reattaches) {
      out.push_back({Kind::kReattached, *a});
      if (a->state == ContainerState::kDisconnected) {
        out.push_back({Kind::kDisconnected, *a});
      }
    } else if (b->state == ContainerState::kAttached &&
               a->state == ContainerState::kDisconnected) {
      out.push_back({Kind::kDisconnected, *a});
    }
    if (out.size() == events && GoferVersion(*b) != GoferVersion(*a)) {
      out.push_back({Kind::kGoferChanged, *a});
    }
    ++a;
    ++b;
  }
  return out;
}

}  // namespace gvisor::shim
