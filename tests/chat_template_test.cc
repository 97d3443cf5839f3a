// Chat templates end to end: the conformance set (22 real templates x 7
// conversations rendered by jinja2 as transformers does, in
// tests/data/chat-templates), where a model's templates come from, the chat
// API (render_chat, tokenize_chat) and the `sieve template` command.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "chat/chat_template.h"
#include "format/gguf.h"
#include "format/gguf_writer.h"
#include "model/model.h"
#include "test_paths.h"
#include "tokenizer/tokenizer.h"
#include "util/error.h"

namespace sieve::chat {
namespace {

namespace fs = std::filesystem;
using ojson = nlohmann::ordered_json;

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

fs::path conformance_dir() { return fs::path(test_data_dir()) / "chat-templates"; }

TEST(ChatTemplateConformance, EveryCaseMatchesJinja2) {
  int total = 0, passed = 0;
  for (const auto& entry : fs::directory_iterator(conformance_dir())) {
    if (entry.path().extension() != ".json") continue;
    const ojson suite = ojson::parse(slurp(entry.path()));
    const std::string name = suite["template"].get<std::string>();
    RenderOptions options;
    options.now = suite["now"].get<std::string>();
    std::unique_ptr<Template> tpl;
    std::string compile_error;
    try {
      tpl = std::make_unique<Template>(slurp(conformance_dir() / name));
    } catch (const Error& e) {
      compile_error = e.what();
    }
    for (const ojson& c : suite["cases"]) {
      ++total;
      const std::string where = name + " / " + c["name"].get<std::string>();
      std::string got, error = compile_error;
      if (tpl) {
        try {
          got = tpl->render(c["context"], options);
        } catch (const Error& e) {
          error = e.what();
        }
      }
      if (c.contains("expected")) {
        const bool ok = error.empty() && got == c["expected"].get<std::string>();
        EXPECT_TRUE(error.empty()) << where << ": " << error;
        EXPECT_EQ(got, c["expected"].get<std::string>()) << where;
        passed += ok;
      } else {
        EXPECT_FALSE(error.empty()) << where << ": rendered, but jinja2 failed with " << c["error"];
        passed += !error.empty();
      }
    }
  }
  ASSERT_EQ(total, 154);
  std::printf("chat template conformance: %d/%d cases (%.1f%%)\n", passed, total, 100.0 * passed / total);
}

TEST(ChatTemplateConformance, ErrorsSayWhatJinja2Says) {
  // The messages a template's author and user see, as jinja2 words them.
  const ojson suite = ojson::parse(slurp(conformance_dir() / "google-gemma-2-2b-it.json"));
  const Template tpl(slurp(conformance_dir() / "google-gemma-2-2b-it.jinja"));
  for (const ojson& c : suite["cases"]) {
    if (!c.contains("error")) continue;
    try {
      tpl.render(c["context"]);
      FAIL() << "rendered " << c["name"];
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(c["error"].get<std::string>()), std::string::npos) << e.what();
    }
  }
}

TEST(ChatTemplates, FromTokenizerConfigStringOrNamedList) {
  ChatTemplates one = ChatTemplates::from_tokenizer_config(
      ojson::parse(R"({"chat_template": "{{ bos_token }}x", "bos_token": {"content": "<s>"}, "eos_token": "</s>"})"),
      "tokenizer_config.json");
  EXPECT_EQ(one.default_source, "{{ bos_token }}x");
  EXPECT_EQ(one.bos_token, "<s>");
  EXPECT_EQ(one.eos_token, "</s>");
  EXPECT_EQ(render_chat(one, ojson::array(), {}), "<s>x");

  ChatTemplates many = ChatTemplates::from_tokenizer_config(
      ojson::parse(R"({"chat_template": [{"name": "default", "template": "D"}, {"name": "tool_use", "template": "T"}]})"),
      "tokenizer_config.json");
  ChatOptions opt;
  EXPECT_EQ(render_chat(many, ojson::array(), opt), "D");
  opt.tools = ojson::parse(R"([{"type": "function", "function": {"name": "f"}}])");
  EXPECT_EQ(render_chat(many, ojson::array(), opt), "T");  // transformers picks tool_use when tools are given
  opt.template_name = "default";
  EXPECT_EQ(render_chat(many, ojson::array(), opt), "D");
  opt.template_name = "rag";
  EXPECT_THROW(render_chat(many, ojson::array(), opt), Error);

  EXPECT_THROW(ChatTemplates::from_tokenizer_config(ojson::parse(R"({"chat_template": 5})"), "x"), Error);
  EXPECT_THROW(ChatTemplates::from_tokenizer_config(ojson::parse(R"({"chat_template": [{"name": 1}]})"), "x"), Error);
}

TEST(ChatTemplates, ModelWithoutTemplateSaysHowToGiveOne) {
  ChatTemplates none;
  none.origin = "model.gguf";
  try {
    render_chat(none, ojson::array(), {});
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--chat-template-file"), std::string::npos) << e.what();
  }
  ChatOptions opt;
  opt.template_override = "{{ messages[0].content }}!";
  EXPECT_EQ(render_chat(none, ojson::parse(R"([{"role": "user", "content": "hi"}])"), opt), "hi!");
}

TEST(ChatTemplates, FromGgufMetadata) {
  GgufWriter w;
  w.set("tokenizer.ggml.tokens", gguf_value::string_array({"<unk>", "<s>", "</s>"}));
  w.set("tokenizer.ggml.bos_token_id", gguf_value::u32(1));
  w.set("tokenizer.ggml.eos_token_id", gguf_value::u32(2));
  w.set("tokenizer.chat_template", gguf_value::string("{{ bos_token }}{{ messages[0].content }}{{ eos_token }}"));
  w.set("tokenizer.chat_template.tool_use", gguf_value::string("tools:{{ tools|length }}"));
  const std::vector<uint8_t> bytes = w.bytes();
  GgufFile f(bytes.data(), bytes.size(), "test.gguf");
  ChatTemplates t = ChatTemplates::from_gguf(f);
  EXPECT_EQ(t.bos_token, "<s>");
  EXPECT_EQ(t.eos_token, "</s>");
  ASSERT_EQ(t.named.count("tool_use"), 1u);
  const ojson msgs = ojson::parse(R"([{"role": "user", "content": "hi"}])");
  EXPECT_EQ(render_chat(t, msgs, {}), "<s>hi</s>");
  ChatOptions opt;
  opt.tools = ojson::parse(R"([{"name": "a"}, {"name": "b"}])");
  EXPECT_EQ(render_chat(t, msgs, opt), "tools:2");
}

TEST(ChatTemplates, FromHfFolderPrefersChatTemplateJinja) {
  const fs::path dir = fs::temp_directory_path() / ("sieve-chat-" + std::to_string(::getpid()));
  fs::create_directories(dir / "additional_chat_templates");
  std::ofstream(dir / "tokenizer_config.json") << R"({"chat_template": "old", "bos_token": "<s>", "eos_token": "</s>"})";
  EXPECT_EQ(ChatTemplates::from_hf_folder(dir.string()).default_source, "old");
  std::ofstream(dir / "chat_template.jinja") << "{{ bos_token }}new";
  std::ofstream(dir / "additional_chat_templates" / "rag.jinja") << "rag";
  ChatTemplates t = ChatTemplates::from_hf_folder(dir.string());
  EXPECT_EQ(render_chat(t, ojson::array(), {}), "<s>new");
  ChatOptions opt;
  opt.template_name = "rag";
  EXPECT_EQ(render_chat(t, ojson::array(), opt), "rag");
  fs::remove_all(dir);
}

TEST(ChatTemplates, RenderChatGivesTransformersVariables) {
  ChatTemplates t;
  t.default_source =
      "{{ tools is none }}|{{ documents is none }}|{{ add_generation_prompt }}|{{ enable_thinking }}|"
      "{{ messages|length }}";
  ChatOptions opt;
  opt.add_generation_prompt = false;
  opt.extra = ojson::parse(R"({"enable_thinking": false})");
  EXPECT_EQ(render_chat(t, ojson::parse(R"([{"role": "user", "content": "a"}])"), opt), "True|True|False|False|1");
  EXPECT_THROW(render_chat(t, ojson::parse(R"({"role": "user"})"), opt), Error);
}

TEST(ChatTemplates, TokenizeChatNeverAddsBosTwice) {
  auto model = Model::load(test_model_dir());
  const Tokenizer& tok = model->tokenizer();
  ASSERT_GE(tok.bos_id(), 0);
  EXPECT_TRUE(model->chat_templates().empty());  // the test model ships none
  const std::vector<int32_t> with_bos_text = tokenize_chat(tok, "<s>Hello</s>");
  const std::vector<int32_t> without = tokenize_chat(tok, "Hello");
  ASSERT_FALSE(with_bos_text.empty());
  EXPECT_EQ(with_bos_text.front(), tok.bos_id());
  EXPECT_NE(with_bos_text.size() > 1 ? with_bos_text[1] : -1, tok.bos_id());
  EXPECT_EQ(with_bos_text.back(), tok.eos_id());  // special-token text is parsed
  ASSERT_FALSE(without.empty());
  EXPECT_EQ(without.front(), tok.bos_id());  // added once, as the tokenizer adds it
  EXPECT_EQ(std::count(without.begin(), without.end(), tok.bos_id()), 1);
  EXPECT_NE(without.back(), tok.eos_id());  // no EOS appended
}

// `sieve template`: exact output, one-line errors.
struct CliRun {
  int status;
  std::string out;
};

CliRun run_cli(const std::string& args) {
  const std::string cmd = sieve_binary() + " template " + args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  CliRun r{-1, ""};
  if (!p) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
  const int st = pclose(p);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

TEST(TemplateCommand, PrintsTheRenderingExactly) {
  const fs::path dir = fs::temp_directory_path() / ("sieve-tpl-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  std::ofstream(dir / "t.jinja") << "{{ messages[0].content }} {{ strftime_now('%d %b %Y') }}\n";
  std::ofstream(dir / "c.json") << R"({"messages": [{"role": "user", "content": "héllo"}]})";
  CliRun ok = run_cli("-t " + (dir / "t.jinja").string() + " --context " + (dir / "c.json").string() +
                   " --now 2026-01-15T12:00:00");
  EXPECT_EQ(ok.status, 0);
  EXPECT_EQ(ok.out, "héllo 15 Jan 2026");  // one trailing newline dropped, as jinja2 does; none added

  std::ofstream(dir / "bad.jinja") << "{% if %}";
  CliRun bad = run_cli("-t " + (dir / "bad.jinja").string() + " --context " + (dir / "c.json").string());
  EXPECT_EQ(bad.status, 1);
  EXPECT_EQ(bad.out.rfind("error: ", 0), 0u) << bad.out;
  EXPECT_EQ(std::count(bad.out.begin(), bad.out.end(), '\n'), 1) << bad.out;

  std::ofstream(dir / "raise.jinja") << "{{ raise_exception('no system role') }}";
  CliRun raised = run_cli("-t " + (dir / "raise.jinja").string() + " --context " + (dir / "c.json").string());
  EXPECT_EQ(raised.status, 1);
  EXPECT_NE(raised.out.find("no system role"), std::string::npos) << raised.out;

  CliRun missing = run_cli("-t " + (dir / "t.jinja").string());
  EXPECT_EQ(missing.status, 1);
  EXPECT_NE(missing.out.find("--context"), std::string::npos) << missing.out;
  CliRun help = run_cli("--help");
  EXPECT_EQ(help.status, 0);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace sieve::chat
