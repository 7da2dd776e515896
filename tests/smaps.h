/*
 * tests/smaps.h - how much of a file's mapping is resident in a process, for the tests
 * that check what the daemon keeps in memory (unit and integration alike).
 */
#ifndef TESTS_SMAPS_H
#define TESTS_SMAPS_H

#include <stdio.h>
#include <string.h>

/* KiB resident of the mappings of process pid (0: this one) whose line names `file`,
 * from /proc/PID/smaps; -1 when it cannot be read. */
static inline long smaps_rss_kb(int pid, const char *file)
{
    char path[64], line[512];
    unsigned long lo, hi;
    long kb = 0, v;
    int in = 0;
    FILE *f;

    if (pid > 0)
        snprintf(path, sizeof path, "/proc/%d/smaps", pid);
    else
        snprintf(path, sizeof path, "/proc/self/smaps");
    if ((f = fopen(path, "r")) == NULL)
        return -1;
    while (fgets(line, sizeof line, f) != NULL) {
        if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2) /* a mapping's first line */
            in = strstr(line, file) != NULL;
        else if (in && sscanf(line, "Rss: %ld kB", &v) == 1)
            kb += v;
    }
    fclose(f);
    return kb;
}

#endif
