#include "paths.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sekrets/error.h"

int proto_default_socket(char *buf, size_t size)
{
    static const char tail[] = "/sekrets/sekretsd.sock";
    const char *env = getenv("SEKRETS_SOCKET");
    const char *run = getenv("XDG_RUNTIME_DIR");
    size_t n;
    if (env != NULL && env[0] != '\0') {
        if ((n = strlen(env)) >= size)
            return SKR_EINVAL;
        memcpy(buf, env, n + 1);
        return 0;
    }
    if (run == NULL || run[0] != '/')
        return SKR_ECONNECT;
    if ((n = strlen(run)) >= size || size - n < sizeof(tail))
        return SKR_EINVAL;
    memcpy(buf, run, n);
    memcpy(buf + n, tail, sizeof(tail));
    return 0;
}
