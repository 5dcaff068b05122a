#include "ckernels.h"
#if defined(__linux__)
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

// struct sched_attr of <linux/sched/types.h>, declared here because glibc has no wrapper.
struct largevae_sched_attr {
    uint32_t size, sched_policy;
    uint64_t sched_flags;
    int32_t sched_nice;
    uint32_t sched_priority;
    uint64_t sched_runtime, sched_deadline, sched_period;
    uint32_t sched_util_min, sched_util_max;
};

int largevae_set_time_slice(uint64_t nanoseconds) {
#if defined(SYS_sched_getattr) && defined(SYS_sched_setattr)
    struct largevae_sched_attr attr;
    memset(&attr, 0, sizeof attr);
    if (syscall(SYS_sched_getattr, 0, &attr, (unsigned)sizeof attr, 0) != 0) return errno;
    if (attr.sched_policy != 0 /* SCHED_OTHER */ && attr.sched_policy != 3 /* SCHED_BATCH */) return EPERM;
    attr.size = sizeof attr;
    attr.sched_flags = 0;
    attr.sched_runtime = nanoseconds;
    if (syscall(SYS_sched_setattr, 0, &attr, 0) != 0) return errno;
    return 0;
#else
    (void)nanoseconds;
    return ENOSYS;
#endif
}
#else
#include <errno.h>
int largevae_set_time_slice(uint64_t nanoseconds) { (void)nanoseconds; return ENOSYS; }
#endif

void largevae_cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}
