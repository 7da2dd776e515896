/*
 * daemon/creds.h - systemd's LoadCredential= socket protocol, served by sekretsd itself.
 *
 * `LoadCredential=ID:PATH` with PATH an AF_UNIX stream socket: systemd binds its end to
 * the abstract address "\0<hex random>/unit/<UNIT>/<ID>", connects, shuts down its write
 * side and reads the credential until EOF (at most 1 MiB). It connects from a process it
 * forked for the unit, "(sd-mkdcreds)", already in the unit's cgroup and not yet stripped
 * of the manager's uid. So a connection is served only when
 *  - the peer's uid is root (system manager) or the daemon's own (its user manager);
 *  - the peer address names a valid unit and credential ID;
 *  - the peer process (SO_PEERPIDFD, else pidfd_open) sits in a cgroup whose last path
 *    component is that unit, read from /proc/PID/cgroup while the pidfd shows it alive;
 *  - a [credential ID] section of the config grants that ID to that unit;
 *  - the hub is unlocked and holds the record, and it renders within 1 MiB.
 * Otherwise the connection is closed with nothing written. Every connection gets one
 * audit line; never a secret.
 *
 * Config (creds_config.c): one section per ID,
 *   [credential smtp-password]
 *   unit = mail.service backup.service  ; who may read it (one or more)
 *   protocol = smtp
 *   name = alerts@example.com
 *   field = password                    ; or: format = json ; or: template = u={user} p={password}
 */
#ifndef DAEMON_CREDS_H
#define DAEMON_CREDS_H

#include <stdbool.h>
#include <stddef.h>

#include "request.h"

/* systemd's limits: UNIT_NAME_MAX - 1, NAME_MAX for an ID, CREDENTIAL_SIZE_MAX. */
#define CREDS_UNIT_MAX 255
#define CREDS_ID_MAX   255
#define CREDS_SIZE_MAX (1024u * 1024u)
/* The abstract address holds 107 bytes after its NUL; with 16 hex digits and the fixed
 * "/unit/" and "/", a unit name and an ID longer than this together cannot be bound. */
#define CREDS_UNIT_ID_MAX (107 - 16 - 6 - 1)

typedef enum creds_format { CREDS_FIELD = 1, CREDS_JSON, CREDS_TEMPLATE } creds_format;

/* A template piece: literal text, or the name of a body field to put there. */
typedef struct creds_piece {
    bool is_field;
    char *text;             /* owned, NUL-terminated */
    size_t len;
} creds_piece;

typedef struct creds_grant {
    char id[CREDS_ID_MAX + 1];
    char **units;           /* owned */
    size_t nunits;
    char protocol[PROTO_MAX_PROTOCOL + 1];
    char name[PROTO_MAX_NAME + 1];
    creds_format format;    /* 0 until set */
    char *field;            /* CREDS_FIELD: owned */
    creds_piece *pieces;    /* CREDS_TEMPLATE: owned */
    size_t npieces;
} creds_grant;

typedef struct creds_config {
    creds_grant *grants;    /* owned */
    size_t ngrants;
} creds_config;

/* Adds a key of the config file's [credential ID] section (inih style). 0, or -1 with a
 * one-line reason in err. */
int creds_config_set(creds_config *c, const char *id, const char *key, const char *value,
                     char *err, size_t errcap);
/* Checks every section is complete. 0, or -1 with a reason naming the section. */
int creds_config_validate(const creds_config *c, char *err, size_t errcap);
void creds_config_free(creds_config *c);
/* The grant of credential `id` to `unit`, or NULL. */
const creds_grant *creds_config_find(const creds_config *c, const char *unit, const char *id);

/* systemd's rules: a unit name of at most 255 bytes of [A-Za-z0-9:_.\-@] with a non-empty
 * prefix, at most one '@' (then a non-empty instance) and the suffix of a unit that runs
 * processes (.service, .socket, .mount, .swap); an ID is credential_name_valid: 1 to 255
 * printable ASCII bytes, no '/' or ':', not "." or "..". */
bool creds_unit_valid(const char *s, size_t n);
bool creds_id_valid(const char *s, size_t n);

/* Parses the peer's abstract address (the bytes after its leading NUL) strictly:
 * 1 to 16 lowercase hex digits, "/unit/", a valid unit, "/", a valid ID. Writes both,
 * NUL-terminated, and returns 0; -1 when it is anything else. */
int creds_parse_address(const char *a, size_t n, char unit[CREDS_UNIT_MAX + 1],
                        char id[CREDS_ID_MAX + 1]);

/* From the text of /proc/PID/cgroup, the last component of the process's cgroup path: the
 * cgroup2 ("0::") line, or on a hybrid host where that is just "/", the name=systemd
 * hierarchy's. 0, or -1 (no such line, or a root cgroup). */
int creds_cgroup_leaf(const char *text, size_t n, char *leaf, size_t cap);

struct server;
/* Starts serving on the inherited socket fd, else binds cfg->creds_socket (when set).
 * 0 (also when there is nothing to serve) or an EXIT_* code. */
int creds_start(struct server *srv, int inherited_fd);
/* No new connections; the ones writing finish (bounded by --write-timeout). */
void creds_stop(struct server *srv);
/* After the loop ended: removes the socket this daemon bound, frees the state. */
void creds_finish(struct server *srv);
/* At lock: closes every connection whose credential is still being written, wiping it. */
void creds_lock(struct server *srv);

#endif
