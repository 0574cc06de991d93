#include "runtime/kernels/ThreadPool.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

namespace v4c::kernels {
namespace {

class Pool {
public:
  ~Pool() { resize(0); }

  void resize(int workers) {
    std::unique_lock<std::mutex> lock(mutex);
    if (workers == int(threads.size()))
      return;
    stopping = true;
    wake.notify_all();
    lock.unlock();
    for (std::thread &t : threads)
      t.join();
    lock.lock();
    threads.clear();
    stopping = false;
    for (int i = 0; i < workers; ++i)
      threads.emplace_back([this] { work(); });
  }

  int size() {
    std::lock_guard<std::mutex> lock(mutex);
    return int(threads.size());
  }

  void run(int count, const std::function<void(int)> &task) {
    std::unique_lock<std::mutex> lock(mutex);
    job = &task;
    tasks = count;
    next.store(0);
    done = 0;
    ++generation;
    wake.notify_all();
    lock.unlock();
    take(); // the caller works too
    lock.lock();
    finished.wait(lock, [&] { return done == tasks; });
    job = nullptr;
  }

private:
  /// Takes tasks until none are left; counts the ones it ran.
  void take() {
    int ran = 0;
    for (int i = next.fetch_add(1); i < tasks; i = next.fetch_add(1)) {
      (*job)(i);
      ++ran;
    }
    if (ran == 0)
      return;
    std::lock_guard<std::mutex> lock(mutex);
    done += ran;
    if (done == tasks)
      finished.notify_all();
  }

  void work() {
    uint64_t seen = 0;
    for (;;) {
      std::unique_lock<std::mutex> lock(mutex);
      wake.wait(lock, [&] { return stopping || (job && generation != seen); });
      if (stopping)
        return;
      seen = generation;
      lock.unlock();
      take();
    }
  }

  std::mutex mutex;
  std::condition_variable wake, finished;
  std::vector<std::thread> threads;
  const std::function<void(int)> *job = nullptr;
  std::atomic<int> next{0};
  int tasks = 0, done = 0;
  uint64_t generation = 0;
  bool stopping = false;
};

Pool &pool() {
  static Pool instance;
  return instance;
}

std::atomic<int> configured{1};

} // namespace

void setThreadCount(int threads) {
  threads = std::max(1, threads);
  configured.store(threads);
  pool().resize(threads - 1);
}

int threadCount() { return configured.load(); }

void parallelFor(int count, const std::function<void(int)> &task) {
  if (count <= 1 || threadCount() <= 1) {
    for (int i = 0; i < count; ++i)
      task(i);
    return;
  }
  pool().run(count, task);
}

} // namespace v4c::kernels
