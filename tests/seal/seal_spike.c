/*
 * seal_spike: can host root hand an unprivileged container a read-only mount that the container's root cannot make
 * writable or take away? (issue 17). Built static with -Wall -Wextra -Werror by SealSpikeTests, which runs both modes
 * against a real unprivileged LXC container and keeps the output; docs/security.md records what it printed.
 *
 *   seal_spike host PID SEALED_SRC CONTROL_SRC DIR    host root, inside `unshare -m --propagation private`
 *   seal_spike attack DIR                             the container's root, inside the container (uses /tmp/seal-scratch)
 *
 * host: stages idmapped, read-only, nosuid, nodev clones of SEALED_SRC and CONTROL_SRC (open_tree CLONE +
 * mount_setattr, as New-StagedMount -IdMap -ReadOnly does). A forked, single-threaded helper seals the first one:
 * unshare(CLONE_NEWNS) as host root, attaches the staged mount under a read-only tmpfs carrier in that private
 * namespace, setns() into the container's USER namespace, unshare(CLONE_NEWNS) again (copy_mnt_ns sees a less
 * privileged owner and runs lock_mnt_tree over the copy), clones the mount there with
 * open_tree(OPEN_TREE_CLONE|AT_RECURSIVE) and sends the descriptors back over a socketpair (SCM_RIGHTS). The parent
 * enters the container's mount namespace and moves them to DIR/sealed, DIR/sealed-umount, DIR/sealed-lazy,
 * DIR/sealed-move, DIR/tree (the carrier with the sealed mount as its child DIR/tree/m) and the unsealed control to
 * DIR/control.
 *
 * attack: every way we know for a container's root to get write access to the files or to take the mount away.
 * Each line: "<mount> <attempt>: ok" or "...: <ERRNO> (<message>)".
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* Raw numbers (x86_64 and the generic table agree for these) and flags, so that no header version matters. */
#define NR_open_tree 428
#define NR_move_mount 429
#define NR_fsopen 430
#define NR_fsconfig 431
#define NR_fsmount 432
#define NR_pidfd_open 434
#define NR_mount_setattr 442

#define OPEN_TREE_CLONE_ 0x1
#define OPEN_TREE_CLOEXEC_ 0x80000
#define AT_RECURSIVE_ 0x8000
#define MOVE_MOUNT_F_EMPTY_PATH_ 0x4
#define FSCONFIG_CMD_CREATE_ 6
#define ATTR_RDONLY 0x1
#define ATTR_NOSUID 0x2
#define ATTR_NODEV 0x4
#define ATTR_IDMAP 0x100000
#define PROP_PRIVATE 0x40000

struct attr {
    uint64_t attr_set, attr_clr, propagation, userns_fd;
};

#define SEALED_COUNT 5
static const char *const sealed_names[SEALED_COUNT] = { "sealed", "sealed-umount", "sealed-lazy", "sealed-move", "tree" };

static int open_tree_(int dfd, const char *path, unsigned flags) { return (int)syscall(NR_open_tree, dfd, path, flags); }
static int move_mount_(int from, const char *fp, int to, const char *tp, unsigned flags)
{
    return (int)syscall(NR_move_mount, from, fp, to, tp, flags);
}
static int setattr_(int dfd, const char *path, unsigned flags, struct attr *a)
{
    return (int)syscall(NR_mount_setattr, dfd, path, flags, a, sizeof *a);
}

static void report(const char *who, const char *what, int rc)
{
    if (rc < 0)
        printf("%s %s: %s (%s)\n", who, what, strerrorname_np(errno), strerror(errno));
    else
        printf("%s %s: ok\n", who, what);
    fflush(stdout);
}

static int must(const char *what, int rc)
{
    if (rc < 0) {
        fprintf(stderr, "seal_spike: %s: %s (%s)\n", what, strerrorname_np(errno), strerror(errno));
        exit(2);
    }
    return rc;
}

/* A detached, idmapped, read-only, nosuid, nodev, private clone of a host path: what New-StagedMount -IdMap -ReadOnly makes. */
static int stage(const char *source, int userns)
{
    int fd = must("open_tree(CLONE) of the source", open_tree_(AT_FDCWD, source, OPEN_TREE_CLONE_ | OPEN_TREE_CLOEXEC_));
    struct attr a = { .attr_set = ATTR_RDONLY | ATTR_NOSUID | ATTR_NODEV | ATTR_IDMAP, .propagation = PROP_PRIVATE,
                      .userns_fd = (uint64_t)userns };
    must("mount_setattr(RDONLY|NOSUID|NODEV|IDMAP) on the staged clone", setattr_(fd, "", AT_EMPTY_PATH, &a));
    return fd;
}

