// FuzzSeeds is defined by each fuzz target: the inputs its replay run and a
// libFuzzer campaign start from (for libFuzzer, also written to a corpus
// directory by hand if wanted).

#ifndef GVISOR_TOOLS_FUZZ_FUZZ_SEEDS_H_
#define GVISOR_TOOLS_FUZZ_FUZZ_SEEDS_H_

#include <cstdint>
#include <vector>

namespace gvisor::fuzz {

std::vector<std::vector<uint8_t>> FuzzSeeds();

}  // namespace gvisor::fuzz

#endif  // GVISOR_TOOLS_FUZZ_FUZZ_SEEDS_H_
