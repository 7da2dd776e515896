/*
 * docker-credential-sekrets - a docker credential helper on the sekrets hub.
 *
 * docker runs `docker-credential-sekrets ACTION` (docker-credential-helpers' protocol):
 *   store   stdin {"ServerURL","Username","Secret"}        stdout nothing
 *   get     stdin the server URL                           stdout {"ServerURL","Username","Secret"}
 *   erase   stdin the server URL                           stdout nothing
 *   list    no input                                       stdout {"URL":"Username",...}
 *   version                                                stdout one line
 * An error is one line on stdout and exit status 1; a missing credential is exactly
 * "credentials not found in native keychain", which docker recognises.
 * Each credential is the record ServerURL of the hub protocol `docker`, body
 * {Username, Secret}. Every buffer that held a secret is wiped (jansson's allocations
 * included).
 */
#include <ctype.h>
#include <jansson.h>
#include <msgpack.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "helper.h"
#include "sekrets/sekrets.h"

#define PROG "docker-credential-sekrets"
#define PROTOCOL "docker"
#define NOT_FOUND "credentials not found in native keychain"

static const char usage_text[] =
    "Usage: " PROG " <store|get|erase|list|version>\n"
    "A docker credential helper on the sekrets hub (protocol `" PROTOCOL "`). In\n"
    "~/.docker/config.json:  { \"credsStore\": \"sekrets\" }\n"
    "  store    reads {\"ServerURL\",\"Username\",\"Secret\"} on stdin and keeps it\n"
    "  get      reads a server URL on stdin, prints {\"ServerURL\",\"Username\",\"Secret\"}\n"
    "  erase    reads a server URL on stdin and forgets it\n"
    "  list     prints {\"<ServerURL>\":\"<Username>\",...}\n"
    "  version  prints the version\n"
    "The daemon's socket: $SEKRETS_SOCKET, else $XDG_RUNTIME_DIR/sekrets/sekretsd.sock.\n"
    "Exit codes: 0 done; 1 any error, its message on stdout (as docker expects), a missing\n"
    "credential exactly \"" NOT_FOUND "\".\n";

/* jansson's memory: malloc with the size in front, wiped on free (it holds secrets). */
typedef union wipe_hdr { size_t n; max_align_t align_; } wipe_hdr;

static void *wipe_malloc(size_t n)
{
    wipe_hdr *h;
    if (n > SIZE_MAX - sizeof(*h) || (h = malloc(sizeof(*h) + n)) == NULL)
        return NULL;
    h->n = n;
    return h + 1;
}

static void wipe_free(void *p)
{
    wipe_hdr *h;
    if (p == NULL)
        return;
    h = (wipe_hdr *)p - 1;
    sodium_memzero(p, h->n);
    free(h);
}

/* Docker's error reply: one line on stdout, exit 1. */
static int fail(const char *msg)
{
    printf("%s\n", msg);
    return 1;
}

static int fail_hub(int err, const skr_client *c)
{
    char msg[512];
    if (err == SKR_ENOT_FOUND)
        return fail(NOT_FOUND);
    hlp_describe(err, c, msg, sizeof(msg));
    return fail(msg);
}

/* Writes j as compact JSON and a newline on stdout (the text is wiped). */
static int emit(const json_t *j)
{
    hlp_out o;
    char *text = json_dumps(j, JSON_COMPACT);
    int r;
    if (text == NULL)
        return fail("out of memory");
    if ((r = hlp_out_init(&o, strlen(text) + 1)) == 0) {
        hlp_out_puts(&o, text);
        hlp_out_put(&o, "\n", 1);
        r = hlp_out_write(&o, STDOUT_FILENO);
        hlp_out_free(&o);
    }
    wipe_free(text);
    return r == 0 ? 0 : 1;
}

/* stdin, whitespace trimmed (as docker-credential-helpers' strings.TrimSpace). */
static int read_url(char **buf, const char **url)
{
    size_t len;
    char *p;
    if (hlp_input_read(STDIN_FILENO, HLP_INPUT_MAX, buf, &len) != 0)
        return fail("cannot read stdin (at most 64 KiB)");
    p = *buf;
    while (len > 0 && isspace((unsigned char)p[len - 1]))
        p[--len] = '\0';
    while (isspace((unsigned char)*p))
        p++;
    if (*p == '\0')
        return fail("no credentials server URL");
    *url = p;
    return 0;
}