/* The single-threaded helper: returns the sealed descriptors over sock. Steps are printed so the spike shows where it stops. */
static void seal_helper(int pidfd, int staged, int sock)
{
    report("helper", "unshare(CLONE_NEWNS) as host root", unshare(CLONE_NEWNS));
    report("helper", "make / private recursively", mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL));

    /* A read-only tmpfs carrier at /tmp of this private namespace; the staged mount goes on its directory "m". */
    int fs = must("fsopen(tmpfs)", (int)syscall(NR_fsopen, "tmpfs", 1));
    must("fsconfig(CREATE)", (int)syscall(NR_fsconfig, fs, FSCONFIG_CMD_CREATE_, NULL, NULL, 0));
    int carrier = must("fsmount", (int)syscall(NR_fsmount, fs, 1, 0));
    must("mkdirat(carrier, m)", mkdirat(carrier, "m", 0755));
    struct attr ro = { .attr_set = ATTR_RDONLY | ATTR_NOSUID | ATTR_NODEV };
    must("mount_setattr(carrier, RDONLY)", setattr_(carrier, "", AT_EMPTY_PATH, &ro));
    must("move_mount(carrier -> /tmp)", move_mount_(carrier, "", AT_FDCWD, "/tmp", MOVE_MOUNT_F_EMPTY_PATH_));
    report("helper", "move_mount(staged -> /tmp/m) in the private namespace",
           move_mount_(staged, "", AT_FDCWD, "/tmp/m", MOVE_MOUNT_F_EMPTY_PATH_));
    /* copy_mnt_ns moves the working directory into the copy, so "." and "m" then name the copies. */
    must("chdir(/tmp)", chdir("/tmp"));

    report("helper", "setns(pidfd, CLONE_NEWUSER) into the container's user namespace", setns(pidfd, CLONE_NEWUSER));
    report("helper", "unshare(CLONE_NEWNS) owned by the container's user namespace (copy_mnt_ns + lock_mnt_tree)",
           unshare(CLONE_NEWNS));

    int fds[SEALED_COUNT];
    for (int i = 0; i < SEALED_COUNT; i++) {
        const char *path = i == SEALED_COUNT - 1 ? "." : "m";
        fds[i] = open_tree_(AT_FDCWD, path, OPEN_TREE_CLONE_ | AT_RECURSIVE_ | OPEN_TREE_CLOEXEC_);
        if (i == 0 || i == SEALED_COUNT - 1)
            report("helper", i == 0 ? "open_tree(m, CLONE|RECURSIVE) in that namespace" : "open_tree(., CLONE|RECURSIVE): carrier + m",
                   fds[i]);
        if (fds[i] < 0)
            exit(3);
    }

    /* Can the sealer itself still clear it? (It holds CAP_SYS_ADMIN only over the container's user namespace now.) */
    struct attr clear = { .attr_clr = ATTR_RDONLY };
    int probe = open_tree_(AT_FDCWD, "m", OPEN_TREE_CLONE_ | OPEN_TREE_CLOEXEC_);
    report("helper", "mount_setattr(clear RDONLY) on one more clone, as the sealer", setattr_(probe, "", AT_EMPTY_PATH, &clear));

    char control[CMSG_SPACE(sizeof fds)];
    memset(control, 0, sizeof control);
    char byte = 'S';
    struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control, .msg_controllen = sizeof control };
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof fds);
    memcpy(CMSG_DATA(c), fds, sizeof fds);
    must("sendmsg(SCM_RIGHTS)", (int)sendmsg(sock, &msg, 0));
    exit(0);
}

static void receive(int sock, int fds[SEALED_COUNT])
{
    char control[CMSG_SPACE(sizeof(int) * SEALED_COUNT)];
    char byte;
    struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control, .msg_controllen = sizeof control };
    if (recvmsg(sock, &msg, MSG_CMSG_CLOEXEC) != 1) {
        fprintf(stderr, "seal_spike: the helper sent no descriptors\n");
        exit(2);
    }
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    if (c == NULL || c->cmsg_type != SCM_RIGHTS || c->cmsg_len != CMSG_LEN(sizeof(int) * SEALED_COUNT)) {
        fprintf(stderr, "seal_spike: unexpected control message\n");
        exit(2);
    }
    memcpy(fds, CMSG_DATA(c), sizeof(int) * SEALED_COUNT);
}

/* A directory DIR/name under the container's root (the test's own container: no hostile-path care needed here). */
static void place(int root, const char *dir, const char *name, int fd)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (mkdirat(root, path, 0755) < 0 && errno != EEXIST)
        must("mkdirat(target)", -1);
    char what[4200];
    snprintf(what, sizeof what, "move_mount(-> %s) in the container's mount namespace", name);
    report("host", what, move_mount_(fd, "", root, path, MOVE_MOUNT_F_EMPTY_PATH_));
}

