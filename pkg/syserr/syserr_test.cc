#include "pkg/syserr/syserr.h"

#include <errno.h>
#include <fcntl.h>

#include <memory>
#include <utility>

#include "gtest/gtest.h"
#include "pkg/syserr/status_macros.h"

namespace gvisor::syserr {
namespace {

TEST(SyserrTest, FromErrnoKeepsErrnoAndNamesIt) {
  absl::Status s = FromErrno(ENOENT, "Walk of \"x\" from FDID 1");
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(ToErrno(s), ENOENT);
  EXPECT_EQ(s.message().substr(0, 32), "Walk of \"x\" from FDID 1: ENOENT ");
}

TEST(SyserrTest, EveryErrnoRoundTrips) {
  for (int e = 1; e < 134; ++e) {
    EXPECT_EQ(ToErrno(FromErrno(e, "op")), e) << e;
  }
}

TEST(SyserrTest, NonPositiveErrnoBecomesEio) {
  EXPECT_EQ(ToErrno(FromErrno(0, "op")), EIO);
  EXPECT_EQ(ToErrno(FromErrno(-3, "op")), EIO);
}

TEST(SyserrTest, OkIsZero) { EXPECT_EQ(ToErrno(absl::OkStatus()), 0); }

TEST(SyserrTest, PlainStatusesMapByCode) {
  EXPECT_EQ(ToErrno(absl::InvalidArgumentError("x")), EINVAL);
  EXPECT_EQ(ToErrno(absl::NotFoundError("x")), ENOENT);
  EXPECT_EQ(ToErrno(absl::UnimplementedError("x")), EOPNOTSUPP);
  EXPECT_EQ(ToErrno(absl::InternalError("x")), EIO);
}

TEST(SyserrTest, WithContextKeepsErrnoAndCode) {
  absl::Status s = WithContext(FromErrno(EROFS, "MkdirAt"), "devgofer");
  EXPECT_EQ(ToErrno(s), EROFS);
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(s.message().substr(0, 17), "devgofer: MkdirAt");
  EXPECT_TRUE(WithContext(absl::OkStatus(), "x").ok());
}

TEST(SyserrTest, WithCodeKeepsErrnoAndMessage) {
  absl::Status in = FromErrno(ENOBUFS, "DirentNames");
  absl::Status s = WithCode(absl::StatusCode::kUnavailable, in);
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(ToErrno(s), ENOBUFS);
  EXPECT_EQ(s.message(), in.message());
  EXPECT_TRUE(WithCode(absl::StatusCode::kInternal, absl::OkStatus()).ok());
}

TEST(SyserrTest, ErrnoNames) {
  EXPECT_EQ(ErrnoName(ENOENT), "ENOENT");
  EXPECT_EQ(ErrnoName(EOPNOTSUPP), "EOPNOTSUPP");
  EXPECT_EQ(ErrnoName(9999), "errno 9999");
}

TEST(SyserrTest, FromLastErrnoReadsErrno) {
  ASSERT_EQ(open("/nonexistent/syserr", O_RDONLY), -1);
  absl::Status s = FromLastErrno("open /nonexistent/syserr");
  EXPECT_EQ(ToErrno(s), ENOENT);
  EXPECT_NE(s.message().find("open /nonexistent/syserr: ENOENT"),
            absl::string_view::npos)
      << s;
}

int evaluations = 0;

absl::Status Step(absl::Status s) {
  ++evaluations;
  return s;
}

absl::StatusOr<std::unique_ptr<int>> Make(absl::StatusOr<int> v) {
  ++evaluations;
  if (!v.ok()) return v.status();
  return std::make_unique<int>(*v);
}

absl::Status TwoSteps(absl::Status first, absl::Status second) {
  RETURN_IF_ERROR(Step(first));
  RETURN_IF_ERROR(Step(second));
  return absl::OkStatus();
}

absl::StatusOr<int> SumOf(absl::StatusOr<int> a, absl::StatusOr<int> b) {
  ASSIGN_OR_RETURN(auto pa, Make(a));  // move-only value
  std::unique_ptr<int> pb;
  ASSIGN_OR_RETURN(pb, Make(b));
  return *pa + *pb;
}

TEST(StatusMacrosTest, ReturnIfErrorStopsAtTheFirstError) {
  evaluations = 0;
  EXPECT_TRUE(TwoSteps(absl::OkStatus(), absl::OkStatus()).ok());
  EXPECT_EQ(evaluations, 2);
  evaluations = 0;
  absl::Status s = TwoSteps(FromErrno(EBADF, "first"), absl::OkStatus());
  EXPECT_EQ(ToErrno(s), EBADF);
  EXPECT_EQ(evaluations, 1);
}

TEST(StatusMacrosTest, AssignOrReturnMovesTheValueOrReturnsTheError) {
  evaluations = 0;
  EXPECT_EQ(*SumOf(2, 3), 5);
  EXPECT_EQ(evaluations, 2);
  evaluations = 0;
  absl::StatusOr<int> r = SumOf(FromErrno(ENOTDIR, "a"), 3);
  EXPECT_EQ(ToErrno(r.status()), ENOTDIR);
  EXPECT_EQ(evaluations, 1);
  r = SumOf(1, FromErrno(ELOOP, "b"));
  EXPECT_EQ(ToErrno(r.status()), ELOOP);
}

}  // namespace
}  // namespace gvisor::syserr
