#include "tests/fuzz/fsmhost.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static struct fsm *hostFsm;
static char hostDir[64];

static void hostCleanup(void)
{
    char cmd[128];
    if (hostFsm != NULL) {
        fsmClose(hostFsm);
        hostFsm = NULL;
    }
    snprintf(cmd, sizeof cmd, "rm -rf %s", hostDir);
    if (system(cmd) != 0) {
        fprintf(stderr, "could not remove %s\n", hostDir);
    }
}

struct fsm *fuzzFsm(void)
{
    struct fsmConfig c;
    char errmsg[256];

    if (hostFsm != NULL) {
        return hostFsm;
    }
    snprintf(hostDir, sizeof hostDir, "/tmp/qraft-fuzz-XXXXXX");
    if (mkdtemp(hostDir) == NULL) {
        abort();
    }
    fsmConfigDefaults(&c);
    c.dir = hostDir;
    c.map_size = (size_t)256 << 20;
    if (fsmOpen(&c, &hostFsm, errmsg) != 0) {
        fprintf(stderr, "fsmOpen: %s\n", errmsg);
        abort();
    }
    atexit(hostCleanup);
    return hostFsm;
}
