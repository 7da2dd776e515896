/* Crash consistency: SIGKILL at a random moment while 4 connections pipeline puts and
 * deletes; after each restart the hub must hold every acknowledged write and nothing that
 * was never sent. Each client owns its names, so its ops apply in order: the hub after the
 * crash must equal, for every client at once, the result of a prefix of its ops at least
 * as long as the acknowledged part and no longer than what was fully sent. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "rel.h"

enum { CLIENTS = 4, NAMES = 8, WINDOW = 16, MAX_OPS = 20000, VLEN = 48 };

typedef struct op {
    uint8_t name;            /* index into the client's names */
    bool del;
    char value[VLEN];        /* put's value */
} op;

typedef struct client {
    int id;
    int fd;
    op *ops;
    int sent;                /* ops fully written to the socket */
    int acked;               /* ops answered ok */
    int errors;              /* error replies (must stay 0) */
    char state[NAMES][VLEN]; /* verified state at the start of the round ("" = absent) */
} client;

static harness h;
static int round_no;
static volatile int stop_flag;

static void cleanup(void)
{
    harness_stop(&h);
}

static unsigned rnd(unsigned *seed)
{
    *seed = *seed * 1103515245u + 12345u;
    return (*seed >> 8) & 0xffffff;
}

static void *client_run(void *arg)
{
    client *c = arg;
    unsigned seed = (unsigned)(c->id * 7919 + round_no * 104729) ^ (unsigned)time(NULL);
    proto_buf out = PROTO_BUF_INIT, in = PROTO_BUF_INIT;
    char name[32];
    while (!stop_flag && c->sent + WINDOW <= MAX_OPS) {
        int first = c->sent;
        proto_buf_reset(&out);
        for (int i = 0; i < WINDOW; i++) {
            op *o = &c->ops[first + i];
            o->name = (uint8_t)(rnd(&seed) % NAMES);
            o->del = rnd(&seed) % 5 == 0;
            snprintf(o->value, sizeof(o->value), "r%d-c%d-op%d", round_no, c->id, first + i);
            snprintf(name, sizeof(name), "c%d-n%d", c->id, o->name);
            rel_encode(&out, (uint32_t)(first + i), o->del ? PROTO_OP_DELETE : PROTO_OP_PUT,
                       "crash", name, o->del ? NULL : o->value);
        }
        if (harness_send(c->fd, out.data, out.len) != 0)
            break; /* partially written at most: those ops do not count as sent */
        c->sent += WINDOW;
        for (int i = 0; i < WINDOW; i++) {
            proto_response r;
            if (harness_recv(c->fd, &in) != 0 || proto_response_decode(in.data, in.len, &r) != 0)
                goto out;
            if (r.id != (uint32_t)(first + i) || !r.ok) {
                c->errors++;
                goto out;
            }
            c->acked = first + i + 1;
        }
    }
out:
    proto_buf_free(&out);
    proto_buf_free(&in);
    return NULL;
}

/* The state of the client's names after its first j ops of this round. */
static void state_after(const client *c, int j, char st[NAMES][VLEN])
{
    memcpy(st, c->state, sizeof(c->state));
    for (int i = 0; i < j; i++) {
        const op *o = &c->ops[i];
        memset(st[o->name], 0, VLEN);
        snprintf(st[o->name], VLEN, "%s", o->del ? "" : o->value);
    }
}

int main(int argc, char **argv)
{
    int rounds = argc > 1 ? atoi(argv[1]) : 50;
    static client cl[CLIENTS];
    long total_acked = 0, total_sent = 0, total_checked = 0, unacked_landed = 0;
    atexit(cleanup);
    CHECK(harness_start(&h, HARNESS_KEYFILE, NULL) == 0, "daemon did not start");
    for (int c = 0; c < CLIENTS; c++) {
        cl[c].id = c;
        cl[c].ops = calloc(MAX_OPS, sizeof(op));
        CHECK(cl[c].ops != NULL, "oom");
    }
    unsigned seed = (unsigned)time(NULL);
    for (round_no = 0; round_no < rounds; round_no++) {
        pthread_t th[CLIENTS];
        stop_flag = 0;
        for (int c = 0; c < CLIENTS; c++) {
            cl[c].fd = harness_connect(&h);
            CHECK(cl[c].fd >= 0, "connect");
            cl[c].sent = cl[c].acked = cl[c].errors = 0;
            pthread_create(&th[c], NULL, client_run, &cl[c]);
        }
        /* a random moment: 5..200 ms into the stream */
        usleep(5000 + rnd(&seed) % 195000);
        harness_kill(&h, SIGKILL);
        stop_flag = 1;
        for (int c = 0; c < CLIENTS; c++) {
            pthread_join(th[c], NULL);
            close(cl[c].fd);
            CHECK(cl[c].errors == 0, "round %d client %d got an error reply", round_no, c);
        }
        CHECK(harness_restart(&h, HARNESS_KEYFILE, NULL) == 0, "restart after round %d", round_no);
        int fd = harness_connect(&h);
        CHECK(fd >= 0, "connect after restart");
        for (int c = 0; c < CLIENTS; c++) {
            char got[NAMES][VLEN], want[NAMES][VLEN], name[32];
            memset(got, 0, sizeof(got)); /* compared whole, with memcmp */
            for (int n = 0; n < NAMES; n++) {
                snprintf(name, sizeof(name), "c%d-n%d", c, n);
                int rc = rel_call(fd, 1, PROTO_OP_GET, "crash", name, NULL, got[n], VLEN);
                CHECK(rc == 0 || rc == SKR_ENOT_FOUND, "get %s: %d", name, rc);
                if (rc == SKR_ENOT_FOUND)
                    got[n][0] = '\0';
            }
            int match = -1;
            for (int j = cl[c].acked; j <= cl[c].sent && match < 0; j++) {
                state_after(&cl[c], j, want);
                if (memcmp(got, want, sizeof(got)) == 0)
                    match = j;
            }
            if (match < 0) {
                for (int n = 0; n < NAMES; n++)
                    fprintf(stderr, "  c%d-n%d = '%s'\n", c, n, got[n]);
            }
            CHECK(match >= 0, "round %d client %d: hub is no prefix of its ops between %d "
                  "(acknowledged) and %d (sent)", round_no, c, cl[c].acked, cl[c].sent);
            unacked_landed += match - cl[c].acked;
            total_acked += cl[c].acked;
            total_sent += cl[c].sent;
            total_checked += NAMES;
            memcpy(cl[c].state, got, sizeof(got));
        }
        close(fd);
    }
    printf("crash consistency: %d rounds, %ld writes sent, %ld acknowledged (all held), "
           "%ld unacknowledged that landed, %ld names checked\n",
           rounds, total_sent, total_acked, unacked_landed, total_checked);
    for (int c = 0; c < CLIENTS; c++)
        free(cl[c].ops);
    return 0;
}
