#include "tokenizer/text/pre_types.h"

#include <map>

#include "util/error.h"

namespace sieve {

namespace {

// GPT-2's pattern (also ByteLevel's use_regex).
const char* const kGpt2 = R"re('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)re";
// Llama 3 (tiktoken cl100k's): contractions in any case, a letter run with
// one leading non-letter, digits by three, punctuation with its newlines.
const char* const kLlama3 =
    R"re((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)re";
// Qwen2: Llama 3's with single digits.
const char* const kQwen2 =
    R"re((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)re";
// Qwen3.5: marks join letters.
const char* const kQwen35 =
    R"re((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+|\p{N}| ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)re";
// GPT-4o (o200k): words split at case changes, contractions kept on the word,
// '/' joins a punctuation run's newlines.
const char* const kGpt4o =
    R"re([^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+)re";
// Mistral's tekken: GPT-4o's without contractions, single digits.
const char* const kTekken =
    R"re([^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+)re";
// Granite embedding (97m): GPT-4o's case split where marks count as letters,
// written with lookaheads as llama.cpp has it.
const char* const kGraniteEmbMulti =
    R"re([^\r\n\p{L}\p{N}]?((?=[\p{L}\p{M}])([^a-z]))*((?=[\p{L}\p{M}])([^A-Z]))+(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|[^\r\n\p{L}\p{N}]?((?=[\p{L}\p{M}])([^a-z]))+((?=[\p{L}\p{M}])([^A-Z]))*(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+)re";
// Youtu: CJK runs first, then GPT-4o-like words with single digits.
const char* const kYoutuCjk =
    R"re([\x{AC00}-\x{D7A3}\x{3131}-\x{318E}]+|[\x{FF01}\x{2026}\x{201C}\x{201D}\x{2018}\x{2019}\x{2014}\x{FF1A}\x{FF1B}\x{FF0C}\x{3001}-\x{303F}\x{FE30}-\x{FE4F}]+|[\x{3105}-\x{312F}]+|[\x{4E00}-\x{9FA5}\x{3040}-\x{309F}\x{30A0}-\x{30FF}]+)re";
const char* const kYoutu =
    R"re([^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+)re";
// DeepSeek LLM: newlines alone, then letter runs of the cased scripts,
// ASCII/fullwidth punctuation runs, trailing whitespace, CJK runs, numbers.
const char* const kDeepseekLetters =
    R"re(\s?[A-Za-z\x{B5}\x{C0}-\x{D6}\x{D8}-\x{F6}\x{F8}-\x{1BA}\x{1BC}-\x{1BF}\x{1C4}-\x{293}\x{295}-\x{2AF}\x{370}-\x{373}\x{376}\x{377}\x{37B}-\x{37D}\x{37F}\x{386}\x{388}-\x{38A}\x{38C}\x{38E}-\x{3A1}\x{3A3}-\x{3F5}\x{3F7}-\x{481}\x{48A}-\x{52F}\x{531}-\x{556}\x{10A0}-\x{10C5}\x{13A0}-\x{13F5}\x{13F8}-\x{13FD}\x{1C90}-\x{1CBA}\x{1CBD}-\x{1CBF}\x{1D00}-\x{1D2B}\x{1D6B}-\x{1D77}\x{1D79}-\x{1D9A}\x{1E00}-\x{1F15}\x{1F18}-\x{1F1D}\x{1F20}-\x{1F45}\x{1F48}-\x{1F4D}\x{1F50}-\x{1F57}\x{1F59}\x{1F5B}\x{1F5D}\x{1F5F}-\x{1F7D}\x{1F80}-\x{1FB4}\x{1FB6}-\x{1FBC}\x{1FBE}\x{1FC2}-\x{1FC4}\x{1FC6}-\x{1FCC}\x{1FD0}-\x{1FD3}\x{1FD6}-\x{1FDB}\x{1FE0}-\x{1FEC}\x{1FF2}-\x{1FF4}\x{1FF6}-\x{1FFC}\x{2102}\x{2107}\x{210A}-\x{2113}\x{2115}\x{2119}-\x{211D}\x{2124}\x{2126}\x{2128}\x{212A}-\x{212D}\x{212F}-\x{2134}\x{2139}\x{213C}-\x{213F}\x{2145}-\x{2149}\x{214E}\x{2183}\x{2184}\x{2C00}-\x{2C7B}\x{2C7E}-\x{2CE4}\x{2CEB}-\x{2CEE}\x{2CF2}\x{2CF3}\x{A640}-\x{A66D}\x{A680}-\x{A69B}\x{A722}-\x{A76F}\x{A771}-\x{A787}\x{A78B}-\x{A78E}\x{AB70}-\x{ABBF}\x{FB00}-\x{FB06}\x{FB13}-\x{FB17}\x{FF21}-\x{FF3A}\x{FF41}-\x{FF5A}\x{10400}-\x{1044F}\x{104B0}-\x{104D3}\x{104D8}-\x{104FB}\x{10C80}-\x{10CB2}\x{10CC0}-\x{10CF2}\x{118A0}-\x{118DF}\x{1E900}-\x{1E943}]+)re";
const char* const kDeepseekPunct = R"re(\s?[!-/:-~\x{FF01}-\x{FF0F}\x{FF1A}-\x{FF5E}\x{2018}-\x{201F}\x{3000}-\x{3002}]+)re";
const char* const kDeepseekCjk = R"re([\x{4E00}-\x{9FA5}\x{800}-\x{4E00}\x{AC00}-\x{D7FF}]+)re";
// DeepSeek V3 (and Hunyuan dense, JoyAI, HY v4): digits by three, CJK and
// kana runs, then words where one ASCII punctuation mark may lead a Latin run.
const char* const kDeepseek3Cjk = R"re([\x{4E00}-\x{9FA5}\x{3040}-\x{309F}\x{30A0}-\x{30FF}]+)re";
const char* const kDeepseek3 =
    R"re([!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)re";
const char* const kSpark25 =
    R"re([!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+|[\r\n]|\s+(?!\S)|\s+)re";
// BLOOM, Poro, GPT-3 Finnish, Viking: runs of anything but whitespace and a
// few sentence marks (the parentheses and '|' are members of the class).
const char* const kBloom = R"re( ?[^(\s|.,!?\x{2026}\x{3002}\x{FF0C}\x{3001}\x{964}\x{6D4}\x{60C})]+)re";
// Kimi K2 (tiktoken): Han runs apart from the other letters.
const char* const kKimiK2 =
    R"re(\p{Han}+|[^\r\n\p{L}\p{N}]?(?:(?!\p{Han})[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}])*(?:(?!\p{Han})[\p{Ll}\p{Lm}\p{Lo}\p{M}])+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\r\n\p{L}\p{N}]?(?:(?!\p{Han})[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}])+(?:(?!\p{Han})[\p{Ll}\p{Lm}\p{Lo}\p{M}])*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)re";
// Ling (bailingmoe): one newline per whitespace word, possessive as written.
const char* const kBailing =
    R"re('(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]++[\r\n]*|\s*[\r\n]|\s+(?!\S)|\s+)re";
// Seed-Coder: punctuation runs never take newlines.
const char* const kSeedCoder =
    R"re((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1}| ?[^\s\p{L}\p{N}\r\n]+|\s*[\r\n]+|\s+(?!\S)|\s+)re";
// Qwen2's without the English contractions (Turkish suffixes stay attached).
const char* const kUfakzeka =
    R"re([^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)re";
// EXAONE MoE: a word may span single spaces between letters.
const char* const kExaoneMoe =
    R"re((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?(?:\p{L}\p{M}*(?: \p{L}\p{M}*)*)+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]?|\s*[\r\n]|\s+(?!\S)|\s+)re";
// Jais 2: Llama 3's with whitespace runs cut into powers of two.
const char* const kJais2 =
    R"re((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s{512}(?!\S)|\s{256}(?!\S)|\s{128}(?!\S)|\s{64}(?!\S)|\s{32}(?!\S)|\s{16}(?!\S)|\s{8}(?!\S)|\s{4}(?!\S)|\s{1,2}(?!\S)|\s{1})re";
const char* const kMinicpm5 =
    R"re((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}+| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)re";
// AFMoE: digit runs in groups of three counted from the right, CJK and other
// Asian scripts, then DeepSeek V3's words.
const char* const kAfmoeDigits = R"re(\p{N}{1,3}(?=(?:\p{N}{3})*(?!\p{N})))re";
const char* const kAfmoeCjk =
    R"re([\x{4E00}-\x{9FFF}\x{3400}-\x{4DBF}\x{F900}-\x{FAFF}\x{3040}-\x{309F}\x{30A0}-\x{30FF}\x{FF65}-\x{FF9F}\x{2F00}-\x{2FDF}\x{E40}-\x{E7F}\x{E80}-\x{EFF}\x{1780}-\x{17FF}\x{1000}-\x{109F}\x{AA60}-\x{AA7F}\x{A9E0}-\x{A9FF}\x{AC00}-\x{D7AF}\x{1100}-\x{11FF}]+)re";

std::map<std::string, PreType> build_table() {
  std::map<std::string, PreType> t;
  const auto add = [&](std::initializer_list<const char*> names, PreType p) {
    for (const char* n : names) t[n] = p;
  };
  const auto re = [](std::initializer_list<const char*> list) {
    return std::vector<std::string>(list.begin(), list.end());
  };

  PreType gpt2{re({kGpt2})};
  add({"gpt-2", "phi-2", "jina-es", "jina-de", "gigachat", "jina-v2-es", "jina-v2-de", "a.x-4.0", "mellum",
       "modern-bert", "exaone4", "jina-v1-en", "jina-v2-code", "roberta-bpe", "mpt", "olmo", "jais", "trillion",
       "granite-docling"},
      gpt2);
  add({"default"}, PreType{re({R"re([\p{P}\$\+<=>\^~\|]+)re", kGpt2, R"re(\p{N}+)re", "[0-9][0-9][0-9]"})});
  add({"falcon"}, PreType{re({R"re([\p{P}\$\+<=>\^~\|`]+)re", kGpt2, "[0-9][0-9][0-9]"})});
  add({"starcoder", "refact", "command-r", "smollm", "codeshell", "exaone", "minerva-7b", "mellum2"},
      PreType{re({R"re(\p{N})re", kGpt2})});

  PreType llama3{re({kLlama3})};
  llama3.ignore_merges = true;
  llama3.add_bos = true;
  add({"llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2", "jina-v5-nano"},
      llama3);
  add({"dbrx", "smaug-bpe"}, PreType{re({kLlama3})});
  PreType chatglm{re({kLlama3})};
  chatglm.no_bos = true;
  add({"chatglm-bpe", "glm4"}, chatglm);
  add({"jais-2"}, PreType{re({kJais2})});
  PreType minicpm5{re({R"re(\p{N}{1,3})re", kMinicpm5})};
  minicpm5.ignore_merges = true;
  add({"minicpm5"}, minicpm5);

  add({"qwen2", "deepseek-r1-qwen", "kormo", "f2llmv2", "megrez", "stablelm2", "hunyuan", "solar-open", "grok-2"},
      PreType{re({kQwen2})});
  add({"qwen35"}, PreType{re({kQwen35})});
  add({"laguna"}, PreType{re({R"re([^\n]+|[\n]+)re", kQwen2})});
  add({"ufakzeka"}, PreType{re({kUfakzeka})});
  add({"seed-coder"}, PreType{re({kSeedCoder})});
  add({"bailingmoe", "bailingmoe2", "llada-moe"}, PreType{re({kBailing})});
  add({"exaone-moe"}, PreType{re({kExaoneMoe})});

  add({"deepseek-llm"}, PreType{re({R"re([\r\n])re", kDeepseekLetters, kDeepseekPunct, R"re(\s+$)re", kDeepseekCjk,
                                     R"re(\p{N}+)re"})});
  add({"deepseek-coder"}, PreType{re({R"re([\r\n])re", R"re(\s?\p{L}+)re", R"re(\s?\p{P}+)re", kDeepseekCjk,
                                       R"re(\p{N})re"})});
  add({"deepseek-v3", "hunyuan-dense", "joyai-llm", "hy_v4"},
      PreType{re({R"re(\p{N}{1,3})re", kDeepseek3Cjk, kDeepseek3})});
  add({"spark2_5"}, PreType{re({R"re(\p{N}{1,3})re", kDeepseek3Cjk, kSpark25, R"re(\p{N})re"})});
  add({"afmoe"}, PreType{re({kAfmoeDigits, kAfmoeCjk, kDeepseek3})});
  PreType youtu{re({kYoutuCjk, kYoutu})};
  youtu.ignore_merges = true;
  add({"youtu"}, youtu);

  add({"poro-chat", "bloom", "gpt3-finnish"}, PreType{re({kBloom})});
  add({"viking"}, PreType{re({kBloom, R"re(\p{N})re"})});

  PreType tekken{re({kTekken})};
  tekken.ignore_merges = true;
  tekken.add_bos = true;
  add({"tekken"}, tekken);
  add({"gpt-4o", "llama4", "kanana2", "talkie", "minimax-m2"}, PreType{re({kGpt4o})});
  PreType granite_emb{re({kGraniteEmbMulti})};
  granite_emb.ignore_merges = true;
  add({"granite-embed-multi-97m"}, granite_emb);
  add({"tiny_aya", "cohere2moe"}, PreType{re({R"re(\d{1,3}(?=(?:\d{3})*\b))re", kGpt4o})});

  PreType chameleon{re({"<sentinel:[0-9]+>", "(IMGIMG)((A|B|C|D|E|F|G|H|I){1,4})Z", "([\\t\\n]|    |  )",
                        R"re(\p{N})re", R"re([\p{P}!-/:-@\[-`{-~])re", kGpt2})};
  chameleon.add_bos = true;
  add({"chameleon"}, chameleon);

  PreType kimi{re({kKimiK2})};
  kimi.merges_optional = true;
  add({"kimi-k2"}, kimi);
  add({"superbpe"}, PreType{re({R"re(\p{N}+)re", R"re((?=(\d{3})+(?!\d)))re"})});

  // SentencePiece-style BPE on raw UTF-8: only lines and newline runs are cut.
  PreType gemma4{re({R"re([^\n]+|[\n]+)re"})};
  gemma4.byte_encode = false;
  gemma4.escape_spaces = true;
  PreType sarvam = gemma4;
  gemma4.whole_newline_runs = true;
  gemma4.force_bos = true;
  add({"gemma4", "granite-embed-multi-311m"}, gemma4);
  add({"sarvam-moe"}, sarvam);
  return t;
}

const std::map<std::string, PreType>& table() {
  static const std::map<std::string, PreType> t = build_table();
  return t;
}

}  // namespace

const PreType& pre_type(const std::string& name) {
  const auto& t = table();
  const auto it = t.find(name);
  if (it == t.end()) {
    std::string known;
    for (const auto& [n, p] : t) known += (known.empty() ? "" : ", ") + n;
    throw Error("unknown pre-tokenizer '" + name + "' (tokenizer.ggml.pre); known: " + known);
  }
  return it->second;
}

std::vector<std::string> known_pre_types() {
  std::vector<std::string> names;
  for (const auto& [n, p] : table()) names.push_back(n);
  return names;
}

}  // namespace sieve
