/*
 * daemon/log.h - one line per event on stderr (journald picks it up under systemd).
 * Never pass a body, passphrase or key to these functions.
 */
#ifndef DAEMON_LOG_H
#define DAEMON_LOG_H

#include <stddef.h>

typedef enum log_level { LOG_ERROR = 0, LOG_WARN = 1, LOG_INFO = 2, LOG_DEBUG = 3 } log_level;

/* Parses "error", "warn", "info", "debug". 0 or -1. */
int log_level_parse(const char *s, log_level *out);
void log_set_level(log_level level);
int log_enabled(log_level level);

/* A line longer than this (prefix excluded) is cut. */
#define LOG_LINE_MAX 2048

/* Room log_quote needs for n bytes, quotes and NUL included: no input byte takes more than
 * 4 characters (\xNN; a 2-byte C1 control or a 3-byte bidi mark becomes 8, \u{XXXX}). */
#define LOG_QUOTED_SIZE(n) (4 * (size_t)(n) + 3)

/*
 * Writes s[0..n) into dst as one double-quoted field that a reader of the line can split
 * and decode unambiguously: `"` and `\` as \" and \\, C0 controls and DEL as \xNN, bytes
 * that are not strict UTF-8 as \xNN, and, though valid, C1 controls, bidi controls
 * (U+061C, U+200E/F, U+202A..U+202E, U+2066..U+2069), zero-width and invisible format
 * characters (U+200B..U+200D, U+2060..U+206F, U+FEFF) and the line and paragraph
 * separators (U+2028/9) as \u{XXXX}; the rest of UTF-8 as is. Always NUL-terminated and
 * closed with `"`; with cap below LOG_QUOTED_SIZE(n) the value is cut at a whole escape.
 * Returns dst. Every peer-controlled string of a log line goes through here.
 */
const char *log_quote(char *dst, size_t cap, const char *s, size_t n);

void log_msg(log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...)  do { if (log_enabled(LOG_INFO)) log_msg(LOG_INFO, __VA_ARGS__); } while (0)
#define log_debug(...) do { if (log_enabled(LOG_DEBUG)) log_msg(LOG_DEBUG, __VA_ARGS__); } while (0)

#endif
