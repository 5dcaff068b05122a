// Would a sparse first layer pay? The layer that reads the pixels (GatedDense, 784 → 2·300) of
// one 50-row data unit, as sgemm (what the engine calls) against a kernel that visits only the
// nonzero pixels, which binary images allow:
//
//   forward   Y[r, :] = b + Σ_{i: x[r,i] ≠ 0} x[r,i] · Wt[i, :]    // 16-lane FMAs, 128 columns a pass
//   weights   dWt[i, :] = Σ_{r: x[r,i] ≠ 0} x[r,i] · dY[r, :]
//
// Both need the weight stored [in, out] (Wt), so that a pixel's weights are one contiguous row;
// the engine stores it [out, in], as PyTorch does, and its checkpoints carry it so. Prints the
// median of 5 rounds of 400 calls each, at the benchmark's pixel density (0.3) and at binarised
// MNIST's (about 0.13).
//
//   cc -O3 Tests/Benchmarks/sparse_pixel_layer.c -o /tmp/sparse_pixel_layer -lopenblas
//   OPENBLAS_NUM_THREADS=1 /tmp/sparse_pixel_layer
#include <cblas.h>
#include <immintrin.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { R = 50, D = 784, N = 600, CALLS = 400, ROUNDS = 5 };
static float X[R * D], Wt[D * N], W[N * D], B[N], Y[R * N], dY[R * N], dW[D * N];
static int rowNonzeros[R][D], rowCount[R], columnRows[D][R], columnCount[D];

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static __mmask16 tailMask(int width) { return width % 16 ? (__mmask16)((1u << (width % 16)) - 1) : 0xFFFF; }

// out[0 ..< 16·L] (the last register masked by `last`) = bias + Σ_j x_j · src_j[0 ..< 16·L], over
// the `count` rows src_j = base + index[j]·stride with scales x_j = scale[index[j]·scaleStride]
// (bias may be NULL). L is a constant in each instance, so the accumulators stay in registers.
#define PASS(L)                                                                                      \
__attribute__((target("avx512f")))                                                                  \
static void pass##L(float *out, const float *bias, const float *base, size_t stride, const int *index, \
                    int count, const float *scale, size_t scaleStride, __mmask16 last) {             \
    __m512 acc[L];                                                                                   \
    for (int k = 0; k < L; k++) acc[k] = _mm512_setzero_ps();                                        \
    for (int j = 0; j < count; j++) {                                                                \
        const float *src = base + (size_t)index[j] * stride;                                         \
        __m512 s = _mm512_set1_ps(scale[(size_t)index[j] * scaleStride]);                            \
        for (int k = 0; k < L - 1; k++) acc[k] = _mm512_fmadd_ps(s, _mm512_loadu_ps(src + 16 * k), acc[k]); \
        acc[L - 1] = _mm512_fmadd_ps(s, _mm512_maskz_loadu_ps(last, src + 16 * (L - 1)), acc[L - 1]); \
    }                                                                                                \
    for (int k = 0; k < L; k++) {                                                                    \
        __mmask16 m = k == L - 1 ? last : 0xFFFF;                                                    \
        __m512 b = bias ? _mm512_maskz_loadu_ps(m, bias + 16 * k) : _mm512_setzero_ps();             \
        _mm512_mask_storeu_ps(out + 16 * k, m, _mm512_add_ps(b, acc[k]));                            \
    }                                                                                                \
}
PASS(1) PASS(2) PASS(3) PASS(4) PASS(5) PASS(6) PASS(7) PASS(8)
typedef void (*Pass)(float *, const float *, const float *, size_t, const int *, int, const float *, size_t, __mmask16);
static const Pass passes[9] = {0, pass1, pass2, pass3, pass4, pass5, pass6, pass7, pass8};

static void sparseForward(void) {
    for (int r = 0; r < R; r++) {
        rowCount[r] = 0;
        for (int i = 0; i < D; i++) if (X[r * D + i] != 0) rowNonzeros[r][rowCount[r]++] = i;
    }
    for (int t = 0; t < N; t += 128) {   // 128 columns of Wt (784 × 128 floats, 401 KB) stay in L2
        int width = N - t < 128 ? N - t : 128;
        for (int r = 0; r < R; r++)
            passes[(width + 15) / 16](Y + r * N + t, B + t, Wt + t, N, rowNonzeros[r], rowCount[r], X + r * D, 1, tailMask(width));
    }
}

static void sparseWeightGradient(void) {
    memset(columnCount, 0, sizeof columnCount);
    for (int r = 0; r < R; r++)
        for (int i = 0; i < D; i++) if (X[r * D + i] != 0) columnRows[i][columnCount[i]++] = r;
    for (int t = 0; t < N; t += 128) {
        int width = N - t < 128 ? N - t : 128;
        for (int i = 0; i < D; i++)
            passes[(width + 15) / 16](dW + (size_t)i * N + t, NULL, dY + t, N, columnRows[i], columnCount[i], X + i, D, tailMask(width));
    }
}

// The engine's calls: Y = b, then Y += X · Wᵀ; dW = 0, then dW += dYᵀ · X.
static void gemmForward(void) {
    for (int r = 0; r < R; r++) memcpy(Y + r * N, B, sizeof B);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, R, N, D, 1, X, D, W, D, 1, Y, N);
}

static void gemmWeightGradient(void) {
    memset(dW, 0, sizeof dW);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, N, D, R, 1, dY, N, X, D, 1, dW, D);
}

static int byValue(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double medianMicroseconds(void (*f)(void)) {
    double t[ROUNDS];
    for (int k = 0; k < ROUNDS; k++) {
        double start = now();
        for (int c = 0; c < CALLS; c++) f();
        t[k] = (now() - start) / CALLS * 1e6;
    }
    qsort(t, ROUNDS, sizeof t[0], byValue);
    return t[ROUNDS / 2];
}

int main(void) {
    srand(1);
    for (int i = 0; i < N * D; i++) W[i] = (float)rand() / RAND_MAX - 0.5f;
    for (int i = 0; i < D; i++) for (int j = 0; j < N; j++) Wt[i * N + j] = W[j * D + i];
    for (int i = 0; i < R * N; i++) dY[i] = (float)rand() / RAND_MAX - 0.5f;
    for (int j = 0; j < N; j++) B[j] = 0.1f;
    const double densities[] = {0.3, 0.13};
    for (int d = 0; d < 2; d++) {
        for (int i = 0; i < R * D; i++) X[i] = (double)rand() / RAND_MAX < densities[d] ? 1 : 0;
        printf("density %.2f: forward sgemm %.0f µs, sparse %.0f µs; weight gradient sgemm %.0f µs, sparse %.0f µs\n",
               densities[d], medianMicroseconds(gemmForward), medianMicroseconds(sparseForward),
               medianMicroseconds(gemmWeightGradient), medianMicroseconds(sparseWeightGradient));
    }
    return 0;
}
