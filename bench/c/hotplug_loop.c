/* Raw baselines for MountHotplug's hot-plug benchmark: what the kernel calls alone cost.
 *
 * usage: hotplug_loop PID SOURCE_DIR COUNT TARGET_DIR [safe|threaded]
 *   Clones SOURCE_DIR COUNT times (open_tree OPEN_TREE_CLONE) and attaches each clone at TARGET_DIR/m<i> inside the
 *   mount namespace of PID, which it enters once (setns) on its only thread.
 *   Without "safe": open_tree, mkdir, move_mount by path, close: the baseline, and the least any tool can do.
 *   With "safe": the same system calls, in the same order, that MountHotplug's native layer makes per mount
 *   (ContainerMounter.Attach after a staging like New-StagedMount's), so that a comparison shows the cost of .NET
 *   and of the dedicated namespace thread, not of the safety steps:
 *     staging   open_tree_attr(propagation private) where the kernel has it (6.15), else open_tree and mount_setattr,
 *               as StagedMount.Clone does; statx of the clone (its mount id)
 *     root      statx("/proc/PID/root") compared with the root kept open, pidfd_send_signal(0): still that process?
 *     resolve   openat2(root, TARGET_DIR, RESOLVE_IN_ROOT|RESOLVE_NO_MAGICLINKS), mkdirat in it, openat2 of the new
 *               name in it (RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS, O_NOFOLLOW), statx of it (type, mount point?)
 *     move      move_mount(clone fd -> target fd)
 *     verify    openat2(root, TARGET_DIR/m<i>) again and statx: the mount id must be the clone's
 *     close     target, parent and clone descriptors
 *   With "threaded": as "safe", but the process stays in the host's namespace and hands each move_mount to a thread
 *   that entered the container (unshare(CLONE_FS), setns) and waits spinning with sched_yield, as the native layer's
 *   NamespaceWorker does; a multithreaded process (every .NET process) cannot setns its main thread.
 * Prints one line: "<ns per mount>" or, with safe, "<ns per mount> <staging> <root> <resolve> <move> <verify> <close>"
 * (ns per mount each).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <linux/mount.h>
#include <linux/openat2.h>
#include <pthread.h>
#include <stdatomic.h>

#ifdef SYS_open_tree_attr
#define NR_OPEN_TREE_ATTR SYS_open_tree_attr
#elif defined(__x86_64__) || defined(__aarch64__)
#define NR_OPEN_TREE_ATTR 467 /* the same on both (asm-generic numbering since 5.x); Debian 12's headers predate it */
#endif

#ifndef STATX_MNT_ID_UNIQUE
#define STATX_MNT_ID_UNIQUE 0x4000U
#endif

enum { STAGING, ROOT, RESOLVE, MOVE, VERIFY, CLOSE, STEPS };

static void die(const char *what) { fprintf(stderr, "%s: %s\n", what, strerror(errno)); exit(1); }

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* The namespace thread of "threaded": one request at a time, both sides spin with sched_yield. */
static atomic_int request_seq, result_seq;
static int request_from, request_to, worker_pidfd;
static atomic_int worker_result;

static void wait_for(atomic_int *seq, int value)
{
    while (atomic_load_explicit(seq, memory_order_acquire) != value) sched_yield();
}

static void *namespace_thread(void *arg)
{
    (void)arg;
    if (unshare(CLONE_FS) < 0 || setns(worker_pidfd, CLONE_NEWNS) < 0) die("worker setns");
    atomic_store_explicit(&result_seq, 0, memory_order_release);
    for (int seq = 1;; seq++) {
        wait_for(&request_seq, seq);
        if (request_from < 0) return NULL;
        long rc = syscall(SYS_move_mount, request_from, "", request_to, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH);
        atomic_store_explicit(&worker_result, rc < 0 ? errno : 0, memory_order_relaxed);
        atomic_store_explicit(&result_seq, seq, memory_order_release);
    }
}

static int move_via_thread(int from, int to)
{
    static int seq;
    request_from = from;
    request_to = to;
    atomic_store_explicit(&request_seq, ++seq, memory_order_release);
    wait_for(&result_seq, seq);
    return atomic_load_explicit(&worker_result, memory_order_relaxed);
}

static void stat_fd(int fd, const char *path, struct statx *stx)
{
    if (syscall(SYS_statx, fd, path, path[0] ? 0 : AT_EMPTY_PATH, STATX_BASIC_STATS | STATX_MNT_ID_UNIQUE, stx) < 0) die("statx");
}

