/*
 * bench_spawn: times whole processes. Runs COMMAND... RUNS times (after 10 warm-up
 * runs), each with stdin from FILE (or /dev/null) and stdout/stderr to /dev/null, and
 * prints the median and the minimum wall time per run in microseconds.
 * Usage: bench_spawn RUNS STDIN_FILE|- COMMAND [ARGS...]
 * No shell is involved, so the figures are the command's own cost plus fork/exec.
 */
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double run_once(char **argv, const char *in)
{
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, in, O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    double t0 = now_us();
    pid_t pid;
    if (posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ) != 0) {
        perror("bench_spawn");
        exit(1);
    }
    int status;
    waitpid(pid, &status, 0);
    double t = now_us() - t0;
    posix_spawn_file_actions_destroy(&fa);
    return t;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fputs("usage: bench_spawn RUNS STDIN_FILE|- COMMAND [ARGS...]\n", stderr);
        return 2;
    }
    int runs = atoi(argv[1]);
    const char *in = argv[2][0] == '-' && argv[2][1] == '\0' ? "/dev/null" : argv[2];
    if (runs < 1)
        return 2;
    for (int i = 0; i < 10; i++)
        run_once(argv + 3, in);
    double *t = malloc((size_t)runs * sizeof(double));
    for (int i = 0; i < runs; i++)
        t[i] = run_once(argv + 3, in);
    qsort(t, (size_t)runs, sizeof(double), cmp);
    printf("%.0f %.0f\n", t[runs / 2], t[0]);
    free(t);
    return 0;
}
