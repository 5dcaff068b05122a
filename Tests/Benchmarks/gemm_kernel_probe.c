/* Would a GEMM of our own pay? A plain 6×16 AVX2 FMA kernel (each element one FMA chain over k
   in order, so a row's bits do not depend on the row count) against cblas_sgemm on the model's
   shapes, at 50 rows (a data unit) and 250 (a prior unit): the forward GEMM X·Wᵀ over a weight
   packed once (its packing timed apart), the input gradient dY·W, and the weight gradient dYᵀ·X
   (OpenBLAS's figure includes the memset the engine does before it). Medians of 21 single calls,
   in µs; the last column of each is the largest difference from OpenBLAS's result. The README's
   "One thread, standard-prior models" gives this machine's answer, docs/RESULTS-HISTORY.md the
   earlier host's. x86-64 with AVX2 and FMA only.

       cc -O3 Tests/Benchmarks/gemm_kernel_probe.c -o /tmp/gemm_kernel_probe -lopenblas && /tmp/gemm_kernel_probe */
#include <cblas.h>
#include <immintrin.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* C tile [R x 16 (cols<=16)] = (acc ? C : 0) + sum_p A(r,p) * B(p, 0..cols)
   A(r,p) = a[r*ars + p*aps]; B row p = b + p*ldb. Each element: c = fma(a_rp, b_pj, c) in p order. */
#define KDECL(R) \
static inline __attribute__((always_inline, target("avx2,fma"))) void tile##R(int k, const float *a, ptrdiff_t ars, ptrdiff_t aps, const float *b, ptrdiff_t ldb, \
        float *c, ptrdiff_t ldc, int cols, int acc) { \
    __m256 c0[6], c1[6]; \
    __m256i m0 = _mm256_setr_epi32(0,1,2,3,4,5,6,7); \
    __m256i lo = _mm256_cmpgt_epi32(_mm256_set1_epi32(cols), m0); \
    __m256i hi = _mm256_cmpgt_epi32(_mm256_set1_epi32(cols - 8), m0); \
    for (int r = 0; r < R; r++) { \
        if (acc) { c0[r] = _mm256_maskload_ps(c + r*ldc, lo); c1[r] = _mm256_maskload_ps(c + r*ldc + 8, hi); } \
        else { c0[r] = _mm256_setzero_ps(); c1[r] = _mm256_setzero_ps(); } } \
    if (cols == 16) { \
        for (int p = 0; p < k; p++) { \
            __m256 b0 = _mm256_loadu_ps(b + p*ldb), b1 = _mm256_loadu_ps(b + p*ldb + 8); \
            for (int r = 0; r < R; r++) { __m256 x = _mm256_broadcast_ss(a + r*ars + p*aps); \
                c0[r] = _mm256_fmadd_ps(x, b0, c0[r]); c1[r] = _mm256_fmadd_ps(x, b1, c1[r]); } } \
    } else { \
        for (int p = 0; p < k; p++) { \
            __m256 b0 = _mm256_maskload_ps(b + p*ldb, lo), b1 = _mm256_maskload_ps(b + p*ldb + 8, hi); \
            for (int r = 0; r < R; r++) { __m256 x = _mm256_broadcast_ss(a + r*ars + p*aps); \
                c0[r] = _mm256_fmadd_ps(x, b0, c0[r]); c1[r] = _mm256_fmadd_ps(x, b1, c1[r]); } } \
    } \
    for (int r = 0; r < R; r++) { _mm256_maskstore_ps(c + r*ldc, lo, c0[r]); _mm256_maskstore_ps(c + r*ldc + 8, hi, c1[r]); } \
}
KDECL(1) KDECL(2) KDECL(3) KDECL(4) KDECL(5) KDECL(6)

/* C[m,n] (+)= A·B, A(r,p) = a[r*ars + p*aps], B [k, n] rows at stride ldb (panel j at b + 16 j, or packed at
   b + j*k*16 with ldb 16 when packed). */
