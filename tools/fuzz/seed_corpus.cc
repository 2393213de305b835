// LLVMFuzzerInitialize for libFuzzer builds (--config=fuzz): it puts the
// target's FuzzSeeds() where libFuzzer will read them, so that every
// campaign starts from the seeds, as the replay runs of other builds do.
//
//  - With a corpus directory as the first positional argument (as
//    tools/fuzz/campaign.sh passes), each seed is written there as
//    seed-<i>, unless a file of that name is already there.
//  - With no positional argument (bazel test --config=fuzz), the seeds go
//    to a new directory under $TEST_TMPDIR (else /tmp), which is added to
//    the command line as the corpus.
//  - With a file as the first positional argument (reproducing an input),
//    nothing is done.

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "tools/fuzz/fuzz_seeds.h"

namespace {

// WriteSeeds writes each seed to dir/seed-<i> (through a temporary file
// and a rename, so that parallel jobs never read half a seed).
void WriteSeeds(const std::string& dir) {
  std::vector<std::vector<uint8_t>> seeds = gvisor::fuzz::FuzzSeeds();
  for (size_t i = 0; i < seeds.size(); ++i) {
    std::string path = dir + "/seed-" + std::to_string(i);
    struct stat st;
    if (stat(path.c_str(), &st) == 0) continue;
    std::string tmp = path + ".tmp." + std::to_string(getpid());
    FILE* f = fopen(tmp.c_str(), "wb");
    if (f == nullptr) continue;
    bool ok = fwrite(seeds[i].data(), 1, seeds[i].size(), f) ==
              seeds[i].size();
    ok = fclose(f) == 0 && ok;
    if (!ok || rename(tmp.c_str(), path.c_str()) != 0) unlink(tmp.c_str());
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) {
  const char* first = nullptr;
  for (int i = 1; i < *argc; ++i) {
    if ((*argv)[i][0] != '-') {
      first = (*argv)[i];
      break;
    }
  }
  if (first != nullptr) {
    struct stat st;
    if (stat(first, &st) == 0 && S_ISDIR(st.st_mode)) WriteSeeds(first);
    return 0;
  }
  const char* base = getenv("TEST_TMPDIR");
  std::string tmpl = std::string(base != nullptr ? base : "/tmp") +
                     "/fuzz-seeds-XXXXXX";
  if (mkdtemp(tmpl.data()) == nullptr) return 0;
  WriteSeeds(tmpl);
  // libFuzzer reads the command line after this returns; the new argv must
  // outlive it.
  static std::vector<char*> args;
  args.assign(*argv, *argv + *argc);
  args.push_back(strdup(tmpl.c_str()));
  args.push_back(nullptr);
  *argc += 1;
  *argv = args.data();
  return 0;
}
