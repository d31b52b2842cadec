/* Snapshot restore from arbitrary bytes: an error and an unchanged state,
 * or a state that snapshots again to the same bytes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fsm/fsm.h"
#include "tests/fuzz/fsmhost.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    (void)fuzzFsm();
    return 0;
}

static void snapshotOf(void **buf, size_t *len)
{
    struct fsmSnapshot *s;
    if (fsmSnapshotBegin(fuzzFsm(), &s) != 0 || fsmSnapshotWrite(s, malloc, buf, len) != 0) {
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
    if (fsmRestore(fuzzFsm(), data, size) != 0) {
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
