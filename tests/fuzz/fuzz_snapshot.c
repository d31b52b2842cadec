/* Snapshot restore from arbitrary bytes: an error and an unchanged state,
 * or a state that snapshots again to the same bytes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fsm/fsm.h"
#include "tests/fuzz/fuzz.h"

static struct fsm *fsm;
static char dir[64];

static void cleanup(void)
{
    char cmd[128];
    if (fsm != NULL) {
        fsmClose(fsm);
    }
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) {
        fprintf(stderr, "could not remove %s\n", dir);
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    struct fsmConfig c;
    char errmsg[256];
    (void)argc;
    (void)argv;

    snprintf(dir, sizeof dir, "/tmp/qraft-fuzz-XXXXXX");
    if (mkdtemp(dir) == NULL) {
        abort();
    }
    fsmConfigDefaults(&c);
    c.dir = dir;
    c.map_size = (size_t)256 << 20;
    if (fsmOpen(&c, &fsm, errmsg) != 0) {
        fprintf(stderr, "fsmOpen: %s\n", errmsg);
        abort();
    }
    atexit(cleanup);
    return 0;
}

static void snapshotOf(void **buf, size_t *len)
{
    struct fsmSnapshot *s;
    if (fsmSnapshotBegin(fsm, &s) != 0 || fsmSnapshotWrite(s, malloc, buf, len) != 0) {
        abort();
    }
    fsmSnapshotEnd(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    void *before;
    void *after;
    size_t before_len;
    size_t after_len;

    snapshotOf(&before, &before_len);
    if (fsmRestore(fsm, data, size) != 0) {
        /* Refused: the state must be exactly what it was. */
        snapshotOf(&after, &after_len);
        if (after_len != before_len || memcmp(before, after, before_len) != 0) {
            fprintf(stderr, "a refused restore changed the state\n");
            abort();
        }
        free(after);
    } else {
        /* Accepted: it snapshots back to the same bytes. */
        snapshotOf(&after, &after_len);
        if (after_len != size || memcmp(after, data, size) != 0) {
            fprintf(stderr, "restored state does not snapshot to its input\n");
            abort();
        }
        free(after);
    }
    free(before);
    return 0;
}
