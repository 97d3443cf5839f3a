#pragma once
// The engine's metrics in Prometheus' text exposition format, named as vLLM
// names them (with the sieve: prefix) so inference gateways can read them.
#include <string>

#include "runtime/metrics.h"

namespace sieve::server {

std::string prometheus_text(const EngineMetrics& m);

}  // namespace sieve::server
