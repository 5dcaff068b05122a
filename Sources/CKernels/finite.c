#include "ckernels.h"
#include <string.h>

/* Each check ORs "exponent all ones" over blocks of 1024 values (a loop the compiler
   vectorises), and stops at the first block that has one. memcpy loads allow any alignment. */

int largevae_all_finite_f32(const void *data, size_t n) {
    const unsigned char *p = (const unsigned char *)data;
    for (size_t start = 0; start < n; start += 1024) {
        size_t end = start + 1024 < n ? start + 1024 : n;
        uint32_t bad = 0;
        for (size_t i = start; i < end; i++) {
            uint32_t u;
            memcpy(&u, p + 4 * i, 4);
            bad |= (u & 0x7f800000u) == 0x7f800000u;
        }
        if (bad) return 0;
    }
    return 1;
}

int largevae_all_finite_bf16(const void *data, size_t n) {
    const unsigned char *p = (const unsigned char *)data;
    for (size_t start = 0; start < n; start += 1024) {
        size_t end = start + 1024 < n ? start + 1024 : n;
        uint16_t bad = 0;
        for (size_t i = start; i < end; i++) {
            uint16_t u;
            memcpy(&u, p + 2 * i, 2);
            bad |= (uint16_t)((u & 0x7f80u) == 0x7f80u);
        }
        if (bad) return 0;
    }
    return 1;
}

int largevae_all_finite_f64(const void *data, size_t n) {
    const unsigned char *p = (const unsigned char *)data;
    uint64_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t u;
        memcpy(&u, p + 8 * i, 8);
        bad |= (u & 0x7ff0000000000000ull) == 0x7ff0000000000000ull;
    }
    return bad ? 0 : 1;
}
