#include "ckernels.h"
#include <math.h>

// Compiled twice, for AVX2 and for baseline x86-64, the best picked at load time. Both round
// identically: the same IEEE operations in the same order, and no FP contraction.
#if defined(__x86_64__) && defined(__linux__)
__attribute__((target_clones("avx2", "default")))
#endif
void largevae_adam_f32(size_t n, const float *restrict grad, float *restrict theta, float *restrict m,
                       float *restrict v, float b1, float b2, float step_size, float bc2_sqrt, float eps, float wd) {
    const float one_minus_b1 = 1.0f - b1, one_minus_b2 = 1.0f - b2;
    for (size_t i = 0; i < n; i++) {
        float g = grad[i];
        if (wd != 0.0f) g += wd * theta[i];
        float mi = m[i] + one_minus_b1 * (g - m[i]);
        float vi = v[i] * b2 + one_minus_b2 * g * g;
        float denom = sqrtf(vi) / bc2_sqrt + eps;
        m[i] = mi;
        v[i] = vi;
        theta[i] -= step_size * (mi / denom);
    }
}
