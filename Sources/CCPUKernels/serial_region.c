#include "serial_region.h"

// C11 thread storage: Swift has no thread-local variables of its own, and this is read on
// every parallelFor call, so it must cost a load, not a dictionary lookup.
static _Thread_local int depth;

int cnn_serial_region_depth(void) { return depth; }
void cnn_serial_region_enter(void) { depth += 1; }
void cnn_serial_region_leave(void) { depth -= 1; }