__attribute__((target("avx2,fma")))
static void gemm_strided(int m, int n, int k, const float *a, ptrdiff_t ars, ptrdiff_t aps, const float *b, ptrdiff_t ldb, int packed,
                  float *c, ptrdiff_t ldc, int acc) {
    int panels = (n + 15) / 16;
    for (int j = 0; j < panels; j++) {
        int cols = n - 16*j < 16 ? n - 16*j : 16;
        const float *bj = packed ? b + (size_t)j * k * 16 : b + 16*j;
        ptrdiff_t lb = packed ? 16 : ldb;
        int i = 0;
        for (; i + 6 <= m; i += 6) tile6(k, a + i*ars, ars, aps, bj, lb, c + (size_t)i*ldc + 16*j, ldc, cols, acc);
        switch (m - i) {
        case 5: tile5(k, a + i*ars, ars, aps, bj, lb, c + (size_t)i*ldc + 16*j, ldc, cols, acc); break;
        case 4: tile4(k, a + i*ars, ars, aps, bj, lb, c + (size_t)i*ldc + 16*j, ldc, cols, acc); break;
        case 3: tile3(k, a + i*ars, ars, aps, bj, lb, c + (size_t)i*ldc + 16*j, ldc, cols, acc); break;
        case 2: tile2(k, a + i*ars, ars, aps, bj, lb, c + (size_t)i*ldc + 16*j, ldc, cols, acc); break;
        case 1: tile1(k, a + i*ars, ars, aps, bj, lb, c + (size_t)i*ldc + 16*j, ldc, cols, acc); break;
        }
    }
}
/* Wp[j][p][q] = W[16j+q][p] (0 beyond n). W [n, k] rows at stride ldw. */
__attribute__((target("avx2,fma")))
static void pack_nt(int n, int k, const float *w, ptrdiff_t ldw, float *wp) {
    int panels = (n + 15) / 16;
    for (int j = 0; j < panels; j++) {
        float *out = wp + (size_t)j * k * 16;
        int cols = n - 16*j < 16 ? n - 16*j : 16;
        int p = 0;
        if (cols == 16) {
            for (; p + 8 <= k; p += 8) {
                /* two 8x8 transposes */
                for (int h = 0; h < 2; h++) {
                    const float *src = w + (size_t)(16*j + 8*h) * ldw + p;
                    __m256 r0=_mm256_loadu_ps(src),r1=_mm256_loadu_ps(src+ldw),r2=_mm256_loadu_ps(src+2*ldw),r3=_mm256_loadu_ps(src+3*ldw),
                           r4=_mm256_loadu_ps(src+4*ldw),r5=_mm256_loadu_ps(src+5*ldw),r6=_mm256_loadu_ps(src+6*ldw),r7=_mm256_loadu_ps(src+7*ldw);
                    __m256 t0=_mm256_unpacklo_ps(r0,r1),t1=_mm256_unpackhi_ps(r0,r1),t2=_mm256_unpacklo_ps(r2,r3),t3=_mm256_unpackhi_ps(r2,r3),
                           t4=_mm256_unpacklo_ps(r4,r5),t5=_mm256_unpackhi_ps(r4,r5),t6=_mm256_unpacklo_ps(r6,r7),t7=_mm256_unpackhi_ps(r6,r7);
                    __m256 s0=_mm256_shuffle_ps(t0,t2,0x44),s1=_mm256_shuffle_ps(t0,t2,0xEE),s2=_mm256_shuffle_ps(t1,t3,0x44),s3=_mm256_shuffle_ps(t1,t3,0xEE),
                           s4=_mm256_shuffle_ps(t4,t6,0x44),s5=_mm256_shuffle_ps(t4,t6,0xEE),s6=_mm256_shuffle_ps(t5,t7,0x44),s7=_mm256_shuffle_ps(t5,t7,0xEE);
                    float *o = out + (size_t)p*16 + 8*h;
                    _mm256_storeu_ps(o + 0*16, _mm256_permute2f128_ps(s0,s4,0x20));
                    _mm256_storeu_ps(o + 1*16, _mm256_permute2f128_ps(s1,s5,0x20));
                    _mm256_storeu_ps(o + 2*16, _mm256_permute2f128_ps(s2,s6,0x20));
                    _mm256_storeu_ps(o + 3*16, _mm256_permute2f128_ps(s3,s7,0x20));
                    _mm256_storeu_ps(o + 4*16, _mm256_permute2f128_ps(s0,s4,0x31));
                    _mm256_storeu_ps(o + 5*16, _mm256_permute2f128_ps(s1,s5,0x31));
                    _mm256_storeu_ps(o + 6*16, _mm256_permute2f128_ps(s2,s6,0x31));
                    _mm256_storeu_ps(o + 7*16, _mm256_permute2f128_ps(s3,s7,0x31));
                }
            }
        }
        for (; p < k; p++) for (int q = 0; q < 16; q++) out[(size_t)p*16 + q] = q < cols ? w[(size_t)(16*j + q) * ldw + p] : 0;
    }
}