/* A string member of the store request, its key matched as Go's encoding/json does
 * (case-insensitively); null or absent is "". -1 for another type. */
static int member(json_t *obj, const char *key, const char **value)
{
    const char *k;
    json_t *v, *found = NULL;
    json_object_foreach(obj, k, v) {
        if (strcmp(k, key) == 0) {
            found = v;
            break;
        }
        if (found == NULL && strcasecmp(k, key) == 0)
            found = v;
    }
    if (found == NULL || json_is_null(found)) {
        *value = "";
        return 0;
    }
    if (!json_is_string(found))
        return -1;
    *value = json_string_value(found);
    return 0;
}

static int pack_and_put(skr_client *c, const char *url, const char *user, const char *secret)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    int r;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 2);
    msgpack_pack_str_with_body(&pk, "Username", 8);
    msgpack_pack_str_with_body(&pk, user, strlen(user));
    msgpack_pack_str_with_body(&pk, "Secret", 6);
    msgpack_pack_str_with_body(&pk, secret, strlen(secret));
    r = sb.data != NULL ? skr_put(c, PROTOCOL, url, sb.data, sb.size, NULL) : SKR_ENOMEM;
    if (sb.data != NULL)
        sodium_memzero(sb.data, sb.alloc);
    msgpack_sbuffer_destroy(&sb);
    return r;
}

static int do_store(skr_client *c, const char *in, size_t len)
{
    json_error_t e;
    json_t *j = json_loadb(in, len, JSON_DISABLE_EOF_CHECK, &e);
    const char *url, *user, *secret;
    char msg[300];
    int r, code;
    if (j == NULL) {
        snprintf(msg, sizeof(msg), "invalid JSON on stdin: %s (line %d, column %d)",
                 e.text, e.line, e.column);
        return fail(msg);
    }
    if (!json_is_object(j)) {
        code = fail("invalid JSON on stdin: not an object {\"ServerURL\",\"Username\",\"Secret\"}");
    } else if (member(j, "ServerURL", &url) || member(j, "Username", &user) ||
               member(j, "Secret", &secret)) {
        code = fail("invalid JSON on stdin: ServerURL, Username and Secret must be strings");
    } else if (*url == '\0') {
        code = fail("no credentials server URL");
    } else if (*user == '\0') {
        code = fail("no credentials username");
    } else if ((r = pack_and_put(c, url, user, secret)) == SKR_EINVAL ||
               r == SKR_EBAD_REQUEST) {
        code = fail("the server URL cannot be a sekrets name (1..256 bytes of UTF-8, no "
                    "control characters)");
    } else {
        code = r == 0 ? 0 : fail_hub(r, c);
    }
    json_decref(j);
    return code;
}

/* One credential's string field (NULL when missing or not a string). */
static const char *field(skr_cred *cred, const char *name)
{
    const char *v;
    return skr_cred_string(cred, name, &v, NULL) == 0 ? v : NULL;
}

static int do_get(skr_client *c, const char *url)
{
    skr_cred *cred = NULL;
    json_t *j = NULL;
    const char *user, *secret;
    int r = skr_get(c, url, PROTOCOL, &cred), code;
    if (r == SKR_EINVAL || r == SKR_EBAD_REQUEST)
        r = SKR_ENOT_FOUND; /* a URL that cannot be a name was never stored */
    if (r != 0)
        return fail_hub(r, c);
    user = field(cred, "Username");
    secret = field(cred, "Secret");
    if (user == NULL || secret == NULL)
        code = fail("the stored credential has no Username or Secret string");
    else if ((j = json_pack("{s:s, s:s, s:s}", "ServerURL", url, "Username", user,
                            "Secret", secret)) == NULL)
        code = fail("the stored credential is not valid UTF-8");
    else
        code = emit(j);
    json_decref(j);
    skr_cred_free(cred);
    return code;
}

static int do_erase(skr_client *c, const char *url)
{
    bool deleted = false;
    int r = skr_delete(c, PROTOCOL, url, &deleted);
    if (r == SKR_EINVAL || r == SKR_EBAD_REQUEST)
        r = SKR_ENOT_FOUND;
    if (r == 0 && !deleted)
        r = SKR_ENOT_FOUND;
    return r == 0 ? 0 : fail_hub(r, c);
}

