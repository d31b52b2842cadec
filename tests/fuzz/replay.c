/* Replay a fuzz target's corpus and kept crash files without libFuzzer:
 *
 *   replay_fuzz_X [DIR...]
 *
 * With no DIR: tests/fuzz/corpus/X and tests/fuzz/crashes/X (FUZZ_NAME is
 * set by the Makefile).
 * Runs every regular file of each DIR through LLVMFuzzerTestOneInput. A
 * crash, hang (the caller's timeout) or sanitizer report fails the run;
 * otherwise it prints a cmocka-style count that tests/run adds up. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tests/fuzz/fuzz.h"

/* Targets that need no set-up get this one. */
__attribute__((weak)) int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    return 0;
}

static int replayFile(const char *path)
{
    FILE *f = fopen(path, "rb");
    uint8_t *data;
    long size;

    if (f == NULL) {
        return -1;
    }
    fseek(f, 0, SEEK_END);
    size = ftell(f);
    fseek(f, 0, SEEK_SET);
    data = malloc(size > 0 ? (size_t)size : 1);
    if (data == NULL || (size > 0 && fread(data, 1, (size_t)size, f) != (size_t)size)) {
        free(data);
        fclose(f);
        return -1;
    }
    fclose(f);
    LLVMFuzzerTestOneInput(data, (size_t)size);
    free(data);
    return 0;
}

int main(int argc, char **argv)
{
    char corpus[256];
    char crashes[256];
    char *defaults[] = {argv[0], corpus, crashes};
    unsigned n = 0;
    int i;

    if (argc < 2) {
        snprintf(corpus, sizeof corpus, "tests/fuzz/corpus/%s", FUZZ_NAME);
        snprintf(crashes, sizeof crashes, "tests/fuzz/crashes/%s", FUZZ_NAME);
        argc = 3;
        argv = defaults;
    }
    LLVMFuzzerInitialize(&argc, &argv);
    for (i = 1; i < argc; i++) {
        DIR *d = opendir(argv[i]);
        struct dirent *e;
        if (d == NULL) {
            continue; /* an empty crash directory may not exist */
        }
        while ((e = readdir(d)) != NULL) {
            char path[4096];
            struct stat st;
            snprintf(path, sizeof path, "%s/%s", argv[i], e->d_name);
            if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
                continue;
            }
            if (replayFile(path) != 0) {
                printf("[  FAILED  ] 1 test(s), cannot read %s\n", path);
                closedir(d);
                return 1;
            }
            n++;
        }
        closedir(d);
    }
    printf("replayed %u inputs\n[  PASSED  ] 1 test(s).\n", n);
    return 0;
}