static double now(void){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+t.tv_nsec*1e-9;}
static float rnd(unsigned long long*s){*s=*s*6364136223846793005ULL+1442695040888963407ULL;return (float)((double)(*s>>11)/(double)(1ULL<<53)*2-1);}
static int cmpd(const void*x,const void*y){double a=*(double*)x,b=*(double*)y;return a<b?-1:a>b;}
#define REP 21
#define MED(arr) (qsort(arr,REP,8,cmpd), arr[REP/2])
static double maxdiff(const float*x,const float*y,size_t n){double m=0;for(size_t i=0;i<n;i++){double d=x[i]-y[i];if(d<0)d=-d;if(d>m)m=d;}return m;}
int main(int argc,char**argv){
    openblas_set_num_threads(1);
    int shapes[][2]={{784,600},{300,600},{40,600},{300,784},{600,80},{300,80}};
    int ms[]={50,250};
    unsigned long long s=1;
    for(int si=0;si<6;si++)for(int mi=0;mi<2;mi++){
        int k=shapes[si][0],n=shapes[si][1],m=ms[mi];
        float*x=malloc(4*(size_t)m*k),*w=malloc(4*(size_t)n*k),*wp=malloc(4*(size_t)(n+15)/16*16*k),*y1=malloc(4*(size_t)m*n),*y2=malloc(4*(size_t)m*n);
        float*dy=malloc(4*(size_t)m*n),*dx1=malloc(4*(size_t)m*k),*dx2=malloc(4*(size_t)m*k),*dw1=malloc(4*(size_t)n*k),*dw2=malloc(4*(size_t)n*k);
        for(size_t i=0;i<(size_t)m*k;i++)x[i]=rnd(&s);for(size_t i=0;i<(size_t)n*k;i++)w[i]=rnd(&s);for(size_t i=0;i<(size_t)m*n;i++)dy[i]=rnd(&s);
        double a[REP],b[REP],c[REP],d[REP],e[REP],f[REP],g[REP];
        for(int r=0;r<REP;r++){
            double t0=now();cblas_sgemm(CblasRowMajor,CblasNoTrans,CblasTrans,m,n,k,1,x,k,w,k,0,y1,n);a[r]=now()-t0;
            t0=now();pack_nt(n,k,w,k,wp);b[r]=now()-t0;
            t0=now();gemm_strided(m,n,k,x,k,1,wp,16,1,y2,n,0);c[r]=now()-t0;
            t0=now();cblas_sgemm(CblasRowMajor,CblasNoTrans,CblasNoTrans,m,k,n,1,dy,n,w,k,0,dx1,k);d[r]=now()-t0;
            t0=now();gemm_strided(m,k,n,dy,n,1,w,k,0,dx2,k,0);e[r]=now()-t0;
            memset(dw1,0,4*(size_t)n*k);
            t0=now();memset(dw1,0,4*(size_t)n*k);cblas_sgemm(CblasRowMajor,CblasTrans,CblasNoTrans,n,k,m,1,dy,n,x,k,1,dw1,k);f[r]=now()-t0;
            t0=now();gemm_strided(n,k,m,dy,1,n,x,k,0,dw2,k,0);g[r]=now()-t0;
        }
        double fl=2.0*m*n*k*1e-3;
        printf("m=%3d %3d->%3d | fwd blas %6.0f us  mine %6.0f + pack %4.0f  (%.1e) | dX blas %6.0f mine %6.0f (%.1e) | dW blas+memset %6.0f mine %6.0f (%.1e)\n",
            m,k,n,MED(a)*1e6,MED(c)*1e6,MED(b)*1e6,maxdiff(y1,y2,(size_t)m*n),MED(d)*1e6,MED(e)*1e6,maxdiff(dx1,dx2,(size_t)m*k),MED(f)*1e6,MED(g)*1e6,maxdiff(dw1,dw2,(size_t)n*k));
        (void)fl;
    }
}
