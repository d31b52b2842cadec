/* Temporary directories for tests (see tmpdir.h). */
#include "tests/lib/tmpdir.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *tmpdirMake(void)
{
    char tmpl[] = "/tmp/qraft-test-XXXXXX";

    if (mkdtemp(tmpl) == NULL) {
        return NULL;
    }
    return strdup(tmpl);
}

/* nftw callback: remove one entry (children come first, FTW_DEPTH). */
static int tmpdirRemoveOne(const char *path,
                           const struct stat *st,
                           int flag,
                           struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

void tmpdirRemove(char *dir)
{
    if (dir == NULL) {
        return;
    }
    nftw(dir, tmpdirRemoveOne, 16, FTW_DEPTH | FTW_PHYS);
    free(dir);
}
