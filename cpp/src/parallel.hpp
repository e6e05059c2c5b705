// Implementation detail of the core (not part of the API): parallel loops on one
// process-wide pool of worker threads.
//
// The pool starts on first use with enough workers for the largest request seen so far
// (it grows, never shrinks) and lives until the process ends: its threads are never
// joined, so no static destructor waits on them. A child process made by fork() gets a
// fresh pool on first use (the parent's threads do not exist there).
#pragma once

#include <cstddef>
#include <functional>

namespace ortnative::detail {

// Calls fn(i) once for every i in [0, n), on up to THREADS threads: the calling thread
// and THREADS - 1 pool workers. Returns when every call has returned. Tasks are taken in
// order from a shared counter, so uneven tasks balance out. If a call throws, tasks not
// yet started are skipped and the first exception is rethrown here. Safe to call from
// many threads at once (each call has its own state); calls from inside fn run inline.
void parallel_for(std::size_t n, int threads, const std::function<void(std::size_t)>& fn);

}  // namespace ortnative::detail
