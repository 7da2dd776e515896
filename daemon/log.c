#include "log.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "request.h"
#include "utf8.h"

static log_level current = LOG_INFO;
static const char *const names[] = { "error", "warn", "info", "debug" };
/* syslog priorities, for the "<N>" prefix journald understands on stderr */
static const int priorities[] = { 3, 4, 6, 7 };

int log_level_parse(const char *s, log_level *out)
{
    for (int i = 0; i <= LOG_DEBUG; i++) {
        if (strcmp(s, names[i]) == 0) {
            *out = (log_level)i;
            return 0;
        }
    }
    return -1;
}

void log_set_level(log_level level)
{
    current = level;
}

int log_enabled(log_level level)
{
    return level <= current;
}

/* Valid code points shown escaped: controls, and marks that reorder, hide or break the
 * text around them on a terminal or in a journal viewer. */
static bool hidden_cp(uint32_t cp)
{
    return (cp >= 0x80 && cp <= 0x9f) || cp == 0x061c || (cp >= 0x200b && cp <= 0x200f) ||
           (cp >= 0x2028 && cp <= 0x202e) || (cp >= 0x2060 && cp <= 0x206f) || cp == 0xfeff;
}

const char *log_quote(char *dst, size_t cap, const char *s, size_t n)
{
    if (cap < 3) {
        if (cap > 0)
            dst[0] = '\0';
        return dst;
    }
    size_t o = 0;
    dst[o++] = '"';
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        uint32_t cp = c;
        size_t len = c < 0x80 ? 1 : proto_utf8_decode((const uint8_t *)s + i, n - i, &cp);
        char esc[12];
        const char *piece = esc;
        size_t plen;
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            plen = 2;
        } else if (len == 0 || c < 0x20 || c == 0x7f) {
            plen = (size_t)snprintf(esc, sizeof(esc), "\\x%02x", c);
            len = 1;
        } else if (len > 1 && hidden_cp(cp)) {
            plen = (size_t)snprintf(esc, sizeof(esc), "\\u{%04X}", (unsigned)cp);
        } else {
            piece = s + i;
            plen = len;
        }
        if (o + plen + 2 > cap) /* room for the closing quote and NUL */
            break;
        memcpy(dst + o, piece, plen);
        o += plen;
        i += len;
    }
    dst[o++] = '"';
    dst[o] = '\0';
    return dst;
}

void log_msg(log_level level, const char *fmt, ...)
{
    if (!log_enabled(level))
        return;
    char line[LOG_LINE_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    /* Under systemd stderr is the journal: it reads the priority from "<N>". */
    static int journal = -1;
    if (journal < 0)
        journal = getenv("JOURNAL_STREAM") != NULL;
    if (journal)
        fprintf(stderr, "<%d>%s\n", priorities[level], line);
    else
        fprintf(stderr, "sekretsd: %s: %s\n", names[level], line);
}
