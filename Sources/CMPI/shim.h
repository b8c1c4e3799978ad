// Open MPI's handles (MPI_COMM_WORLD, MPI_FLOAT, MPI_SUM, …) are macros that take the address
// of library globals; Swift imports no such macros, so these inline functions hand them over.
#include <mpi.h>

static inline MPI_Comm cnn_mpi_comm_world(void) { return MPI_COMM_WORLD; }
static inline MPI_Comm cnn_mpi_comm_null(void) { return MPI_COMM_NULL; }
static inline MPI_Datatype cnn_mpi_float(void) { return MPI_FLOAT; }
static inline MPI_Datatype cnn_mpi_double(void) { return MPI_DOUBLE; }
static inline MPI_Datatype cnn_mpi_char(void) { return MPI_CHAR; }
static inline MPI_Op cnn_mpi_sum(void) { return MPI_SUM; }
static inline MPI_Op cnn_mpi_max(void) { return MPI_MAX; }
static inline MPI_Request cnn_mpi_request_null(void) { return MPI_REQUEST_NULL; }
static inline MPI_Info cnn_mpi_info_null(void) { return MPI_INFO_NULL; }
static inline MPI_Status *cnn_mpi_status_ignore(void) { return MPI_STATUS_IGNORE; }
static inline int cnn_mpi_comm_type_shared(void) { return MPI_COMM_TYPE_SHARED; }
static inline int cnn_mpi_success(void) { return MPI_SUCCESS; }
static inline int cnn_mpi_max_error_string(void) { return MPI_MAX_ERROR_STRING; }
static inline void *cnn_mpi_in_place(void) { return MPI_IN_PLACE; }
static inline int cnn_mpi_thread_funneled(void) { return MPI_THREAD_FUNNELED; }
