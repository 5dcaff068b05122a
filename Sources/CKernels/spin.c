#define _GNU_SOURCE
#include "ckernels.h"

void largevae_cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

#if defined(__linux__)
#include <sched.h>
#include <errno.h>
int largevae_pin_to_cpu(int cpu) {
    if (cpu < 0 || cpu >= CPU_SETSIZE) return EINVAL;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return sched_setaffinity(0, sizeof set, &set) == 0 ? 0 : errno;
}
#else
#include <errno.h>
int largevae_pin_to_cpu(int cpu) { (void)cpu; return ENOSYS; }
#endif

#if defined(__linux__)
int largevae_idle_priority(void) {
    struct sched_param param = {0};
    return sched_setscheduler(0, SCHED_IDLE, &param) == 0 ? 0 : errno;   /* 0: this thread only */
}

int largevae_allowed_cpus(int *out, int capacity) {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) != 0) return 0;
    int n = 0;
    for (int cpu = 0; cpu < CPU_SETSIZE && n < capacity; cpu++)
        if (CPU_ISSET(cpu, &set)) out[n++] = cpu;
    return n;
}
#else
int largevae_idle_priority(void) { return ENOSYS; }
int largevae_allowed_cpus(int *out, int capacity) { (void)out; (void)capacity; return 0; }
#endif
