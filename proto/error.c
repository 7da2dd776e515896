/* The shared error vocabulary: wire strings and descriptions of every skr_err code. */
#include <string.h>

#include "sekrets/error.h"

static const struct {
    const char *name; /* wire string, NULL when client-only */
    const char *text;
} errors[] = {
    [0]                     = { NULL, "success" },
    [-SKR_EBAD_FRAME]       = { "bad_frame", "malformed frame" },
    [-SKR_EBAD_REQUEST]     = { "bad_request", "malformed request" },
    [-SKR_EUNSUPPORTED]     = { "unsupported", "unsupported protocol version" },
    [-SKR_EUNKNOWN_OP]      = { "unknown_op", "unknown operation" },
    [-SKR_ENOT_FOUND]       = { "not_found", "not found" },
    [-SKR_EAMBIGUOUS]       = { "ambiguous", "name is held by more than one protocol" },
    [-SKR_EEXISTS]          = { "exists", "already exists" },
    [-SKR_ELOCKED]          = { "locked", "hub is locked" },
    [-SKR_EDENIED]          = { "denied", "permission denied" },
    [-SKR_EBAD_PASSPHRASE]  = { "bad_passphrase", "wrong passphrase" },
    [-SKR_ERATE_LIMITED]    = { "rate_limited", "too many failed attempts, try again later" },
    [-SKR_ETOO_LARGE]       = { "too_large", "value too large" },
    [-SKR_EINTEGRITY]       = { "integrity", "stored record failed authentication" },
    [-SKR_EBUSY]            = { "busy", "daemon is at its connection limit" },
    [-SKR_EINTERNAL]        = { "internal", "internal error" },
    [-SKR_ECONNECT]         = { NULL, "cannot connect to the daemon" },
    [-SKR_EIO]              = { NULL, "connection to the daemon failed" },
    [-SKR_ETIMEOUT]         = { NULL, "timed out waiting for the daemon" },
    [-SKR_ENOMEM]           = { NULL, "out of memory" },
    [-SKR_EPROTOCOL]        = { NULL, "daemon sent an invalid reply" },
    [-SKR_EINVAL]           = { NULL, "invalid argument" },
};

const char *skr_strerror(int code)
{
    if (code > 0 || code < SKR_ERR_MIN)
        return "unknown error";
    return errors[-code].text;
}

const char *skr_error_name(int code)
{
    if (code > 0 || code < SKR_ERR_MIN)
        return NULL;
    return errors[-code].name;
}

int skr_error_from_name(const char *name, size_t len)
{
    for (int i = 1; i <= -SKR_ERR_MIN; i++) {
        const char *n = errors[i].name;
        if (n != NULL && strlen(n) == len && memcmp(n, name, len) == 0)
            return -i;
    }
    return SKR_EINTERNAL;
}
