#include "testing/fd_count.h"

#include <dirent.h>

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

}  // namespace gvisor::testing
