/*
 * proto/paths.h - where the daemon listens by default, one rule for the daemon and every
 * client (the Python client keeps the same rule in sekrets/client.py).
 */
#ifndef PROTO_PATHS_H
#define PROTO_PATHS_H

#include <stddef.h>

/*
 * Writes the default socket path into buf (size bytes, NUL-terminated): $SEKRETS_SOCKET
 * when set and non-empty, else $XDG_RUNTIME_DIR/sekrets/sekretsd.sock when XDG_RUNTIME_DIR
 * is an absolute path (the XDG spec says to ignore a relative one). 0; SKR_ECONNECT when
 * neither applies; SKR_EINVAL when the path does not fit (buf untouched then).
 */
int proto_default_socket(char *buf, size_t size);

#endif
