#ifndef LARGEVAE_MALLOC_COUNTER_H
#define LARGEVAE_MALLOC_COUNTER_H
/// The number of malloc, calloc and realloc calls the process has made since it started.
/// Linked only into the test executable, where its malloc family interposes glibc's
/// (the executable's definitions win) and forwards to glibc's __libc_* entry points.
long largevae_malloc_calls(void);
#endif
