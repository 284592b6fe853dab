#pragma once
// The CPU backend's thread pool (internal). A parallel job is a number of chunks; the calling
// thread claims chunks too, and workers that arrive late find nothing left to do, so a job never
// waits for a thread that the OS has not scheduled (another process on the other core) unless
// that thread already holds a chunk. Idle workers spin for a few microseconds, then sleep in the
// kernel: they do not take a core from other processes between ops.
//
// Chunks are fixed by the caller, not by which thread runs them, so a kernel that keeps one
// partial result per chunk gives the same bits whatever the thread count or the scheduling.
#include <cstdint>

namespace tessera::cpu {

// Threads a job may use, the caller included (set_num_threads; default: the cores this process
// may run on, or OMP_NUM_THREADS when set).
int pool_threads();
void set_pool_threads(int n);

// True on a pool worker and on a caller inside run_chunks: nested jobs run serially there.
bool in_parallel_region();

// Runs fn(ctx, c) for every chunk c in [0, chunks) on the caller and the pool's workers and
// returns when all are done. The first exception a chunk throws is rethrown here (the chunks
// not yet started are skipped). Runs serially when chunks == 1, inside another job, or when
// another thread's job holds the pool.
void run_chunks(int64_t chunks, void (*fn)(void*, int64_t), void* ctx);

}  // namespace tessera::cpu
