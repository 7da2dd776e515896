#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

void log_msg(log_level level, const char *fmt, ...)
{
    if (!log_enabled(level))
        return;
    char line[1024];
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
