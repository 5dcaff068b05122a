#include "ckernels.h"
#include <string.h>

/* Each check ORs "exponent all ones" over blocks of 1024 values (a loop the compiler
   vectorises), and stops at the first block that has one. memcpy loads allow any alignment. */
#define ALL_FINITE(TYPE, EXPONENT)                                                   \
    const unsigned char *p = (const unsigned char *)data;                           \
    for (size_t start = 0; start < n; start += 1024) {                              \
        size_t end = start + 1024 < n ? start + 1024 : n;                           \
        TYPE bad = 0;                                                               \
        for (size_t i = start; i < end; i++) {                                      \
            TYPE u;                                                                 \
            memcpy(&u, p + sizeof(TYPE) * i, sizeof(TYPE));                         \
            bad |= (TYPE)((u & (EXPONENT)) == (EXPONENT));                          \
        }                                                                           \
        if (bad) return 0;                                                          \
    }                                                                               \
    return 1;

int largevae_all_finite_f32(const void *data, size_t n) { ALL_FINITE(uint32_t, 0x7f800000u) }

int largevae_all_finite_bf16(const void *data, size_t n) { ALL_FINITE(uint16_t, 0x7f80u) }

int largevae_all_finite_f64(const void *data, size_t n) { ALL_FINITE(uint64_t, 0x7ff0000000000000ull) }
