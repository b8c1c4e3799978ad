#ifndef CNN_WORKER_TEAM_H
#define CNN_WORKER_TEAM_H

/// One chunk of a `cnn_team_run` job: `body(context, chunk)`.
typedef void (*cnn_chunk_body)(void *context, long chunk);

/// Runs `body` on chunks 0..<chunks across the process's OpenMP team (libgomp: the same threads
/// oneDNN's primitives run on), the caller taking a share; returns when every chunk is done.
void cnn_team_run(long chunks, void *context, cnn_chunk_body body);

#endif
