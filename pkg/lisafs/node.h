// Package lisafs, server side: the in-memory file tree (pkg/lisafs/README.md
// §7.4).
//
// The server keeps one tree of Nodes for all its connections. A Node stands
// for one name in one directory; every control FD points at one Node, and
// several control FDs (of one connection or of several) may share it. The
// tree only holds the names that some FD still refers to: a Node lives while
// a control FD or a child Node holds it, and it leaves its parent's child map
// when the last holder lets go.
//
// Locking. The server-wide rename lock (Server::rename_mu) guards every
// Node's name and parent: read them with it held shared, change them (Move)
// with it held exclusive. Each Node has an op lock (op_mu) that handlers take
// shared or exclusive for the read and write guarantees, and a small mutex
// for its child map. Lock order: rename lock, op locks (ancestor before
// descendant, directory before non-directory), child maps.
//
// The locks are std:: ones rather than absl::Mutex: the system absl is not
// built for ThreadSanitizer, which then cannot see its synchronization.
//
// Hostile trees. A client decides how deep the tree grows (one MkdirAt or
// Walk step at a time) and, with a host rename behind the server's back,
// what a RenameAt moves where. So nothing here recurses on the depth: the
// teardown of a chain of Nodes, MarkDeleted and Move are loops with their
// own stacks. Each Node knows its depth (the root is 0, a child one more
// than its parent); every walk up the parent chain takes at most that many
// steps and reports a broken chain rather than looping. The server bounds
// the depth itself (ConnectionOptions::max_tree_depth) and refuses a rename
// that would make a Node its own ancestor (IsSelfOrAncestorOf), so the tree
// stays a tree whatever the host does.

#ifndef GVISOR_PKG_LISAFS_NODE_H_
#define GVISOR_PKG_LISAFS_NODE_H_

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "pkg/lisafs/recycler.h"

namespace gvisor::lisafs {

// Node is one position in the server's file tree. Nodes are always held by
// std::shared_ptr; create the root with NewRoot and the rest through
// LookupOrCreateChild. A Node, its shared_ptr control block and its entry in
// the parent's child map come from the recycler (recycler.h), so walking to
// a name whose Node went with its last FD allocates nothing in steady state
// (names longer than a std::string's inline capacity aside).
class Node : public std::enable_shared_from_this<Node>, public Recycled {
 public:
  // NewRoot returns a new tree root: the host's "/", with an empty name and
  // no parent.
  static std::shared_ptr<Node> NewRoot();

  // The destructor removes this Node from its parent's child map and lets
  // go of the parent. Releasing the last holder of a long chain destroys
  // the chain in a loop, with constant stack use, whatever its length.
  ~Node();

  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;

  // name returns the Node's name in its parent. Requires the rename lock
  // (shared is enough).
  const std::string& name() const { return name_; }

  // parent returns the parent Node, or null for the root. Requires the
  // rename lock (shared is enough).
  const std::shared_ptr<Node>& parent() const { return parent_; }

  // depth returns the number of names from the root down to this Node (0
  // for the root). Requires the rename lock (shared is enough).
  uint32_t depth() const { return depth_; }

  // op_mu is the Node's op lock: shared for the read guarantee, exclusive
  // for the write guarantee (pkg/lisafs/README.md §7.4).
  std::shared_mutex& op_mu() const { return op_mu_; }

  // deleted reports whether the Node, or one of its ancestors, was unlinked
  // or replaced by a rename. Its name may now mean something else, so the
  // server must not act on it by path.
  bool deleted() const { return deleted_.load(std::memory_order_acquire); }

  // LookupChild returns the child named name, or null if the tree has none.
  std::shared_ptr<Node> LookupChild(absl::string_view name);

  // LookupOrCreateChild returns the child named name, creating it if the
  // tree has none (at depth() + 1). The caller must hold the rename lock
  // (shared) and have checked name (pkg/lisafs/README.md §7.5) and the depth
  // bound.
  std::shared_ptr<Node> LookupOrCreateChild(absl::string_view name);

  // MarkDeleted marks this Node and every Node below it deleted, and takes
  // this Node out of its parent's child map so that the name can be walked
  // again to whatever now lives there. Requires the rename lock (shared),
  // and the write guarantee on the parent.
  void MarkDeleted();

  // Move gives this Node a new parent and name, as a rename on the host
  // did, and updates the depth of every Node below it. An existing child
  // under the new name must have been marked deleted (or moved) first.
  // new_parent must not be this Node or below it (check with
  // IsSelfOrAncestorOf first). Requires the rename lock held exclusive.
  void Move(const std::shared_ptr<Node>& new_parent, absl::string_view name);

  // IsSelfOrAncestorOf reports whether other is this Node or lies below it,
  // by walking up from other (at most other->depth() steps). Requires the
  // rename lock.
  bool IsSelfOrAncestorOf(const Node& other) const;

  // SubtreeHeight returns how many levels the tree holds below this Node
  // (0 if it has no live child): a Move under a new parent makes the
  // deepest of them new_parent.depth() + 1 + SubtreeHeight() deep. It
  // visits every Node below this one, without recursion. Requires the
  // rename lock.
  uint32_t SubtreeHeight();

  // FilePath returns the absolute host path of the Node, built from the
  // names up to the root ("/" for the root), in at most depth() steps.
  // Returns EIO if the parent chain does not end at the root in depth()
  // steps (a broken tree). Requires the rename lock.
  absl::StatusOr<std::string> FilePath() const;

  // PathFrom returns the names from ancestor (exclusive) down to this Node
  // (inclusive); empty if this Node is ancestor. It walks at most depth()
  // steps. Returns EXDEV if ancestor is not an ancestor of this Node.
  // Requires the rename lock.
  absl::StatusOr<std::vector<std::string>> PathFrom(const Node* ancestor) const;

 private:
  Node(std::shared_ptr<Node> parent, std::string name, uint32_t depth)
      : name_(std::move(name)), parent_(std::move(parent)), depth_(depth) {}

  struct ChildRef {
    Node* raw;  // identity only; never dereferenced without locking weak
    std::weak_ptr<Node> weak;
  };

  // RemoveChildEntry erases the child map entry name if it refers to child.
  void RemoveChildEntry(const std::string& name, const Node* child);

  // LiveChildren returns the children that are not being destroyed.
  std::vector<std::shared_ptr<Node>> LiveChildren();

  // name_, parent_ and depth_ are guarded by the rename lock.
  std::string name_;
  std::shared_ptr<Node> parent_;
  uint32_t depth_;
  std::atomic<bool> deleted_{false};
  mutable std::shared_mutex op_mu_;
  std::mutex children_mu_;
  // Guarded by children_mu_.
  std::map<std::string, ChildRef, std::less<>,
           Allocator<std::pair<const std::string, ChildRef>>>
      children_;
};

}  // namespace gvisor::lisafs

#endif  // GVISOR_PKG_LISAFS_NODE_H_
