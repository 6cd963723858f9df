/*
 * mhp-seal: the single-threaded helper behind Move-MountIntoNamespace -Seal (issue 17; tests/seal/seal_spike.c is the
 * spike it comes from, docs/security.md says what the kernel checks at each step).
 *
 * Why a process of its own: setns(CLONE_NEWUSER) is refused in a multithreaded process, and every .NET process is one.
 * Why C, static: nothing is loaded at run time (no libc.so, no runtime), so nothing can be read from anyone's files
 * once it runs; it starts from the module's directory on the host and enters no container's mount namespace at all.
 *
 *   mhp-seal seal PARENT_PID MOUNT_FD PIDFD_FD
 *       Takes the parent's descriptors MOUNT_FD (a staged, detached mount) and PIDFD_FD (a pidfd of the container's
 *       init) with pidfd_getfd, then: clones the staged mount (the parent's stays as it was); unshare(CLONE_NEWNS) as
 *       host root and makes everything private; attaches the clone on a directory of a read-only tmpfs carrier;
 *       setns into the container's user namespace; unshare(CLONE_NEWNS) again, which copies the namespace into one
 *       owned by that less privileged user namespace (copy_mnt_ns -> lock_mnt_tree: MNT_LOCK_READONLY, _NOSUID,
 *       _NODEV, _NOEXEC, _ATIME); clones the locked copy with open_tree(OPEN_TREE_CLONE|AT_RECURSIVE); checks that
 *       clearing read-only on another clone is refused (EPERM), so an unlocked mount is never reported as sealed.
 *       Prints "sealed FD" (FD: its own descriptor number, which the parent takes with pidfd_getfd), then waits for
 *       its stdin to close and exits 0. On failure prints "error STEP ERRNO" and exits 1.
 *
 *   mhp-seal probe
 *       The same locking in a throwaway user namespace of its own, on a read-only tmpfs: prints "probe locked" when
 *       clearing read-only on the locked copy is refused, "probe unlocked" when it is not, or "error STEP ERRNO".
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Raw numbers (the same on x86_64 and in the generic table arm64 uses) and flags: no header version matters. */
#define NR_open_tree 428
#define NR_move_mount 429
#define NR_fsopen 430
#define NR_fsconfig 431
#define NR_fsmount 432
#define NR_pidfd_open 434
#define NR_pidfd_getfd 438
#define NR_mount_setattr 442

#define OPEN_TREE_CLONE_ 0x1
#define OPEN_TREE_CLOEXEC_ 0x80000
#define AT_RECURSIVE_ 0x8000
#define MOVE_MOUNT_F_EMPTY_PATH_ 0x4
#define FSCONFIG_CMD_CREATE_ 6
#define ATTR_RDONLY 0x1
#define ATTR_NOSUID 0x2
#define ATTR_NODEV 0x4

struct attr {
    uint64_t attr_set, attr_clr, propagation, userns_fd;
};

static int check(const char *step, long rc)
{
    if (rc < 0) {
        printf("error %s %d\n", step, errno);
        fflush(stdout);
        exit(1);
    }
    return (int)rc;
}

static int clone_tree(int dfd, const char *path, unsigned extra)
{
    return (int)syscall(NR_open_tree, dfd, path, OPEN_TREE_CLONE_ | AT_RECURSIVE_ | OPEN_TREE_CLOEXEC_ | extra);
}

/* This private namespace gets a read-only tmpfs at /tmp holding "m", where the mount to seal goes. Only its
 * copies ever leave this process, and the namespace ends with it. */
static void carrier(const char *entry_kind)
{
    check("unshare-private", unshare(CLONE_NEWNS));
    /* Nothing done here may propagate back to the host's namespace. */
    check("make-private", mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL));
    int fs = check("fsopen", syscall(NR_fsopen, "tmpfs", 1));
    check("fsconfig", syscall(NR_fsconfig, fs, FSCONFIG_CMD_CREATE_, NULL, NULL, 0));
    int top = check("fsmount", syscall(NR_fsmount, fs, 1, 0));
    if (strcmp(entry_kind, "dir") == 0)
        check("mkdirat", mkdirat(top, "m", 0755));
    else
        close(check("openat", openat(top, "m", O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644)));
    struct attr ro = { .attr_set = ATTR_RDONLY | ATTR_NOSUID | ATTR_NODEV };
    check("mount_setattr-carrier", syscall(NR_mount_setattr, top, "", AT_EMPTY_PATH, &ro, sizeof ro));
    check("move_mount-carrier", syscall(NR_move_mount, top, "", AT_FDCWD, "/tmp", MOVE_MOUNT_F_EMPTY_PATH_));
    close(top);
    close(fs);
    /* copy_mnt_ns carries the working directory into the copy, so "m" names the copy after the next unshare. */
    check("chdir", chdir("/tmp"));
}

