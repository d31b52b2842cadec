/* The state machine's input: arbitrary bytes as a log entry. Decoding,
 * checking and applying must never crash or leak; a bad entry is an error
 * reply. Also applies the entry once more as a receive/send with session 1
 * when it decodes, so that op code paths run on fuzzed args. */
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
    if (fsmApply(fuzzFsm(), data, size, &reply) != 0) {
        fprintf(stderr, "fsmApply failed: %s\n", fsmErrmsg(fuzzFsm()));
        abort();
    }
    if (fsmFlush(fuzzFsm()) != 0) {
        abort();
    }
    return 0;
}
