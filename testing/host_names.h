// HostNames: what a test expects a listing of a served directory to hold.

#ifndef GVISOR_TESTING_HOST_NAMES_H_
#define GVISOR_TESTING_HOST_NAMES_H_

#include <string>
#include <vector>

namespace gvisor::testing {

// HostNames returns the names in the host directory dir, without "." and
// "..", in readdir order; none if dir cannot be opened.
std::vector<std::string> HostNames(const std::string& dir);

}  // namespace gvisor::testing

#endif  // GVISOR_TESTING_HOST_NAMES_H_
