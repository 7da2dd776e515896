/*
 * client/cli/cli.h - what the subcommands of sekrets-cli share.
 */
#ifndef CLI_H
#define CLI_H

#include <jansson.h>
#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "buf.h"
#include "sekrets/sekrets.h"

/* Exit codes: one per class of error (the table of --help, the man page and the README). */
enum {
    EXIT_OK_ = 0,
    EXIT_ERROR = 1,         /* internal, I/O, invalid reply, out of memory */
    EXIT_USAGE = 2,         /* command line or input refused (bad_request, too_large, ...) */
    EXIT_NOT_FOUND = 3,     /* no such credential, protocol or field */
    EXIT_LOCKED = 4,        /* hub locked or not initialised */
    EXIT_DENIED = 5,        /* access policy refused */
    EXIT_UNREACHABLE = 6,   /* no daemon on the socket, timeout, daemon busy */
    EXIT_EXISTS = 7,        /* already exists (post, init, import clash) */
    EXIT_BAD_PASSPHRASE = 8,
    EXIT_RATE_LIMITED = 9,
    EXIT_AMBIGUOUS = 10,    /* get without -p: name in several protocols */
    EXIT_INTEGRITY = 11,    /* a stored record failed authentication */
};

/* The exit code of an SKR_E* code. */
int cli_exit_code(int err);
/* The table, for --help. */
extern const char cli_exit_table[];

/* Global settings of one run. */
typedef struct cli_ctx {
    const char *socket;   /* --socket, or NULL for the default */
    int timeout_ms;
    const char *cmd;      /* the subcommand's name, for messages */
    const char *usage;    /* its usage line (after the name) */
} cli_ctx;

typedef struct cli_cmd {
    const char *name;
    int (*fn)(cli_ctx *ctx, int argc, char **argv);
    const char *usage;
    const char *help;
} cli_cmd;

