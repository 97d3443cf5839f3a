#include "chat/template.h"

#include "chat/parser.h"

namespace sieve::chat {

Template::Template(const std::string& source)
    : body_(std::make_shared<const Body>(parse_template(source))) {}

std::string Template::render(const nlohmann::ordered_json& context, const RenderOptions& options) const {
  if (!context.is_object()) throw Error("template context must be a JSON object");
  return render(from_json(context), options);
}

std::string Template::render(const Value& context, const RenderOptions& options) const {
  Interpreter in(options);
  return in.render(*body_, context);
}

}  // namespace sieve::chat
