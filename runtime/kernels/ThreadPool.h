// A small persistent thread pool for the microkernels: one job at a time, split into tasks
// that the caller and the workers take in turn. The thread count is process-wide
// (v4c_set_num_threads); 1 runs everything on the caller.
#pragma once

#include <functional>

namespace v4c::kernels {

void setThreadCount(int threads);
int threadCount();
/// Runs task(0) .. task(count - 1), in parallel when threads are available; returns when all
/// are done.
void parallelFor(int count, const std::function<void(int)> &task);

} // namespace v4c::kernels
