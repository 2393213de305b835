#include "runsc_shim/container_events.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace gvisor::shim {
namespace {

using Kind = ContainerChange::Kind;

ContainerInfo C(const std::string& name, int attached_at,
                ContainerState state = ContainerState::kAttached) {
  ContainerInfo c;
  c.name = name;
  c.attach_time = absl::FromUnixSeconds(attached_at);
  c.state = state;
  return c;
}

// Events renders changes as "kind:name@time" strings.
std::vector<std::string> Events(const std::vector<ContainerChange>& changes) {
  std::vector<std::string> out;
  for (const ContainerChange& ch : changes) {
    const char* k = ch.kind == Kind::kAttached       ? "attached"
                    : ch.kind == Kind::kDisconnected ? "disconnected"
                    : ch.kind == Kind::kReattached   ? "reattached"
                    : ch.kind == Kind::kGoferChanged ? "gofer"
                                                     : "detached";
    const int64_t at = absl::ToUnixSeconds(ch.container.attach_time);
    out.push_back(std::string(k) + ":" + ch.container.name + "@" +
                  std::to_string(at));
  }
  return out;
}

using V = std::vector<std::string>;

TEST(DiffTest, NothingChanged) {
  EXPECT_EQ(Events(Diff({}, {})), V{});
  EXPECT_EQ(Events(Diff({C("a", 1), C("b", 2)}, {C("a", 1), C("b", 2)})), V{});
}

TEST(DiffTest, AttachAndDetachInNameOrder) {
  EXPECT_EQ(Events(Diff({C("b", 2)}, {C("a", 3), C("b", 2), C("c", 4)})),
            (V{"attached:a@3", "attached:c@4"}));
  EXPECT_EQ(Events(Diff({C("a", 1), C("b", 2), C("c", 3)}, {C("b", 2)})),
            (V{"detached:a@1", "detached:c@3"}));
  EXPECT_EQ(Events(Diff({C("a", 1)}, {C("b", 2)})),
            (V{"detached:a@1", "attached:b@2"}));
}

TEST(DiffTest, Disconnects) {
  const ContainerState kDown = ContainerState::kDisconnected;
  EXPECT_EQ(Events(Diff({C("a", 1)}, {C("a", 1, kDown)})),
            (V{"disconnected:a@1"}));
  // Already disconnected: nothing new.
  EXPECT_EQ(Events(Diff({C("a", 1, kDown)}, {C("a", 1, kDown)})), V{});
  // Attached and disconnected between two looks.
  EXPECT_EQ(Events(Diff({}, {C("a", 1, kDown)})),
            (V{"attached:a@1", "disconnected:a@1"}));
}

TEST(DiffTest, ReattachedIsDetachedThenAttached) {
  EXPECT_EQ(
      Events(Diff({C("a", 1, ContainerState::kDisconnected)}, {C("a", 5)})),
      (V{"detached:a@1", "attached:a@5"}));
}

ContainerInfo R(const std::string& name, int attached_at, uint64_t reattaches,
                ContainerState state = ContainerState::kAttached) {
  ContainerInfo c = C(name, attached_at, state);
  c.reattaches = reattaches;
  return c;
}

TEST(DiffTest, ReattachKeepsTheAttachTime) {
  const ContainerState kDown = ContainerState::kDisconnected;
  EXPECT_EQ(Events(Diff({C("a", 1)}, {R("a", 1, 1)})), (V{"reattached:a@1"}));
  // Disconnected, then reattached: the container is back.
  EXPECT_EQ(Events(Diff({C("a", 1, kDown)}, {R("a", 1, 1)})),
            (V{"reattached:a@1"}));
  // Reattached to a gofer that has already gone.
  EXPECT_EQ(Events(Diff({C("a", 1)}, {R("a", 1, 1, kDown)})),
            (V{"reattached:a@1", "disconnected:a@1"}));
  // Two reattaches between looks fold into one.
  EXPECT_EQ(Events(Diff({R("a", 1, 1)}, {R("a", 1, 3)})),
            (V{"reattached:a@1"}));
}

ContainerInfo Managed(const std::string& name, uint64_t version,
                      ContainerState state = ContainerState::kAttached) {
  ContainerInfo c = C(name, 1, state);
  c.gofer.emplace();
  c.gofer->version = version;
  return c;
}

TEST(DiffTest, GoferChangedOnlyWhenNothingElseIs) {
  EXPECT_EQ(Events(Diff({Managed("a", 1)}, {Managed("a", 1)})), V{});
  EXPECT_EQ(Events(Diff({Managed("a", 1)}, {Managed("a", 2)})), V{"gofer:a@1"});
  // The gofer died: the disconnect carries the new record, no second event.
  EXPECT_EQ(Events(Diff({Managed("a", 1)},
                        {Managed("a", 2, ContainerState::kDisconnected)})),
            V{"disconnected:a@1"});
  // Restarted: a reattach, carrying the new record.
  ContainerInfo restarted = Managed("a", 3);
  restarted.reattaches = 1;
  EXPECT_EQ(Events(Diff({Managed("a", 2, ContainerState::kDisconnected)},
                        {restarted})),
            V{"reattached:a@1"});
  // A container that stops being managed (never happens) or starts is a
  // change of the record too.
  EXPECT_EQ(Events(Diff({C("a", 1)}, {Managed("a", 1)})), V{"gofer:a@1"});
}

}  // namespace
}  // namespace gvisor::shim
