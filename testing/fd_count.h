// OpenFdCount: how many FDs a process has open, for tests that prove no FD
// leaks (count before, act, count after). ThreadCount and
// WindowMappingCount do the same for threads and for mappings of flipcall
// packet windows.

#ifndef GVISOR_TESTING_FD_COUNT_H_
#define GVISOR_TESTING_FD_COUNT_H_

#include <sys/types.h>

namespace gvisor::testing {

// OpenFdCount returns the number of open FDs of process pid (0: this
// process), not counting the one it uses to read /proc; -1 if unreadable.
int OpenFdCount(pid_t pid = 0);

// ThreadCount returns the number of threads of process pid (0: this
// process); -1 if unreadable. A thread that has returned is no longer
// counted, joined or not.
int ThreadCount(pid_t pid = 0);

// WindowMappingCount returns how many mappings of a packet-window memfd
// ("flipcall_packet_windows", pkg/lisafs/README.md §8.1) this process holds.
int WindowMappingCount();

}  // namespace gvisor::testing

#endif  // GVISOR_TESTING_FD_COUNT_H_
