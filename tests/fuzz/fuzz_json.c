/*
 * Fuzz target for the CLI's JSON <-> MessagePack conversion (client/cli/jsonmp.c, with
 * the library's renderer client/lib/json.c behind jsonmp_to_json). Every input is used
 * twice:
 *
 *  - as JSON text: jsonmp_from_text packs it (or refuses it with a message). What it
 *    packs is one well-formed MessagePack object, nested at most PROTO_MAX_DEPTH deep and
 *    at most about 3 bytes per byte of text. Rendered back to JSON it parses, and packs
 *    again to the very same bytes (objects keep their key order, $bin/$ext come back as
 *    the same bin/ext, floats read back exactly).
 *  - as MessagePack: skr_msgpack_to_json renders it exactly when proto_mp_check takes it
 *    whole and no more than 4 map keys that are not str sit inside each other; the text is JSON that jansson reads (unless a key holds a NUL or an integer is
 *    over 2^63-1: jansson's limits, so jsonmp_to_json gives NULL there), within a size
 *    bound, and the plain, pretty and ASCII renderings read as equal values. The rendered
 *    text then goes through the JSON-text checks above.
 *
 * jansson runs with the CLI's wiping allocator (jsonmp_init), as in sekrets-cli.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "mp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MUST(cond) do { if (!(cond)) { \
    fprintf(stderr, "fuzz_json: %s:%d: %s\n", __FILE__, __LINE__, #cond); abort(); } } while (0)

/* The object's nesting: containers inside each other (proto_mp_check's depth). */
static void check_packed(const proto_buf *mp, size_t text_len)
{
    size_t obj;
    MUST(mp->len >= 1);
    MUST(proto_mp_check(mp->data, mp->len, &obj) == 0 && obj == mp->len);
    /* a number of 3 characters ("0.0") is the worst case: 9 bytes */
    MUST(mp->len <= 3 * text_len + 8);
}

/* JSON text -> MessagePack -> JSON -> MessagePack: the two packings are the same bytes. */
static void cycle_text(const char *text, size_t len)
{
    proto_buf mp = PROTO_BUF_INIT, again = PROTO_BUF_INIT;
    char err[256];
    err[0] = '\0';
    if (jsonmp_from_text(text, len, &mp, err, sizeof(err)) != 0) {
        MUST(err[0] != '\0' && memchr(err, '\0', sizeof(err)) != NULL);
        proto_buf_free(&mp);
        return;
    }
    check_packed(&mp, len);

    char *back = NULL;
    MUST(skr_msgpack_to_json(mp.data, mp.len, 0, &back) == 0);
    size_t blen = strlen(back);
    MUST(jsonmp_from_text(back, blen, &again, err, sizeof(err)) == 0);
    MUST(again.len == mp.len && memcmp(again.data, mp.data, mp.len) == 0);

    /* jsonmp_to_json gives the same value as parsing the rendered text */
    json_t *v = jsonmp_to_json(mp.data, mp.len);
    MUST(v != NULL);
    proto_buf third = PROTO_BUF_INIT;
    MUST(jsonmp_pack(v, &third, err, sizeof(err)) == 0);
    MUST(third.len == mp.len && memcmp(third.data, mp.data, mp.len) == 0);
    json_decref(v);

    skr_string_free(back);
    proto_buf_free(&third);
    proto_buf_free(&again);
    proto_buf_free(&mp);
}

/* How many map keys that are not str sit inside each other at most (the object was
 * checked by proto_mp_check, so the recursion is bounded). */
static int key_levels(proto_cur *c)
{
    uint32_t n;
    int most = 0, k;
    switch (proto_cur_peek(c)) {
    case PROTO_MP_ARRAY:
        MUST(proto_cur_array(c, &n) == 0);
        for (uint32_t i = 0; i < n; i++)
            if ((k = key_levels(c)) > most)
                most = k;
        return most;
    case PROTO_MP_MAP:
        MUST(proto_cur_map(c, &n) == 0);
        for (uint32_t i = 0; i < n; i++) {
            bool str = proto_cur_peek(c) == PROTO_MP_STR;
            k = key_levels(c) + !str;
            if (k > most)
                most = k;
            if ((k = key_levels(c)) > most)
                most = k;
        }
        return most;
    default:
        MUST(proto_cur_skip(c, NULL, NULL) == 0);
        return 0;
    }
}

/* MessagePack -> JSON under every flag. */
static void render_mp(const uint8_t *data, size_t size)
{
    size_t obj;
    bool whole = proto_mp_check(data, size, &obj) == 0 && obj == size;
    static const int flags[4] = { 0, SKR_JSON_PRETTY, SKR_JSON_ASCII,
                                  SKR_JSON_PRETTY | SKR_JSON_ASCII };
    json_t *first = NULL;
    char *plain = NULL;
    for (int f = 0; f < 4; f++) {
        char *text = NULL;
        int rc = skr_msgpack_to_json(data, size, flags[f], &text);
        if (!whole) {
            MUST(rc == SKR_EINVAL && text == NULL);
            return;
        }
        /* keys inside keys are refused past 4 levels (each doubles the escaping) */
        proto_cur c = proto_cur_make(data, size);
        int levels = key_levels(&c);
        if (levels > 4) {
            MUST(rc == SKR_EINVAL && text == NULL);
            return;
        }
        MUST(rc == 0 && text != NULL);
        size_t tlen = strlen(text);
        if (!(flags[f] & SKR_JSON_PRETTY))
            MUST(tlen <= ((size_t)8 << levels) * size + 16);
        if (flags[f] & SKR_JSON_ASCII)
            for (size_t i = 0; i < tlen; i++)
                MUST((unsigned char)text[i] < 0x80);
        json_error_t je;
        json_t *v = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
        if (v == NULL) {
            /* jansson takes no NUL in a key and no integer beyond int64 (a uint64 body
             * field over 2^63-1); everything else must read */
            MUST(json_error_code(&je) == json_error_null_byte_in_key ||
                 json_error_code(&je) == json_error_numeric_overflow);
            skr_string_free(text);
            free(plain);
            json_decref(first);
            return;
        }
        if (first == NULL) {
            first = v;
            plain = strdup(text);
            MUST(plain != NULL);
        } else {
            MUST(json_equal(first, v));
            json_decref(v);
        }
        skr_string_free(text);
    }
    json_decref(first);
    cycle_text(plain, strlen(plain));
    free(plain);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool ready;
    if (!ready) {
        jsonmp_init();
        ready = true;
    }
    cycle_text((const char *)data, size);
    render_mp(data, size);
    return 0;
}
