// Replays files and folders of inputs through a fuzz target's
// LLVMFuzzerTestOneInput without libFuzzer, so the regression cases and the
// seed corpus run as an ordinary test in any build (g++ included). An escaped
// exception fails the test naming the input; a crash fails it too, and the
// last "replay" line on stderr names the input.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace fs = std::filesystem;

static bool replay(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::fprintf(stderr, "replay %s (%zu bytes)\n", p.c_str(), bytes.size());
  // An exact-size heap copy, as libFuzzer passes, so an overread leaves it.
  std::unique_ptr<uint8_t[]> copy(new uint8_t[bytes.size()]);
  std::copy(bytes.begin(), bytes.end(), copy.get());
  try {
    LLVMFuzzerTestOneInput(copy.get(), bytes.size());
    return true;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "FAIL %s: uncaught exception: %s\n", p.c_str(), e.what());
    return false;
  }
}

int main(int argc, char** argv) {
  size_t n = 0, failed = 0;
  for (int i = 1; i < argc; ++i) {
    const fs::path arg = argv[i];
    if (!fs::exists(arg)) continue;  // a target may have no regressions yet
    std::vector<fs::path> files;
    if (fs::is_directory(arg)) {
      for (const auto& e : fs::recursive_directory_iterator(arg))
        if (e.is_regular_file() && e.path().filename().string()[0] != '.') files.push_back(e.path());
    } else {
      files.push_back(arg);
    }
    std::sort(files.begin(), files.end());
    for (const fs::path& f : files) failed += !replay(f);
    n += files.size();
  }
  std::printf("replayed %zu inputs, %zu failed\n", n, failed);
  return failed == 0 ? 0 : 1;
}
