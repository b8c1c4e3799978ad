// The CPU backend's persistent worker pool (cpu_workers.h). One job at a time: the caller
// publishes it, then it and the workers claim chunks from one atomic word until none is left.
//
// The claim word packs (job generation : 32, chunk count : 16, next chunk : 16). A worker
// that wakes late for an old job sees another generation and claims nothing; a claim that
// succeeds names a chunk of a job that cannot have finished (that chunk is not done), so the
// job's body and context are still the ones it claimed for.
//
// Sleeping and waking use futexes on 32-bit words with the sleeper count beside them: the
// waker stores the word, then reads the count; the sleeper raises the count, then lets the
// kernel compare the word. Both sides are sequentially consistent, so one of them sees the
// other and no wake-up is lost.

#define _GNU_SOURCE
#include "cpu_workers.h"

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

// How long a worker keeps polling for the next job before it sleeps, and how long a caller
// polls for the workers' last chunks. Between two split ops of a LeNet-5 step lie a few to a
// few tens of µs of single-threaded work; a sleeping worker costs a futex wake (~5 µs) plus
// the scheduler's placement, which is what this pool exists to avoid. Bounded, so an idle
// process stops using the core within 50 µs of its last op.
#define CNN_WORKERS_SPIN_NS 50000L
// A spinning thread yields this often: when the scheduler has put two of the process's
// threads on one core, the one that has work gets the core back within microseconds.
#define CNN_WORKERS_YIELD_NS 5000L

#define CNN_WORKERS_MAX 256

struct cnn_workers {
    // The claim word and the job, written by the caller before it publishes (release).
    _Alignas(64) _Atomic uint64_t claim;
    cnn_workers_body body;
    void *context;
    // Futex word the workers sleep on: the generation of the last published job.
    _Alignas(64) _Atomic uint32_t published;
    _Atomic uint32_t stopping;
    _Atomic int32_t sleepingWorkers;
    // Futex word the caller sleeps on: chunks finished in the current job.
    _Alignas(64) _Atomic uint32_t done;
    _Atomic int32_t callerSleeping;
    // One job at a time; a second caller runs its job itself.
    _Alignas(64) _Atomic int32_t busy;
    // Written only by the thread holding `busy`.
    uint32_t generation;
    int capacity;
    bool threadsTried;
    _Atomic int started;
    pthread_t threads[CNN_WORKERS_MAX];
};

// Set while this thread runs a chunk: a nested call runs its chunks inline.
static _Thread_local int insideChunk;

static long futexWait(_Atomic uint32_t *word, uint32_t expected) {
    return syscall(SYS_futex, (uint32_t *)word, FUTEX_WAIT_PRIVATE, expected, NULL, NULL, 0);
}

