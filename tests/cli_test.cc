// The sieve binary on bad input: flags, prompts and model files. The contract
// is exit status 1 (not a signal, not a hang) and one "error: ..." line on
// stderr that names the problem. Each case runs the built binary in a child
// process under a timeout.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "test_paths.h"

namespace sieve {
namespace {

namespace fs = std::filesystem;

struct CliResult {
  int exit_code = -1;  // when it exited
  int signal = 0;      // when a signal ended it
  bool timed_out = false;
  std::string out, err;
};

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string joined(const std::vector<std::string>& args) {
  std::string s = "sieve";
  for (const std::string& a : args) s += " '" + a + "'";
  return s;
}

// Runs the binary with stdin empty and stdout/stderr captured in files;
// kills it at the timeout, which the caller reports as a hang.
CliResult run_cli(const std::vector<std::string>& args, int timeout_s = 120) {
  const fs::path dir = fs::temp_directory_path() / ("sieve-cli-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const std::string out = (dir / "stdout").string(), err = (dir / "stderr").string(), bin = sieve_binary();
  // Everything the child needs is built before fork: it may only exec.
  std::vector<char*> argv{const_cast<char*>(bin.c_str())};
  for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid == 0) {
    const int in_fd = ::open("/dev/null", O_RDONLY);
    const int out_fd = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const int err_fd = ::open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::dup2(in_fd, 0);
    ::dup2(out_fd, 1);
    ::dup2(err_fd, 2);
    ::execv(bin.c_str(), argv.data());
    ::_exit(127);
  }
  CliResult r;
  int status = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
  while (::waitpid(pid, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      r.timed_out = true;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (WIFEXITED(status)) r.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) r.signal = WTERMSIG(status);
  r.out = slurp(out);
  r.err = slurp(err);
  fs::remove_all(dir);
  return r;
}

// Bad input: exit 1, and stderr ends with the only "error: " line, which
// contains every word.
void expect_cli_error(const std::vector<std::string>& args, const std::vector<std::string>& words,
                      int exit_code = 1) {
  SCOPED_TRACE(joined(args));
  const CliResult r = run_cli(args);
  ASSERT_FALSE(r.timed_out) << "hung";
  ASSERT_EQ(r.signal, 0) << "killed by signal " << r.signal << " (" << ::strsignal(r.signal) << "); stderr:\n" << r.err;
  EXPECT_EQ(r.exit_code, exit_code) << "stderr:\n" << r.err;
  std::vector<std::string> lines, errors;
  std::istringstream in(r.err);
  for (std::string line; std::getline(in, line);) {
    lines.push_back(line);
    if (line.rfind("error: ", 0) == 0) errors.push_back(line);
  }
  ASSERT_EQ(errors.size(), 1u) << "stderr:\n" << r.err;
  if (exit_code == 1) {
    EXPECT_EQ(lines.back(), errors[0]) << "the error is not the last line";
  }
  for (const std::string& w : words) EXPECT_NE(errors[0].find(w), std::string::npos) << "'" << w << "' not in: " << errors[0];
}

class Cli : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("sieve-cli-files-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // The first n bytes of the real Q4_K_M file.
  std::string truncated_gguf(size_t n) {
    std::ifstream in(model_, std::ios::binary);
    std::string head(n, '\0');
    in.read(head.data(), static_cast<std::streamsize>(n));
    return write("cut.gguf", head);
  }
  std::string write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ / name, std::ios::binary) << text;
    return (dir_ / name).string();
  }

