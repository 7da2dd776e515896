/*
 * Replays a fuzz corpus without libFuzzer: calls LLVMFuzzerTestOneInput on every file of
 * the folder given as argv[1] (sorted, so failures are reproducible). Fails when the
 * folder cannot be read or holds no file, so an empty or missing corpus is not a pass.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        perror(path);
        return -1;
    }
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || st.st_size < 0) {
        perror(path);
        fclose(f);
        return -1;
    }
    size_t size = (size_t)st.st_size;
    /* exactly size bytes (at least 1 to have a pointer): ASan sees any over-read */
    uint8_t *buf = malloc(size ? size : 1);
    if (buf == NULL || fread(buf, 1, size, f) != size) {
        fprintf(stderr, "%s: cannot read\n", path);
        free(buf);
        fclose(f);
        return -1;
    }
    fclose(f);
    LLVMFuzzerTestOneInput(buf, size);
    free(buf);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
        return 2;
    }
    struct dirent **names;
    int n = scandir(argv[1], &names, NULL, alphasort);
    if (n < 0) {
        perror(argv[1]);
        return 1;
    }
    int ran = 0, bad = 0;
    for (int i = 0; i < n; i++) {
        char path[4096];
        struct stat st;
        snprintf(path, sizeof(path), "%s/%s", argv[1], names[i]->d_name);
        if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
            if (run_file(path) != 0)
                bad++;
            else
                ran++;
        }
        free(names[i]);
    }
    free(names);
    printf("replayed %d inputs from %s\n", ran, argv[1]);
    if (ran == 0) {
        fprintf(stderr, "no inputs in %s\n", argv[1]);
        return 1;
    }
    return bad == 0 ? 0 : 1;
}
