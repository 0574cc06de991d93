#include "runtime/kernels/ThreadPool.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define V4C_PAUSE() _mm_pause()
#else
#define V4C_PAUSE() ((void)0)
#endif

namespace v4c::kernels {
namespace {

/// Workers spin between jobs before they sleep: a decode step runs a few hundred GEMVs of tens
/// of microseconds with serial code between them, and waking a sleeping thread costs about as
/// much as one of those GEMVs (measured: with sleeping workers, 2 threads were no faster than
/// 1 on the small preset's decode).
constexpr auto kSpinBeforeSleep = std::chrono::microseconds(500);

/// One job at a time. Its tasks are claimed through one atomic word holding (job number, task
/// count, next task), so a worker still looking at an old job can never claim a task of a new
/// one: the claim is a compare-exchange on the whole word.
class Pool {
public:
  ~Pool() { resize(0); }

  void resize(int workers) {
    std::lock_guard<std::mutex> running(runMutex);
    if (workers == int(threads.size()))
      return;
    {
      std::lock_guard<std::mutex> lock(sleepMutex);
      stopping.store(true);
    }
    wake.notify_all();
    for (std::thread &t : threads)
      t.join();
    threads.clear();
    stopping.store(false);
    for (int i = 0; i < workers; ++i)
      threads.emplace_back([this] { work(); });
  }

  /// False when another thread's job is running, or the job has more tasks than the state
  /// word counts (the caller then runs its tasks itself).
  bool run(int count, const std::function<void(int)> &task) {
    if (uint64_t(count) > kFieldMask)
      return false;
    std::unique_lock<std::mutex> running(runMutex, std::try_to_lock);
    if (!running.owns_lock())
      return false;
    job = &task;
    done.store(0, std::memory_order_relaxed);
    uint64_t number = (jobNumber(state.load(std::memory_order_relaxed)) + 1) & kNumberMask;
    state.store(pack(number, uint64_t(count), 0), std::memory_order_release);
    {
      std::lock_guard<std::mutex> lock(sleepMutex);
      if (sleepers > 0)
        wake.notify_all();
    }
    while (claimAndRun()) {
    }
    while (done.load(std::memory_order_acquire) < count)
      V4C_PAUSE();
    return true;
  }

private:
  // state = number (24 bits) | count (20 bits) | next (20 bits)
  static constexpr uint64_t kFieldMask = (1u << 20) - 1, kNumberMask = (1u << 24) - 1;
  static uint64_t pack(uint64_t number, uint64_t count, uint64_t next) {
    return number << 40 | count << 20 | next;
  }
  static uint64_t jobNumber(uint64_t s) { return s >> 40; }
  static uint64_t taskCount(uint64_t s) { return (s >> 20) & kFieldMask; }
  static uint64_t nextTask(uint64_t s) { return s & kFieldMask; }

  /// Claims one task of the current job and runs it; false when none is left.
  bool claimAndRun() {
    uint64_t s = state.load(std::memory_order_acquire);
    while (nextTask(s) < taskCount(s))
      if (state.compare_exchange_weak(s, s + 1, std::memory_order_acq_rel)) {
        // The job cannot change before this task is counted done.
        (*job)(int(nextTask(s)));
        done.fetch_add(1, std::memory_order_release);
        return true;
      }
    return false;
  }

  void work() {
    for (;;) {
      // `seen` before looking for work: a job published after this load changes the state,
      // so the wait below cannot miss it.
      uint64_t seen = state.load(std::memory_order_acquire);
      if (claimAndRun())
        continue;
      auto spinUntil = std::chrono::steady_clock::now() + kSpinBeforeSleep;
      bool changed = false;
      for (int spins = 0; !changed; ++spins) {
        V4C_PAUSE();
        changed = state.load(std::memory_order_acquire) != seen || stopFlag();
        if (!changed && spins % 256 == 255 && std::chrono::steady_clock::now() > spinUntil)
          break;
      }
      if (!changed) {
        std::unique_lock<std::mutex> lock(sleepMutex);
        ++sleepers;
        wake.wait(lock, [&] { return stopping || state.load(std::memory_order_acquire) != seen; });
        --sleepers;
      }
      if (stopFlag())
        return;
    }
  }

  bool stopFlag() const { return stopping.load(std::memory_order_acquire); }

  std::mutex runMutex;   // one job at a time; resize waits for it
  std::mutex sleepMutex; // guards sleepers; stopping changes under it too (for wake)
  std::condition_variable wake;
  int sleepers = 0;
  std::atomic<bool> stopping{false};
  std::vector<std::thread> threads;
  const std::function<void(int)> *job = nullptr;
  std::atomic<uint64_t> state{0};
  std::atomic<int> done{0};
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
  if (count <= 1 || threadCount() <= 1 || !pool().run(count, task))
    for (int i = 0; i < count; ++i)
      task(i);
}

} // namespace v4c::kernels
