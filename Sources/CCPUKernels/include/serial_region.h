#ifndef CNN_SERIAL_REGION_H
#define CNN_SERIAL_REGION_H

/// A per-thread depth: while it is above zero, the CPU backend's `parallelFor` on this thread
/// runs every chunk itself instead of waking a worker (CPUBackend.run(estimatedFLOPs:bytes:_:)
/// sets it around ops too small to split). Thread-local, so other threads' ops are unaffected.
int cnn_serial_region_depth(void);
void cnn_serial_region_enter(void);
void cnn_serial_region_leave(void);

#endif
