#include "pkg/lisafs/node.h"

#include <algorithm>
#include <utility>

#include "pkg/syserr/syserr.h"

namespace gvisor::lisafs {

std::shared_ptr<Node> Node::NewRoot() {
  return std::shared_ptr<Node>(new Node(nullptr, ""));
}

Node::~Node() {
  // Nobody else holds this Node, so no rename can be moving it: name_ and
  // parent_ are stable without the rename lock.
  if (parent_ != nullptr) parent_->RemoveChildEntry(name_, this);
}

void Node::RemoveChildEntry(const std::string& name, const Node* child) {
  std::lock_guard<std::mutex> l(children_mu_);
  auto it = children_.find(name);
  if (it != children_.end() && it->second.raw == child) children_.erase(it);
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
  std::shared_ptr<Node> child(new Node(shared_from_this(), std::string(name)));
  children_[std::string(name)] = ChildRef{child.get(), child};
  return child;
}

void Node::MarkDeleted() {
  std::vector<std::shared_ptr<Node>> stack{shared_from_this()};
  while (!stack.empty()) {
    std::shared_ptr<Node> n = std::move(stack.back());
    stack.pop_back();
    n->deleted_.store(true, std::memory_order_release);
    std::vector<std::shared_ptr<Node>> kids;
    {
      std::lock_guard<std::mutex> l(n->children_mu_);
      for (auto& [unused, ref] : n->children_) {
        if (std::shared_ptr<Node> k = ref.weak.lock()) {
          kids.push_back(std::move(k));
        }
      }
    }
    // Dropping our references happens outside any child-map lock.
    for (auto& k : kids) stack.push_back(std::move(k));
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
  // old_parent (maybe the last reference to it) goes away here, outside
  // every child-map lock.
}

std::string Node::FilePath() const {
  std::vector<const std::string*> names;
  for (const Node* n = this; n->parent_ != nullptr; n = n->parent_.get()) {
    names.push_back(&n->name_);
  }
  if (names.empty()) return "/";
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
  for (; n != ancestor && n != nullptr; n = n->parent_.get()) {
    names.push_back(n->name_);
  }
  if (n == nullptr) {
    return syserr::FromErrno(EXDEV, "node is not below the mount point");
  }
  std::reverse(names.begin(), names.end());
  return names;
}

}  // namespace gvisor::lisafs