static int host(int argc, char **argv)
{
    if (argc != 6) {
        fprintf(stderr, "usage: seal_spike host PID SEALED_SRC CONTROL_SRC DIR\n");
        return 2;
    }
    pid_t pid = (pid_t)atoi(argv[2]);
    const char *dir = argv[5][0] == '/' ? argv[5] + 1 : argv[5];
    int pidfd = must("pidfd_open", (int)syscall(NR_pidfd_open, pid, 0));
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/ns/user", (int)pid);
    int userns = must("open user ns", open(path, O_RDONLY | O_CLOEXEC));
    snprintf(path, sizeof path, "/proc/%d/root", (int)pid);
    int root = must("open the container's root", open(path, O_PATH | O_DIRECTORY | O_CLOEXEC));

    int staged = stage(argv[3], userns);
    int control = stage(argv[4], userns);

    int sv[2];
    must("socketpair", socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
    pid_t helper = fork();
    if (helper == 0) {
        close(sv[0]);
        seal_helper(pidfd, staged, sv[1]);
    }
    must("fork", helper);
    close(sv[1]);
    int sealed[SEALED_COUNT];
    receive(sv[0], sealed);
    int status;
    waitpid(helper, &status, 0);
    printf("host helper exit status: %d\n", WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));

    /* Single-threaded, so setns(CLONE_NEWNS) needs no unshare(CLONE_FS) first. */
    must("setns(pidfd, CLONE_NEWNS)", setns(pidfd, CLONE_NEWNS));
    char dirpath[4096];
    snprintf(dirpath, sizeof dirpath, "%s", dir);
    if (mkdirat(root, dirpath, 0755) < 0 && errno != EEXIST)
        must("mkdirat(DIR)", -1);
    for (int i = 0; i < SEALED_COUNT; i++)
        place(root, dir, sealed_names[i], sealed[i]);
    place(root, dir, "control", control);
    fflush(stdout);
    return 0;
}

/* ---- inside the container ---- */

static int write_into(const char *who, const char *mountpoint, const char *how)
{
    char path[4096], what[256];
    snprintf(path, sizeof path, "%s/hello.txt", mountpoint);
    snprintf(what, sizeof what, "write hello.txt %s", how);
    int fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
    int rc = fd;
    if (fd >= 0) {
        static const char line[] = "written from inside the container\n";
        rc = (int)write(fd, line, sizeof line - 1);
        close(fd);
    }
    report(who, what, rc);
    return rc;
}

static void try_make_writable(const char *who, const char *m, const char *scratch)
{
    char where[4096], label[64];
    snprintf(label, sizeof label, "%s", who);
    for (char *c = label; *c; c++)
        if (*c == '/')
            *c = '-';
    write_into(who, m, "as mounted");

    /* nosuid,nodev are kept in every remount below, so that only read-only is asked to change. */
    /* mount -o remount,rw: a superblock reconfiguration (do_remount). */
    report(who, "mount(MS_REMOUNT) rw", mount(NULL, m, NULL, MS_REMOUNT | MS_NOSUID | MS_NODEV, NULL));
    /* mount -o remount,bind,rw: only the mount's flags (do_reconfigure_mnt). */
    report(who, "mount(MS_REMOUNT|MS_BIND) rw", mount(NULL, m, NULL, MS_REMOUNT | MS_BIND | MS_NOSUID | MS_NODEV, NULL));
    struct attr clear = { .attr_clr = ATTR_RDONLY };
    report(who, "mount_setattr(clear RDONLY)", setattr_(AT_FDCWD, m, 0, &clear));
    struct attr clear_all = { .attr_clr = ATTR_RDONLY | ATTR_NOSUID | ATTR_NODEV };
    report(who, "mount_setattr(clear RDONLY|NOSUID|NODEV, recursive)", setattr_(AT_FDCWD, m, AT_RECURSIVE_, &clear_all));
    write_into(who, m, "after the remounts");

    /* A bind elsewhere, then the same on the bind. */
    snprintf(where, sizeof where, "%s/%s-bind", scratch, label);
    mkdir(where, 0755);
    if (mount(m, where, NULL, MS_BIND, NULL) == 0) {
        report(who, "bind to scratch", 0);
        report(who, "bind: mount(MS_REMOUNT|MS_BIND) rw", mount(NULL, where, NULL, MS_REMOUNT | MS_BIND | MS_NOSUID | MS_NODEV, NULL));
        report(who, "bind: mount_setattr(clear RDONLY)", setattr_(AT_FDCWD, where, 0, &clear));
        write_into(who, where, "through the bind");
        umount2(where, MNT_DETACH);
    } else {
        report(who, "bind to scratch", -1);
    }

    /* A detached clone (open_tree CLONE), cleared while detached, then attached. */
    int clone = open_tree_(AT_FDCWD, m, OPEN_TREE_CLONE_ | OPEN_TREE_CLOEXEC_);
    report(who, "open_tree(CLONE)", clone);
    if (clone >= 0) {
        report(who, "detached clone: mount_setattr(clear RDONLY)", setattr_(clone, "", AT_EMPTY_PATH, &clear));
        snprintf(where, sizeof where, "%s/%s-clone", scratch, label);
        mkdir(where, 0755);
        if (move_mount_(clone, "", AT_FDCWD, where, MOVE_MOUNT_F_EMPTY_PATH_) == 0) {
            write_into(who, where, "through the attached clone");
            umount2(where, MNT_DETACH);
        }
        close(clone);
    }
}

