/*
 * client/cli/cmd_gluedb.c - import and export of pyswark .gluedb files.
 *
 * Import is all or nothing: the whole file is checked first, then the protocol is checked
 * for names the file would collide with, then the records are posted in the file's order;
 * if a post fails, the records already written are deleted again.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "cli.h"
#include "request.h"

#define GLUEDB_MAX (256u * 1024u * 1024u)

int cmd_import(cli_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        { "protocol", required_argument, NULL, 'p' }, { NULL, 0, NULL, 0 },
    };
    const char *protocol = NULL;
    proto_buf text = PROTO_BUF_INIT;
    gluedb_rec *recs = NULL;
    size_t n = 0, written = 0;
    skr_client *c = NULL;
    skr_list *names = NULL;
    char why[300];
    int o, r;

    while ((o = getopt_long(argc, argv, "p:", opts, NULL)) != -1) {
        if (o != 'p')
            return cli_bad_option(ctx, argv);
        protocol = optarg;
    }
    if (argc - optind != 1 || protocol == NULL)
        return cli_usage(ctx, "wants FILE and -p PROTOCOL");
    if (!proto_valid_protocol(protocol, strlen(protocol)))
        return cli_bad_input(ctx, "invalid protocol name: " CLI_PROTOCOL_RULE);
    const char *file = argv[optind];
    r = strcmp(file, "-") == 0 ? cli_read_fd(STDIN_FILENO, GLUEDB_MAX, &text)
                               : cli_read_file(file, GLUEDB_MAX, &text);
    if (r != 0) {
        r = cli_bad_input(ctx, "cannot read %s: %s", file, cli_read_error(r));
        goto out;
    }
    if (gluedb_parse((const char *)text.data, text.len, &recs, &n, why, sizeof(why)) != 0) {
        cli_err(ctx, "%s: %s; nothing imported", file, why);
        r = EXIT_USAGE;
        goto out;
    }
    proto_buf_free(&text);
    if ((r = cli_connect(ctx, &c)) != 0)
        goto out;

    r = skr_get_db(c, protocol, &names);
    if (r != 0 && r != SKR_ENOT_FOUND) {
        r = cli_fail(ctx, c, r, protocol);
        goto out;
    }
    for (size_t i = 0; names != NULL && i < skr_list_size(names); i++)
        for (size_t k = 0; k < n; k++)
            if (strcmp(skr_list_name(names, i), recs[k].name) == 0) {
                fputs("sekrets-cli: import: ", stderr);
                cli_put_escaped(stderr, recs[k].name, strlen(recs[k].name));
                fprintf(stderr, " already exists in %s; nothing imported\n", protocol);
                r = EXIT_EXISTS;
                goto out;
            }

    bool progress = isatty(STDERR_FILENO) && n >= 200;
    for (written = 0; written < n; written++) {
        /* The file's dates are kept (absent: now). */
        r = skr_post_at(c, protocol, recs[written].name, recs[written].body.data,
                        recs[written].body.len, recs[written].created, recs[written].modified);
        if (r != 0)
            break;
        if (progress && (written % 50 == 0 || written + 1 == n))
            fprintf(stderr, "\rimporting: %zu/%zu", written + 1, n);
    }
    if (progress)
        fputc('\n', stderr);
    if (r != 0) {
        int err = r;
        r = cli_fail(ctx, c, err, recs[written].name);
        /* Undo: on a fresh connection if this one broke. */
        skr_client *u = c;
        if (err == SKR_EIO || err == SKR_ETIMEOUT) {
            u = NULL;
            if (skr_connect(skr_client_path(c), ctx->timeout_ms, &u) != 0)
                u = NULL;
        }
        size_t undone = 0;
        for (size_t k = 0; u != NULL && k < written; k++)
            if (skr_delete(u, protocol, recs[k].name, NULL) == 0)
                undone++;
        if (u != c)
            skr_client_close(u);
        if (undone == written)
            cli_err(ctx, "nothing imported (%zu records written and removed again)", written);
        else
            cli_err(ctx, "%zu of %zu records written could not be removed again",
                    written - undone, written);
        goto out;
    }
    printf("imported %zu records into %s\n", n, protocol);
    r = 0;
