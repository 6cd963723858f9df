/* Raw baseline for MountHotplug's hot-plug benchmark: what the kernel calls alone cost.
 *
 * usage: hotplug_loop PID SOURCE_DIR COUNT TARGET_PREFIX [safe]
 *   Clones SOURCE_DIR COUNT times on the host (open_tree OPEN_TREE_CLONE), enters the mount namespace of PID
 *   (setns, once), then for each clone makes TARGET_PREFIX<i> (mkdir) and attaches it there (move_mount).
 *   With "safe", each mount also gets the steps MountHotplug does for safety: propagation set private on the
 *   detached clone, the target resolved with openat2(RESOLVE_IN_ROOT|RESOLVE_NO_MAGICLINKS) from the process root,
 *   and the move verified by looking the target up again and comparing statx mount ids.
 * Prints one line: "<nanoseconds per mount>".
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

#ifndef STATX_MNT_ID_UNIQUE
#define STATX_MNT_ID_UNIQUE 0x4000U
#endif

static void die(const char *what) { fprintf(stderr, "%s: %s\n", what, strerror(errno)); exit(1); }

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t mount_id(int fd)
{
    struct statx stx;
    if (syscall(SYS_statx, fd, "", AT_EMPTY_PATH, STATX_MNT_ID_UNIQUE, &stx) < 0) die("statx");
    return stx.stx_mnt_id;
}

int main(int argc, char **argv)
{
    if (argc < 5) { fprintf(stderr, "usage: %s PID SOURCE COUNT TARGET_PREFIX [safe]\n", argv[0]); return 2; }
    int pid = atoi(argv[1]), count = atoi(argv[3]);
    const char *source = argv[2], *prefix = argv[4];
    int safe = argc > 5 && strcmp(argv[5], "safe") == 0;
    int *fds = calloc((size_t)count, sizeof(int));
    char path[4096];

    uint64_t start = now_ns();
    int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (pidfd < 0) die("pidfd_open");
    snprintf(path, sizeof path, "/proc/%d/root", pid);
    int root = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (root < 0) die("open root");
    for (int i = 0; i < count; i++) {
        fds[i] = (int)syscall(SYS_open_tree, AT_FDCWD, source, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
        if (fds[i] < 0) die("open_tree");
        if (safe) {
            struct mount_attr attr = { .propagation = MS_PRIVATE };
            if (syscall(SYS_mount_setattr, fds[i], "", AT_EMPTY_PATH, &attr, sizeof attr) < 0) die("mount_setattr");
        }
    }
    if (setns(pidfd, CLONE_NEWNS) < 0) die("setns");
    for (int i = 0; i < count; i++) {
        snprintf(path, sizeof path, "%s%d", prefix, i);
        if (!safe) {
            if (mkdir(path, 0755) < 0 && errno != EEXIST) die("mkdir");
            if (syscall(SYS_move_mount, fds[i], "", AT_FDCWD, path, MOVE_MOUNT_F_EMPTY_PATH) < 0) die("move_mount");
        } else {
            struct open_how how = { .flags = O_PATH | O_CLOEXEC, .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS };
            char *slash = strrchr(path, '/');
            *slash = 0;
            int parent = (int)syscall(SYS_openat2, root, path, &how, sizeof how);
            if (parent < 0) die("openat2 parent");
            *slash = '/';
            if (mkdirat(parent, slash + 1, 0755) < 0 && errno != EEXIST) die("mkdirat");
            int target = (int)syscall(SYS_openat2, root, path, &how, sizeof how);
            if (target < 0) die("openat2 target");
            if (syscall(SYS_move_mount, fds[i], "", target, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0) die("move_mount");
            int again = (int)syscall(SYS_openat2, root, path, &how, sizeof how);
            if (again < 0) die("openat2 verify");
            if (mount_id(again) != mount_id(fds[i])) { fprintf(stderr, "verify: mount id differs\n"); return 1; }
            close(again);
            close(target);
            close(parent);
        }
        close(fds[i]);
    }
    uint64_t elapsed = now_ns() - start;
    printf("%llu\n", (unsigned long long)(elapsed / (uint64_t)count));
    return 0;
}
