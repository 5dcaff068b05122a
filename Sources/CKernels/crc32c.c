// CRC-32C with the SSE4.2 crc32 instruction, three streams at a time.
//
// One crc32q has a latency of 3 cycles and a throughput of 1, so a single dependent chain runs
// at a third of the instruction's speed. Three independent chains over three adjacent blocks of
// BLOCK bytes fill the pipeline; their results are joined with
//     crc(A ‖ B) = shift_|B|(crc(A)) ⊕ crc(B)        (raw, un-inverted CRC registers)
// where shift_n multiplies by x^(8n) mod P, a fixed 32×32 GF(2) matrix for n = BLOCK and 2·BLOCK.
// Machines without SSE4.2 (or non-x86 builds) use the byte-table fallback.
#include "ckernels.h"
#include <stdint.h>
#include <string.h>
#include <pthread.h>

#define POLY 0x82F63B78u
#define BLOCK 4096

static uint32_t table[256];
static uint32_t shift1[32], shift2[32]; /* columns: the image of bit i after BLOCK / 2·BLOCK zero bytes */
static int hardware = 0;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static uint32_t times_matrix(const uint32_t *m, uint32_t v) {
    uint32_t r = 0;
    for (int i = 0; v; i++, v >>= 1) if (v & 1) r ^= m[i];
    return r;
}

static uint32_t zero_bytes(uint32_t crc, size_t n) {
    while (n--) {
        for (int k = 0; k < 8; k++) crc = (crc & 1) ? (crc >> 1) ^ POLY : crc >> 1;
    }
    return crc;
}

static void setup(void) {
    for (uint32_t b = 0; b < 256; b++) {
        uint32_t c = b;
        for (int k = 0; k < 8; k++) c = (c & 1) ? (c >> 1) ^ POLY : c >> 1;
        table[b] = c;
    }
    for (int i = 0; i < 32; i++) {
        shift1[i] = zero_bytes(1u << i, BLOCK);
        shift2[i] = zero_bytes(1u << i, 2 * BLOCK);
    }
#if defined(__x86_64__)
    __builtin_cpu_init();
    hardware = __builtin_cpu_supports("sse4.2");
#endif
}

static uint32_t software(uint32_t crc, const unsigned char *p, size_t n) {
    while (n--) crc = table[(crc ^ *p++) & 0xFF] ^ (crc >> 8);
    return crc;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2")))
static uint32_t hardware_crc(uint32_t crc, const unsigned char *p, size_t n) {
    uint64_t c0 = crc;
    while (n >= 3 * BLOCK) {
        uint64_t c1 = 0, c2 = 0;
        const unsigned char *end = p + BLOCK;
        for (; p < end; p += 8) {
            uint64_t a, b, c;
            memcpy(&a, p, 8); memcpy(&b, p + BLOCK, 8); memcpy(&c, p + 2 * BLOCK, 8);
            c0 = __builtin_ia32_crc32di(c0, a);
            c1 = __builtin_ia32_crc32di(c1, b);
            c2 = __builtin_ia32_crc32di(c2, c);
        }
        c0 = times_matrix(shift2, (uint32_t)c0) ^ times_matrix(shift1, (uint32_t)c1) ^ (uint32_t)c2;
        p += 2 * BLOCK;
        n -= 3 * BLOCK;
    }
    for (; n >= 8; n -= 8, p += 8) {
        uint64_t a;
        memcpy(&a, p, 8);
        c0 = __builtin_ia32_crc32di(c0, a);
    }
    uint32_t c = (uint32_t)c0;
    for (; n; n--) c = __builtin_ia32_crc32qi(c, *p++);
    return c;
}
#endif

uint32_t largevae_crc32c_update(uint32_t crc, const void *data, size_t n) {
    pthread_once(&once, setup);
#if defined(__x86_64__)
    if (hardware) return hardware_crc(crc, (const unsigned char *)data, n);
#endif
    return software(crc, (const unsigned char *)data, n);
}