out:
    skr_list_free(names);
    skr_client_close(c);
    gluedb_free(recs, n);
    proto_buf_free(&text);
    return r;
}

/* The export holds every secret of a protocol in clear, so the output is opened once,
 * never through a symlink (O_NOFOLLOW: another user's link could aim it at a file of ours
 * or, for root, at any file), and judged on the descriptor, not on the path:
 * - a new file is made 0600; an existing regular file must be ours, and is narrowed to
 *   0600 before it is emptied and written;
 * - anything else (a pipe, a terminal, a device) must be ours and is written as is: a pipe
 *   of another user would hand the secrets to whoever reads it;
 * - except /dev/null, root's character device 1:3: what is written there is gone, nobody
 *   can read it back.
 * A pipe is opened non-blocking first, so one without a reader does not hang us before we
 * know whose it is. On failure, why says what is wrong in a few words. */
static bool is_dev_null(const struct stat *st)
{
    return S_ISCHR(st->st_mode) && major(st->st_rdev) == 1 && minor(st->st_rdev) == 3;
}

static void why_owner(char *why, size_t size, uid_t uid)
{
    snprintf(why, size, "belongs to uid %lu, not you: refused", (unsigned long)uid);
}

/* ENXIO from the non-blocking open: a pipe without a reader (wait for one if it is ours)
 * or a socket. */
static int open_waiting(const char *path, char *why, size_t size)
{
    struct stat st;
    if (lstat(path, &st) != 0 || !S_ISFIFO(st.st_mode)) {
        snprintf(why, size, "not a file, pipe or device");
        return -1;
    }
    if (st.st_uid != geteuid()) {
        why_owner(why, size, st.st_uid);
        return -1;
    }
    int fd = open(path, O_WRONLY | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC);
    if (fd < 0)
        snprintf(why, size, "%s", strerror(errno));
    return fd;
}

static int open_existing(const char *path, char *why, size_t size)
{
    int fd = open(path, O_WRONLY | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
    struct stat st;
    if (fd < 0 && errno == ENXIO)
        fd = open_waiting(path, why, size);
    else if (fd < 0)
        snprintf(why, size, "%s", errno == ELOOP ? "a symbolic link: not followed (give the "
                 "file itself)" : strerror(errno));
    if (fd < 0)
        return -1;
    if (fstat(fd, &st) != 0 || fcntl(fd, F_SETFL, 0) != 0) {
        snprintf(why, size, "%s", strerror(errno));
        goto fail;
    }
    if (st.st_uid != geteuid() && !is_dev_null(&st)) {
        why_owner(why, size, st.st_uid);
        goto fail;
    }
    if (S_ISREG(st.st_mode) && (fchmod(fd, 0600) != 0 || ftruncate(fd, 0) != 0)) {
        snprintf(why, size, "%s", strerror(errno));
        goto fail;
    }
    return fd;
fail:
    close(fd);
    return -1;
}

static FILE *open_private(const char *path, char *why, size_t size)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    FILE *f;
    if (fd < 0 && errno != EEXIST) {
        snprintf(why, size, "%s", strerror(errno));
        return NULL;
    }
    if (fd < 0 && (fd = open_existing(path, why, size)) < 0)
        return NULL;
    if ((f = fdopen(fd, "w")) == NULL) {
        snprintf(why, size, "%s", strerror(errno));
        close(fd);
    }
    return f;
}

