// The same as llamacpp_tokenize.cc, with sieve's tokenizer.
// usage: sieve_tokenize VOCAB.gguf TEXTS
#include <fstream>
#include <iostream>
#include <sstream>
#include "format/gguf.h"
#include "tokenizer/tokenizer.h"
using namespace sieve;
int main(int argc, char** argv) {
  try {
    GgufFile f(argv[1]);
    auto tok = Tokenizer::from_gguf(f);
    std::ifstream in(argv[2], std::ios::binary);
    std::stringstream ss; ss << in.rdbuf();
    std::string raw = ss.str(), sep = "\n__sep__\n";
    size_t pos = 0;
    while (pos <= raw.size()) {
      size_t next = raw.find(sep, pos);
      std::string text = raw.substr(pos, next == std::string::npos ? std::string::npos : next - pos);
      auto ids = tok->encode(text, false, false);
      for (size_t i = 0; i < ids.size(); ++i) std::cout << (i ? " " : "") << ids[i];
      std::cout << "\n";
      if (next == std::string::npos) break;
      pos = next + sep.size();
    }
  } catch (const std::exception& e) { std::cout << "ERROR " << e.what() << "\n"; }
}
