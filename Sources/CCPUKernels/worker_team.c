#include "worker_team.h"

// The CPU backend's workers are libgomp's team, the threads oneDNN's convolutions run on
// (Debian's oneDNN is built on OpenMP). With a pool of its own, two sets of threads shared the
// cores: after a oneDNN team region libgomp's threads spin for milliseconds waiting for more
// work (its wait policy is set only by environment variable), and the op after it ran up to
// 1.6× slower beside them (Benchmarks/NOTES-cpu-convolution.md §11, §12). One team has no one
// to compete with: whoever spins is the thread the next op wakes.
//
// libgomp's entry point for `#pragma omp parallel` (GCC's ABI since 4.9), called directly so
// the package needs no -fopenmp (Swift's clang would target LLVM's runtime, not libgomp).
extern void GOMP_parallel(void (*fn)(void *), void *data, unsigned num_threads, unsigned flags);
extern int omp_get_thread_num(void);
extern int omp_get_num_threads(void);

struct team_job {
    cnn_chunk_body body;
    void *context;
    long chunks;
};

static void run_chunks(void *data) {
    const struct team_job *job = data;
    // libgomp may grant fewer threads than asked (thread limits, a nested region): each
    // thread then takes every n-th chunk, so all chunks run whatever the team's size.
    long n = omp_get_num_threads();
    for (long c = omp_get_thread_num(); c < job->chunks; c += n) job->body(job->context, c);
}

void cnn_team_run(long chunks, void *context, cnn_chunk_body body) {
    struct team_job job = {body, context, chunks};
    GOMP_parallel(run_chunks, &job, (unsigned)chunks, 0);
}
