/*
 * forge: what a hostile container's root can run to pose as a container runtime's helper process on the host.
 * Built static by the hostile-lookup tests and copied into a sandbox container; it needs nothing of the host.
 *
 *   forge lxc-monitor PATH NAME      re-executes itself with the one-string command line "[lxc monitor] PATH NAME",
 *                                    the title LXC gives its monitor process
 *   systemd-nspawn -M NAME ...       (a copy named systemd-nspawn) has comm "systemd-nspawn" and nspawn's arguments
 *
 * Either way it then forks a child, which a resolver that trusts the forgery would take for the container's init, and
 * both sleep until the container is stopped.
 *
 *   forge lxc-command PATH NAME PID  answers on LXC's command socket of container NAME in lxcpath PATH, the abstract
 *                                    unix socket "@PATH/NAME/command", which any process in the host's network
 *                                    namespace can bind: the container is RUNNING (LXC_CMD_GET_STATE, 3) with init
 *                                    PID (LXC_CMD_GET_INIT_PID, 4). A request and a reply are 16 bytes: an int
 *                                    command or return value, an int data length, and 8 bytes of data.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>
#include <unistd.h>

struct lxc_message {
    int32_t value;
    int32_t datalen;
    int64_t data;
};

static int serve_lxc_commands(const char *path, const char *name, long pid)
{
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    int n = snprintf(addr.sun_path + 1, sizeof addr.sun_path - 1, "%s/%s/command", path, name);
    if (n < 0 || (size_t)n >= sizeof addr.sun_path - 1)
        return 2;
    int server = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (server < 0 || bind(server, (struct sockaddr *)&addr, offsetof(struct sockaddr_un, sun_path) + 1 + n) < 0 || listen(server, 16) < 0) {
        perror("lxc-command socket");
        return 1;
    }
    for (;;) {
        int client = accept4(server, NULL, NULL, SOCK_CLOEXEC);
        if (client < 0)
            continue;
        struct lxc_message request, reply = { 0 };
        if (read(client, &request, sizeof request) == (ssize_t)sizeof request) {
            if (request.value == 3)
                reply.data = 2; /* RUNNING */
            else if (request.value == 4)
                reply.data = pid;
            else
                reply.value = -38; /* -ENOSYS */
            if (write(client, &reply, sizeof reply) != (ssize_t)sizeof reply)
                perror("write");
        }
        close(client);
    }
}

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "lxc-monitor") == 0) {
        static char title[8192];
        snprintf(title, sizeof title, "[lxc monitor] %s %s", argv[2], argv[3]);
        char *args[] = { title, NULL };
        execv("/proc/self/exe", args);
        perror("execv");
        return 127;
    }

    if (argc == 5 && strcmp(argv[1], "lxc-command") == 0)
        return serve_lxc_commands(argv[2], argv[3], strtol(argv[4], NULL, 10));

    signal(SIGTERM, SIG_DFL);
    if (fork() == 0) {
        for (;;)
            pause();
    }
    for (;;)
        pause();
}
