// bf16 conversion of buffers. In C because the compiler vectorises these loops, which Swift's
// generic SIMD types (mask selects, narrowing conversions) do not reliably get.
#include "ckernels.h"
#include <string.h>

void largevae_bf16_encode(const float *x, size_t n, void *out) {
    unsigned char *o = (unsigned char *)out;
    for (size_t i = 0; i < n; i++) {
        uint32_t bits;
        memcpy(&bits, &x[i], 4);
        uint32_t rounded = (bits + 0x7FFFu + ((bits >> 16) & 1u)) >> 16;
        uint32_t nan = (bits & 0x7F800000u) == 0x7F800000u && (bits & 0x007FFFFFu) != 0;
        uint16_t h = (uint16_t)(nan ? ((bits >> 16) | 0x0040u) : rounded);
        memcpy(o + 2 * i, &h, 2);
    }
}

void largevae_bf16_decode(const void *in, size_t n, float *out) {
    const unsigned char *p = (const unsigned char *)in;
    for (size_t i = 0; i < n; i++) {
        uint16_t h;
        memcpy(&h, p + 2 * i, 2);
        uint32_t bits = (uint32_t)h << 16;
        memcpy(&out[i], &bits, 4);
    }
}
