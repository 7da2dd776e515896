/*
 * tests/integration/audit_line.h - reads sekretsd's audit lines back the way a log reader
 * would: `key=value` pairs split at single spaces, a value either bare (no space, no quote)
 * or a double-quoted field as daemon/log.c log_quote writes it (\" \\ \xNN \u{HEX}).
 * Header-only: the escaper's unit test and the daemon's integration test share it.
 */
#ifndef TESTS_AUDIT_LINE_H
#define TESTS_AUDIT_LINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define AUDIT_VALUE_MAX 1100

typedef struct audit_field {
    char key[16];
    char value[AUDIT_VALUE_MAX]; /* decoded bytes, NUL-terminated (may hold NULs: len) */
    size_t len;
    bool quoted;
} audit_field;

/* Appends code point cp as UTF-8. 0, or -1 when it does not fit or is not a scalar. */
static inline int audit_put_utf8(char *out, size_t cap, size_t *o, unsigned long cp)
{
    unsigned char b[4];
    size_t n;
    if (cp < 0x80) {
        b[0] = (unsigned char)cp;
        n = 1;
    } else if (cp < 0x800) {
        b[0] = (unsigned char)(0xc0 | cp >> 6);
        b[1] = (unsigned char)(0x80 | (cp & 0x3f));
        n = 2;
    } else if (cp < 0x10000) {
        if (cp >= 0xd800 && cp <= 0xdfff)
            return -1;
        b[0] = (unsigned char)(0xe0 | cp >> 12);
        b[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
        b[2] = (unsigned char)(0x80 | (cp & 0x3f));
        n = 3;
    } else if (cp <= 0x10ffff) {
        b[0] = (unsigned char)(0xf0 | cp >> 18);
        b[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
        b[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
        b[3] = (unsigned char)(0x80 | (cp & 0x3f));
        n = 4;
    } else {
        return -1;
    }
    if (*o + n >= cap)
        return -1;
    memcpy(out + *o, b, n);
    *o += n;
    return 0;
}

/* Decodes the quoted field at p (which must be at its opening quote) into out; *end is set
 * past the closing quote. A raw control byte, DEL, an unknown escape or a missing closing
 * quote is malformed. The decoded length, or -1. */
static inline long audit_unquote(const char *p, const char **end, char *out, size_t cap)
{
    size_t o = 0;
    if (*p++ != '"')
        return -1;
    for (;;) {
        unsigned char c = (unsigned char)*p;
        if (c == '"')
            break;
        if (c < 0x20 || c == 0x7f)
            return -1; /* NUL (end of line) included: never closed */
        if (c != '\\') {
            if (o + 1 >= cap)
                return -1;
            out[o++] = (char)c;
            p++;
            continue;
        }
        char *stop;
        if (p[1] == '"' || p[1] == '\\') {
            if (o + 1 >= cap)
                return -1;
            out[o++] = p[1];
            p += 2;
        } else if (p[1] == 'x') {
            char hex[3] = { p[2], p[2] != '\0' ? p[3] : '\0', '\0' };
            unsigned long v = strtoul(hex, &stop, 16);
            if (stop != hex + 2 || o + 1 >= cap)
                return -1;
            out[o++] = (char)v;
            p += 4;
        } else if (p[1] == 'u' && p[2] == '{') {
            unsigned long v = strtoul(p + 3, &stop, 16);
            if (stop == p + 3 || *stop != '}' || audit_put_utf8(out, cap, &o, v) != 0)
                return -1;
            p = stop + 1;
        } else {
            return -1;
        }
    }
    out[o] = '\0';
    *end = p + 1;
    return (long)o;
}

/* Splits one line (without its newline) into at most max fields. The number of fields, or
 * -1 when the line is not a clean sequence of `key=value` separated by single spaces. */
static inline int audit_parse(const char *line, audit_field *f, int max)
{
    int n = 0;
    const char *p = line;
    while (*p != '\0') {
        if (n == max)
            return -1;
        const char *eq = strchr(p, '=');
        if (eq == NULL || eq == p || (size_t)(eq - p) >= sizeof(f[n].key) ||
            memchr(p, ' ', (size_t)(eq - p)) != NULL)
            return -1;
        memcpy(f[n].key, p, (size_t)(eq - p));
        f[n].key[eq - p] = '\0';
        p = eq + 1;
        if (*p == '"') {
            long len = audit_unquote(p, &p, f[n].value, sizeof(f[n].value));
            if (len < 0)
                return -1;
            f[n].len = (size_t)len;
            f[n].quoted = true;
        } else {
            size_t len = strcspn(p, " \"");
            if (len == 0 || len >= sizeof(f[n].value) || p[len] == '"')
                return -1;
            memcpy(f[n].value, p, len);
            f[n].value[len] = '\0';
            f[n].len = len;
            f[n].quoted = false;
            p += len;
        }
        n++;
        if (*p == ' ' && p[1] != '\0')
            p++;
        else if (*p != '\0')
            return -1;
    }
    return n;
}

#endif
