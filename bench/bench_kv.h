/*
 * bench/bench_kv.h - what bench_wire sends and checks, for sekretsd and for Redis.
 *
 * Credential i is name "user<i>" in protocol "p<i % P>" (Redis key "p<i % P>:user<i>"),
 * and its body is a msgpack map {"password": value} whose value starts with "v<i>:", so
 * that no two credentials share a body and a reply for the wrong name cannot pass. Redis
 * holds the very same body bytes as its value. Puts write the same body again, so a get
 * after a put benchmark still knows what to expect.
 */
#ifndef BENCH_KV_H
#define BENCH_KV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

typedef enum kv_op { KV_GET, KV_PUT, KV_GETDB, KV_PING } kv_op;

typedef struct kv_spec {
    kv_op op;
    bool redis;          /* RESP instead of sekrets frames */
    unsigned protocols;
    unsigned body_bytes; /* the whole packed body */
} kv_spec;

/* The packed body of credential i into b (reset first). */
void kv_body(const kv_spec *k, unsigned long i, proto_buf *b);
/* Appends the request for credential i (id: the sekrets request id) to out. */
void kv_encode(const kv_spec *k, unsigned long i, uint32_t id, proto_buf *out);

/* An input buffer of replies for Redis (RESP has no length prefix). */
typedef struct kv_in {
    uint8_t *p;
    size_t len, cap;
} kv_in;

/* Checks one sekrets reply frame for the request of credential i: its id (out) and that
 * it is ok and, for a get, holds i's name and body. 0 ok, 1 wrong (error or other
 * content), -1 not a reply at all. */
int kv_check_frame(const kv_spec *k, const uint8_t *f, size_t len, unsigned long i,
                   uint32_t *id, proto_buf *scratch);
/* Takes the next whole RESP reply from in into *used (0: none whole yet) and checks it
 * against credential i as kv_check_frame does. */
int kv_check_resp(const kv_spec *k, const kv_in *in, size_t at, size_t *used, unsigned long i,
                  proto_buf *scratch);

#endif
