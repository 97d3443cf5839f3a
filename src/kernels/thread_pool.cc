#include "kernels/thread_pool.h"

#include <algorithm>
#include <chrono>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define SIEVE_CPU_RELAX() _mm_pause()
#else
#define SIEVE_CPU_RELAX() std::this_thread::yield()
#endif

namespace sieve {
namespace {
// How long an idle worker spins before sleeping: long enough to bridge the
// gaps between the loops of one forward pass, short enough not to burn a
// core between requests.
constexpr auto kSpin = std::chrono::milliseconds(2);
}  // namespace

ThreadPool::ThreadPool(int n_threads) : n_threads_(std::max(1, n_threads)) {
  for (int i = 1; i < n_threads_; ++i) workers_.emplace_back([this, i] { worker_loop(i); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  wake_.notify_all();
  for (std::thread& t : workers_) t.join();
}

void ThreadPool::worker_loop(int index) {
  uint64_t seen = 0;
  for (;;) {
    auto spin_until = std::chrono::steady_clock::now() + kSpin;
    uint64_t g;
    int spins = 0;
    while ((g = generation_.load(std::memory_order_acquire)) == seen && !stop_.load(std::memory_order_relaxed)) {
      if (++spins < 4096) SIEVE_CPU_RELAX();
      else std::this_thread::yield();
      if (spins % 1024 == 0 && std::chrono::steady_clock::now() > spin_until) {
        std::unique_lock<std::mutex> lock(mu_);
        sleepers_.fetch_add(1);
        wake_.wait(lock, [&] { return stop_.load() || generation_.load() != seen; });
        sleepers_.fetch_sub(1);
        spin_until = std::chrono::steady_clock::now() + kSpin;
      }
    }
    if (stop_.load()) return;
    seen = g;
    const int64_t begin = index * job_chunk_;
    if (begin < job_n_) (*job_)(index, begin, std::min(job_n_, begin + job_chunk_));
    pending_.fetch_sub(1, std::memory_order_acq_rel);
  }
}

void ThreadPool::parallel_for(int64_t n, int64_t grain,
                              const std::function<void(int, int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  grain = std::max<int64_t>(1, grain);
  const int64_t chunk = std::max(grain, (n + n_threads_ - 1) / n_threads_);
  if (n_threads_ == 1 || chunk >= n) {
    fn(0, 0, n);
    return;
  }
  job_ = &fn;
  job_n_ = n;
  job_chunk_ = chunk;
  pending_.store(n_threads_ - 1, std::memory_order_relaxed);
  generation_.fetch_add(1, std::memory_order_acq_rel);
  if (sleepers_.load() > 0) {
    std::lock_guard<std::mutex> lock(mu_);
    wake_.notify_all();
  }
  fn(0, 0, std::min(n, chunk));
  // Spin briefly, then yield: when the machine is oversubscribed the worker
  // we wait for may need this core to finish.
  for (int spins = 0; pending_.load(std::memory_order_acquire) != 0; ++spins) {
    if (spins < 4096) SIEVE_CPU_RELAX();
    else std::this_thread::yield();
  }
  job_ = nullptr;
}

}  // namespace sieve
