/*
 * client/secret-service/ss.h - sekrets-secret-service: the freedesktop Secret Service API
 * (org.freedesktop.secrets on the session bus) mapped onto the hub through libsekrets.
 *
 * Storage (one hub protocol per collection):
 *  - collection C is the protocol "ss.C" (C: 1..60 of [A-Za-z0-9_], an object path element);
 *  - an item is the credential named by its id (16 hex digits, random, its object path
 *    element) with the body {label: str, attributes: {str: str}, secret: bin,
 *    content_type: str}; created/modified are the hub's own times;
 *  - the collections (label, created) and the aliases live in one record, "state" in the
 *    protocol "ss-meta" (a '-' no collection protocol can hold).
 * The service holds no secret beyond one call: every read goes to the hub, and a decoded
 * item lives in libsekrets' wiped credential memory. What it keeps in memory is the
 * collection list and, per item, its id and attributes (no label, no secret) as last
 * read, so that a locked hub can still answer SearchItems with locked items.
 */
#ifndef SKR_SS_H
#define SKR_SS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <systemd/sd-bus.h>

#include "sekrets/sekrets.h"

#define SS_PATH        "/org/freedesktop/secrets"
#define SS_COLL_PREFIX SS_PATH "/collection"
#define SS_ALIAS_PREFIX SS_PATH "/aliases"
#define SS_SESSION_PREFIX SS_PATH "/session"
#define SS_PROMPT_PREFIX SS_PATH "/prompt"
#define SS_IFACE_SERVICE    "org.freedesktop.Secret.Service"
#define SS_IFACE_COLLECTION "org.freedesktop.Secret.Collection"
#define SS_IFACE_ITEM       "org.freedesktop.Secret.Item"
#define SS_IFACE_SESSION    "org.freedesktop.Secret.Session"
#define SS_IFACE_PROMPT     "org.freedesktop.Secret.Prompt"
#define SS_ERR_NO_OBJECT  "org.freedesktop.Secret.Error.NoSuchObject"
#define SS_ERR_NO_SESSION "org.freedesktop.Secret.Error.NoSession"
#define SS_ERR_LOCKED     "org.freedesktop.Secret.Error.IsLocked"

#define SS_NAME_MAX   60   /* collection and alias names: "ss." + name fits a protocol */
#define SS_ID_LEN     16   /* item ids: hex digits */
#define SS_MAX_COLLECTIONS 64
#define SS_MAX_ALIASES 16
#define SS_MAX_ATTRS  64   /* attributes per item */
#define SS_MAX_SESSIONS 256
#define SS_MAX_PROMPTS 64
#define SS_META_PROTOCOL "ss-meta"
#define SS_META_NAME "state"
#define SS_LOCKED_HINT "the sekrets hub is locked: unlock it with `sekrets-cli unlock`"

/* ------------------------------------------------------------------ attributes ---- */

typedef struct ss_attr { const char *key, *value; } ss_attr;

/* A set of attributes (views: the strings belong to whoever filled it). */
typedef struct ss_attrs {
    ss_attr a[SS_MAX_ATTRS];
    size_t n;
} ss_attrs;

/* Whether every pair of `want` is in `have` (an empty want matches everything). */
bool ss_attrs_match(const ss_attrs *have, const ss_attrs *want);

/* ------------------------------------------------------------------- the hub ---- */

typedef struct ss_collection {
    char name[SS_NAME_MAX + 1];
    char *label;                 /* malloc'd */
    int64_t created, modified;
} ss_collection;

typedef struct ss_alias {
    char alias[SS_NAME_MAX + 1];
    char target[SS_NAME_MAX + 1];
} ss_alias;

/* One item's id and attributes as last read (no label, no secret). */
typedef struct ss_index_entry {
    char coll[SS_NAME_MAX + 1];
    char id[SS_ID_LEN + 1];
    char *attrs_mp;              /* the packed attributes map, malloc'd */
    size_t attrs_len;
} ss_index_entry;

typedef struct ss_hub {
    char *socket;                /* NULL: libsekrets' default */
    skr_client *c;               /* reconnected when the daemon closed it */
    bool meta_loaded;
    ss_collection colls[SS_MAX_COLLECTIONS];
    size_t ncolls;
    ss_alias aliases[SS_MAX_ALIASES];
    size_t naliases;
    ss_index_entry *index;
    size_t nindex, capindex;
} ss_hub;

/* A decoded item: every pointer is into `cred` (wiped when freed). */
typedef struct ss_item {
    skr_cred *cred;
    char id[SS_ID_LEN + 1];
    const char *label; size_t label_len;
    ss_attrs attrs;
    const unsigned char *secret; size_t secret_len;
    const char *content_type; size_t ct_len;
    const void *attrs_mp; size_t attrs_mp_len;
    int64_t created, modified;
    void *zone;                  /* the msgpack zone of the decoded views */
} ss_item;

/* What a write of an item carries. */
typedef struct ss_item_in {
    const char *label;
    const ss_attrs *attrs;
    const unsigned char *secret; size_t secret_len;
    const char *content_type;
} ss_item_in;

