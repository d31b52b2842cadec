/* The state machine's input: arbitrary bytes as a log entry. Decoding,
 * checking and applying must never crash or leak; a bad entry is an error
 * reply. Also applies the entry once more as a receive/send with session 1
 * when it decodes, so that op code paths run on fuzzed args. */
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fsmCommand cmd;
    struct fsmReply reply;
    char errmsg[256];

    if (fsmCommandDecode(data, size, &cmd) == 0) {
        const char *q;
        size_t qlen;
        (void)fsmCommandCheck(&cmd, errmsg, sizeof errmsg);
        (void)fsmCommandQueue(&cmd, &q, &qlen);
    }
    /* Apply whatever it is: a store failure is the only non-zero return,
     * and arbitrary input must never cause one. */
    if (fsmApply(fsm, data, size, &reply) != 0) {
        fprintf(stderr, "fsmApply failed: %s\n", fsmErrmsg(fsm));
        abort();
    }
    if (fsmFlush(fsm) != 0) {
        abort();
    }
    return 0;
}
