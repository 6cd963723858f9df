/* What one system call costs from C, for bench/profile.sh to set beside the same calls made through MountHotplug's
 * native layer (the bench's --call-costs): the .NET overhead per call, apart from the kernel's own cost.
 *
 * usage: call_cost PID COUNT
 * Prints lines "<name> <ns per call>", each the best of five rounds of COUNT calls:
 *   pidfd_send_signal   pidfd_send_signal(pidfd of PID, 0): the liveness check made before each hot-plug
 *   open_close          open("/", O_PATH|O_DIRECTORY) and close: one descriptor's life (a SafeHandle's, in .NET)
 *   sched_yield         one round of the namespace thread handoff's spin
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static double now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

static int pidfd;

static void signal_zero(void)
{
    if (syscall(SYS_pidfd_send_signal, pidfd, 0, NULL, 0) < 0) { perror("pidfd_send_signal"); exit(1); }
}

static void open_close(void)
{
    int fd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) { perror("open"); exit(1); }
    close(fd);
}

static void yield(void) { sched_yield(); }

static void time_calls(const char *name, void (*call)(void), int count)
{
    double best = 1e300;
    for (int round = 0; round < 5; round++) {
        double start = now_ns();
        for (int i = 0; i < count; i++) call();
        double per_call = (now_ns() - start) / count;
        if (per_call < best) best = per_call;
    }
    printf("%s %.0f\n", name, best);
}

int main(int argc, char **argv)
{
    if (argc != 3) { fprintf(stderr, "usage: call_cost PID COUNT\n"); return 2; }
    int count = atoi(argv[2]);
    pidfd = (int)syscall(SYS_pidfd_open, atoi(argv[1]), 0);
    if (pidfd < 0) { perror("pidfd_open"); return 1; }
    time_calls("pidfd_send_signal", signal_zero, count);
    time_calls("open_close", open_close, count);
    time_calls("sched_yield", yield, count);
    return 0;
}