/* The connection (made when missing), and after a call whether to try once more: a broken
 * connection is dropped so the next try reconnects (the daemon closes idle ones). */
int hub_conn(ss_hub *h);
bool hub_retry(ss_hub *h, int r, int attempt);
#define HUB_DO(h, r, call)                                          \
    for (int attempt_ = 0; attempt_ < 2; attempt_++) {              \
        if (((r) = hub_conn(h)) != 0)                               \
            break;                                                  \
        (r) = (call);                                               \
        if (!hub_retry((h), (r), attempt_))                         \
            break;                                                  \
    }
/* Closes the connection (wiping libsekrets' buffers); the next call reconnects. */
void hub_release(ss_hub *h);
/* Drops index entries (id NULL: every entry of coll). */
void index_drop(ss_hub *h, const char *coll, const char *id);

int hub_init(ss_hub *h, const char *socket);
void hub_free(ss_hub *h);
/* Whether the hub is locked (or not initialised): 1 locked, 0 unlocked, < 0 unreachable. */
int hub_locked(ss_hub *h);
int hub_lock(ss_hub *h);
/* Loads the collections and aliases when not yet loaded (SKR_ELOCKED while locked). */
int hub_meta(ss_hub *h);
ss_collection *hub_collection(ss_hub *h, const char *name);
/* The collection an alias names, or NULL. */
const char *hub_alias(ss_hub *h, const char *alias);
int hub_set_alias(ss_hub *h, const char *alias, const char *coll);
int hub_create_collection(ss_hub *h, const char *label, char *name, size_t size);
int hub_set_collection_label(ss_hub *h, const char *name, const char *label);
int hub_delete_collection(ss_hub *h, const char *name);
/* Item ids of a collection, hub order: *ids is new (free), n of them (0: none). */
int hub_item_ids(ss_hub *h, const char *coll, char (**ids)[SS_ID_LEN + 1], size_t *n);
/* Reads and decodes one item. SKR_ENOT_FOUND. */
int hub_item_get(ss_hub *h, const char *coll, const char *id, ss_item *out);
/* Reads every item of coll (pipelined); *items (n of them) freed by hub_items_free. */
int hub_items_all(ss_hub *h, const char *coll, ss_item **items, size_t *n);
void hub_items_free(ss_item *items, size_t n);
void hub_item_free(ss_item *it);
/* Writes item id (a new one when id[0] == 0: written into id). */
int hub_item_put(ss_hub *h, const char *coll, char *id, const ss_item_in *in);
int hub_item_delete(ss_hub *h, const char *coll, const char *id);
/* Packs a NUL-terminated string. */
struct msgpack_packer;
void ss_pack_str(struct msgpack_packer *pk, const char *s);
/* Decodes a packed attributes map into views into mp. */
int ss_attrs_decode(const void *mp, size_t len, ss_attrs *out, void **zone);
void ss_zone_free(void *zone);
/* Locked-hub search: the index entries of coll matching want, through cb. */
void hub_index_search(ss_hub *h, const char *coll, const ss_attrs *want,
                      void (*cb)(void *u, const char *coll, const char *id), void *u);

/* ------------------------------------------------------------- sessions (dh.c) ---- */

typedef struct ss_session {
    char path[64];
    char owner[256];             /* the unique bus name that opened it */
    bool dh;
    unsigned char *key;          /* 16 bytes, sodium_malloc; NULL for plain */
} ss_session;

/* Whether the dh algorithm was built in (libgcrypt). */
bool dh_available(void);
int dh_init(void);
/* From the client's public value, the server's public value (into pub, *pub_len) and the
 * 16-byte AES key (into key, sodium memory). SKR_EINVAL for a value out of range. */
int dh_negotiate(const unsigned char *peer, size_t peer_len, unsigned char *pub, size_t *pub_len,
                 unsigned char *key);
/* AES-128-CBC with PKCS#7: out gets in_len rounded up to 16 (+16 when a multiple). */
int dh_encrypt(const unsigned char *key, const unsigned char *iv, const unsigned char *in,
               size_t in_len, unsigned char *out, size_t *out_len);
/* The reverse; SKR_EINVAL for a bad length or padding. out holds at least in_len. */
int dh_decrypt(const unsigned char *key, const unsigned char *iv, const unsigned char *in,
               size_t in_len, unsigned char *out, size_t *out_len);

/* -------------------------------------------------------------- rules (rules.c) ---- */

#define SS_MAX_RULES 64

typedef struct ss_rule {
    char name[64];
    char *exe;                   /* absolute path, or NULL */
    char *unit;                  /* systemd unit, or NULL */
    char *collections[SS_MAX_COLLECTIONS]; size_t ncollections; /* "*" for all */
    char *attr_keys[SS_MAX_ATTRS], *attr_values[SS_MAX_ATTRS]; size_t nattrs;
    bool write;
} ss_rule;

