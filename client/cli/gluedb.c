/*
 * client/cli/gluedb.c - pyswark's .gluedb JSON files:
 *   {"model": "pyswark.gluedb.db.Db", "contents": {"records": [
 *     {"info": {"name": ..., "date_created": ..., "date_modified": ...},
 *      "body": {"model": ..., "contents": {...} or "<JSON text of an object>"}}, ...]}}
 * The stored body is the contents map. A body that is not a map (put takes any value) is
 * exported with a model naming its type ("builtins.str", "builtins.list", ...: see
 * gluedb_model) and imported from such a model as it is, so export -> import gives back
 * what put stored. Every record is checked before anything is used, so an import can
 * refuse a bad file as a whole.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "request.h"

void gluedb_free(gluedb_rec *recs, size_t n)
{
    if (recs == NULL)
        return;
    for (size_t i = 0; i < n; i++) {
        free(recs[i].name);
        proto_buf_free(&recs[i].body);
    }
    free(recs);
}

void gluedb_date(int64_t t, char buf[32])
{
    struct tm tm;
    time_t tt = (time_t)t;
    if (gmtime_r(&tt, &tm) == NULL || strftime(buf, 32, "%Y-%m-%dT%H:%M:%S+00:00", &tm) == 0)
        snprintf(buf, 32, "%lld", (long long)t);
}

/* n decimal digits at *p (advanced past them) into *v; false if any is not a digit. */
static bool digits(const char **p, const char *end, int n, int *v)
{
    *v = 0;
    for (int i = 0; i < n; i++, (*p)++) {
        if (*p >= end || **p < '0' || **p > '9')
            return false;
        *v = *v * 10 + (**p - '0');
    }
    return true;
}

/* *p is at one of the characters of set (then advanced past it). */
static bool lit(const char **p, const char *end, const char *set)
{
    if (*p >= end || strchr(set, **p) == NULL || **p == '\0')
        return false;
    (*p)++;
    return true;
}

/* Days from 1970-01-01 to y-m-d of the proleptic Gregorian calendar (H. Hinnant's
 * days_from_civil). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int days_in_month(int y, int m)
{
    static const int dm[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : dm[m - 1];
}

/* The offset part: Z, +HH:MM, -HH:MM, +HHMM or nothing; seconds east of UTC. */
static bool utc_offset(const char *p, const char *end, int64_t *off)
{
    int oh, om, sign;
    *off = 0;
    if (p == end)
        return true;
    if (lit(&p, end, "Zz"))
        return p == end;
    if (*p != '+' && *p != '-')
        return false;
    sign = *p++ == '-' ? -1 : 1;
    if (!digits(&p, end, 2, &oh))
        return false;
    if (p < end && *p == ':')
        p++;
    if (!digits(&p, end, 2, &om) || p != end || oh > 23 || om > 59)
        return false;
    *off = sign * (oh * 3600 + om * 60);
    return true;
}

int gluedb_parse_date(const char *s, size_t len, int64_t *t)
{
    const char *p = s, *end = s + len;
    int y, mo, d, h, mi, sec;
    int64_t off;

    if (!digits(&p, end, 4, &y) || !lit(&p, end, "-") || !digits(&p, end, 2, &mo) ||
        !lit(&p, end, "-") || !digits(&p, end, 2, &d))
        return -1;
    h = mi = sec = 0; /* a date alone: its midnight UTC */
    if (p < end && (!lit(&p, end, "Tt ") || !digits(&p, end, 2, &h) || !lit(&p, end, ":") ||
                    !digits(&p, end, 2, &mi) || !lit(&p, end, ":") || !digits(&p, end, 2, &sec)))
        return -1;
    if (p < end && *p == '.') { /* fractional seconds: at least one digit, dropped */
        const char *f = ++p;
        while (p < end && *p >= '0' && *p <= '9')
            p++;
        if (p == f)
            return -1;
    }
    if (!utc_offset(p, end, &off) || mo < 1 || mo > 12 || d < 1 ||
        d > days_in_month(y, mo) || h > 23 || mi > 59 || sec > 59)
        return -1;
    int64_t v = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - off;
    if (v < 0 || v > SKR_TIME_MAX)
        return -1;
    *t = v;
    return 0;
}