  const std::string model_ = test_model_dir() + "/model-q4_k_m.gguf";
  fs::path dir_;
};

TEST_F(Cli, GoodInputWorks) {
  // Anchors the harness: the same binary and model succeed on good input.
  CliResult r = run_cli({"run", "-m", model_, "--prompt-tokens", "1,450,3000", "-n", "3", "--temp", "0"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  r = run_cli({"tokenize", "-m", model_, "Hello world"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.substr(0, 2), "[1") << r.out;
  r = run_cli({"run", "--help"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
}

TEST_F(Cli, BadFlagValues) {
  const std::vector<std::string> base = {"run", "-m", model_, "-p", "hi"};
  const struct {
    std::vector<std::string> extra;
    std::string says;
  } cases[] = {
      {{"--temp", "-1"}, "--temp must be >= 0"},
      {{"--temp", "nan"}, "--temp expects a number, got 'nan'"},
      {{"--top-p", "2"}, "--top-p must be in (0, 1]"},
      {{"--top-p", "0"}, "--top-p must be in (0, 1]"},
      {{"--min-p", "1"}, "--min-p must be in [0, 1)"},
      {{"--top-k", "-3"}, "--top-k must be >= 0"},
      {{"--repeat-penalty", "0"}, "--repeat-penalty must be > 0"},
      {{"-n", "abc"}, "-n expects an integer, got 'abc'"},
      {{"-n", "99999999999999999999"}, "-n expects an integer"},
      {{"--seed", "1.5"}, "--seed expects an integer, got '1.5'"},
      {{"-c", "-5"}, "--ctx must be positive"},
      {{"-t", "0"}, "--threads must be between 1 and 1024"},
      {{"--top-k", "99999999999"}, "--top-k is out of range"},
      {{"--bogus"}, "unknown option '--bogus' (see sieve run --help)"},
      {{"--json=yes"}, "--json takes no value"},
      {{"--logits"}, "--logits needs --json"},
      {{"stray"}, "unexpected argument 'stray'"},
      {{"--temp"}, "--temp needs a value (T)"},
  };
  for (const auto& c : cases) {
    std::vector<std::string> args = base;
    args.insert(args.end(), c.extra.begin(), c.extra.end());
    expect_cli_error(args, {c.says});
  }
  expect_cli_error({"run", "-p", "hi"}, {"no model: give -m PATH"});
  expect_cli_error({"frobnicate"}, {"unknown command 'frobnicate'"}, 2);
}

TEST_F(Cli, MInferenceSearchAndPatternFilesTellWhatIsWrong) {
  expect_cli_error({"minference-search", "-m", model_}, {"no output: give -o FILE"});
  expect_cli_error({"minference-search", "-m", model_, "-o", (dir_ / "p.json").string(), "--budget", "32"},
                   {"--budget must be at least 64"});
  expect_cli_error({"minference-search", "-m", model_, "-o", (dir_ / "p.json").string(), "--length", "1000",
                    "--budget", "1024"},
                   {"--length must be at least twice --budget"});
  expect_cli_error({"minference-search", "-m", model_, "-o", (dir_ / "p.json").string(), "--task", "ppl"},
                   {"--task must be passkey, niah or niah-multikey"});
  const std::string bad = write("bad.json", R"({"format": "sieve-minference-patterns", "version": 1, "layers": []})");
  expect_cli_error({"run", "-m", model_, "-p", "hi", "-n", "1", "--attn", "minference:config=" + bad},
                   {"bad.json", "has 0 layers; the model has 8"});
  expect_cli_error({"bench", "-m", model_, "-p", "64", "-n", "0", "--attn", "quest+full"},
                   {"'quest' is not a prefill method"});
}

// bench --text: the tests run on a text's tokens, and the JSON says so.
TEST_F(Cli, BenchOnATextsTokens) {
  const std::string text = write("text.txt", "The quick brown fox jumps over the lazy dog. It was not amused.\n");
  CliResult r = run_cli({"bench", "-m", model_, "-p", "0", "-n", "4", "-d", "100", "-r", "1", "--text", text,
                         "--attn", "tokenselect:k=16,n_init=4,n_local=32,chunk=32", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("\"tokens\": \"text:" + text), std::string::npos) << r.out;
  // The text repeats: decoded tokens' queries are like earlier ones, so the
  // Selection Cache reuses selections.
  const size_t at = r.out.find("\"selections_reused\": ");
  ASSERT_NE(at, std::string::npos) << r.out;
  EXPECT_GT(std::stod(r.out.substr(at + 21)), 0.0) << r.out;
  expect_cli_error({"bench", "-m", model_, "-p", "64", "-n", "0", "--text", (dir_ / "missing.txt").string()},
                   {"missing.txt"});
}

TEST_F(Cli, InspectWritesItsPicturesAndFindings) {
  const std::string out = (dir_ / "inspect").string(), json = (dir_ / "inspect.json").string();
  CliResult r = run_cli({"inspect", "-m", model_, "--length", "600", "--calibration", "2x256", "--pattern-budget", "128",
                         "-o", out, "--json-file", json, "--layers", "2,5", "--heads", "0"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("600 tokens, 8 layers x 8 heads"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("drop order"), std::string::npos) << r.out;
  for (const char* f : {"maps.svg", "sinks.svg", "dormant.svg", "head-patterns.svg", "redundancy.svg", "layer-similarity.svg",
                        "extreme-tokens.svg"})
    EXPECT_TRUE(fs::exists(fs::path(out) / f)) << f;
  EXPECT_NE(slurp(fs::path(out) / "maps.svg").find("layer 5"), std::string::npos);
  EXPECT_EQ(slurp(fs::path(out) / "maps.svg").find("layer 3"), std::string::npos);
  EXPECT_NE(slurp(json).find("\"drop_order\""), std::string::npos);

  expect_cli_error({"inspect", "-m", model_, "--length", "300", "--layers", "9", "-o", out, "--calibration", "0x0"},
                   {"--layers: the model has layers 0-7"});
  expect_cli_error({"inspect", "-m", model_, "--calibration", "lots"}, {"--calibration must be SAMPLESxLENGTH"});
  expect_cli_error({"inspect", "-m", model_, "--length", "9000"}, {"past the model's trained context of 8192"});
  expect_cli_error({"act-search", "-m", model_}, {"no output: give -o FILE"});
  expect_cli_error({"act-search", "-m", model_, "-o", (dir_ / "a.json").string(), "--tasks", "ppl"},
                   {"--tasks: passkey, niah or niah-multikey"});
}

TEST_F(Cli, LayerDropSaysWhatItDropped) {
  CliResult r = run_cli({"run", "-m", model_, "--prompt-tokens", "1,450,3000", "-n", "2", "--temp", "0",
                         "--drop-attn-layers", "2,6", "--drop-layers", "mlp:3"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("dropped attention blocks 2,6, MLP blocks 3"), std::string::npos) << r.err;
  r = run_cli({"run", "-m", model_, "--prompt-tokens", "1,450,3000", "-n", "2", "--temp", "0", "--drop-attn-layers", "1",
               "--drop-calibration", "2x128"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("the most redundant on the calibration set"), std::string::npos) << r.err;
  expect_cli_error({"run", "-m", model_, "-p", "hi", "--drop-layers", "attn:8"}, {"the model has 8 layers (0-7)"});
  expect_cli_error({"run", "-m", model_, "-p", "hi", "--drop-attn-layers", "9", "--drop-calibration", "1x64"},
                   {"cannot drop 9 blocks: the model has 8 attention blocks"});
  expect_cli_error({"run", "-m", model_, "-p", "hi", "--drop-layers", "ffn:2"}, {"neither a number nor attn:LIST"});
  expect_cli_error({"run", "-m", model_, "-p", "hi", "--drop-attn-layers", "0,1,2,3,4,5,6,7"},
                   {"cannot drop every attention block"});
}

TEST_F(Cli, RefusesWorkWhoseCacheCannotFitInMemory) {
  expect_cli_error({"bench", "-m", model_, "-p", "999999999", "-n", "0", "-r", "1"},
                   {"KV cache of the longest test (999999999 tokens", "MiB but the system has", "MiB available"});
  expect_cli_error({"run", "-m", model_, "-c", "999999999", "-p", "hi", "-n", "999999999"},
                   {"KV cache pool needs", "MiB available"});
}

TEST_F(Cli, BadPrompts) {
  expect_cli_error({"run", "-m", model_, "--prompt-tokens", "1,99999"},
                   {"token id 99999 is out of range (vocabulary has 8192 tokens)"});
  expect_cli_error({"run", "-m", model_, "--prompt-tokens", "1,-2"}, {"token id -2 is out of range"});
  expect_cli_error({"run", "-m", model_, "--prompt-tokens", "1,,2"}, {"--prompt-tokens expects an integer, got ''"});
  expect_cli_error({"run", "-m", model_, "--prompt-tokens", "99999999999999999999"}, {"--prompt-tokens expects an integer"});
  std::string long_prompt;
  for (int i = 0; i < 100; ++i) long_prompt += "the quick brown fox ";
  expect_cli_error({"run", "-m", model_, "-c", "16", "-p", long_prompt},
                   {"the prompt is", "tokens, longer than the context of 16 tokens"});
  expect_cli_error({"run", "-m", model_}, {"no prompt: give -p TEXT, --file FILE or --prompt-tokens IDS"});
  expect_cli_error({"run", "-m", model_, "-p", "hi", "--prompt-tokens", "1"}, {"give only one of -p, --file and --prompt-tokens"});
  expect_cli_error({"run", "-m", model_, "--file", "/nonexistent/prompt.txt"}, {"cannot read '/nonexistent/prompt.txt'"});
  expect_cli_error({"run", "-m", model_, "-p", "hi", "--stop", ""}, {"a stop string must not be empty"});
  expect_cli_error({"run", "-m", model_, "-p", "hi", "-n", "-1"}, {"the token limit must be >= 0"});
}

TEST_F(Cli, BadModelFiles) {
  expect_cli_error({"run", "-m", "/nonexistent/model.gguf", "-p", "hi"}, {"model '/nonexistent/model.gguf' not found"});
  const std::string cut = truncated_gguf(100000);
  expect_cli_error({"run", "-m", cut, "-p", "hi"}, {"cut.gguf: invalid GGUF file", "string value"});
  expect_cli_error({"run", "-m", truncated_gguf(0), "-p", "hi"}, {"truncated while reading magic"});
  expect_cli_error({"run", "-m", write("notes.txt", "just some text, not a model"), "-p", "hi"},
                   {"notes.txt: not a GGUF file (wrong magic)"});
  expect_cli_error({"run", "-m", test_model_dir() + "/model.safetensors", "-p", "hi"}, {"not a GGUF file (wrong magic)"});
  expect_cli_error({"run", "-m", "/dev/null", "-p", "hi"}, {"'/dev/null' is not a regular file"});
  // general.architecture is the first key; its value "llama" starts at byte
  // 64. A newline there must not split the error line.
  std::ifstream in(model_, std::ios::binary);
  std::string gguf((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ASSERT_EQ(gguf.substr(64, 5), "llama");
  gguf[66] = '\n';
  expect_cli_error({"run", "-m", write("newline.gguf", gguf), "-p", "hi"}, {"unknown architecture 'll\\x0ama'"});
  fs::create_directories(dir_ / "hf");
  write("hf/config.json", "{\"architectures\": [\"LlamaForCausalLM\"], ");
  expect_cli_error({"run", "-m", (dir_ / "hf").string(), "-p", "hi"}, {"config.json is not a JSON object"});
  write("hf/config.json", "{\"architectures\": [\"BertModel\"]}");
  expect_cli_error({"run", "-m", (dir_ / "hf").string(), "-p", "hi"}, {"unknown architecture 'BertModel'"});
}

TEST_F(Cli, TokenizeBadInput) {
  expect_cli_error({"tokenize", "-m", "/nonexistent/vocab.gguf", "hi"}, {"cannot open '/nonexistent/vocab.gguf'"});
  expect_cli_error({"tokenize", "-m", truncated_gguf(5000), "hi"}, {"cut.gguf: invalid GGUF file"});
  expect_cli_error({"tokenize", "-m", model_}, {"give either TEXT or --file FILE"});
  expect_cli_error({"tokenize", "-m", model_, "a", "b"}, {"give the text as one argument (quote it)"});
  expect_cli_error({"tokenize", "-m", model_, "--file", "/nonexistent/text.txt"}, {"cannot read '/nonexistent/text.txt'"});
  expect_cli_error({"tokenize", "-m", model_, "-x", "hi"}, {"unknown option '-x' (see sieve tokenize --help)"});
}

}  // namespace
}  // namespace sieve
