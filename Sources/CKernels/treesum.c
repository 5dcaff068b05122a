#include "ckernels.h"

// The finishing pass of a tree sum of one or two leaves per tree, plus an optional second such
// tree, in Float64. Every operation is an IEEE double operation in the order of the Swift
// reference (TreeSum.smallTreesFinish), with no FP contraction, so any vector width rounds alike;
// compiled for AVX-512, AVX2 and baseline x86-64, the best picked at load time.
static inline __attribute__((always_inline)) double finish(const float *restrict a, const float *restrict b,
                                                           const float *restrict c, const float *restrict d,
                                                           double scale, float *restrict out, size_t n,
                                                           int hasB, int hasC, int hasD) {
    // Finiteness as an integer OR (v·0 is NaN exactly when v is not finite): an FP sum would be
    // an in-order reduction, which the compiler may not vectorise.
    int bad = 0;
    for (size_t i = 0; i < n; i++) {
        double v = (double)a[i];
        if (hasB) v += (double)b[i];
        if (hasC) {
            double second = (double)c[i];
            if (hasD) second += (double)d[i];
            v += second;
        }
        out[i] = (float)(v * scale);
        double zero = v * 0;
        bad |= zero != zero;
    }
    return bad ? __builtin_nan("") : 0.0;
}

#if defined(__x86_64__) && defined(__linux__)
__attribute__((target_clones("avx512f", "avx2", "default")))
#endif
double largevae_tree_finish_f32(const float *a, const float *b, const float *c, const float *d, double scale,
                                float *out, size_t n) {
    // One loop per shape, each vectorised on its own (the flags are constants in each).
    if (!c) return b ? finish(a, b, 0, 0, scale, out, n, 1, 0, 0) : finish(a, 0, 0, 0, scale, out, n, 0, 0, 0);
    if (!d) return b ? finish(a, b, c, 0, scale, out, n, 1, 1, 0) : finish(a, 0, c, 0, scale, out, n, 0, 1, 0);
    return b ? finish(a, b, c, d, scale, out, n, 1, 1, 1) : finish(a, 0, c, d, scale, out, n, 0, 1, 1);
}
