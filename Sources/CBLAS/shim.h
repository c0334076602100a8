// Debian's libopenblas-dev installs cblas.h under the pthread variant's include directory;
// pkg-config (openblas) adds it to the search path.
#include <cblas.h>
// openblas_set_num_threads / openblas_get_num_threads are declared in cblas.h (OpenBLAS extensions).
