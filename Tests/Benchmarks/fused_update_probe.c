/* Would fusing the gradient reduction's finishing pass with Adam's update pay? The two passes as the
   trainer runs them (the two units' gradients summed in double into the mean gradient, then Adam
   over the whole vector) against one pass over 16 K-element blocks (each block reduced, into an
   L2-resident scratch or into the mean gradient, then updated), for vae/standard's 1.1 M and
   hvae/standard's 2.8 M parameters, with 64 MB written between timings so that the vectors start
   outside the cache as they do after a step's backward pass. Medians of 15, in ms. The README's
   "One thread, standard-prior models" sums up the answer; docs/RESULTS-HISTORY.md has the runs.
   x86-64 with AVX2 and AVX-512F.

       cc -O3 -fno-math-errno -ffp-contract=off Tests/Benchmarks/fused_update_probe.c -o /tmp/fused_update_probe -lm && /tmp/fused_update_probe */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
__attribute__((target("avx2"))) static void adam(size_t n, const float *restrict grad, float *restrict theta, float *restrict m, float *restrict v) {
    const float b1=0.9f,b2=0.999f,one_minus_b1 = 1.0f - b1, one_minus_b2 = 1.0f - b2, step_size=1e-3f, bc2_sqrt=0.5f, eps=1e-8f;
    for (size_t i = 0; i < n; i++) { float g = grad[i]; float mi = m[i] + one_minus_b1 * (g - m[i]); float vi = v[i] * b2 + one_minus_b2 * g * g;
        float denom = sqrtf(vi) / bc2_sqrt + eps; m[i] = mi; v[i] = vi; theta[i] -= step_size * (mi / denom); } }
__attribute__((target("avx512f"))) static int finish(const float *restrict a, const float *restrict b, double scale, float *restrict out, size_t n) {
    int bad = 0; for (size_t i = 0; i < n; i++) { double v = (double)a[i] + (double)b[i]; out[i] = (float)(v * scale); double z = v * 0; bad |= z != z; } return bad; }
static double now(void){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+t.tv_nsec*1e-9;}
static int cmpd(const void*x,const void*y){double a=*(double*)x,b=*(double*)y;return a<b?-1:a>b;}
int main(int argc,char**argv){
  size_t ns[]={1100000,2800000};
  for(int q=0;q<2;q++){ size_t n=ns[q];
  float*g1=malloc(4*n),*g2=malloc(4*n),*mean=malloc(4*n),*t=malloc(4*n),*m=malloc(4*n),*v=malloc(4*n),*scr=malloc(4*16384);
  for(size_t i=0;i<n;i++){g1[i]=(i%97)*1e-3f;g2[i]=(i%89)*1e-3f;t[i]=0.01f*(i%13);m[i]=0;v[i]=1e-4f;mean[i]=0;}
  /* flush-ish buffer to simulate other work between steps */
  size_t fl=64<<20; char*flush=malloc(fl); memset(flush,1,fl);
  double a[15],b[15],c[15];
  for(int r=0;r<15;r++){
    memset(flush,r,fl);
    double t0=now(); finish(g1,g2,0.01,mean,n); adam(n,mean,t,m,v); a[r]=now()-t0;
    memset(flush,r+1,fl);
    t0=now(); for(size_t s=0;s<n;s+=16384){size_t k=n-s<16384?n-s:16384; finish(g1+s,g2+s,0.01,scr,k); adam(k,scr,t+s,m+s,v+s);} b[r]=now()-t0;
    memset(flush,r+2,fl);
    t0=now(); for(size_t s=0;s<n;s+=16384){size_t k=n-s<16384?n-s:16384; finish(g1+s,g2+s,0.01,mean+s,k); adam(k,mean+s,t+s,m+s,v+s);} c[r]=now()-t0;
  }
  qsort(a,15,8,cmpd);qsort(b,15,8,cmpd);qsort(c,15,8,cmpd);
  printf("n=%zu two passes %.3f ms  fused (scratch) %.3f ms  fused (into mean) %.3f ms\n",n,a[7]*1e3,b[7]*1e3,c[7]*1e3);}
}
