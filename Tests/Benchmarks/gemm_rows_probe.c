/* Does one row-major cblas_sgemm over two stacked blocks of u rows give, bit for bit, what one
   call per block gives? If so, a thread could run its data units' forward and input-gradient
   GEMMs as one call (each weight packed once) and keep every bit; "Where the rest goes" in
   docs/RESULTS-HISTORY.md gives the answers measured so far.

       cc -O2 Tests/Benchmarks/gemm_rows_probe.c -o /tmp/gemm_rows_probe -lopenblas && /tmp/gemm_rows_probe

   Shapes are the model's: forward X·Wᵀ for 784→600, 300→600 and 40→600 (a GatedDense layer's
   fused [in, 2·300] weight), and the input gradient dY·W for 600→784. "padded" places each
   block at a stride of the next multiple of 12 rows instead, with zero rows between.
   "transposed" computes Yᵀ = W·Xᵀ instead (the batch as OpenBLAS's M dimension), each block a
   slice of columns. */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static float next(unsigned long long *s) {
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return (float)((double)(*s >> 11) / (double)(1ULL << 53) * 4 - 2);
}

/* Two blocks of u rows at row stride p (p >= u) in one call of 2p rows, against one call per block. */
static int same(int trans_b, int n, int k, int u, int p) {
    int m = 2 * p;
    unsigned long long s = 7;
    float *a = calloc((size_t)m * k, 4), *b = malloc((size_t)n * k * 4);
    float *whole = malloc((size_t)m * n * 4), *blocks = malloc((size_t)m * n * 4);
    for (int q = 0; q < 2; q++)
        for (int i = 0; i < u * k; i++) a[(size_t)q * p * k + i] = next(&s);
    for (int i = 0; i < n * k; i++) b[i] = next(&s);
    for (int i = 0; i < m * n; i++) whole[i] = blocks[i] = next(&s);
    enum CBLAS_TRANSPOSE tb = trans_b ? CblasTrans : CblasNoTrans;
    int ldb = trans_b ? k : n;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, tb, m, n, k, 1, a, k, b, ldb, 1, whole, n);
    for (int q = 0; q < 2; q++)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, tb, u, n, k, 1, a + (size_t)q * p * k, k, b, ldb, 1,
                    blocks + (size_t)q * p * n, n);
    int equal = 1;
    for (int q = 0; q < 2; q++)
        equal &= memcmp(whole + (size_t)q * p * n, blocks + (size_t)q * p * n, (size_t)u * n * 4) == 0;
    free(a); free(b); free(whole); free(blocks);
    return equal;
}

/* The same for Yᵀ[n, 2u] = W[n, k]·Xᵀ, X row-major [2u, k]: one call against one per column block. */
static int same_transposed(int n, int k, int u) {
    int m = 2 * u;
    unsigned long long s = 7;
    float *x = malloc((size_t)m * k * 4), *w = malloc((size_t)n * k * 4);
    float *whole = malloc((size_t)m * n * 4), *blocks = malloc((size_t)m * n * 4);
    for (int i = 0; i < m * k; i++) x[i] = next(&s);
    for (int i = 0; i < n * k; i++) w[i] = next(&s);
    for (int i = 0; i < m * n; i++) whole[i] = blocks[i] = next(&s);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, m, k, 1, w, k, x, k, 1, whole, m);
    for (int q = 0; q < 2; q++)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, u, k, 1, w, k, x + (size_t)q * u * k, k, 1, blocks + q * u, m);
    int equal = memcmp(whole, blocks, (size_t)m * n * 4) == 0;
    free(x); free(w); free(whole); free(blocks);
    return equal;
}

int main(void) {
    openblas_set_num_threads(1);
    const int units[] = {4, 8, 12, 16, 24, 32, 40, 44, 48, 50, 52, 56, 64};
    printf("rows u   784->600  300->600  40->600  dX 600->784   padded (784->600)   transposed (784->600)\n");
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        int u = units[i], padded = (u + 11) / 12 * 12;
        printf("%6d   %8s  %8s  %7s  %11s   %-17s   %s\n", u,
               same(1, 600, 784, u, u) ? "same" : "differ", same(1, 600, 300, u, u) ? "same" : "differ",
               same(1, 600, 40, u, u) ? "same" : "differ", same(0, 784, 600, u, u) ? "same" : "differ",
               padded == u ? "-" : same(1, 600, 784, u, padded) ? "same" : "differ",
               same_transposed(600, 784, u) ? "same" : "differ");
    }
    return 0;
}