int main(int argc, char **argv)
{
    if (argc < 5) { fprintf(stderr, "usage: %s PID SOURCE COUNT TARGET_DIR [safe]\n", argv[0]); return 2; }
    int pid = atoi(argv[1]), count = atoi(argv[3]);
    const char *source = argv[2], *dir = argv[4];
    int threaded = argc > 5 && strcmp(argv[5], "threaded") == 0;
    int safe = threaded || (argc > 5 && strcmp(argv[5], "safe") == 0);
    char path[4096], name[32], root_path[64];
    uint64_t steps[STEPS] = { 0 };

    int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (pidfd < 0) die("pidfd_open");
    snprintf(root_path, sizeof root_path, "/proc/%d/root", pid);
    int root = open(root_path, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (root < 0) die("open root");
    struct statx root_stx, stx;
    stat_fd(root, "", &root_stx);
    // The host's /proc, kept for after setns (the container's /proc would be its own, or missing).
    int proc = open("/proc", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (proc < 0) die("open /proc");
    snprintf(root_path, sizeof root_path, "%d/root", pid);

    // Staging happens on the host, before entering the container (a clone is only made of a mount in the caller's own
    // namespace), as MountHotplug stages on the host thread.
    // The probe StagedMount.Clone's KernelFeatures makes: a kernel without the call says ENOSYS.
    int open_tree_attr_works = syscall(NR_OPEN_TREE_ATTR, -1, "", 0, NULL, 0) >= 0 || errno != ENOSYS;
    int *clones = calloc((size_t)count, sizeof *clones);
    uint64_t *clone_ids = calloc((size_t)count, sizeof *clone_ids);
    if (!clones || !clone_ids) die("calloc");
    uint64_t start = now_ns();
    for (int i = 0; i < count; i++) {
        struct mount_attr attr = { .propagation = MS_PRIVATE };
        if (safe && open_tree_attr_works) {
            clones[i] = (int)syscall(NR_OPEN_TREE_ATTR, AT_FDCWD, source, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC, &attr, sizeof attr);
            if (clones[i] < 0) die("open_tree_attr");
        } else {
            clones[i] = (int)syscall(SYS_open_tree, AT_FDCWD, source, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
            if (clones[i] < 0) die("open_tree");
        }
        if (safe) {
            if (!open_tree_attr_works && syscall(SYS_mount_setattr, clones[i], "", AT_EMPTY_PATH, &attr, sizeof attr) < 0) die("mount_setattr");
            stat_fd(clones[i], "", &stx);
            clone_ids[i] = stx.stx_mnt_id;
        }
    }

    steps[STAGING] = now_ns() - start;
    pthread_t worker;
    if (threaded) {
        worker_pidfd = pidfd;
        atomic_store(&result_seq, -1);
        if (pthread_create(&worker, NULL, namespace_thread, NULL) != 0) die("pthread_create");
        pthread_setname_np(worker, "namespace"); /* for bench/profile.sh, which tells the threads apart by name */
        wait_for(&result_seq, 0);
    } else if (setns(pidfd, CLONE_NEWNS) < 0) {
        die("setns");
    }

    struct open_how in_root = { .flags = O_PATH | O_DIRECTORY | O_CLOEXEC, .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS };
    struct open_how leaf_how = { .flags = O_PATH | O_NOFOLLOW | O_CLOEXEC, .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS };
    struct open_how verify_how = { .flags = O_PATH | O_NOFOLLOW | O_CLOEXEC, .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS };
    for (int i = 0; i < count; i++) {
        snprintf(name, sizeof name, "m%d", i);
        snprintf(path, sizeof path, "%s/%s", dir, name);
        int clone = clones[i];
        if (!safe) {
            if (mkdir(path, 0755) < 0 && errno != EEXIST) die("mkdir");
            if (syscall(SYS_move_mount, clone, "", AT_FDCWD, path, MOVE_MOUNT_F_EMPTY_PATH) < 0) die("move_mount");
            close(clone);
            continue;
        }

        uint64_t t1 = now_ns();
        stat_fd(proc, root_path, &stx);
        if (stx.stx_ino != root_stx.stx_ino || stx.stx_mnt_id != root_stx.stx_mnt_id) { fprintf(stderr, "root changed\n"); return 1; }
        if (syscall(SYS_pidfd_send_signal, pidfd, 0, NULL, 0) < 0) die("pidfd_send_signal");
        uint64_t t2 = now_ns();

        int parent = (int)syscall(SYS_openat2, root, dir, &in_root, sizeof in_root);
        if (parent < 0) die("openat2 parent");
        if (mkdirat(parent, name, 0755) < 0 && errno != EEXIST) die("mkdirat");
        int target = (int)syscall(SYS_openat2, parent, name, &leaf_how, sizeof leaf_how);
        if (target < 0) die("openat2 target");
        stat_fd(target, "", &stx);
        uint64_t t3 = now_ns();

        if (threaded) {
            int err = move_via_thread(clone, target);
            if (err != 0) { errno = err; die("move_mount (thread)"); }
        } else if (syscall(SYS_move_mount, clone, "", target, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0) {
            die("move_mount");
        }
        uint64_t t4 = now_ns();

        int again = (int)syscall(SYS_openat2, root, path, &verify_how, sizeof verify_how);
        if (again < 0) die("openat2 verify");
        stat_fd(again, "", &stx);
        if (stx.stx_mnt_id != clone_ids[i]) { fprintf(stderr, "verify: mount id differs\n"); return 1; }
        close(again);
        uint64_t t5 = now_ns();

        close(target);
        close(parent);
        close(clone);
        uint64_t t6 = now_ns();
        steps[ROOT] += t2 - t1; steps[RESOLVE] += t3 - t2;
        steps[MOVE] += t4 - t3; steps[VERIFY] += t5 - t4; steps[CLOSE] += t6 - t5;
    }

    uint64_t elapsed = now_ns() - start;
    if (threaded) {
        request_from = -1;
        atomic_fetch_add_explicit(&request_seq, 1, memory_order_release);
        pthread_join(worker, NULL);
    }

    uint64_t n = count > 0 ? (uint64_t)count : 1; /* a run of 0 mounts (bench/syscalls.sh) prints 0s */
    printf("%llu", (unsigned long long)(elapsed / n));
    if (safe) {
        for (int s = 0; s < STEPS; s++) printf(" %llu", (unsigned long long)(steps[s] / n));
    }

    printf("\n");
    return 0;
}
