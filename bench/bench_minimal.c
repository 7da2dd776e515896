/*
 * bench_minimal: the least a C program can do to read a credential from sekretsd:
 * connect, one get round trip, exit. The benchmark times it as a whole process beside
 * `sekrets-cli get`, to show what the CLI adds over the floor of process start + socket.
 * Usage: bench_minimal PROTOCOL NAME   (socket from $SEKRETS_SOCKET)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "frame.h"
#include "request.h"
#include "response.h"

int main(int argc, char **argv)
{
    const char *path = getenv("SEKRETS_SOCKET");
    if (argc != 3 || path == NULL)
        return 2;
    struct sockaddr_un a = { .sun_family = AF_UNIX };
    snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0)
        return 6;
    proto_request r;
    memset(&r, 0, sizeof(r));
    r.id = 1;
    r.op = PROTO_OP_GET;
    r.protocol_len = (uint32_t)snprintf(r.protocol, sizeof(r.protocol), "%s", argv[1]);
    r.name_len = (uint32_t)snprintf(r.name, sizeof(r.name), "%s", argv[2]);
    r.fields = PROTO_F_PROTOCOL | PROTO_F_NAME;
    proto_buf out = PROTO_BUF_INIT;
    if (proto_request_encode(&out, &r, PROTO_MAX_FRAME_DEFAULT) != 0 ||
        write(fd, out.data, out.len) != (ssize_t)out.len)
        return 1;
    proto_reader rd;
    proto_reader_init(&rd, PROTO_MAX_FRAME_DEFAULT);
    const uint8_t *frame;
    size_t len;
    int got;
    while ((got = proto_reader_next(&rd, &frame, &len)) == 0) {
        uint8_t *p;
        size_t room;
        if (proto_reader_space(&rd, &p, &room) != 0)
            return 1;
        ssize_t n = read(fd, p, room);
        if (n <= 0)
            return 1;
        proto_reader_commit(&rd, (size_t)n);
    }
    proto_response resp;
    if (got < 0 || proto_response_decode(frame, len, &resp) != 0 || !resp.ok)
        return 3;
    proto_reader_free(&rd);
    proto_buf_free(&out);
    close(fd);
    return 0;
}
