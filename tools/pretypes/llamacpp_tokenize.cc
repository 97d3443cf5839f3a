// Prints llama.cpp's token ids (no special tokens added or parsed) for each
// text of a file, texts separated by "\n__sep__\n", one line of ids per
// text. Loads only the vocabulary of the GGUF file.
// usage: llamacpp_tokenize VOCAB.gguf TEXTS
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>
#include "llama.h"
int main(int argc, char** argv) {
  llama_backend_init();
  auto mp = llama_model_default_params();
  mp.vocab_only = true;
  llama_model* model = llama_model_load_from_file(argv[1], mp);
  if (!model) { std::cout << "LOADFAIL\n"; return 0; }
  const llama_vocab* vocab = llama_model_get_vocab(model);
  std::ifstream in(argv[2], std::ios::binary);
  std::stringstream ss; ss << in.rdbuf();
  std::string raw = ss.str(), sep = "\n__sep__\n";
  size_t pos = 0;
  while (pos <= raw.size()) {
    size_t next = raw.find(sep, pos);
    std::string text = raw.substr(pos, next == std::string::npos ? std::string::npos : next - pos);
    std::vector<llama_token> toks(text.size() * 4 + 16);
    int n = llama_tokenize(vocab, text.data(), (int)text.size(), toks.data(), (int)toks.size(), false, false);
    for (int i = 0; i < n; ++i) std::cout << (i ? " " : "") << toks[i];
    std::cout << "\n";
    if (next == std::string::npos) break;
    pos = next + sep.size();
  }
  llama_model_free(model);
}
