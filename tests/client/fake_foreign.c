/*
 * tests/client/fake_foreign.c - a fake daemon run as another user, for the clients' check
 * of who listens (libsekrets, sekrets-cli, the Python client).
 *
 * fake_foreign UID DIR: gives DIR to UID, becomes UID (no groups, no capabilities left),
 * listens on DIR/s.sock (mode 0666, so the test's client can connect), prints "ready", then
 * takes one connection, reads it to its end and prints how many bytes it received: what a
 * fake daemon would have captured. Started as root; gives up after 20 s.
 */
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    char buf[4096];
    size_t total = 0;
    ssize_t n;

    if (argc != 3)
        return 2;
    uid_t uid = (uid_t)strtoul(argv[1], NULL, 10);
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/s.sock", argv[2]);
    if (chown(argv[2], uid, uid) != 0 || chmod(argv[2], 0755) != 0 || setgroups(0, NULL) != 0 ||
        setgid(uid) != 0 || setuid(uid) != 0 || getuid() != uid) {
        perror("fake_foreign: become uid");
        return 1;
    }
    int l = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (l < 0 || bind(l, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
        chmod(sa.sun_path, 0666) != 0 || listen(l, 4) != 0) {
        perror("fake_foreign: listen");
        return 1;
    }
    printf("ready\n");
    fflush(stdout);
    alarm(20);
    int fd = accept(l, NULL, NULL);
    if (fd < 0)
        return 1;
    while ((n = read(fd, buf, sizeof(buf))) > 0)
        total += (size_t)n;
    printf("%zu\n", total);
    return 0;
}
