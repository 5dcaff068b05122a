// OpenBLAS's CBLAS interface (Debian: libopenblas-dev).
// Debian installs cblas.h under the multiarch include directory through alternatives.
#include <cblas.h>
