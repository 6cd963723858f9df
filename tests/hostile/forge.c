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
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

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

    signal(SIGTERM, SIG_DFL);
    if (fork() == 0) {
        for (;;)
            pause();
    }
    for (;;)
        pause();
}