int cmd_export(cli_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        { "protocol", required_argument, NULL, 'p' },
        { "output", required_argument, NULL, 'o' },
        { NULL, 0, NULL, 0 },
    };
    const char *protocol = NULL, *output = NULL;
    skr_client *c = NULL;
    skr_list *names = NULL;
    skr_get_req *reqs = NULL;
    skr_cred **creds = NULL;
    int *codes = NULL;
    size_t n = 0;
    json_t *root = NULL;
    FILE *f = NULL;
    char why[128];
    int o, r;

    while ((o = getopt_long(argc, argv, "p:o:", opts, NULL)) != -1) {
        if (o == 'p')
            protocol = optarg;
        else if (o == 'o')
            output = optarg;
        else
            return cli_bad_option(ctx, argv);
    }
    if (protocol == NULL && argc - optind == 1) /* like db PROTOCOL */
        protocol = argv[optind++];
    if (optind != argc || protocol == NULL)
        return cli_usage(ctx, "wants one PROTOCOL (or -p PROTOCOL)");
    if ((r = cli_connect(ctx, &c)) != 0)
        return r;
    if ((r = skr_get_db(c, protocol, &names)) != 0) {
        r = cli_fail(ctx, c, r, protocol);
        goto out;
    }
    n = skr_list_size(names);
    reqs = calloc(n ? n : 1, sizeof(*reqs));
    creds = calloc(n ? n : 1, sizeof(*creds));
    codes = calloc(n ? n : 1, sizeof(*codes));
    if (reqs == NULL || creds == NULL || codes == NULL) {
        r = cli_fail(ctx, NULL, SKR_ENOMEM, NULL);
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        reqs[i].name = skr_list_name(names, i);
        reqs[i].protocol = protocol;
    }
    if ((r = skr_get_batch(c, reqs, n, creds, codes)) != 0) {
        r = cli_fail(ctx, c, r, protocol);
        goto out;
    }
    json_t *records = json_array();
    root = json_pack("{s:s, s:{s:o}}", "model", "pyswark.gluedb.db.Db", "contents",
                     "records", records);
    if (root == NULL) {
        r = cli_fail(ctx, NULL, SKR_ENOMEM, NULL);
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        char created[32], modified[32];
        const void *body;
        size_t len;
        if (codes[i] != 0) {
            r = cli_fail(ctx, c, codes[i], reqs[i].name);
            goto out;
        }
        skr_cred_body(creds[i], &body, &len);
        json_t *contents = jsonmp_to_json(body, len);
        if (contents == NULL) {
            r = cli_fail(ctx, NULL, SKR_EINVAL, reqs[i].name);
            goto out;
        }
        gluedb_date(skr_cred_created(creds[i]), created);
        gluedb_date(skr_cred_modified(creds[i]), modified);
        json_t *rec = json_pack("{s:{s:s, s:s, s:s}, s:{s:s, s:o}}",
            "info", "name", reqs[i].name, "date_created", created, "date_modified", modified,
            "body", "model", gluedb_model(body, len), "contents", contents);
        if (rec == NULL || json_array_append_new(records, rec) != 0) {
            r = cli_fail(ctx, NULL, SKR_ENOMEM, NULL);
            goto out;
        }
    }
    if (output != NULL && (f = open_private(output, why, sizeof(why))) == NULL) {
        r = cli_bad_input(ctx, "cannot write %s: %s", output, why); /* the path given */
        goto out;
    }
    if (json_dumpf(root, f ? f : stdout, JSON_INDENT(2)) != 0 || fputc('\n', f ? f : stdout) == EOF) {
        cli_err(ctx, "cannot write the output");
        r = EXIT_ERROR;
        goto out;
    }
    r = 0;
out:
    if (f != NULL && fclose(f) != 0 && r == 0) {
        cli_err(ctx, "cannot write %s", output);
        r = EXIT_ERROR;
    }
    json_decref(root);
    for (size_t i = 0; creds != NULL && i < n; i++)
        skr_cred_free(creds[i]);
    free(creds);
    free(codes);
    free(reqs);
    skr_list_free(names);
    skr_client_close(c);
    return r;
}