static void futexWakeAll(_Atomic uint32_t *word) {
    syscall(SYS_futex, (uint32_t *)word, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
}

static long nowNs(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000000000L + t.tv_nsec;
}

static inline void pauseBriefly(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

// Polls until `*word != value` (returns true) or the spin time is over (returns false).
static bool spinWhileEqual(_Atomic uint32_t *word, uint32_t value) {
    long start = nowNs(), lastYield = start;
    for (;;) {
        for (int i = 0; i < 64; i++) {
            if (atomic_load_explicit(word, memory_order_acquire) != value) return true;
            pauseBriefly();
        }
        long now = nowNs();
        if (now - start > CNN_WORKERS_SPIN_NS) return false;
        if (now - lastYield > CNN_WORKERS_YIELD_NS) {
            sched_yield();
            lastYield = now;
        }
    }
}

// Claims and runs chunks of job `generation` until none is left.
static void runChunks(cnn_workers *pool, uint32_t generation) {
    uint64_t word = atomic_load_explicit(&pool->claim, memory_order_acquire);
    for (;;) {
        uint32_t g = (uint32_t)(word >> 32);
        long chunks = (long)((word >> 16) & 0xffff), next = (long)(word & 0xffff);
        if (g != generation || next >= chunks) return;
        if (!atomic_compare_exchange_weak_explicit(&pool->claim, &word, word + 1, memory_order_acq_rel,
                                                   memory_order_acquire)) continue;
        insideChunk = 1;
        pool->body(pool->context, next);
        insideChunk = 0;
        uint32_t finished = atomic_fetch_add_explicit(&pool->done, 1, memory_order_seq_cst) + 1;
        if (finished == (uint32_t)chunks && atomic_load_explicit(&pool->callerSleeping, memory_order_seq_cst)) {
            futexWakeAll(&pool->done);
        }
        word = atomic_load_explicit(&pool->claim, memory_order_acquire);
    }
}

static void *workerMain(void *argument) {
    cnn_workers *pool = argument;
    pthread_setname_np(pthread_self(), "cnn-gpu worker");
    // The threads start before the first job is published (generation 1), but may first run
    // after it, or after the pool began to stop: starting from 0 they see either.
    uint32_t seen = 0;
    for (;;) {
        if (!spinWhileEqual(&pool->published, seen)) {
            atomic_fetch_add_explicit(&pool->sleepingWorkers, 1, memory_order_seq_cst);
            while (atomic_load_explicit(&pool->published, memory_order_seq_cst) == seen) futexWait(&pool->published, seen);
            atomic_fetch_sub_explicit(&pool->sleepingWorkers, 1, memory_order_seq_cst);
        }
        if (atomic_load_explicit(&pool->stopping, memory_order_acquire)) return NULL;
        seen = atomic_load_explicit(&pool->published, memory_order_acquire);
        runChunks(pool, seen);
    }
}

cnn_workers *cnn_workers_create(int workers) {
    cnn_workers *pool = calloc(1, sizeof *pool);
    if (!pool) return NULL;
    pool->capacity = workers < 0 ? 0 : workers > CNN_WORKERS_MAX ? CNN_WORKERS_MAX : workers;
    return pool;
}

// Starts the threads on the first job (the caller holds `busy`). A thread the system refuses
// leaves the pool smaller; jobs still finish, on fewer threads.
static void startThreads(cnn_workers *pool) {
    int n = 0;
    while (n < pool->capacity && pthread_create(&pool->threads[n], NULL, workerMain, pool) == 0) n++;
    atomic_store_explicit(&pool->started, n, memory_order_release);
    pool->capacity = n;
}

void cnn_workers_destroy(cnn_workers *pool) {
    if (!pool) return;
    int n = atomic_load_explicit(&pool->started, memory_order_acquire);
    atomic_store_explicit(&pool->stopping, 1, memory_order_release);
    atomic_fetch_add_explicit(&pool->published, 1, memory_order_seq_cst);
    futexWakeAll(&pool->published);
    for (int i = 0; i < n; i++) pthread_join(pool->threads[i], NULL);
    free(pool);
}

int cnn_workers_started(const cnn_workers *pool) {
    return atomic_load_explicit(&((cnn_workers *)pool)->started, memory_order_acquire);
}

static void runInline(long chunks, cnn_workers_body body, void *context) {
    int outer = insideChunk;
    insideChunk = 1;
    for (long c = 0; c < chunks; c++) body(context, c);
    insideChunk = outer;
}

// Waits until all `chunks` of the current job are done: polls while they keep finishing, then
// sleeps until the worker that finishes the last one wakes it.
static void waitForChunks(cnn_workers *pool, uint32_t chunks) {
    for (;;) {
        uint32_t finished = atomic_load_explicit(&pool->done, memory_order_acquire);
        if (finished == chunks) return;
        if (spinWhileEqual(&pool->done, finished)) continue;
        atomic_store_explicit(&pool->callerSleeping, 1, memory_order_seq_cst);
        while ((finished = atomic_load_explicit(&pool->done, memory_order_seq_cst)) != chunks) {
            futexWait(&pool->done, finished);
        }
        atomic_store_explicit(&pool->callerSleeping, 0, memory_order_relaxed);
        return;
    }
}

bool cnn_workers_run(cnn_workers *pool, long chunks, cnn_workers_body body, void *context) {
    if (chunks <= 0) return false;
    int32_t idle = 0;
    if (chunks == 1 || chunks > 0xffff || insideChunk
        || !atomic_compare_exchange_strong_explicit(&pool->busy, &idle, 1, memory_order_acquire, memory_order_relaxed)) {
        runInline(chunks, body, context);
        return false;
    }
    // From here on this thread holds the pool.
    if (!pool->threadsTried) {
        startThreads(pool);
        pool->threadsTried = true;
    }
    if (pool->capacity == 0) {
        atomic_store_explicit(&pool->busy, 0, memory_order_release);
        runInline(chunks, body, context);
        return false;
    }
    // Every chunk of the previous job is done, so no thread reads these any more.
    uint32_t generation = ++pool->generation;
    pool->body = body;
    pool->context = context;
    atomic_store_explicit(&pool->done, 0, memory_order_relaxed);
    atomic_store_explicit(&pool->claim, (uint64_t)generation << 32 | (uint64_t)chunks << 16, memory_order_release);
    atomic_store_explicit(&pool->published, generation, memory_order_seq_cst);
    if (atomic_load_explicit(&pool->sleepingWorkers, memory_order_seq_cst) > 0) futexWakeAll(&pool->published);

    runChunks(pool, generation);
    waitForChunks(pool, (uint32_t)chunks);
    atomic_store_explicit(&pool->busy, 0, memory_order_release);
    return true;
}