/* Clearing read-only on one more clone must be refused, even for this process, which holds CAP_SYS_ADMIN over the
 * owning user namespace: that refusal is the seal. */
static int locked(void)
{
    int probe = check("open_tree-verify", clone_tree(AT_FDCWD, "m", 0));
    struct attr clear = { .attr_clr = ATTR_RDONLY };
    long rc = syscall(NR_mount_setattr, probe, "", AT_EMPTY_PATH, &clear, sizeof clear);
    int refused = rc < 0 && errno == EPERM;
    if (rc < 0 && errno != EPERM)
        check("mount_setattr-verify", rc);
    close(probe);
    return refused;
}

static int seal(int argc, char **argv)
{
    if (argc != 5)
        return 2;
    pid_t parent = (pid_t)atoi(argv[2]);
    int parent_mount = atoi(argv[3]);
    int parent_pidfd = atoi(argv[4]);

    /* The parent is the process that started us and waits for our answer: once pidfd_open has pinned it, getppid()
     * still naming it proves the pidfd is that process and not a later one with the same number. */
    if (getppid() != parent) {
        errno = ESRCH;
        check("parent", -1);
    }
    int pp = check("pidfd_open-parent", syscall(NR_pidfd_open, parent, 0));
    if (getppid() != parent) {
        errno = ESRCH;
        check("parent", -1);
    }
    int staged = check("pidfd_getfd", syscall(NR_pidfd_getfd, pp, parent_mount, 0));
    int container = check("pidfd_getfd", syscall(NR_pidfd_getfd, pp, parent_pidfd, 0));
    close(pp);

    /* A clone, while this process is still in the namespace the mount was staged from (open_tree accepts a detached
     * mount only from there): the caller's staged mount stays as it is whatever happens here. */
    int copy = check("open_tree-staged", clone_tree(staged, "", AT_EMPTY_PATH));
    close(staged);
    struct stat st;
    check("fstat", fstat(copy, &st));
    carrier(S_ISDIR(st.st_mode) ? "dir" : "file");
    check("move_mount-staged", syscall(NR_move_mount, copy, "", AT_FDCWD, "/tmp/m", MOVE_MOUNT_F_EMPTY_PATH_));
    close(copy);

    check("setns-user", setns(container, CLONE_NEWUSER));
    close(container);
    check("unshare-locked", unshare(CLONE_NEWNS));
    int sealed = check("open_tree-sealed", clone_tree(AT_FDCWD, "m", 0));
    if (!locked()) {
        errno = 0;
        printf("error not-locked 0\n");
        fflush(stdout);
        return 1;
    }

    printf("sealed %d\n", sealed);
    fflush(stdout);
    /* The parent takes the descriptor with pidfd_getfd while this process still holds it, then closes our stdin. */
    char buffer[64];
    while (read(STDIN_FILENO, buffer, sizeof buffer) > 0) {
    }
    return 0;
}

static int probe(void)
{
    carrier("dir");
    /* A read-only tmpfs of its own on "m", then a user namespace of our own stands for the container's. */
    int fs = check("fsopen", syscall(NR_fsopen, "tmpfs", 1));
    check("fsconfig", syscall(NR_fsconfig, fs, FSCONFIG_CMD_CREATE_, NULL, NULL, 0));
    int m = check("fsmount", syscall(NR_fsmount, fs, 1, ATTR_RDONLY));
    check("move_mount-staged", syscall(NR_move_mount, m, "", AT_FDCWD, "/tmp/m", MOVE_MOUNT_F_EMPTY_PATH_));
    check("unshare-user", unshare(CLONE_NEWUSER));
    check("unshare-locked", unshare(CLONE_NEWNS));
    printf("probe %s\n", locked() ? "locked" : "unlocked");
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "seal") == 0)
        return seal(argc, argv);
    if (argc == 2 && strcmp(argv[1], "probe") == 0)
        return probe();
    fprintf(stderr, "usage: mhp-seal seal PARENT_PID MOUNT_FD PIDFD_FD | mhp-seal probe\n");
    return 2;
}
