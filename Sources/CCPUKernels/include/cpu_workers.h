#ifndef CNN_CPU_WORKERS_H
#define CNN_CPU_WORKERS_H

/// The CPU backend's persistent worker threads: `parallelFor` hands them the chunks of one op.
///
/// Why not Dispatch's `concurrentPerform`: a LeNet-5 step is ~1 ms of ~15 split ops, and each
/// split woke a sleeping Dispatch worker (two of them, taken in turn). The scheduler placed most
/// wake-ups on the calling thread's own core, where the worker then preempted the caller, so a
/// "parallel" op ran serially with two context switches (Benchmarks/NOTES-lenet.md, branch
/// lenet7). These workers instead spin for a short, bounded time after each job (as OpenMP's
/// and PyTorch's do), so consecutive ops of a step reach a worker that is already running on
/// its own core; after the spin they sleep on a futex and cost nothing.
///
/// Results never depend on timing: the caller fixes each chunk's bounds, and a chunk runs
/// exactly once on whichever thread claims it first (the caller claims too, so a late or
/// missing worker only costs speed).

#include <stdbool.h>

typedef struct cnn_workers cnn_workers;

/// Runs chunk `chunk` of a job; `context` is the caller's.
typedef void (*cnn_workers_body)(void *context, long chunk);

/// A pool of up to `workers` threads (fewer if the system refuses to start more; 0 is allowed:
/// every job then runs on its caller). Threads start on the first job. NULL if out of memory.
cnn_workers *cnn_workers_create(int workers);

/// Stops and joins the threads and frees the pool. No job may be running on it.
void cnn_workers_destroy(cnn_workers *pool);

/// Runs `body(context, c)` once for each c in [0, chunks) and returns when all have finished.
/// Runs every chunk on the calling thread when called from inside a chunk (nested), when
/// another thread's job holds the pool, or when the pool has no threads; returns whether
/// the pool's threads took part in the job (false: everything ran on the caller).
/// `chunks` must be below 65536.
bool cnn_workers_run(cnn_workers *pool, long chunks, cnn_workers_body body, void *context);

/// The number of threads the pool has started (0 before its first job).
int cnn_workers_started(const cnn_workers *pool);

#endif
