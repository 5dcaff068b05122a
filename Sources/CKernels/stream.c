#include "ckernels.h"
#include <string.h>
#if defined(__x86_64__)
#include <emmintrin.h>
#endif

// Streaming (non-temporal) stores write whole cache lines without first reading them into the
// cache, which a plain copy does for every line it writes: half the memory traffic of a copy into
// memory nobody will read soon from this core. The fence at the end makes the stores visible
// before anything this thread does next (NT stores are weakly ordered).
void largevae_copy_streaming_f32(float *dst, const float *src, size_t n) {
#if defined(__x86_64__)
    size_t i = 0;
    while (i < n && ((uintptr_t)(dst + i) & 15) != 0) { dst[i] = src[i]; i++; }
    for (; i + 16 <= n; i += 16) {
        __m128 a = _mm_loadu_ps(src + i), b = _mm_loadu_ps(src + i + 4);
        __m128 c = _mm_loadu_ps(src + i + 8), d = _mm_loadu_ps(src + i + 12);
        _mm_stream_ps(dst + i, a);
        _mm_stream_ps(dst + i + 4, b);
        _mm_stream_ps(dst + i + 8, c);
        _mm_stream_ps(dst + i + 12, d);
    }
    for (; i < n; i++) dst[i] = src[i];
    _mm_sfence();
#else
    memcpy(dst, src, n * sizeof(float));
#endif
}
