/*
 * sekrets/error.h - the one error vocabulary of sekrets.
 *
 * Every function of libsekrets, of the wire codec and of the daemon returns 0 (SKR_OK) on
 * success or one of these negative codes. The first block is exactly the `code` strings of
 * the wire protocol (proto/PROTOCOL.md); the second block only ever happens on the client
 * side (the request never reached the daemon or its answer never came back).
 *
 * The codes are small negative numbers in their own range; they are not errno values.
 */
#ifndef SEKRETS_ERROR_H
#define SEKRETS_ERROR_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#  define SKR_EXPORT __attribute__((visibility("default")))
#else
#  define SKR_EXPORT
#endif

typedef enum skr_err {
    SKR_OK               = 0,
    /* Carried on the wire: PROTOCOL.md "Error codes", in that order. */
    SKR_EBAD_FRAME       = -1,  /* "bad_frame": framing broken; connection closed */
    SKR_EBAD_REQUEST     = -2,  /* "bad_request": a field is missing, mistyped or invalid */
    SKR_EUNSUPPORTED     = -3,  /* "unsupported": protocol version `v` not spoken */
    SKR_EUNKNOWN_OP      = -4,  /* "unknown_op" */
    SKR_ENOT_FOUND       = -5,  /* "not_found" */
    SKR_EAMBIGUOUS       = -6,  /* "ambiguous": name held by several protocols */
    SKR_EEXISTS          = -7,  /* "exists" */
    SKR_ELOCKED          = -8,  /* "locked": hub locked or not initialised */
    SKR_EDENIED          = -9,  /* "denied": access policy refuses the peer or op */
    SKR_EBAD_PASSPHRASE  = -10, /* "bad_passphrase" */
    SKR_ERATE_LIMITED    = -11, /* "rate_limited": failed unlocks, or a key derivation running; wait */
    SKR_ETOO_LARGE       = -12, /* "too_large": a value exceeds a limit */
    SKR_EINTEGRITY       = -13, /* "integrity": a stored record failed authentication */
    SKR_EBUSY            = -14, /* "busy": daemon at its connection limit */
    SKR_EINTERNAL        = -15, /* "internal" */
    /* Client side only: never sent by the daemon. */
    SKR_ECONNECT         = -16, /* cannot reach the daemon's socket */
    SKR_EIO              = -17, /* the connection broke mid-request */
    SKR_ETIMEOUT         = -18, /* no answer within the client's timeout */
    SKR_ENOMEM           = -19, /* out of memory */
    SKR_EPROTOCOL        = -20, /* the daemon's answer did not follow the protocol */
    SKR_EINVAL           = -21, /* a caller's argument is invalid (checked before sending) */
} skr_err;

/* Lowest code in use; codes range over [SKR_ERR_MIN, 0]. */
#define SKR_ERR_MIN SKR_EINVAL

/* A one-line human description of `code` (static storage, never NULL). */
SKR_EXPORT const char *skr_strerror(int code);

/* The wire string of `code` ("not_found"), or NULL for 0 and the client-only codes. */
SKR_EXPORT const char *skr_error_name(int code);

/* The code of a wire string; SKR_EINTERNAL for a string this version does not know. */
SKR_EXPORT int skr_error_from_name(const char *name, size_t len);

#ifdef __cplusplus
}
#endif
#endif
