#ifndef LARGEVAE_CKERNELS_H
#define LARGEVAE_CKERNELS_H
#include <stddef.h>

/// One Adam update of n float32 parameters (torch semantics):
///   g = grad[i] (+ wd * theta)
///   m += (1 - b1) * (g - m);  v = v * b2 + (1 - b2) * g * g
///   theta -= step_size * (m / (sqrt(v) / bc2_sqrt + eps))
/// Written in C only because Swift on Linux lowers sqrt to a libm call with errno handling,
/// which blocks vectorisation; this file is compiled without fast-math or FP contraction,
/// so it rounds exactly like the Swift reference loop.
void largevae_adam_f32(size_t n, const float *grad, float *theta, float *m, float *v,
                       float b1, float b2, float step_size, float bc2_sqrt, float eps, float wd);

#include <stdint.h>

/// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78) of n bytes, continuing the raw
/// register `crc` (pass ~0 to start; the checksum is the complement of the result).
/// Uses the SSE4.2 crc32 instruction on three interleaved streams where the CPU has it.
uint32_t largevae_crc32c_update(uint32_t crc, const void *data, size_t n);

/// bf16 (little-endian, 2 bytes each) from n floats: round to nearest, ties to even; a NaN
/// stays a quiet NaN with its sign.
void largevae_bf16_encode(const float *x, size_t n, void *out);

/// n floats from bf16 (exact).
void largevae_bf16_decode(const void *in, size_t n, float *out);

/// 1 if none of the n little-endian values at `data` (any alignment) is NaN or ±infinity, else 0:
/// binary32, bfloat16 and binary64 respectively.
int largevae_all_finite_f32(const void *data, size_t n);
int largevae_all_finite_bf16(const void *data, size_t n);
int largevae_all_finite_f64(const void *data, size_t n);

/// A spin-wait hint to the CPU (x86 `pause`, Arm `yield`): cheaper polling, and a sibling
/// hyper-thread gets the core meanwhile.
void largevae_cpu_relax(void);

/// `dst[i] = src[i]` for `i < n` with streaming (non-temporal) stores where the CPU has them, so
/// that the destination's cache lines are not read first; fenced at the end.
void largevae_copy_streaming_f32(float *dst, const float *src, size_t n);

/// Restricts the calling thread (and threads it creates afterwards) to CPU `cpu`. Returns 0 or an
/// errno value (EINVAL for a CPU this process may not use; ENOSYS off Linux).
int largevae_pin_to_cpu(int cpu);

/// Gives the calling thread (only it, not threads it already started) the SCHED_IDLE policy: any
/// thread of normal policy that wakes on its CPU then runs at once instead of waiting for this
/// one's time slice. Returns 0 or an errno value (ENOSYS off Linux).
int largevae_idle_priority(void);

/// The CPUs the calling thread may run on, ascending, at most `capacity` of them into `out`;
/// returns how many (0 where this is unknown).
int largevae_allowed_cpus(int *out, int capacity);

#endif
