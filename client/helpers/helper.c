/*
 * client/helpers/helper.c - see helper.h.
 */
#include "helper.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int hlp_input_read(int fd, size_t max, char **buf, size_t *len)
{
    char *p;
    size_t n = 0;
    int r = 0;
    /* one byte beyond max tells "more than max" apart from "exactly max" */
    if ((p = sodium_malloc(max + 2)) == NULL)
        return SKR_ENOMEM;
    for (;;) {
        ssize_t got = read(fd, p + n, max + 1 - n);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            r = SKR_EIO;
            goto out;
        }
        if (got == 0)
            break;
        n += (size_t)got;
        if (n > max) {
            r = SKR_ETOO_LARGE;
            goto out;
        }
    }
    p[n] = '\0';
    *buf = p;
    *len = n;
    p = NULL;
out:
    hlp_input_free(p);
    return r;
}

void hlp_input_free(char *buf)
{
    if (buf != NULL)
        sodium_free(buf); /* wipes before it unmaps */
}

int hlp_out_init(hlp_out *o, size_t cap)
{
    memset(o, 0, sizeof(*o));
    if ((o->p = sodium_malloc(cap)) == NULL)
        return SKR_ENOMEM;
    o->cap = cap;
    return 0;
}

void hlp_out_put(hlp_out *o, const char *s, size_t n)
{
    if (o->full || n > o->cap - o->len) {
        o->full = true;
        return;
    }
    memcpy(o->p + o->len, s, n);
    o->len += n;
}

void hlp_out_puts(hlp_out *o, const char *s)
{
    hlp_out_put(o, s, strlen(s));
}

int hlp_out_write(hlp_out *o, int fd)
{
    size_t done = 0;
    if (o->full)
        return SKR_ETOO_LARGE;
    while (done < o->len) {
        ssize_t w = write(fd, o->p + done, o->len - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return SKR_EIO;
        done += (size_t)w;
    }
    return 0;
}

void hlp_out_free(hlp_out *o)
{
    if (o->p != NULL)
        sodium_free(o->p);
    memset(o, 0, sizeof(*o));
}

int hlp_connect(const char *socket, skr_client **out, char *msg, size_t size)
{
    char path[256];
    int r;
    if (socket != NULL && *socket != '\0') {
        if (strlen(socket) >= sizeof(path)) {
            snprintf(msg, size, "cannot reach sekretsd: socket path too long");
            return SKR_ECONNECT;
        }
        strcpy(path, socket);
    } else if (skr_default_socket(path, sizeof(path)) != 0) {
        snprintf(msg, size, "cannot reach sekretsd: no socket path (set SEKRETS_SOCKET or "
                            "XDG_RUNTIME_DIR)");
        return SKR_ECONNECT;
    }
    if ((r = skr_connect(path, 0, out)) != 0)
        snprintf(msg, size, "cannot reach sekretsd at %s (%s); start it with `sekretsd` or "
                 "`systemctl --user start sekretsd.socket`", path, skr_strerror(r));
    return r;
}

void hlp_describe(int err, const skr_client *c, char *msg, size_t size)
{
    if (err == SKR_ELOCKED)
        snprintf(msg, size, "the sekrets hub is locked: unlock it with `sekrets-cli unlock` "
                            "(or `sekrets-cli init` on a new hub)");
    else if ((err == SKR_EIO || err == SKR_ETIMEOUT) && c != NULL)
        snprintf(msg, size, "sekretsd at %s: %s", skr_client_path(c), skr_strerror(err));
    else
        snprintf(msg, size, "sekretsd: %s", skr_strerror(err));
}
