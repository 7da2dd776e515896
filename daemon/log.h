/*
 * daemon/log.h - one line per event on stderr (journald picks it up under systemd).
 * Never pass a body, passphrase or key to these functions.
 */
#ifndef DAEMON_LOG_H
#define DAEMON_LOG_H

typedef enum log_level { LOG_ERROR = 0, LOG_WARN = 1, LOG_INFO = 2, LOG_DEBUG = 3 } log_level;

/* Parses "error", "warn", "info", "debug". 0 or -1. */
int log_level_parse(const char *s, log_level *out);
void log_set_level(log_level level);
int log_enabled(log_level level);

void log_msg(log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...)  do { if (log_enabled(LOG_INFO)) log_msg(LOG_INFO, __VA_ARGS__); } while (0)
#define log_debug(...) do { if (log_enabled(LOG_DEBUG)) log_msg(LOG_DEBUG, __VA_ARGS__); } while (0)

#endif