/* The model of each MessagePack type, by its first byte; maps are "builtins.dict". */
static const char *const as_is_models[] = {
    "builtins.list", "builtins.str", "builtins.NoneType", "builtins.bool", "builtins.bytes",
    "builtins.float", "builtins.int", "sekrets.ext",
};

const char *gluedb_model(const void *body, size_t len)
{
    uint8_t b = len > 0 ? *(const uint8_t *)body : 0xc1;
    if ((b >= 0x80 && b <= 0x8f) || b == 0xde || b == 0xdf)
        return "builtins.dict";
    if ((b >= 0x90 && b <= 0x9f) || b == 0xdc || b == 0xdd)
        return as_is_models[0];
    if ((b >= 0xa0 && b <= 0xbf) || (b >= 0xd9 && b <= 0xdb))
        return as_is_models[1];
    if (b == 0xc0)
        return as_is_models[2];
    if (b == 0xc2 || b == 0xc3)
        return as_is_models[3];
    if (b >= 0xc4 && b <= 0xc6)
        return as_is_models[4];
    if (b == 0xca || b == 0xcb)
        return as_is_models[5];
    if ((b >= 0xc7 && b <= 0xc9) || (b >= 0xd4 && b <= 0xd8))
        return as_is_models[7];
    return as_is_models[6];
}

static bool model_as_is(const json_t *model)
{
    for (size_t k = 0; json_is_string(model) && k < sizeof(as_is_models) / sizeof(*as_is_models); k++)
        if (strcmp(json_string_value(model), as_is_models[k]) == 0)
            return true;
    return false;
}

/* info.date_created and info.date_modified into rec (absent or null: SKR_TIME_NOW). */
static int record_dates(const json_t *info, gluedb_rec *rec, char *err, size_t errlen, size_t i)
{
    static const char *const keys[] = { "date_created", "date_modified" };
    int64_t *dst[] = { &rec->created, &rec->modified };
    for (size_t k = 0; k < 2; k++) {
        const json_t *v = json_object_get(info, keys[k]);
        *dst[k] = SKR_TIME_NOW;
        if (v == NULL || json_is_null(v))
            continue;
        if (!json_is_string(v) ||
            gluedb_parse_date(json_string_value(v), json_string_length(v), dst[k]) != 0) {
            snprintf(err, errlen, "record %zu (%s): info.%s is not a date like "
                     "2024-05-01T12:00:00+00:00 from 1970 to 9999", i + 1,
                     json_string_value(json_object_get(info, "name")), keys[k]);
            return -1;
        }
    }
    return 0;
}