/* Every URL with its username: the names of the protocol, then one pipelined batch. */
static int do_list(skr_client *c)
{
    skr_list *names = NULL;
    skr_get_req *reqs = NULL;
    skr_cred **creds = NULL;
    int *codes = NULL, r, code = 1;
    json_t *j = json_object();
    size_t n = 0;
    if (j == NULL)
        return fail("out of memory");
    if ((r = skr_get_db(c, PROTOCOL, &names)) == SKR_ENOT_FOUND) {
        code = emit(j); /* nothing stored yet */
        goto out;
    }
    if (r != 0) {
        code = fail_hub(r, c);
        goto out;
    }
    n = skr_list_size(names);
    reqs = calloc(n + 1, sizeof(*reqs));
    creds = calloc(n + 1, sizeof(*creds));
    codes = calloc(n + 1, sizeof(*codes));
    if (reqs == NULL || creds == NULL || codes == NULL) {
        code = fail("out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        reqs[i] = (skr_get_req){ skr_list_name(names, i), PROTOCOL };
    if ((r = skr_get_batch(c, reqs, n, creds, codes)) != 0) {
        code = fail_hub(r, c);
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        const char *user = creds[i] != NULL ? field(creds[i], "Username") : NULL;
        if (codes[i] != 0 && codes[i] != SKR_ENOT_FOUND) { /* not_found: erased meanwhile */
            code = fail_hub(codes[i], c);
            goto out;
        }
        if (user != NULL && json_object_set_new(j, reqs[i].name, json_string(user)) != 0) {
            code = fail("out of memory");
            goto out;
        }
    }
    code = emit(j);
out:
    for (size_t i = 0; creds != NULL && i < n; i++)
        skr_cred_free(creds[i]);
    free(reqs);
    free(creds);
    free(codes);
    skr_list_free(names);
    json_decref(j);
    return code;
}

static int run(const char *action)
{
    skr_client *c = NULL;
    char *in = NULL, msg[512];
    const char *url = NULL;
    size_t len = 0;
    int code;
    if (strcmp(action, "store") == 0) {
        if (hlp_input_read(STDIN_FILENO, HLP_INPUT_MAX, &in, &len) != 0)
            return fail("cannot read stdin (at most 64 KiB)");
    } else if (strcmp(action, "get") == 0 || strcmp(action, "erase") == 0) {
        if (read_url(&in, &url) != 0) {
            hlp_input_free(in);
            return 1;
        }
    }
    if (hlp_connect(NULL, &c, msg, sizeof(msg)) != 0) {
        hlp_input_free(in);
        return fail(msg);
    }
    if (strcmp(action, "store") == 0)
        code = do_store(c, in, len);
    else if (strcmp(action, "get") == 0)
        code = do_get(c, url);
    else if (strcmp(action, "erase") == 0)
        code = do_erase(c, url);
    else
        code = do_list(c);
    skr_client_close(c);
    hlp_input_free(in);
    return code;
}

int main(int argc, char **argv)
{
    const char *action;
    char msg[128];
    if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        fputs(usage_text, stdout);
        return 0;
    }
    if (argc != 2)
        return fail("Usage: " PROG " <store|get|erase|list|version>");
    action = argv[1];
    if (strcmp(action, "version") == 0) {
        printf(PROG " (sekrets) v%s\n", skr_version());
        return 0;
    }
    if (strcmp(action, "store") != 0 && strcmp(action, "get") != 0 &&
        strcmp(action, "erase") != 0 && strcmp(action, "list") != 0) {
        /* the action is echoed only when it is short and printable */
        bool plain = strlen(action) <= 32;
        for (const char *p = action; plain && *p != '\0'; p++)
            plain = isprint((unsigned char)*p);
        snprintf(msg, sizeof(msg), "Unknown credential action `%s`", plain ? action : "?");
        return fail(msg);
    }
    if (sodium_init() < 0)
        return fail("cannot initialise libsodium");
    json_set_alloc_funcs(wipe_malloc, wipe_free);
    return run(action);
}
