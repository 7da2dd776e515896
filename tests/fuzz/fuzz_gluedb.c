/*
 * Fuzz target for the .gluedb importer's parser (client/cli/gluedb.c): the input is a
 * whole .gluedb file. gluedb_parse either refuses it with a one-line reason, or gives
 * records of the shape cli.h documents: each name a valid credential name (no NUL inside)
 * and unlike every other, each date now or within 0..SKR_TIME_MAX, each body one packed
 * MessagePack value of at most PROTO_MAX_BODY bytes that the CLI's renderer can show, of
 * the type the record's body.model names (a map where the model is not an as-is type).
 * jansson runs with the CLI's wiping allocator.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "mp.h"
#include "request.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MUST(cond) do { if (!(cond)) { \
    fprintf(stderr, "fuzz_gluedb: %s:%d: %s\n", __FILE__, __LINE__, #cond); abort(); } } while (0)

/* The type record i's body must have: its body.model when that is an as-is type
 * (gluedb_model's names but "builtins.dict"), a map otherwise. Read from the file again,
 * apart from gluedb_parse, so the check does not trust the parser it checks. */
static const char *declared_model(const uint8_t *data, size_t size, size_t i)
{
    static const char *const as_is[] = {
        "builtins.list", "builtins.str", "builtins.NoneType", "builtins.bool",
        "builtins.bytes", "builtins.float", "builtins.int", "sekrets.ext",
    };
    static char model[32];
    json_t *root = json_loadb((const char *)data, size, 0, NULL);
    MUST(root != NULL);
    json_t *rec = json_array_get(json_object_get(json_object_get(root, "contents"), "records"), i);
    const char *m = json_string_value(json_object_get(json_object_get(rec, "body"), "model"));
    snprintf(model, sizeof(model), "builtins.dict");
    for (size_t k = 0; m != NULL && k < sizeof(as_is) / sizeof(*as_is); k++)
        if (strcmp(m, as_is[k]) == 0)
            snprintf(model, sizeof(model), "%s", m);
    json_decref(root);
    return model;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool ready;
    if (!ready) {
        jsonmp_init();
        ready = true;
    }
    gluedb_rec *recs = NULL;
    size_t n = (size_t)-1;
    char err[300];
    memset(err, 0x55, sizeof(err));
    if (gluedb_parse((const char *)data, size, &recs, &n, err, sizeof(err)) != 0) {
        MUST(recs == NULL && n == (size_t)-1); /* outputs untouched on failure */
        size_t elen = strnlen(err, sizeof(err));
        MUST(elen > 0 && elen < sizeof(err));
        MUST(memchr(err, '\n', elen) == NULL);
        return 0;
    }
    MUST(recs != NULL);
    MUST(n <= size / 8); /* a record takes more than 8 bytes of text */
    for (size_t i = 0; i < n; i++) {
        const gluedb_rec *r = &recs[i];
        MUST(r->name != NULL);
        size_t nl = strlen(r->name);
        MUST(proto_valid_name(r->name, nl));
        for (size_t k = 0; k < i; k++)
            MUST(strcmp(recs[k].name, r->name) != 0);
        size_t obj;
        MUST(r->body.len >= 1 && r->body.len <= PROTO_MAX_BODY);
        MUST(proto_mp_check(r->body.data, r->body.len, &obj) == 0 && obj == r->body.len);
        MUST(strcmp(gluedb_model(r->body.data, r->body.len), declared_model(data, size, i)) == 0);
        /* a date is now (absent) or a time the wire carries */
        MUST(r->created == SKR_TIME_NOW || (r->created >= 0 && r->created <= SKR_TIME_MAX));
        MUST(r->modified == SKR_TIME_NOW || (r->modified >= 0 && r->modified <= SKR_TIME_MAX));
        /* the body is accepted in a post request as is */
        char *text = NULL;
        MUST(skr_msgpack_to_json(r->body.data, r->body.len, 0, &text) == 0);
        skr_string_free(text);
    }
    gluedb_free(recs, n);
    return 0;
}
