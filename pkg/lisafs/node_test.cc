// The server's file tree (node.h) on its own: teardown of deep chains,
// depth bookkeeping and the bounded path walks.

#include "pkg/lisafs/node.h"

#include <pthread.h>

#include <atomic>
#include <functional>
#include <memory>
#include <shared_mutex>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace gvisor::lisafs {
namespace {

// kChain is the length of the chains the teardown tests build, and
// kSmallStack the stack of the thread that tears them down. The recursive
// teardown took some 64 bytes of stack per Node (more under sanitizers),
// so it needed about 30 times kSmallStack for a chain this long and
// overflowed early and always; the iterative one needs a few frames.
constexpr int kChain = 30000;
constexpr size_t kSmallStack = 64 * 1024;

// RunOnSmallStack runs fn on a thread with a kSmallStack stack and joins it.
void RunOnSmallStack(std::function<void()> fn) {
  pthread_attr_t attr;
  ASSERT_EQ(pthread_attr_init(&attr), 0);
  ASSERT_EQ(pthread_attr_setstacksize(&attr, kSmallStack), 0);
  pthread_t t;
  auto trampoline = [](void* arg) -> void* {
    (*static_cast<std::function<void()>*>(arg))();
    return nullptr;
  };
  ASSERT_EQ(pthread_create(&t, &attr, trampoline, &fn), 0);
  pthread_attr_destroy(&attr);
  ASSERT_EQ(pthread_join(t, nullptr), 0);
}

// Chain builds root/d/d/.../d with n names and returns the deepest Node;
// only it (and the root) is held, as by a client that closed every other
// FDID.
std::shared_ptr<Node> Chain(const std::shared_ptr<Node>& root, int n) {
  std::shared_ptr<Node> cur = root;
  for (int i = 0; i < n; ++i) cur = cur->LookupOrCreateChild("d");
  return cur;
}

TEST(NodeTest, ReleasingTheDeepestNodeOfALongChainDoesNotRecurse) {
  std::shared_ptr<Node> root = Node::NewRoot();
  std::shared_ptr<Node> deepest = Chain(root, kChain);
  RunOnSmallStack([&] { deepest.reset(); });
  // Every Node of the chain is gone: the root's child entry went with it.
  EXPECT_EQ(root->LookupChild("d"), nullptr);
}

TEST(NodeTest, ReleasingTheRootLastTearsDownTheChainToo) {
  std::shared_ptr<Node> root = Node::NewRoot();
  std::weak_ptr<Node> weak_root = root;
  std::shared_ptr<Node> deepest = Chain(root, kChain);
  root.reset();
  RunOnSmallStack([&] { deepest.reset(); });
  EXPECT_TRUE(weak_root.expired());
}

TEST(NodeTest, ChildrenAreOneLevelDeeperThanTheirParent) {
  std::shared_ptr<Node> root = Node::NewRoot();
  EXPECT_EQ(root->depth(), 0u);
  std::shared_ptr<Node> a = root->LookupOrCreateChild("a");
  std::shared_ptr<Node> b = a->LookupOrCreateChild("b");
  EXPECT_EQ(a->depth(), 1u);
  EXPECT_EQ(b->depth(), 2u);
  EXPECT_EQ(*b->FilePath(), "/a/b");
  EXPECT_EQ(*root->FilePath(), "/");
  EXPECT_EQ(*b->PathFrom(a.get()), std::vector<std::string>{"b"});
  EXPECT_TRUE(b->PathFrom(b.get())->empty());
  EXPECT_FALSE(a->PathFrom(b.get()).ok());
}

TEST(NodeTest, MoveGivesTheWholeSubtreeItsNewDepth) {
  std::shared_ptr<Node> root = Node::NewRoot();
  std::shared_ptr<Node> x = Chain(root, 5);  // /d/d/d/d/d
  std::shared_ptr<Node> a = root->LookupOrCreateChild("a");
  std::shared_ptr<Node> c =
      a->LookupOrCreateChild("b")->LookupOrCreateChild("c");
  EXPECT_EQ(a->SubtreeHeight(), 2u);
  a->Move(x, "moved");
  EXPECT_EQ(a->depth(), 6u);
  EXPECT_EQ(c->depth(), 8u);
  EXPECT_EQ(*c->FilePath(), "/d/d/d/d/d/moved/b/c");
  EXPECT_EQ(root->LookupChild("a"), nullptr);
  EXPECT_EQ(x->LookupChild("moved"), a);
  // And back up.
  a->Move(root, "a");
  EXPECT_EQ(c->depth(), 3u);
  EXPECT_EQ(*c->FilePath(), "/a/b/c");
}

TEST(NodeTest, IsSelfOrAncestorOfFollowsTheParentChain) {
  std::shared_ptr<Node> root = Node::NewRoot();
  std::shared_ptr<Node> a = root->LookupOrCreateChild("a");
  std::shared_ptr<Node> b = a->LookupOrCreateChild("b");
  std::shared_ptr<Node> other = root->LookupOrCreateChild("other");
  EXPECT_TRUE(a->IsSelfOrAncestorOf(*a));
  EXPECT_TRUE(a->IsSelfOrAncestorOf(*b));
  EXPECT_TRUE(root->IsSelfOrAncestorOf(*b));
  EXPECT_FALSE(b->IsSelfOrAncestorOf(*a));
  EXPECT_FALSE(other->IsSelfOrAncestorOf(*b));
  EXPECT_FALSE(a->IsSelfOrAncestorOf(*root));
}

TEST(NodeTest, SubtreeHeightCountsOnlyLiveLevels) {
  std::shared_ptr<Node> root = Node::NewRoot();
  std::shared_ptr<Node> a = root->LookupOrCreateChild("a");
  EXPECT_EQ(a->SubtreeHeight(), 0u);
  std::shared_ptr<Node> deep = Chain(a, 10);
  std::shared_ptr<Node> shallow = a->LookupOrCreateChild("s");
  EXPECT_EQ(a->SubtreeHeight(), 10u);
  deep.reset();
  EXPECT_EQ(a->SubtreeHeight(), 1u);
}

// The Move that RenameAt used to make after a host rename (a directory's
// Node moved below itself) leaves a cycle: the path walks report it in a
// bounded number of steps instead of looping forever.
TEST(NodeTest, PathWalksOfACycleFailInsteadOfLooping) {
  std::shared_ptr<Node> root = Node::NewRoot();
  std::shared_ptr<Node> a = root->LookupOrCreateChild("a");
  std::shared_ptr<Node> b = a->LookupOrCreateChild("b");
  ASSERT_TRUE(a->IsSelfOrAncestorOf(*b));  // what the server checks first
  a->Move(b, "c");                         // a's parent b, b's parent a
  absl::StatusOr<std::string> path = b->FilePath();
  EXPECT_FALSE(path.ok());
  EXPECT_FALSE(a->FilePath().ok());
  EXPECT_FALSE(b->PathFrom(root.get()).ok());
  EXPECT_FALSE(a->IsSelfOrAncestorOf(*root));
  // Break the cycle, so that both Nodes can go.
  b->Move(root, "b");
  EXPECT_EQ(*a->FilePath(), "/b/c");
}

// Chains are built, walked and torn down from several threads at once
// over the same names, as connections do; run under TSan.
TEST(NodeTest, ConcurrentChainsShareAndReleaseNodesSafely) {
  constexpr int kThreads = 4;
  constexpr int kRounds = 200;
  constexpr int kDepth = 100;
  std::shared_ptr<Node> root = Node::NewRoot();
  std::shared_mutex rename_mu;
  std::atomic<int> mismatches{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int r = 0; r < kRounds; ++r) {
        if (t == 0 && r % 10 == 0) {
          // A rename: move the chain's top away and back.
          std::unique_lock<std::shared_mutex> l(rename_mu);
          if (std::shared_ptr<Node> d = root->LookupChild("d")) {
            d->Move(root, "e");
            d->Move(root, "d");
          }
          continue;
        }
        std::shared_ptr<Node> deepest;
        {
          std::shared_lock<std::shared_mutex> l(rename_mu);
          deepest = Chain(root, kDepth);
          if (deepest->depth() != kDepth) ++mismatches;
          absl::StatusOr<std::vector<std::string>> p =
              deepest->PathFrom(root.get());
          if (!p.ok() || p->size() != kDepth) ++mismatches;
        }
        deepest.reset();
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(mismatches.load(), 0);
  EXPECT_EQ(root->LookupChild("d"), nullptr);
}

}  // namespace
}  // namespace gvisor::lisafs
