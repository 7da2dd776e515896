/* sekretsd: start-up (hardening, config, hub, listener), the loop, and a clean stop. */
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "sekrets/error.h"
#include "server.h"
#include "skr_config.h"
#include "store.h"
#ifdef SEKRETSD_FAULT_HOOKS
#include "store_test.h"
#endif

#if SKR_HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

/* No core dumps, no ptrace by other processes of this user: fail closed. */
static int harden(void)
{
    struct rlimit none = { 0, 0 };
    if (setrlimit(RLIMIT_CORE, &none) != 0 || prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) {
        fprintf(stderr, "sekretsd: cannot disable core dumps and ptrace: %s\n", strerror(errno));
        return EXIT_HARDENING;
    }
    umask(0077);
    signal(SIGPIPE, SIG_IGN);
    return 0;
}

/* --keyfile: read and checked before anything is created, so a refused keyfile leaves no
 * hub folder behind. *content is guarded memory (store_secret_free). */
static int keyfile_load(const char *path, uint8_t **content, size_t *len)
{
    char err[STORE_ERRMSG_MAX];
    if (store_keyfile_read(path, content, len, err) != 0) {
        log_error("%s", err);
        return EXIT_KEYFILE;
    }
    return 0;
}

/* Creates the hub with the keyfile's content when new, else unlocks it with it. */
static int unlock_with_keyfile(store *hub, const char *path, const uint8_t *content, size_t len)
{
    uint8_t *kek = NULL;
    store_kdf kdf;
    int rc;

    if (!store_is_initialized(hub) && len > STORE_KEYFILE_NEW_MAX) {
        log_error("keyfile %s: %zu bytes; a keyfile holds %d to %u bytes (what `sekrets-cli "
                  "unlock --keyfile` can send)", path, len, STORE_KEYFILE_MIN,
                  STORE_KEYFILE_NEW_MAX);
        return EXIT_KEYFILE;
    }
    kek = sodium_malloc(STORE_KEY_BYTES);
    if (kek == NULL) {
        rc = SKR_ENOMEM;
        goto out;
    }
    if (!store_is_initialized(hub)) {
        if ((rc = store_kdf_new(&kdf, STORE_KDF_KEYFILE, 0, 0)) != 0 ||
            (rc = store_kdf_derive(&kdf, content, len, kek)) != 0 ||
            (rc = store_init(hub, &kdf, kek)) != 0)
            goto out;
        log_info("new hub created and unlocked with keyfile %s", path);
    } else {
        if ((rc = store_get_kdf(hub, &kdf)) != 0)
            goto out;
        if (kdf.kind != STORE_KDF_KEYFILE) {
            log_error("the hub is protected by a passphrase; --keyfile cannot unlock it");
            rc = SKR_EBAD_PASSPHRASE;
            goto out;
        }
        if ((rc = store_kdf_derive(&kdf, content, len, kek)) != 0 ||
            (rc = store_unlock(hub, kek)) != 0)
            goto out;
        log_info("hub unlocked with keyfile %s", path);
        if (len > STORE_KEYFILE_NEW_MAX)
            log_warn("keyfile %s has %zu bytes: once locked, this hub unlocks only by "
                     "restarting sekretsd with it (an unlock request carries at most %u)",
                     path, len, STORE_KEYFILE_NEW_MAX);
    }
out:
    if (kek != NULL)
        sodium_free(kek);
    if (rc == SKR_EBAD_PASSPHRASE) {
        log_error("keyfile %s does not unlock this hub", path);
        return EXIT_KEYFILE;
    }
    if (rc != 0) {
        log_error("keyfile %s: %s (%s)", path, skr_strerror(rc), store_errmsg(hub));
        return EXIT_RUNTIME;
    }
    return 0;
}

/* sekretsd-faults only (daemon/meson.build): the journal's writes fail as the plan in
 * SEKRETSD_TEST_JOURNAL_FAULTS says (store_test.h), from the hub's open on. */
static void test_journal_faults(void)
{
#ifdef SEKRETSD_FAULT_HOOKS
    const char *plan = getenv("SEKRETSD_TEST_JOURNAL_FAULTS"); /* lives as long as we do */
    if (plan != NULL) {
        store_test_journal_faults(plan);
        log_info("test build: journal fault plan of %zu writes", strlen(plan));
    }
#endif
}

static int open_hub(const config *cfg, store **hub)
{
    char err[STORE_ERRMSG_MAX];
    test_journal_faults();
    int rc = store_open(cfg->hub_dir, hub, err);
    if (rc == SKR_EDENIED) {
        log_error("%s", err);
        return EXIT_REFUSED;
    }
    if (rc == SKR_EBUSY) {
        log_error("already running: %s", err);
        return EXIT_RUNNING;
    }
    if (rc != 0) {
        log_error("%s", err);
        return EXIT_RUNTIME;
    }
    return 0;
}

int main(int argc, char **argv)
{
    static config cfg;
    static server srv;
    store *hub = NULL;
    uint8_t *key = NULL; /* --keyfile content, until it has unlocked the hub */
    size_t key_len = 0;
    uv_loop_t *loop = NULL;
    bool started = false; /* server_start succeeded: handles to release */
    int exit_now, rc;

    if (config_load(&cfg, argc, argv, &exit_now) != 0)
        return exit_now;
    log_set_level(cfg.log_level);
    if ((rc = harden()) != 0)
        goto out;
    if (sodium_init() < 0) {
        log_error("libsodium failed to initialise");
        rc = EXIT_RUNTIME;
        goto out;
    }
    if (cfg.keyfile[0] != '\0' && (rc = keyfile_load(cfg.keyfile, &key, &key_len)) != 0)
        goto out;
    /* The socket first: a start refused for its folder, or because a daemon answers on
     * it, must not leave a new hub behind. The hub is open before the loop serves anyone. */
    loop = uv_default_loop();
    if ((rc = server_start(&srv, loop, &cfg)) != 0)
        goto out;
    started = true;
    if ((rc = open_hub(&cfg, &hub)) != 0) {
        server_finish(&srv);
        goto out;
    }
    srv.hub = hub;
    server_checkpoints_async(&srv);
    server_commits_async(&srv);
    /* The keyfile creates or unlocks the hub once the socket is ours, so a start refused
     * for its socket leaves no hub keyed behind. Clients wait in the listen backlog. */
    if (key != NULL) {
        rc = unlock_with_keyfile(hub, cfg.keyfile, key, key_len);
        store_secret_free(key, key_len);
        key = NULL;
        if (rc != 0) {
            server_finish(&srv);
            goto out;
        }
        server_mirror_build(&srv); /* as after an unlock request: a slice per loop turn */
    }
    log_info("sekretsd %s listening on %s, hub %s (%s)", SKR_VERSION, srv.socket_name, cfg.hub_dir,
             !store_is_initialized(hub) ? "new: waiting for init"
             : store_is_unlocked(hub) ? "unlocked" : "locked");
#if SKR_HAVE_SYSTEMD
    sd_notify(0, "READY=1");
#endif
    uv_run(loop, UV_RUN_DEFAULT);
    server_finish(&srv); /* the loop ended in server_stop: nothing left to do */
    rc = srv.exit_code;
out:
    store_secret_free(key, key_len);
    store_close(hub); /* checkpoints, wipes the keys */
    if (started) {
        server_release(&srv);
        uv_loop_close(loop);
        if (rc == 0)
            log_info("stopped");
    }
    config_free(&cfg);
    return rc;
}
