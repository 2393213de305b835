#include "runsc_shim/validate.h"

#include <errno.h>

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pkg/syserr/syserr.h"
#include "runsc_shim/address.h"

namespace gvisor::shim {
namespace {

TEST(ValidateContainerNameTest, AcceptsDnsLikeNames) {
  for (const char* name : {"a", "demo", "web-1", "a.b.c", "snake_case",
                           "MixedCase9", "0123456789abcdef"}) {
    EXPECT_TRUE(ValidateContainerName(name).ok()) << name;
  }
  EXPECT_TRUE(ValidateContainerName(std::string(kMaxContainerName, 'x')).ok());
}

TEST(ValidateContainerNameTest, RefusesOtherNames) {
  for (const std::string& name :
       {std::string(""), std::string("-a"), std::string("a-"),
        std::string(".a"), std::string("a b"), std::string("a/b"),
        std::string("a:b"), std::string("\xc3\xa9t\xc3\xa9"),
        std::string("a\0b", 3)}) {
    absl::Status s = ValidateContainerName(name);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << name;
    EXPECT_EQ(syserr::ToErrno(s), EINVAL) << name;
  }
  absl::Status s =
      ValidateContainerName(std::string(kMaxContainerName + 1, 'x'));
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(syserr::ToErrno(s), ENAMETOOLONG);
}

TEST(ValidateContainerNameTest, MessageNamesTheValueEscaped) {
  absl::Status s = ValidateContainerName(std::string("a\nb", 3));
  EXPECT_NE(s.message().find("container name \"a\\nb\""),
            absl::string_view::npos)
      << s.message();
}

TEST(ValidateDevicePathTest, AcceptsRelativePaths) {
  for (const char* path : {"null", "nvidia0", "nvidia-caps/nvidia-cap1",
                           "dri/card0", "a/b/c", "..hidden", "a./b.."}) {
    EXPECT_TRUE(ValidateDevicePath(path).ok()) << path;
  }
  EXPECT_TRUE(ValidateDevicePath(std::string(kMaxDevicePath, 'p')).ok());
}

TEST(ValidateDevicePathTest, RefusesOtherPaths) {
  for (const std::string& path :
       {std::string(""), std::string("/dev/null"), std::string("/"),
        std::string("."), std::string(".."), std::string("./null"),
        std::string("a/../b"), std::string("a/."), std::string("a//b"),
        std::string("nu\0ll", 5)}) {
    EXPECT_EQ(ValidateDevicePath(path).code(),
              absl::StatusCode::kInvalidArgument)
        << path;
  }
  EXPECT_EQ(
      syserr::ToErrno(ValidateDevicePath(std::string(kMaxDevicePath + 1, 'p'))),
      ENAMETOOLONG);
}

TEST(ValidateSocketPathTest, AcceptsAbsolutePathsAndAbstractNames) {
  for (const char* path : {"/tmp/gofer.sock", "/g", "@abstract", "@rel"}) {
    EXPECT_TRUE(ValidateSocketPath(path).ok()) << path;
  }
  EXPECT_TRUE(
      ValidateSocketPath("/" + std::string(kMaxSocketPath - 1, 's')).ok());
}

TEST(ValidateSocketPathTest, RefusesRelativePathsNamingTheFix) {
  // The shim would resolve them against its own working directory, which
  // means nothing to the caller.
  for (const char* path :
       {"relative.sock", "./g.sock", "../run/g.sock", "dir/g.sock"}) {
    absl::Status s = ValidateSocketPath(path);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << path;
    EXPECT_EQ(syserr::ToErrno(s), EINVAL) << path;
    EXPECT_THAT(std::string(s.message()),
                ::testing::HasSubstr("pass an absolute path"))
        << path;
  }
}

TEST(ValidateSocketPathTest, RefusesEmptyNulAndTooLong) {
  EXPECT_EQ(ValidateSocketPath("").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ValidateSocketPath("@").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ValidateSocketPath(std::string("/a\0b", 4)).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(
      syserr::ToErrno(ValidateSocketPath(std::string(kMaxSocketPath + 1, 's'))),
      ENAMETOOLONG);
}

TEST(AddressTest, ParsesTheThreeSchemes) {
  absl::StatusOr<Address> a = ParseAddress("unix:/run/x.sock");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->kind, Address::Kind::kUnix);
  EXPECT_EQ(a->target, "/run/x.sock");
  EXPECT_EQ(a->GrpcTarget(), "unix:/run/x.sock");
  EXPECT_EQ(a->ToString(), "unix:/run/x.sock");

  a = ParseAddress("unix-abstract:shim");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->kind, Address::Kind::kUnixAbstract);
  EXPECT_EQ(a->GrpcTarget(), "unix-abstract:shim");

  a = ParseAddress("tcp:127.0.0.1:5000");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->kind, Address::Kind::kTcp);
  EXPECT_EQ(a->GrpcTarget(), "127.0.0.1:5000");
  EXPECT_EQ(a->ToString(), "tcp:127.0.0.1:5000");
}

TEST(AddressTest, TcpOnlyWhenSpelledOut) {
  // A bare HOST:PORT is not taken as TCP.
  for (const char* s : {"127.0.0.1:5000", "localhost:1", "/run/x.sock",
                        "dns:///x:1", "tcp:nohost", "unix:", "tcp:"}) {
    EXPECT_EQ(ParseAddress(s).status().code(),
              absl::StatusCode::kInvalidArgument)
        << s;
  }
  EXPECT_FALSE(ParseAddress("unix:/" + std::string(kMaxSocketPath, 'x')).ok());
}

TEST(AddressTest, DefaultIsAUnixSocketUnderTheRuntimeDir) {
  setenv("XDG_RUNTIME_DIR", "/run/user/1000", 1);
  EXPECT_EQ(DefaultAddress(), "unix:/run/user/1000/runsc-shim.sock");
  unsetenv("XDG_RUNTIME_DIR");
  EXPECT_EQ(DefaultAddress(), "unix:/run/runsc-shim.sock");
  setenv("XDG_RUNTIME_DIR", "relative", 1);
  EXPECT_EQ(DefaultAddress(), "unix:/run/runsc-shim.sock");
}

}  // namespace
}  // namespace gvisor::shim
