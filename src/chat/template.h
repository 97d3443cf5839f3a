#pragma once
// A compiled chat template: the Jinja language as Hugging Face transformers
// renders chat templates (jinja2 3.1, sandboxed, trim_blocks, lstrip_blocks,
// loop controls, the {% generation %} block).
//
//   chat::Template t(source);                       // throws sieve::Error on a syntax error
//   std::string text = t.render(context_json, {});  // throws sieve::Error when rendering fails
//
// Rendering is bounded by RenderOptions::limits (output size, loop
// iterations, call and nesting depth); a template that passes them fails
// with a sieve::Error, as does one that calls raise_exception() or uses an
// undefined value where jinja2 would raise.
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "chat/ast.h"
#include "chat/interpreter.h"

namespace sieve::chat {

class Template {
 public:
  explicit Template(const std::string& source);

  // context: a JSON object whose members become the template's variables.
  std::string render(const nlohmann::ordered_json& context, const RenderOptions& options = {}) const;
  // context: a Dict value.
  std::string render(const Value& context, const RenderOptions& options = {}) const;

 private:
  std::shared_ptr<const Body> body_;
};

}  // namespace sieve::chat
