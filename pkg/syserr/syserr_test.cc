#include "pkg/syserr/syserr.h"

#include <errno.h>

#include "gtest/gtest.h"

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

}  // namespace
}  // namespace gvisor::syserr
