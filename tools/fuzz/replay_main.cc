// The main() of fuzz targets outside --config=fuzz: it runs
// LLVMFuzzerTestOneInput over every seed the target registers with
// FuzzSeeds(), over files named on the command line, and over a fixed,
// seeded series of byte-level mutations of the seeds (--mutations=N), so a
// plain test run is deterministic and still explores beyond the seeds.

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "tools/fuzz/fuzz_seeds.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);
extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv)
    __attribute__((weak));

namespace {

// xorshift64*: small, fast and the same everywhere.
struct Rng {
  uint64_t s;
  uint64_t Next() {
    s ^= s >> 12;
    s ^= s << 25;
    s ^= s >> 27;
    return s * 2685821657736338717ULL;
  }
  size_t Below(size_t n) { return n == 0 ? 0 : Next() % n; }
};

std::vector<uint8_t> Mutate(const std::vector<uint8_t>& in, Rng& rng) {
  std::vector<uint8_t> out = in;
  int edits = 1 + static_cast<int>(rng.Below(8));
  for (int i = 0; i < edits; ++i) {
    switch (rng.Below(6)) {
      case 0:  // flip a bit
        if (!out.empty()) out[rng.Below(out.size())] ^= 1u << rng.Below(8);
        break;
      case 1:  // set a byte to an interesting value
        if (!out.empty()) {
          static const uint8_t kVals[] = {0, 1, 0x7f, 0x80, 0xfe, 0xff};
          out[rng.Below(out.size())] = kVals[rng.Below(sizeof(kVals))];
        }
        break;
      case 2:  // truncate
        out.resize(rng.Below(out.size() + 1));
        break;
      case 3:  // insert random bytes
        out.insert(out.begin() + rng.Below(out.size() + 1), 1 + rng.Below(16),
                   static_cast<uint8_t>(rng.Next()));
        break;
      case 4:  // duplicate a chunk
        if (!out.empty()) {
          size_t a = rng.Below(out.size());
          size_t n = 1 + rng.Below(std::min<size_t>(64, out.size() - a));
          std::vector<uint8_t> chunk(out.begin() + a, out.begin() + a + n);
          out.insert(out.begin() + rng.Below(out.size() + 1), chunk.begin(),
                     chunk.end());
        }
        break;
      case 5:  // overwrite a little-endian u16/u32 with an extreme value
        if (out.size() >= 4) {
          size_t at = rng.Below(out.size() - 3);
          uint32_t v =
              rng.Below(2) ? 0xffffffffu : static_cast<uint32_t>(rng.Next());
          memcpy(out.data() + at, &v, rng.Below(2) ? 2 : 4);
        }
        break;
    }
  }
  if (out.size() > 1 << 16) out.resize(1 << 16);
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  if (LLVMFuzzerInitialize) LLVMFuzzerInitialize(&argc, &argv);
  long mutations = 1000;
  std::vector<std::vector<uint8_t>> seeds = gvisor::fuzz::FuzzSeeds();
  for (int i = 1; i < argc; ++i) {
    if (strncmp(argv[i], "--mutations=", 12) == 0) {
      mutations = strtol(argv[i] + 12, nullptr, 10);
      continue;
    }
    std::ifstream f(argv[i], std::ios::binary);
    seeds.emplace_back(std::istreambuf_iterator<char>(f),
                       std::istreambuf_iterator<char>());
  }
  seeds.emplace_back();  // the empty input
  for (const auto& s : seeds) LLVMFuzzerTestOneInput(s.data(), s.size());
  Rng rng{0x9e3779b97f4a7c15ULL};
  for (long i = 0; i < mutations; ++i) {
    std::vector<uint8_t> in = Mutate(seeds[rng.Below(seeds.size())], rng);
    LLVMFuzzerTestOneInput(in.data(), in.size());
  }
  printf("replayed %zu seeds and %ld mutations\n", seeds.size(), mutations);
  return 0;
}
