// container_events: the container events of WatchContainers, computed from
// two snapshots of the registry (ContainerRegistry::List, sorted by name).

#ifndef GVISOR_RUNSC_SHIM_CONTAINER_EVENTS_H_
#define GVISOR_RUNSC_SHIM_CONTAINER_EVENTS_H_

#include <vector>

#include "runsc_shim/registry.h"

namespace gvisor::shim {

// ContainerChange is one event between two snapshots.
struct ContainerChange {
  enum class Kind {
    kAttached,
    kDisconnected,
    kDetached,
    kReattached,
    kGoferChanged,
  };
  Kind kind;
  // The container in the later snapshot; for kDetached, in the earlier.
  ContainerInfo container;
};

// Diff returns the changes that turn before into after, both sorted by
// name, in name order. A name whose attach time differs was detached and
// attached again: kDetached, then kAttached. A name with the same attach
// time and a different reattach count was reattached: kReattached. A
// container that is disconnected in after and was not in before (or was
// attached, or was reattached since) also gets kDisconnected, after its
// kAttached or kReattached if any. A container with none of these
// events whose managed-gofer record changed (ContainerInfo::gofer's
// version) gets kGoferChanged.
std::vector<ContainerChange> Diff(const std::vector<ContainerInfo>& before,
                                  const std::vector<ContainerInfo>& after);

}  // namespace gvisor::shim

#endif  // GVISOR_RUNSC_SHIM_CONTAINER_EVENTS_H_
