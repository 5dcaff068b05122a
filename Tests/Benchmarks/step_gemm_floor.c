// The GEMMs of one training step of vae/standard and hvae/standard, alone, as the one-thread
// engine calls them (batch 100 in two 50-row units, stacked): the floor under a step's time that
// no other work can lower.
//
//   forward         Y[100, w]  = X[100, in] · W[w, in]ᵀ       per layer, both units in one call
//   weight grad     dW[w, in] += dY_uᵀ[w, 50] · X_u[50, in]   per layer and unit, into a zeroed buffer
//   input grad      dX[100, in] = dY[100, w] · W[w, in]        per layer but the ones reading pixels
//
// w is the fused width (2·300 for a GatedDense, 2·40 for a [mean | logvar] head, 784 for the
// Bernoulli logits). Prints the minimum over 300 repetitions of each part and of the whole, and,
// for reference, the rate of one large square sgemm (2048³, best of 5): what this core gives
// OpenBLAS when packing and edges cost nothing.
//
//   cc -O2 Tests/Benchmarks/step_gemm_floor.c -o /tmp/step_gemm_floor -lopenblas
//   OPENBLAS_NUM_THREADS=1 /tmp/step_gemm_floor
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct { int in, width, inputGradient; } Layer;

static const Layer vae[] = {
    {784, 600, 0}, {300, 600, 1}, {300, 80, 1},                   // encoder, head
    {40, 600, 1}, {300, 600, 1}, {300, 784, 1},                   // decoder, logits
};
static const Layer hvae[] = {
    {784, 600, 0}, {300, 600, 1}, {300, 80, 1},                   // q(z2|x)
    {784, 600, 0}, {40, 600, 1}, {600, 600, 1}, {300, 80, 1},     // q(z1|x, z2)
    {40, 600, 1}, {300, 600, 1}, {300, 80, 1},                    // p(z1|z2)
    {40, 600, 1}, {40, 600, 1}, {600, 600, 1}, {300, 784, 1},     // p(x|z1, z2)
};

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static void measure(const char *name, const Layer *layers, int count) {
    enum { rows = 100, unit = 50 };
    float *x = malloc(sizeof(float) * rows * 1024), *w = malloc(sizeof(float) * 1024 * 1024);
    float *y = malloc(sizeof(float) * rows * 1024), *dw = malloc(sizeof(float) * 2 * 1024 * 1024);
    for (int i = 0; i < rows * 1024; i++) { x[i] = 0.01f * (i % 7); y[i] = 0.02f * (i % 5); }
    for (int i = 0; i < 1024 * 1024; i++) w[i] = 0.001f * (i % 11);
    double best[5] = {1e9, 1e9, 1e9, 1e9, 1e9}, flops = 0;
    for (int l = 0; l < count; l++)
        flops += 2.0 * rows * layers[l].in * layers[l].width * (2 + layers[l].inputGradient);
    for (int rep = 0; rep < 300; rep++) {
        double part[5] = {0}, start = now();
        for (int l = 0; l < count; l++) {
            int in = layers[l].in, n = layers[l].width;
            double a = now();
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, n, in, 1, x, in, w, in, 1, y, n);
            part[1] += now() - a;
        }
        for (int l = count - 1; l >= 0; l--) {
            int in = layers[l].in, n = layers[l].width;
            double a = now();
            memset(dw, 0, sizeof(float) * 2 * n * in);
            double b = now();
            for (int u = 0; u < 2; u++)
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, n, in, unit, 1, y + u * unit * n, n,
                            x + u * unit * in, in, 1, dw + u * n * in, in);
            double c = now();
            if (layers[l].inputGradient)
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, in, n, 1, y, n, w, in, 0, x, in);
            part[2] += b - a; part[3] += c - b; part[4] += now() - c;
        }
        part[0] = now() - start;
        for (int i = 0; i < 5; i++) if (part[i] < best[i]) best[i] = part[i];
    }
    printf("%-14s %.3f GFLOP: all %.3f ms (%.1f GFLOP/s)  forward %.3f  zeroing %.3f  weight grad %.3f  input grad %.3f\n",
           name, flops * 1e-9, best[0] * 1e3, flops * 1e-9 / best[0], best[1] * 1e3, best[2] * 1e3, best[3] * 1e3,
           best[4] * 1e3);
    free(x); free(w); free(y); free(dw);
}

static void largeReference(void) {
    enum { n = 2048 };
    float *a = malloc(sizeof(float) * n * n), *b = malloc(sizeof(float) * n * n), *c = malloc(sizeof(float) * n * n);
    for (long i = 0; i < (long)n * n; i++) { a[i] = 1e-3f * (i % 13); b[i] = 1e-3f * (i % 7); }
    double best = 1e9;
    for (int rep = 0; rep < 5; rep++) {
        double start = now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1, a, n, b, n, 0, c, n);
        double t = now() - start;
        if (t < best) best = t;
    }
    printf("reference      sgemm %d³: %.1f GFLOP/s\n", n, 2.0 * n * n * n * 1e-9 / best);
    free(a); free(b); free(c);
}

int main(void) {
    measure("vae/standard", vae, sizeof vae / sizeof vae[0]);
    measure("hvae/standard", hvae, sizeof hvae / sizeof hvae[0]);
    largeReference();
    return 0;
}
