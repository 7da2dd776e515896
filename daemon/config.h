/*
 * daemon/config.h - sekretsd's settings: command line, optional ini file, defaults.
 *
 * The ini file (parsed with inih) has a [daemon] section with the same settings as the
 * command line (the command line wins), and any number of [grant NAME] sections giving
 * another uid or gid read access to named protocols (see policy.h and the README), and
 * [credential ID] sections for systemd's LoadCredential= socket (creds.h).
 */
#ifndef DAEMON_CONFIG_H
#define DAEMON_CONFIG_H

#include <stdbool.h>
#include <stdint.h>
#include <limits.h>

#include "creds.h"
#include "log.h"
#include "policy.h"

typedef struct config {
    char socket_path[108];   /* sun_path size; empty when socket-activated without one */
    char creds_socket[108];  /* --credentials-socket (creds.h); empty: none */
    char hub_dir[PATH_MAX];
    char keyfile[PATH_MAX];  /* empty: none */
    char config_file[PATH_MAX];
    bool foreground;
    uint32_t idle_lock_s;    /* 0 = never */
    uint32_t max_clients;
    uint32_t max_frame;
    uint32_t frame_timeout_ms; /* a frame must arrive whole within this */
    uint32_t max_per_uid;    /* connections one uid other than the owner may hold */
    uint32_t owner_slots;    /* the last of max_clients' places: the owner's only */
    uint32_t idle_timeout_ms; /* a connection with nothing in flight is closed; 0 = never */
    uint32_t write_timeout_ms; /* replies owed must drain within this */
    log_level log_level;
    uint64_t kdf_opslimit;   /* for init and passwd */
    uint64_t kdf_memlimit;
    policy policy;
    creds_config creds;      /* [credential ID] sections */
} config;

/* Exit codes of sekretsd (documented in --help, the man page and the README). */
enum {
    EXIT_RUNTIME = 1,     /* failed while running, or could not start the loop */
    EXIT_USAGE = 2,       /* bad command line or config file */
    EXIT_REFUSED = 3,     /* hub or socket folder refused (owner/permissions) */
    EXIT_RUNNING = 4,     /* another sekretsd answers on the socket, or has the hub open */
    EXIT_KEYFILE = 5,     /* keyfile missing, refused or wrong for this hub */
    EXIT_HARDENING = 6,   /* could not disable core dumps / ptrace */
};

/* Fills cfg from argv, the config file and the environment. On --help/--version prints
 * and sets *exit_now to 0; on an error prints one line and sets *exit_now to EXIT_USAGE.
 * Returns 0 to go on. */
int config_load(config *cfg, int argc, char **argv, int *exit_now);
void config_free(config *cfg);

#endif
