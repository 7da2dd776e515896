/* client/lib/list.c - skr_list: the names of getDb, the protocols and counts of getHub. */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

struct skr_list {
    size_t n;
    char **names;
    uint64_t *counts;
};

void skr_list_free(skr_list *l)
{
    if (l == NULL)
        return;
    for (size_t i = 0; i < l->n; i++)
        if (l->names[i] != NULL) {
            sodium_memzero(l->names[i], strlen(l->names[i]));
            free(l->names[i]);
        }
    free(l->names);
    free(l->counts);
    free(l);
}

size_t skr_list_size(const skr_list *l)
{
    return l != NULL ? l->n : 0;
}

const char *skr_list_name(const skr_list *l, size_t i)
{
    return (l != NULL && i < l->n) ? l->names[i] : NULL;
}

uint64_t skr_list_count(const skr_list *l, size_t i)
{
    return (l != NULL && i < l->n) ? l->counts[i] : 0;
}

int list_new(uint32_t n, skr_list **out)
{
    /* n is bounded by the frame (each element takes at least one byte). */
    skr_list *l = calloc(1, sizeof(*l));
    if (l == NULL)
        return SKR_ENOMEM;
    l->names = calloc(n ? n : 1, sizeof(char *));
    l->counts = calloc(n ? n : 1, sizeof(uint64_t));
    if (l->names == NULL || l->counts == NULL) {
        skr_list_free(l);
        return SKR_ENOMEM;
    }
    *out = l;
    return 0;
}

int list_add(skr_list *l, const char *s, uint32_t len, uint64_t count)
{
    char *d = malloc((size_t)len + 1);
    if (d == NULL)
        return SKR_ENOMEM;
    memcpy(d, s, len);
    d[len] = '\0';
    l->names[l->n] = d;
    l->counts[l->n] = count;
    l->n++;
    return 0;
}
