#include "pkg/lisafs/node.h"

#include <errno.h>

#include <algorithm>
#include <utility>

#include "absl/container/inlined_vector.h"
#include "pkg/syserr/syserr.h"

namespace gvisor::lisafs {

namespace {

// tls_pending is set while a thread runs the outermost ~Node of a teardown:
// the parents that the Nodes destroyed meanwhile let go of wait there, and
// the outermost ~Node releases them one at a time. So releasing the last
// holder of a chain of any length takes two stack frames of ~Node, not one
// per Node.
// The list is inline: a teardown queues one parent at a time, so it never
// reaches the heap.
using PendingList = absl::InlinedVector<std::shared_ptr<Node>, 4>;
thread_local PendingList* tls_pending = nullptr;

}  // namespace

std::shared_ptr<Node> Node::NewRoot() {
  return std::shared_ptr<Node>(new Node(nullptr, "", 0));
}

Node::~Node() {
  // Nobody else holds this Node, so no rename can be moving it: name_ and
  // parent_ are stable without the rename lock.
  std::shared_ptr<Node> parent = std::move(parent_);
  if (parent == nullptr) return;
  parent->RemoveChildEntry(name_, this);
  if (tls_pending != nullptr) {
    // An outer ~Node on this thread releases it.
    tls_pending->push_back(std::move(parent));
    return;
  }
  PendingList pending;
  pending.push_back(std::move(parent));
  tls_pending = &pending;
  while (!pending.empty()) {
    std::shared_ptr<Node> n = std::move(pending.back());
    pending.pop_back();
    // If this was the last holder, n's ~Node runs here and queues n's
    // parent instead of releasing it.
    n.reset();
  }
  tls_pending = nullptr;
}

void Node::RemoveChildEntry(const std::string& name, const Node* child) {
  std::lock_guard<std::mutex> l(children_mu_);
  auto it = children_.find(name);
  if (it != children_.end() && it->second.raw == child) children_.erase(it);
}

std::vector<std::shared_ptr<Node>> Node::LiveChildren() {
  std::vector<std::shared_ptr<Node>> kids;
  std::lock_guard<std::mutex> l(children_mu_);
  for (auto& [unused, ref] : children_) {
    if (std::shared_ptr<Node> k = ref.weak.lock()) kids.push_back(std::move(k));
  }
  return kids;
}

std::shared_ptr<Node> Node::LookupChild(absl::string_view name) {
  std::lock_guard<std::mutex> l(children_mu_);
  auto it = children_.find(name);
  if (it == children_.end()) return nullptr;
  return it->second.weak.lock();
}

std::shared_ptr<Node> Node::LookupOrCreateChild(absl::string_view name) {
  std::lock_guard<std::mutex> l(children_mu_);
  auto it = children_.find(name);
  if (it != children_.end()) {
    if (std::shared_ptr<Node> child = it->second.weak.lock()) return child;
  }
  // Either no entry, or one whose Node is being destroyed right now; its
  // destructor will leave the new entry alone (RemoveChildEntry compares
  // identities).
  std::shared_ptr<Node> child(
      new Node(shared_from_this(), std::string(name), depth_ + 1),
      std::default_delete<Node>(), Allocator<Node>());
  children_[std::string(name)] = ChildRef{child.get(), child};
  return child;
}

void Node::MarkDeleted() {
  std::vector<std::shared_ptr<Node>> stack{shared_from_this()};
  while (!stack.empty()) {
    std::shared_ptr<Node> n = std::move(stack.back());
    stack.pop_back();
    n->deleted_.store(true, std::memory_order_release);
    // Our references are dropped outside any child-map lock.
    for (auto& k : n->LiveChildren()) stack.push_back(std::move(k));
  }
  if (parent_ != nullptr) parent_->RemoveChildEntry(name_, this);
}

void Node::Move(const std::shared_ptr<Node>& new_parent,
                absl::string_view name) {
  std::shared_ptr<Node> self = shared_from_this();
  if (parent_ != nullptr) parent_->RemoveChildEntry(name_, this);
  std::shared_ptr<Node> old_parent = std::move(parent_);
  parent_ = new_parent;
  name_ = std::string(name);
  {
    std::lock_guard<std::mutex> l(new_parent->children_mu_);
    new_parent->children_[name_] = ChildRef{this, self};
  }
  // The subtree's depths follow, level by level (no recursion).
  depth_ = new_parent->depth_ + 1;
  std::vector<std::shared_ptr<Node>> stack{std::move(self)};
  while (!stack.empty()) {
    std::shared_ptr<Node> n = std::move(stack.back());
    stack.pop_back();
    for (auto& k : n->LiveChildren()) {
      // Only a Move that broke the precondition could lead back here.
      if (k.get() == this) continue;
      k->depth_ = n->depth_ + 1;
      stack.push_back(std::move(k));
    }
  }
  // old_parent (maybe the last reference to it) goes away here, outside
  // every child-map lock.
}

bool Node::IsSelfOrAncestorOf(const Node& other) const {
  const Node* n = &other;
  // other and its depth() ancestors: depth() + 1 Nodes at most.
  for (uint64_t i = 0; n != nullptr && i <= other.depth_; ++i) {
    if (n == this) return true;
    n = n->parent_.get();
  }
  return false;
}

uint32_t Node::SubtreeHeight() {
  uint32_t height = 0;
  std::vector<std::pair<std::shared_ptr<Node>, uint32_t>> stack;
  stack.emplace_back(shared_from_this(), 0);
  while (!stack.empty()) {
    auto [n, level] = std::move(stack.back());
    stack.pop_back();
    height = std::max(height, level);
    for (auto& k : n->LiveChildren()) {
      if (k.get() != this) stack.emplace_back(std::move(k), level + 1);
    }
  }
  return height;
}

absl::StatusOr<std::string> Node::FilePath() const {
  std::vector<const std::string*> names;
  const Node* n = this;
  for (uint32_t i = 0; i < depth_ && n->parent_ != nullptr; ++i) {
    names.push_back(&n->name_);
    n = n->parent_.get();
  }
  if (n->parent_ != nullptr || names.size() != depth_) {
    return syserr::FromErrno(EIO,
                             "node's parent chain does not match its depth");
  }
  if (names.empty()) return std::string("/");
  std::string path;
  for (auto it = names.rbegin(); it != names.rend(); ++it) {
    path += '/';
    path += **it;
  }
  return path;
}

absl::StatusOr<std::vector<std::string>> Node::PathFrom(
    const Node* ancestor) const {
  std::vector<std::string> names;
  const Node* n = this;
  // At most depth_ names lie between this Node and the root.
  for (; n != ancestor && n != nullptr && names.size() <= depth_;
       n = n->parent_.get()) {
    names.push_back(n->name_);
  }
  if (n == nullptr || n != ancestor) {
    return syserr::FromErrno(EXDEV, "node is not below the mount point");
  }
  std::reverse(names.begin(), names.end());
  return names;
}

}  // namespace gvisor::lisafs
