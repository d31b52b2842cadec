/* A check of the snapshot files before libraft loads them.
 *
 * libraft 0.15.0 decompresses an LZ4-framed snapshot file with a loop that
 * never ends when the frame is cut short: LZ4F_decompress asks for more
 * input, none is left, and the loop calls it again (found by the chaos
 * harness's corrupt fault, which truncates files: the node spun inside
 * raft_start for ever, logging nothing and serving nothing). Snapshots are
 * LZ4 frames since fsmglue.c compresses them itself, so every start first
 * reads each snapshot file that starts with the frame magic through a
 * streaming decompressor (output discarded, in 1 MiB steps) and refuses to
 * start, naming the file, when the frame is damaged or incomplete: the same
 * as a corrupt segment, never moved aside silently.
 *
 * Cost: one decompression pass over each snapshot file libraft keeps (at
 * most two), about a second per GB here. */
#include "raft/internal.h"

#include <dirent.h>
#include <errno.h>
#include <lz4frame.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SNAPCHECK_CHUNK ((size_t)1 << 20)

/* Whether directory entry @name is a snapshot's data file (not its
 * .meta): libraft names them snapshot-TERM-INDEX-TIMESTAMP. */
static bool snapcheckIsData(const char *name)
{
    size_t len = strlen(name);

    return strncmp(name, "snapshot-", 9) == 0 &&
           !(len > 5 && strcmp(name + len - 5, ".meta") == 0);
}

bool snapshotIsFrame(const void *buf, size_t len)
{
    static const unsigned char magic[4] = {0x04, 0x22, 0x4d, 0x18};
    return len >= sizeof magic && memcmp(buf, magic, sizeof magic) == 0;
}

/* Read @path through the LZ4 frame decoder. 0 if it is not a frame or a
 * whole, sound one; -1 with @errmsg otherwise. */
static int snapcheckFile(const char *path, char *errmsg)
{
    LZ4F_dctx *ctx = NULL;
    unsigned char *in = NULL;
    unsigned char *out = NULL;
    size_t hint = 1;
    size_t got;
    FILE *f;
    int rv = -1;

    f = fopen(path, "rb");
    if (f == NULL) {
        snprintf(errmsg, 256, "snapshot %s: %s", path, strerror(errno));
        return -1;
    }
    in = malloc(SNAPCHECK_CHUNK);
    out = malloc(SNAPCHECK_CHUNK);
    if (in == NULL || out == NULL ||
        LZ4F_isError(LZ4F_createDecompressionContext(&ctx, LZ4F_VERSION))) {
        snprintf(errmsg, 256, "snapshot %s: out of memory", path);
        goto out;
    }
    got = fread(in, 1, 4, f);
    if (!snapshotIsFrame(in, got)) {
        rv = 0; /* not a frame: libraft hands it to restore, which checks it */
        goto out;
    }
    rewind(f);
    while (hint != 0 && (got = fread(in, 1, SNAPCHECK_CHUNK, f)) > 0) {
        size_t at = 0;
        while (at < got && hint != 0) {
            size_t src = got - at;
            size_t dst = SNAPCHECK_CHUNK;
            hint = LZ4F_decompress(ctx, out, &dst, in + at, &src, NULL);
            if (LZ4F_isError(hint)) {
                snprintf(errmsg, 256, "snapshot %s is damaged (%s): refusing to start", path,
                         LZ4F_getErrorName(hint));
                goto out;
            }
            at += src;
        }
    }
    if (ferror(f)) {
        snprintf(errmsg, 256, "snapshot %s: read error", path);
        goto out;
    }
    if (hint != 0) {
        snprintf(errmsg, 256, "snapshot %s is cut short: refusing to start", path);
        goto out;
    }
    rv = 0;

out:
    LZ4F_freeDecompressionContext(ctx);
    free(in);
    free(out);
    fclose(f);
    return rv;
}

int replicaCheckSnapshots(const char *dir, char *errmsg)
{
    struct dirent *e;
    char path[4096];
    DIR *d;
    int rv = 0;

    d = opendir(dir);
    if (d == NULL) {
        return 0; /* a new node: raft_uv_init reports a missing directory */
    }
    while (rv == 0 && (e = readdir(d)) != NULL) {
        if (!snapcheckIsData(e->d_name)) {
            continue;
        }
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        rv = snapcheckFile(path, errmsg);
    }
    closedir(d);
    return rv;
}