typedef struct ss_rules {
    ss_rule r[SS_MAX_RULES];
    size_t n;
    bool configured;             /* a rules file was read: default deny */
    ss_hub *hub;                 /* resolves aliases named in rules */
} ss_rules;

/* Who called: from the bus (uid, pid) and /proc (exe, unit). */
typedef struct ss_peer {
    uid_t uid;
    pid_t pid;
    char exe[4096];
    char unit[256];
    char sender[256];
    const ss_rules *rs;
    const ss_rule *rule;         /* the rule it matched, NULL: none (or no rules) */
    bool allowed;                /* may call at all */
} ss_peer;

int rules_load(ss_rules *rs, const char *path, char *err, size_t size);
void rules_free(ss_rules *rs);
/* Identifies the sender of m and the rule it falls under. */
int rules_peer(const ss_rules *rs, sd_bus_message *m, ss_peer *p);
/* Whether p may read (write: also change) items of coll carrying attrs (NULL: the
 * collection itself). */
bool rules_allows(const ss_peer *p, const char *coll, const ss_attrs *attrs, bool write);
/* An audit line on stderr for a denied call, and the AccessDenied error. */
int rules_deny(const ss_peer *p, sd_bus_message *m, const char *what, sd_bus_error *e);

/* -------------------------------------------------------------- the service ---- */

typedef struct ss_prompt {
    char path[64];
    char owner[256];
    char (*objects)[128];        /* paths to report unlocked once the hub is */
    size_t nobjects;
    bool done;
} ss_prompt;

typedef struct ss {
    sd_bus *bus;
    ss_hub hub;
    ss_rules rules;
    ss_session *sessions[SS_MAX_SESSIONS];
    ss_prompt *prompts[SS_MAX_PROMPTS];
    uint64_t next_object;
    bool verbose;
} ss;

int service_register(ss *s);
void service_free(ss *s);
/* Reads an a{ss} argument (views into m). */
int ss_read_attrs(sd_bus_message *m, ss_attrs *out);
/* Reads an a{sv} argument, keeping the string property label_key ("" when absent) and,
 * when attrs_key is given, the a{ss} property attrs_key (empty when absent). */
int ss_read_props(sd_bus_message *m, const char *label_key, const char **label,
                  const char *attrs_key, ss_attrs *attrs);
/* The Service's methods and property beyond sessions and prompts (service_ops.c). */
int service_search_items(sd_bus_message *m, void *userdata, sd_bus_error *e);
int service_get_secrets(sd_bus_message *m, void *userdata, sd_bus_error *e);
int service_read_alias(sd_bus_message *m, void *userdata, sd_bus_error *e);
int service_set_alias(sd_bus_message *m, void *userdata, sd_bus_error *e);
int service_create_collection(sd_bus_message *m, void *userdata, sd_bus_error *e);
int service_prop_collections(sd_bus *bus, const char *path, const char *iface, const char *prop,
                             sd_bus_message *reply, void *userdata, sd_bus_error *e);
/* Answers a SearchItems call m (its a{ss} still to read) for caller p. */
int ss_reply_search(ss *s, sd_bus_message *m, const ss_peer *p, const char *only, bool both,
                    sd_bus_error *e);
/* The search behind both SearchItems: `only` one collection (NULL: all); `both` gives the
 * Service's (ao unlocked, ao locked), else the Collection's single ao. */
int ss_search(ss *s, const ss_peer *p, const char *only, const ss_attrs *want,
              sd_bus_message *reply, bool both, sd_bus_error *e);
/* The attributes of an indexed item (for a locked hub). SKR_ENOT_FOUND. */
int hub_index_attrs(ss_hub *h, const char *coll, const char *id, ss_attrs *out, void **zone);
int objects_register(ss *s);
ss_session *service_session(ss *s, const char *path, const char *sender);

/* Maps a SKR_E* code to a D-Bus error on e (returns the negative errno sd-bus wants). */
int ss_error(sd_bus_error *e, int r);
/* Splits "/org/freedesktop/secrets/collection/C[/ID]" or ".../aliases/A[/ID]" into the
 * collection (aliases resolved) and the id ("" for a collection path). 0 or SKR_ENOT_FOUND. */
int ss_parse_path(ss *s, const char *path, char *coll, char *id);
/* Whether name is a valid collection/alias name. */
bool ss_valid_name(const char *name);
/* Builds the object path of a collection or an item (id NULL). */
void ss_path(char *buf, size_t size, const char *coll, const char *id);
/* Identifies the caller of m; on denial replies AccessDenied (returns < 0 via *ret). */
int ss_caller(ss *s, sd_bus_message *m, ss_peer *p, sd_bus_error *e);
/* Reads a Secret struct (oayays) of m into a new sodium buffer (*secret, freed with
 * sodium_free) through its session. */
int ss_read_secret(ss *s, sd_bus_message *m, unsigned char **secret, size_t *len,
                   char *content_type, size_t ct_size, sd_bus_error *e);
/* Appends a Secret struct for it through session ses. */
int ss_append_secret(sd_bus_message *reply, const ss_session *ses, const ss_item *it);

#endif
