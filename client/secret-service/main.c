/*
 * client/secret-service/main.c - sekrets-secret-service: owns org.freedesktop.secrets on
 * the session bus ($DBUS_SESSION_BUS_ADDRESS) and serves the Secret Service API from the
 * hub of sekretsd ($SEKRETS_SOCKET). Holds no key: every secret is read from and written to
 * the hub within one call.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sodium.h>
#include <unistd.h>

#include "skr_config.h"
#include <systemd/sd-event.h>

#include "ss.h"

#define BUS_NAME "org.freedesktop.secrets"

static void usage(FILE *f)
{
    fprintf(f,
        "usage: sekrets-secret-service [OPTIONS]\n"
        "The freedesktop Secret Service (org.freedesktop.secrets) on the session bus, backed by sekretsd.\n"
        "  -s, --socket PATH   sekretsd's socket (default: $SEKRETS_SOCKET, else $XDG_RUNTIME_DIR/sekrets/sekretsd.sock)\n"
        "  -r, --rules FILE    per-caller access rules ([secret-service NAME] sections; default:\n"
        "                      $XDG_CONFIG_HOME/sekrets/secret-service.ini when it exists; none: the\n"
        "                      service's own uid may do everything)\n"
        "      --replace       take the bus name over from a running provider (e.g. gnome-keyring)\n"
        "  -h, --help          this help\n"
        "  -V, --version       the version\n"
        "Exit: 0 stopped by a signal, 1 error (bus, name taken, rules), 2 usage.\n");
}

/* The default rules file, when it exists. */
static const char *default_rules(char *buf, size_t size)
{
    const char *xdg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
    if (xdg && xdg[0])
        snprintf(buf, size, "%s/sekrets/secret-service.ini", xdg);
    else if (home && home[0])
        snprintf(buf, size, "%s/.config/sekrets/secret-service.ini", home);
    else
        return NULL;
    return access(buf, F_OK) == 0 ? buf : NULL;
}

/* After each turn of the loop that served something: the connection to sekretsd goes, so
 * that no reply frame (libsekrets keeps the last one read in its buffer until the next
 * call) outlives the D-Bus call that needed it. */
static int on_post(sd_event_source *src, void *userdata)
{
    ss *s = userdata;
    (void)src;
    hub_release(&s->hub);
    return 0;
}

/* The event loop: the bus, and SIGTERM/SIGINT (blocked, read through signalfd) to stop. */
static int serve(ss *s)
{
    sd_event *ev = NULL;
    sigset_t set;
    int r;

    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    if ((r = sigprocmask(SIG_BLOCK, &set, NULL)) < 0 || (r = sd_event_default(&ev)) < 0 ||
        (r = sd_event_add_signal(ev, NULL, SIGTERM, NULL, NULL)) < 0 ||
        (r = sd_event_add_signal(ev, NULL, SIGINT, NULL, NULL)) < 0 ||
        (r = sd_event_add_post(ev, NULL, on_post, s)) < 0 ||
        (r = sd_bus_attach_event(s->bus, ev, SD_EVENT_PRIORITY_NORMAL)) < 0 ||
        (r = sd_bus_set_exit_on_disconnect(s->bus, 1)) < 0) {
        fprintf(stderr, "sekrets-secret-service: cannot set up the event loop: %s\n", strerror(r < 0 ? -r : errno));
        sd_event_unref(ev);
        return 1;
    }
    r = sd_event_loop(ev);
    sd_bus_detach_event(s->bus);
    sd_event_unref(ev);
    if (r != 0) {
        fprintf(stderr, "sekrets-secret-service: the bus connection ended\n");
        return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        { "socket", required_argument, NULL, 's' }, { "rules", required_argument, NULL, 'r' },
        { "replace", no_argument, NULL, 'R' }, { "help", no_argument, NULL, 'h' },
        { "version", no_argument, NULL, 'V' }, { NULL, 0, NULL, 0 },
    };
    const char *socket = NULL, *rules = NULL;
    char rbuf[4096], err[512];
    struct rlimit nocore = { 0, 0 };
    bool replace = false;
    ss s = { 0 };
    int c, r, rc = 1;

    while ((c = getopt_long(argc, argv, "s:r:hV", opts, NULL)) != -1) {
        switch (c) {
        case 's': socket = optarg; break;
        case 'r': rules = optarg; break;
        case 'R': replace = true; break;
        case 'h': usage(stdout); return 0;
        case 'V': printf("sekrets-secret-service %s\n", SKR_VERSION); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind != argc) {
        usage(stderr);
        return 2;
    }
    /* Secrets pass through this process: no core file, no ptrace by other processes. */
    prctl(PR_SET_DUMPABLE, 0);
    setrlimit(RLIMIT_CORE, &nocore);
    signal(SIGPIPE, SIG_IGN);

    if (sodium_init() < 0 || dh_init() != 0) {
        fprintf(stderr, "sekrets-secret-service: cannot initialise the crypto libraries\n");
        return 1;
    }
    if (hub_init(&s.hub, socket) != 0)
        return 1;
    s.rules.hub = &s.hub;
    if (!rules)
        rules = default_rules(rbuf, sizeof(rbuf));
    if (rules && rules_load(&s.rules, rules, err, sizeof(err)) != 0) {
        fprintf(stderr, "sekrets-secret-service: %s\n", err);
        goto out;
    }
    if ((r = sd_bus_open_user(&s.bus)) < 0) {
        fprintf(stderr, "sekrets-secret-service: cannot connect to the session bus: %s "
                        "(is DBUS_SESSION_BUS_ADDRESS set?)\n", strerror(-r));
        goto out;
    }
    if ((r = service_register(&s)) < 0 || (r = objects_register(&s)) < 0) {
        fprintf(stderr, "sekrets-secret-service: cannot register the objects: %s\n", strerror(-r));
        goto out;
    }
    if ((r = sd_bus_request_name(s.bus, BUS_NAME, replace ? SD_BUS_NAME_REPLACE_EXISTING : 0)) < 0) {
        fprintf(stderr, "sekrets-secret-service: cannot own %s: %s (another provider runs? use --replace)\n",
                BUS_NAME, strerror(-r));
        goto out;
    }
    fprintf(stderr, "sekrets-secret-service: serving %s (%s; %s)\n", BUS_NAME,
            dh_available() ? "plain and dh-ietf1024-sha256-aes128-cbc-pkcs7 sessions" : "plain sessions only",
            s.rules.configured ? "access rules from the rules file" : "no rules file: the same uid may do everything");
    rc = serve(&s);
out:
    service_free(&s);
    sd_bus_flush_close_unref(s.bus);
    rules_free(&s.rules);
    hub_free(&s.hub);
    return rc;
}
