#pragma once
// A fixed pool of worker threads for data-parallel loops. The calling thread
// takes part in the work, so a pool of n threads has n-1 workers.
//
// A decoded token runs ~70 parallel loops of a few microseconds each, so
// waking sleeping threads through the kernel would cost more than the work:
// workers spin on an atomic generation counter for a while after each loop
// and only then sleep on a condition variable.
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace sieve {

class ThreadPool {
 public:
  explicit ThreadPool(int n_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return n_threads_; }

  // Calls fn(thread_index, begin, end) on disjoint ranges covering [0, n),
  // split into contiguous chunks of at least `grain` items, and returns when
  // all are done. thread_index < size(), for per-thread scratch buffers.
  void parallel_for(int64_t n, int64_t grain,
                    const std::function<void(int thread, int64_t begin, int64_t end)>& fn);

 private:
  void worker_loop(int index);

  int n_threads_;
  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable wake_;
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> pending_{0};
  std::atomic<int> sleepers_{0};
  std::atomic<bool> stop_{false};
  const std::function<void(int, int64_t, int64_t)>* job_ = nullptr;
  int64_t job_n_ = 0;
  int64_t job_chunk_ = 0;
};

}  // namespace sieve
