#include "testing/fd_count.h"

#include <dirent.h>

#include <fstream>
#include <string>

namespace gvisor::testing {

namespace {

// CountEntries returns the number of entries of /proc/<pid>/<sub> (pid 0:
// self), not counting "." and ".."; -1 if unreadable.
int CountEntries(pid_t pid, const char* sub) {
  std::string dir =
      (pid == 0 ? std::string("/proc/self") : "/proc/" + std::to_string(pid)) +
      "/" + sub;
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return -1;
  int n = 0;
  while (struct dirent* e = readdir(d)) {
    if (e->d_name[0] != '.') ++n;
  }
  closedir(d);
  return n;
}

}  // namespace

int OpenFdCount(pid_t pid) {
  int n = CountEntries(pid, "fd");
  if (n < 0) return -1;
  return pid == 0 ? n - 1 : n;  // our own listing holds one FD
}

int ThreadCount(pid_t pid) { return CountEntries(pid, "task"); }

int WindowMappingCount() {
  std::ifstream maps("/proc/self/maps");
  std::string line;
  int n = 0;
  while (std::getline(maps, line)) {
    if (line.find("memfd:flipcall_packet_windows") != std::string::npos) ++n;
  }
  return n;
}

}  // namespace gvisor::testing
