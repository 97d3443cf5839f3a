#include <cstdio>
#include "format/gguf.h"
int main(int argc, char** argv) {
  if (argc < 2) return 1;
  sieve::GgufFile f(argv[1]);
  for (auto& [k, v] : f.metadata()) {
    std::printf("%s type=%u", k.c_str(), (unsigned)v.type);
    if (v.is_string()) std::printf(" = %s", v.as_string().c_str());
    if (v.is_integer()) std::printf(" = %lld", (long long)v.as_int());
    if (v.is_float()) std::printf(" = %g", v.as_float());
    if (v.is_array()) std::printf(" [%zu]", v.as_array().items.size());
    std::printf("\n");
  }
  for (auto& t : f.tensors()) std::printf("%s %s %s\n", t.name.c_str(), sieve::dtype_name(t.type), t.shape_string().c_str());
}
