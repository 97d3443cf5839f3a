// sieve chat in a pseudo-terminal, as a person uses it: type a message, read
// the streamed answer and the speed line; a second turn prefills only its
// new tokens; /attn switches the policy; /reset forgets; /exit leaves.
#include <gtest/gtest.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <regex>
#include <string>
#include <vector>

#include "test_paths.h"

namespace sieve {
namespace {

namespace fs = std::filesystem;

// A ChatML layout: the test model was not trained on it, but it shows the
// template, the special-token handling and the conversation mechanics.
constexpr const char* kTemplate =
    "{% for m in messages %}<s>{{ m['role'] }}\n{{ m['content'] }}</s>\n{% endfor %}"
    "{% if add_generation_prompt %}<s>assistant\n{% endif %}";

class ChatSession {
 public:
  explicit ChatSession(const std::vector<std::string>& args) {
    const std::string bin = sieve_binary();
    std::vector<char*> argv{const_cast<char*>(bin.c_str())};
    for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    pid_ = ::forkpty(&fd_, nullptr, nullptr, nullptr);
    if (pid_ == 0) {
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
  }
  ~ChatSession() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    if (fd_ >= 0) ::close(fd_);
  }
  void type(const std::string& line) {
    const std::string s = line + "\n";
    ASSERT_EQ(::write(fd_, s.data(), s.size()), static_cast<ssize_t>(s.size()));
  }
  // Reads until `pattern` matches the output since the last wait; returns it.
  std::string wait_for(const std::string& pattern, int timeout_s = 120) {
    const std::regex re(pattern);
    const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
    while (std::chrono::steady_clock::now() < end) {
      std::smatch m;
      if (std::regex_search(screen_, m, re)) {
        std::string seen = screen_.substr(0, static_cast<size_t>(m.position(0) + m.length(0)));
        screen_.erase(0, seen.size());
        return seen;
      }
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 200) > 0) {
        char buf[4096];
        const ssize_t n = ::read(fd_, buf, sizeof buf);
        if (n <= 0) break;
        screen_.append(buf, static_cast<size_t>(n));
      }
    }
    ADD_FAILURE() << "no '" << pattern << "' in:\n" << screen_;
    return "";
  }
  int exit_code() {
    int status = 0;
    for (int i = 0; i < 300 && ::waitpid(pid_, &status, WNOHANG) == 0; ++i) ::usleep(100000);
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

 private:
  pid_t pid_ = -1;
  int fd_ = -1;
  std::string screen_;
};

TEST(ChatCommand, ConversationInAPseudoTerminal) {
  const fs::path tpl = fs::temp_directory_path() / ("sieve-chat-" + std::to_string(::getpid()) + ".jinja");
  std::ofstream(tpl) << kTemplate;
  ChatSession chat({"chat", "-m", test_model_dir() + "/model-q8_0.gguf", "--chat-template-file", tpl.string(),
                    "--system", "You are terse.", "--temp", "0", "-n", "12", "-t", "2"});
  chat.wait_for("/exit");  // the banner lists the commands
  chat.type("Tell me about kernels.");
  // The speed line: tokens, speed, and how much of the prompt was prefilled.
  std::smatch m;
  std::string first = chat.wait_for(R"(\[\d+ tokens, [0-9.]+ t/s; prefilled (\d+) new of (\d+) tokens)");
  ASSERT_TRUE(std::regex_search(first, m, std::regex(R"(prefilled (\d+) new of (\d+))")));
  EXPECT_EQ(m[1], m[2]);  // the first turn prefills everything
  const int total1 = std::stoi(m[2]);
  chat.type("And memory?");
  std::string second = chat.wait_for(R"(prefilled (\d+) new of (\d+) tokens[^\]]*\])");
  ASSERT_TRUE(std::regex_search(second, m, std::regex(R"(prefilled (\d+) new of (\d+))")));
  EXPECT_GT(std::stoi(m[2]), total1);
  EXPECT_LT(std::stoi(m[1]), std::stoi(m[2]) - total1 + 16) << "the second turn re-prefilled the history";
  chat.type("/attn streaming:sink=4,window=60");
  chat.wait_for(R"(attention streaming:sink=4,window=60 from the next turn)");
  chat.type("Go on.");
  chat.wait_for(R"(prefilled \d+ new of \d+ tokens in [0-9.]+ s; streaming:sink=4,window=60\])");
  chat.type("/attn nonsense");
  chat.wait_for("unknown attention policy");
  chat.type("/reset");
  chat.wait_for("conversation reset");
  chat.type("Hello again.");
  std::string after = chat.wait_for(R"(prefilled (\d+) new of (\d+) tokens)");
  ASSERT_TRUE(std::regex_search(after, m, std::regex(R"(prefilled (\d+) new of (\d+))")));
  EXPECT_EQ(m[1], m[2]);
  chat.type("/exit");
  EXPECT_EQ(chat.exit_code(), 0);
  fs::remove(tpl);
}

TEST(ChatCommand, AModelWithoutATemplateIsRefusedWithHowToGiveOne) {
  ChatSession chat({"chat", "-m", test_model_dir() + "/model-q8_0.gguf"});
  chat.wait_for("--chat-template-file");
  EXPECT_EQ(chat.exit_code(), 1);
}

}  // namespace
}  // namespace sieve
