#include "testing/fd_count.h"

#include <dirent.h>

#include <fstream>
#include <string>

namespace gvisor::testing {

int OpenFdCount(pid_t pid) {
  std::string dir =
      pid == 0 ? "/proc/self/fd" : "/proc/" + std::to_string(pid) + "/fd";
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return -1;
  int n = 0;
  while (struct dirent* e = readdir(d)) {
    if (e->d_name[0] != '.') ++n;
  }
  closedir(d);
  return pid == 0 ? n - 1 : n;  // our own listing holds one FD
}

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
