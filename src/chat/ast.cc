#include "chat/ast.h"

namespace sieve::chat {

Expr::~Expr() {
  std::vector<ExprPtr> pending;
  auto take = [&pending](Expr& e) {
    for (ExprPtr* p : {&e.a, &e.b, &e.c, &e.star_args, &e.star_kwargs})
      if (*p) pending.push_back(std::move(*p));
    for (ExprPtr& x : e.items)
      if (x) pending.push_back(std::move(x));
    for (auto& kv : e.kwargs)
      if (kv.second) pending.push_back(std::move(kv.second));
  };
  take(*this);
  while (!pending.empty()) {
    ExprPtr e = std::move(pending.back());
    pending.pop_back();
    take(*e);
  }
}

}  // namespace sieve::chat