/* Prints "sekrets-cli: <cmd>: <message>\n" on stderr. */
void cli_err(const cli_ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Usage error: message + the command's usage line; returns EXIT_USAGE. */
int cli_usage(const cli_ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Input refused (a value, a file, a passphrase; the command line itself was right): the
 * message alone, one line; returns EXIT_USAGE. */
int cli_bad_input(const cli_ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The rules of names, as the refusals state them (proto_valid_protocol, proto_valid_name). */
#define CLI_PROTOCOL_RULE "a protocol is 1..64 bytes of [A-Za-z0-9][A-Za-z0-9._-]*"
#define CLI_NAME_RULE "a name is 1..256 bytes of UTF-8 without control characters"
/* After getopt returned '?' (it has printed what is wrong): the usage line, and a hint when
 * a global option came after the command. Returns EXIT_USAGE. */
int cli_bad_option(const cli_ctx *ctx, char *const argv[]);
/* Reports a library error (with the daemon's message when there is one); returns the exit code. */
int cli_fail(const cli_ctx *ctx, skr_client *c, int err, const char *what);
/* Connects (reporting failures with the socket path and how to start the daemon). */
int cli_connect(const cli_ctx *ctx, skr_client **out);

/* Writes s[0..n) for a person: control characters, backslash and invalid UTF-8 escaped. */
void cli_put_escaped(FILE *f, const char *s, size_t n);
/* Parses a base-10 int in [min, max]; 0 or -1. */
int cli_parse_int(const char *s, long min, long max, long *v);

/* Reads all of fd (at most max bytes; more is SKR_ETOO_LARGE) into out (wiped on free). */
int cli_read_fd(int fd, size_t max, proto_buf *out);
int cli_read_file(const char *path, size_t max, proto_buf *out);
/* What a cli_read_fd/cli_read_file error means, in a few words ("no such file"...). */
const char *cli_read_error(int err);

/* Passphrases. A source: the terminal (fd < 0 and file NULL), an fd or a file. */
typedef struct pass_src {
    int fd;
    const char *file;
    bool raw; /* a keyfile: its bytes exactly (a passphrase file loses one trailing \n) */
    bool allow_weak; /* --allow-weak: a new passphrase under CLI_PASS_MIN bytes is taken */
} pass_src;
/* New passphrases (init, passwd): under CLI_PASS_MIN bytes refused (unless allow_weak),
 * under CLI_PASS_GOOD a warning. Argon2id slows each guess; it cannot make a short
 * passphrase long. */
#define CLI_PASS_MIN  8
#define CLI_PASS_GOOD 12
/* Reads one passphrase into sodium_malloc memory (*out, *len; release with sodium_free).
 * `confirm` marks a new passphrase: asked twice on a terminal, and held to the length
 * rule above. A passphrase file or keyfile readable by others gets a warning. Returns 0
 * or an exit code (after a message). */
int cli_passphrase(const cli_ctx *ctx, const pass_src *src, const char *prompt, bool confirm,
                   char **out, size_t *len);
/* Reads a line from the terminal (echo on or off) into a proto_buf. 0; CLI_TTY_EOF when
 * the user ended the input (Ctrl-D) before a newline; -1 without a terminal (or on error). */
#define CLI_TTY_EOF 1
int cli_tty_line(const char *prompt, bool echo, proto_buf *out);

/* JSON <-> MessagePack (jsonmp.c). */
/* Makes jansson wipe everything it frees. Call once at start. */
void jsonmp_init(void);
/* Packs a JSON value: objects as maps (key order kept), {"$bin": b64} as bin,
 * {"$ext": [type, b64]} as ext. 0, or -1 with a reason in err. */
int jsonmp_pack(const json_t *v, proto_buf *out, char *err, size_t errlen);
/* Parses JSON text (one value; duplicates refused) and packs it. 0 or -1 with err. */
int jsonmp_from_text(const char *text, size_t len, proto_buf *out, char *err, size_t errlen);
/* Unpacks MessagePack into a new JSON value (via the library's renderer). NULL on error. */
json_t *jsonmp_to_json(const void *mp, size_t len);

/* .gluedb files (gluedb.c). */
typedef struct gluedb_rec {
    char *name;
    proto_buf body;   /* packed MessagePack map */
    int64_t created;  /* info.date_created in unix seconds, SKR_TIME_NOW when absent */
    int64_t modified; /* info.date_modified, likewise */
} gluedb_rec;
/* Parses a whole .gluedb file. 0, or -1 with a reason naming the record in err. */
int gluedb_parse(const char *text, size_t len, gluedb_rec **recs, size_t *n,
                 char *err, size_t errlen);
void gluedb_free(gluedb_rec *recs, size_t n);
/* The body model an export writes for a packed body: "builtins.dict" for a map, else its
 * type ("builtins.str", ...), which an import takes as it is. Static storage. */
const char *gluedb_model(const void *body, size_t len);
/* Formats unix seconds as the dates of a .gluedb record ("2024-05-01T12:00:00+00:00"). */
void gluedb_date(int64_t t, char buf[32]);
/* Reads a date of a .gluedb record, as export writes it or pyswark may:
 * YYYY-MM-DD, 'T' or a space, HH:MM:SS, optional fractional seconds (dropped), then Z,
 * +HH:MM, -HH:MM (or +HHMM), or nothing (UTC); or YYYY-MM-DD alone (midnight UTC). *t gets UTC unix seconds; 0, or -1 (*t
 * untouched) when it is not such a date or falls outside 0..SKR_TIME_MAX. */
int gluedb_parse_date(const char *s, size_t len, int64_t *t);

/* Subcommands. */
int cmd_status(cli_ctx *, int, char **);
int cmd_ping(cli_ctx *, int, char **);
int cmd_get(cli_ctx *, int, char **);
int cmd_db(cli_ctx *, int, char **);
int cmd_hub(cli_ctx *, int, char **);
int cmd_ls(cli_ctx *, int, char **);
int cmd_help(cli_ctx *, int, char **);
int cmd_post(cli_ctx *, int, char **);
int cmd_put(cli_ctx *, int, char **);
int cmd_rm(cli_ctx *, int, char **);
int cmd_init(cli_ctx *, int, char **);
int cmd_unlock(cli_ctx *, int, char **);
int cmd_lock(cli_ctx *, int, char **);
int cmd_passwd(cli_ctx *, int, char **);
int cmd_rotate(cli_ctx *, int, char **);
int cmd_call(cli_ctx *, int, char **);
int cmd_exec(cli_ctx *, int, char **);
int cmd_import(cli_ctx *, int, char **);
int cmd_export(cli_ctx *, int, char **);

extern const cli_cmd cli_commands[];
const cli_cmd *cli_find(const char *name);

#endif
