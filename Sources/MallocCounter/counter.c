#include "malloc_counter.h"
#include <stddef.h>
#include <stdatomic.h>

#if defined(__linux__) && defined(__GLIBC__)
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);

static atomic_long calls;

void *malloc(size_t n) { atomic_fetch_add_explicit(&calls, 1, memory_order_relaxed); return __libc_malloc(n); }
void *calloc(size_t n, size_t s) { atomic_fetch_add_explicit(&calls, 1, memory_order_relaxed); return __libc_calloc(n, s); }
void *realloc(void *p, size_t n) { atomic_fetch_add_explicit(&calls, 1, memory_order_relaxed); return __libc_realloc(p, n); }
long largevae_malloc_calls(void) { return atomic_load(&calls); }
#else
long largevae_malloc_calls(void) { return -1; }   // not counted on this platform
#endif
