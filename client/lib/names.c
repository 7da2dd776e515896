/* client/lib/names.c - the wire's limits and name rules, exported (sekrets.h "limits"):
 * the codec's own checks, so a client and the daemon can never disagree on what is valid;
 * and the library's version. */
#include "internal.h"
#include "request.h"

_Static_assert(SKR_MAX_PROTOCOL == PROTO_MAX_PROTOCOL, "public and wire protocol limit");
_Static_assert(SKR_MAX_NAME == PROTO_MAX_NAME, "public and wire name limit");
_Static_assert(SKR_MAX_BODY == PROTO_MAX_BODY, "public and wire body limit");
_Static_assert(SKR_MAX_PASSPHRASE == PROTO_MAX_PASSPHRASE, "public and wire passphrase limit");

size_t skr_max_protocol(void)
{
    return SKR_MAX_PROTOCOL;
}

size_t skr_max_name(void)
{
    return SKR_MAX_NAME;
}

size_t skr_max_body(void)
{
    return SKR_MAX_BODY;
}

size_t skr_max_passphrase(void)
{
    return SKR_MAX_PASSPHRASE;
}

bool skr_valid_protocol(const char *s, size_t len)
{
    return s != NULL && proto_valid_protocol(s, len);
}

bool skr_valid_name(const char *s, size_t len)
{
    return s != NULL && proto_valid_name(s, len);
}

const char *skr_version(void)
{
    return SKR_VERSION_STRING;
}
