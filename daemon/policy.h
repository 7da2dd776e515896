/*
 * daemon/policy.h - who may connect and what they may do.
 *
 * The daemon's own uid (the owner) may do everything. Any other peer needs a grant from
 * the config file: a uid or a gid, the read ops it may use (get, getDb, getHub, status,
 * ping) and the protocols it may read. Writes, init, unlock, lock, passwd and rotate
 * always stay with the owner.
 */
#ifndef DAEMON_POLICY_H
#define DAEMON_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "request.h"

typedef struct policy_grant {
    char label[64];
    bool has_uid;           /* admits the peer with this uid */
    uid_t uid;
    bool has_gid;           /* admits peers whose primary gid is this */
    gid_t gid;
    unsigned ops;           /* bit (1u << proto_op) per allowed op */
    char **protocols;       /* protocol names, owned */
    size_t nprotocols;
} policy_grant;

typedef struct policy {
    uid_t owner;
    policy_grant *grants;   /* owned */
    size_t ngrants;
} policy;

/* The grant that admits a non-owner peer (uid match first, then gid), or NULL: refuse. */
const policy_grant *policy_admit(const policy *p, uid_t uid, gid_t gid);
/* Whether a grant allows op (read ops only). */
bool policy_allows_op(const policy_grant *g, proto_op op);
/* Whether a grant covers the protocol. */
bool policy_allows_protocol(const policy_grant *g, const char *protocol);

/* Adds a setting from the config file's [grant NAME] section (inih style). 0, or -1
 * with a reason in err. */
int policy_grant_set(policy *p, const char *section, const char *key, const char *value,
                     char *err, size_t errcap);
/* Checks every grant is complete (who + protocols). 0, or -1 with a reason. */
int policy_validate(const policy *p, char *err, size_t errcap);
void policy_free(policy *p);

#endif
