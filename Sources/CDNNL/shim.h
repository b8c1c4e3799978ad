// oneDNN's C API (Debian's libdnnl-dev 2.6, which ships no pkg-config file; the header and the
// library are on the default paths).
#include <dnnl.h>
// oneDNN runs its primitives on OpenMP threads (libgomp in Debian's build); its own header
// does not declare these, and gcc's omp.h is not on clang's include path.
int omp_get_max_threads(void);
void omp_set_num_threads(int num_threads);