int gluedb_parse(const char *text, size_t len, gluedb_rec **out, size_t *out_n, char *err,
                 size_t errlen)
{
    json_error_t je;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    gluedb_rec *recs = NULL;
    size_t n = 0, i = 0;
    int r = -1;

    if (root == NULL) {
        snprintf(err, errlen, "invalid JSON at line %d column %d: %s", je.line, je.column, je.text);
        /* jansson quotes the file's bytes ("near '...'"): keep the reason one plain line */
        for (char *p = err; *p != '\0'; p++)
            if ((unsigned char)*p < 0x20 || *p == 0x7f)
                *p = '?';
        return -1;
    }
    json_t *model = json_object_get(root, "model");
    json_t *records = json_object_get(json_object_get(root, "contents"), "records");
    if (model != NULL && !json_is_string(model)) {
        snprintf(err, errlen, "\"model\" is not a string");
        goto out;
    }
    if (!json_is_array(records)) {
        snprintf(err, errlen, "no contents.records array: not a .gluedb file");
        goto out;
    }
    n = json_array_size(records);
    recs = calloc(n ? n : 1, sizeof(*recs));
    if (recs == NULL) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    for (i = 0; i < n; i++) {
        json_t *rec = json_array_get(records, i);
        json_t *name = json_object_get(json_object_get(rec, "info"), "name");
        json_t *body = json_object_get(rec, "body");
        json_t *contents = json_object_get(body, "contents");
        json_t *parsed = NULL;
        char why[200];

        if (!json_is_object(rec) || !json_is_object(json_object_get(rec, "info"))) {
            snprintf(err, errlen, "record %zu: no \"info\" object", i + 1);
            goto out;
        }
        if (!json_is_string(name) ||
            !proto_valid_name(json_string_value(name), json_string_length(name)) ||
            strlen(json_string_value(name)) != json_string_length(name)) {
            snprintf(err, errlen, "record %zu: info.name is missing or not a valid name", i + 1);
            goto out;
        }
        for (size_t k = 0; k < i; k++)
            if (strcmp(recs[k].name, json_string_value(name)) == 0) {
                snprintf(err, errlen, "record %zu: name repeats record %zu", i + 1, k + 1);
                goto out;
            }
        if (!json_is_object(body)) {
            snprintf(err, errlen, "record %zu: no \"body\" object", i + 1);
            goto out;
        }
        bool as_is = model_as_is(json_object_get(body, "model"));
        if (as_is && contents == NULL) {
            snprintf(err, errlen, "record %zu: no body.contents", i + 1);
            goto out;
        }
        if (json_is_string(contents) && !as_is) {
            /* pyswark may store the contents as a JSON string holding the object. */
            parsed = json_loadb(json_string_value(contents), json_string_length(contents),
                                JSON_REJECT_DUPLICATES, &je);
            contents = parsed;
        }
        if (!as_is && !json_is_object(contents)) {
            json_decref(parsed);
            snprintf(err, errlen, "record %zu: body.contents is not an object (or a JSON "
                                  "string holding one)", i + 1);
            goto out;
        }
        if (record_dates(json_object_get(rec, "info"), &recs[i], err, errlen, i) != 0) {
            json_decref(parsed); /* contents that were a JSON string, parsed above */
            goto out;
        }
        recs[i].name = strdup(json_string_value(name));
        int pr = recs[i].name == NULL ? -1 : jsonmp_pack(contents, &recs[i].body, why, sizeof(why));
        json_decref(parsed);
        if (pr != 0) {
            snprintf(err, errlen, "record %zu: body: %s", i + 1, recs[i].name ? why : "out of memory");
            goto out;
        }
        /* {"$bin": ...} or {"$ext": [...]} packs as bin/ext: the body would not be a map. */
        const char *packed = gluedb_model(recs[i].body.data, recs[i].body.len);
        if (!as_is && strcmp(packed, "builtins.dict") != 0) {
            snprintf(err, errlen, "record %zu: body.contents is a $bin/$ext value, not an "
                                  "object", i + 1);
            goto out;
        }
        /* An as-is model names the type export saw: contents of another type are a
         * damaged or hand-made file, and importing them would store a different value. */
        const char *declared = json_string_value(json_object_get(body, "model"));
        if (as_is && strcmp(packed, declared) != 0) {
            snprintf(err, errlen, "record %zu: body.model is %s but body.contents is a %s",
                     i + 1, declared, packed);
            goto out;
        }
        if (recs[i].body.len > PROTO_MAX_BODY) {
            snprintf(err, errlen, "record %zu: body larger than %u bytes packed", i + 1,
                     PROTO_MAX_BODY);
            goto out;
        }
    }
    *out = recs;
    *out_n = n;
    recs = NULL;
    r = 0;
out:
    if (recs != NULL)
        gluedb_free(recs, i < n ? i + 1 : n);
    json_decref(root);
    return r;
}