static int attack(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: seal_spike attack DIR\n");
        return 2;
    }
    const char *dir = argv[2];
    if (strlen(dir) > 1024) {
        fprintf(stderr, "seal_spike: DIR too long\n");
        return 2;
    }
    char m[4096], scratch[2048], moved[4096];
    /* Scratch mounts on a tmpfs of the container's own under its /tmp (DIR belongs to host root, so it cannot mkdir there). */
    snprintf(scratch, sizeof scratch, "/tmp/seal-scratch");
    mkdir(scratch, 0755);
    report("scratch", "mount tmpfs", mount("scratch", scratch, "tmpfs", 0, NULL));

    snprintf(m, sizeof m, "%s/sealed", dir);
    try_make_writable("sealed", m, scratch);
    snprintf(m, sizeof m, "%s/tree/m", dir);
    try_make_writable("tree/m", m, scratch);
    snprintf(m, sizeof m, "%s/control", dir);
    try_make_writable("control", m, scratch);

    /* Taking it away: each on a mount of its own, so one success does not hide the next attempt. */
    snprintf(m, sizeof m, "%s/sealed-umount", dir);
    report("sealed-umount", "umount2(0)", umount2(m, 0));
    snprintf(m, sizeof m, "%s/sealed-lazy", dir);
    report("sealed-lazy", "umount2(MNT_DETACH)", umount2(m, MNT_DETACH));
    /* mount --move refuses any mount whose parent is shared (LXC's / is), sealed or not: make the parents private
     * first, as a container's root may, so that the move itself is what is tried. */
    report("container", "mount(MS_PRIVATE) of /", mount(NULL, "/", NULL, MS_PRIVATE, NULL));
    snprintf(m, sizeof m, "%s/tree", dir);
    report("container", "mount(MS_PRIVATE) of the carrier", mount(NULL, m, NULL, MS_PRIVATE, NULL));
    snprintf(m, sizeof m, "%s/sealed-move", dir);
    snprintf(moved, sizeof moved, "%s/moved", scratch);
    mkdir(moved, 0755);
    if (mount(m, moved, NULL, MS_MOVE, NULL) == 0) {
        report("sealed-move", "mount(MS_MOVE)", 0);
        report("sealed-move", "moved: mount(MS_REMOUNT|MS_BIND) rw",
               mount(NULL, moved, NULL, MS_REMOUNT | MS_BIND | MS_NOSUID | MS_NODEV, NULL));
        write_into("sealed-move", moved, "after the move");
    } else {
        report("sealed-move", "mount(MS_MOVE)", -1);
    }

    /* In the carrier tree the sealed mount is a child, locked to its parent (MNT_LOCKED). */
    snprintf(m, sizeof m, "%s/tree/m", dir);
    report("tree/m", "umount2(0)", umount2(m, 0));
    report("tree/m", "umount2(MNT_DETACH)", umount2(m, MNT_DETACH));
    snprintf(moved, sizeof moved, "%s/moved-child", scratch);
    mkdir(moved, 0755);
    report("tree/m", "mount(MS_MOVE)", mount(m, moved, NULL, MS_MOVE, NULL));
    snprintf(m, sizeof m, "%s/tree", dir);
    report("tree", "umount2(0) of the carrier", umount2(m, 0));
    report("tree", "umount2(MNT_DETACH) of the carrier", umount2(m, MNT_DETACH));

    umount2(scratch, MNT_DETACH);
    return 0;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc >= 2 && strcmp(argv[1], "host") == 0)
        return host(argc, argv);
    if (argc >= 2 && strcmp(argv[1], "attack") == 0)
        return attack(argc, argv);
    fprintf(stderr, "usage: seal_spike host PID SEALED_SRC CONTROL_SRC DIR | seal_spike attack DIR\n");
    return 2;
}
