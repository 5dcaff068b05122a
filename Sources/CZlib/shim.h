// zlib (Debian: zlib1g-dev): inflate for gzip'd IDX files and compressed MAT v5 elements.
#include <zlib.h>
