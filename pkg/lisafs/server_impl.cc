#include "pkg/lisafs/server_impl.h"

#include <errno.h>

#include "pkg/syserr/syserr.h"

namespace gvisor::lisafs {

namespace {
absl::Status NotSupported(absl::string_view what) {
  return syserr::FromErrno(EOPNOTSUPP, what);
}
}  // namespace

absl::Status OpenFDImpl::Sync() { return NotSupported("FSync"); }
absl::StatusOr<size_t> OpenFDImpl::Write(absl::Span<const uint8_t>, uint64_t) {
  return NotSupported("PWrite");
}
absl::StatusOr<size_t> OpenFDImpl::Read(absl::Span<uint8_t>, uint64_t) {
  return NotSupported("PRead");
}
absl::Status OpenFDImpl::Allocate(uint64_t, uint64_t, uint64_t) {
  return NotSupported("FAllocate");
}
absl::Status OpenFDImpl::Flush() { return NotSupported("Flush"); }
absl::Status OpenFDImpl::Getdents(uint32_t, bool, std::vector<Dirent64>*) {
  return NotSupported("Getdents64");
}

absl::Status BoundSocketFDImpl::Listen(int32_t) {
  return NotSupported("Listen");
}
absl::StatusOr<AcceptedSocket> BoundSocketFDImpl::Accept() {
  return NotSupported("Accept");
}

SetStatResp ControlFDImpl::SetStat(const SetStatReq& req) {
  SetStatResp resp;
  resp.failure_mask = req.mask;
  resp.failure_errno = EOPNOTSUPP;
  return resp;
}
absl::StatusOr<NewControlFD> ControlFDImpl::Walk(absl::string_view) {
  return NotSupported("Walk");
}
absl::Status ControlFDImpl::WalkStat(absl::Span<const std::string>,
                                     std::vector<Statx>*) {
  return NotSupported("WalkStat");
}
absl::StatusOr<NewOpenFD> ControlFDImpl::Open(uint32_t) {
  return NotSupported("OpenAt");
}
absl::StatusOr<NewFile> ControlFDImpl::OpenCreate(const CreateArgs&, uint32_t) {
  return NotSupported("OpenCreateAt");
}
absl::StatusOr<NewControlFD> ControlFDImpl::Mkdir(const CreateArgs&) {
  return NotSupported("MkdirAt");
}
absl::StatusOr<NewControlFD> ControlFDImpl::Mknod(const CreateArgs&, uint32_t,
                                                  uint32_t) {
  return NotSupported("MknodAt");
}
absl::StatusOr<NewControlFD> ControlFDImpl::Symlink(absl::string_view,
                                                    absl::string_view, uint32_t,
                                                    uint32_t) {
  return NotSupported("SymlinkAt");
}
absl::StatusOr<NewControlFD> ControlFDImpl::Link(ControlFD&,
                                                 absl::string_view) {
  return NotSupported("LinkAt");
}
absl::StatusOr<StatFS> ControlFDImpl::StatFs() {
  return NotSupported("FStatFS");
}
absl::StatusOr<std::string> ControlFDImpl::ReadLink() {
  return NotSupported("ReadLinkAt");
}
absl::StatusOr<fd::OwnedFd> ControlFDImpl::Connect(uint32_t) {
  return NotSupported("Connect");
}
absl::StatusOr<fd::OwnedFd> ControlFDImpl::ConnectWithCreds(uint32_t, uint32_t,
                                                            uint32_t) {
  return NotSupported("ConnectWithCreds");
}
absl::StatusOr<NewBoundSocket> ControlFDImpl::BindAt(const CreateArgs&,
                                                     uint32_t) {
  return NotSupported("BindAt");
}
absl::Status ControlFDImpl::Unlink(absl::string_view, uint32_t) {
  return NotSupported("UnlinkAt");
}
absl::Status ControlFDImpl::RenameAt(absl::string_view, ControlFD&,
                                     absl::string_view, uint32_t) {
  return NotSupported("RenameAt");
}
absl::StatusOr<std::string> ControlFDImpl::GetXattr(absl::string_view,
                                                    uint32_t) {
  return NotSupported("FGetXattr");
}
absl::Status ControlFDImpl::SetXattr(absl::string_view, absl::string_view,
                                     uint32_t) {
  return NotSupported("FSetXattr");
}
absl::StatusOr<std::vector<std::string>> ControlFDImpl::ListXattr(uint64_t) {
  return NotSupported("FListXattr");
}
absl::Status ControlFDImpl::RemoveXattr(absl::string_view) {
  return NotSupported("FRemoveXattr");
}

}  // namespace gvisor::lisafs
