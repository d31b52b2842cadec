/* Compressed images of the state: the LZ4 frames that snapshots and
 * snapshot installs carry (fsmglue.c, snapget.c).
 *
 * snapshotFrameBuild runs in the thread pool over a pinned fsmSnapshot:
 * fsmSnapshotStream serialises the pinned transaction in 1 MiB chunks and
 * each chunk is compressed onto one frame, with libraft's own frame
 * settings (src/compress.c: its loader decompresses such a file, and its
 * compression is off, so files of every build read the same). The frame
 * grows in memory (raft_malloc'd), or, with a scratch directory, is
 * written chunk by chunk to an unnamed file there (O_TMPFILE: nothing is
 * left behind by a crash) and handed over as a read-only mapping of that
 * file: page cache the kernel can drop, not anonymous memory. */
#include "raft/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <lz4frame.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* Bytes of the state fsmSnapshotStream hands over at once. */
#define FRAME_CHUNK ((size_t)1 << 20)

/* The frame being made: in memory, or (@fd >= 0) written to the scratch
 * file as it grows, @p then holding one compressed chunk at a time. */
struct frameWriter
{
    LZ4F_cctx *ctx;
    LZ4F_preferences_t prefs;
    uint8_t *p;     /* raft_malloc'd */
    size_t cap;
    size_t len;
    size_t step;    /* growth, at least */
    int fd;         /* the scratch file, or -1 */
    size_t written; /* bytes of the frame written to @fd */
    int disk_rv;    /* RAFT_NOSPACE or RAFT_IOERR once writing it failed */
};

/* Make room for @need more bytes. */
static int frameReserve(struct frameWriter *z, size_t need)
{
    uint8_t *p;
    size_t cap;

    if (z->cap - z->len >= need) {
        return 0;
    }
    cap = z->cap + (need > z->step ? need : z->step);
    p = raft_realloc(z->p, cap);
    if (p == NULL) {
        return FSM_ENOMEM;
    }
    z->p = p;
    z->cap = cap;
    return 0;
}

/* With a scratch file: write out what @z holds. */
static int frameFlush(struct frameWriter *z)
{
    size_t at = 0;

    while (z->fd >= 0 && at < z->len) {
        ssize_t n = write(z->fd, z->p + at, z->len - at);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            z->disk_rv = n < 0 && errno == ENOSPC ? RAFT_NOSPACE : RAFT_IOERR;
            return FSM_ESTORE;
        }
        at += (size_t)n;
    }
    if (z->fd >= 0) {
        z->written += z->len;
        z->len = 0;
    }
    return 0;
}

/* fsmSnapshotStream's sink: compress one chunk onto the frame. */
static int frameSink(void *arg, const void *p, size_t len)
{
    struct frameWriter *z = arg;
    size_t n;

    if (frameReserve(z, LZ4F_compressBound(len, &z->prefs)) != 0) {
        return FSM_ENOMEM;
    }
    n = LZ4F_compressUpdate(z->ctx, z->p + z->len, z->cap - z->len, p, len, NULL);
    if (LZ4F_isError(n)) {
        return FSM_ENOMEM;
    }
    z->len += n;
    return frameFlush(z);
}

/* An unnamed file in @dir (gone with its last descriptor or mapping, a
 * crash included), or -1. */
static int frameScratchOpen(const char *dir)
{
    char path[PATH_MAX];
    int fd = -1;

#ifdef O_TMPFILE
    fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
#endif
    if (fd < 0 && (size_t)snprintf(path, sizeof path, "%s/qraft-scratch-XXXXXX", dir) <
                      sizeof path) {
        /* No O_TMPFILE on this file system: a named file, unlinked at once. */
        fd = mkostemp(path, O_CLOEXEC);
        if (fd >= 0) {
            unlink(path);
        }
    }
    return fd;
}

int snapshotFrameBuild(struct fsmSnapshot *snap, const char *scratch_dir, struct snapshotFrame *out)
{
    struct frameWriter z;
    void *map;
    size_t total;
    size_t n;
    int rv;

    memset(out, 0, sizeof *out);
    memset(&z, 0, sizeof z);
    z.fd = -1;
    rv = fsmSnapshotSize(snap, &total);
    if (rv != 0) {
        goto err;
    }
    /* libraft's own frame settings (src/compress.c): its loader finds the
     * output buffer's size in contentSize. */
    z.prefs.frameInfo.contentChecksumFlag = LZ4F_contentChecksumEnabled;
    z.prefs.frameInfo.contentSize = total;
    z.step = total / 8 > FRAME_CHUNK ? total / 8 : FRAME_CHUNK;
    if (scratch_dir != NULL) {
        z.fd = frameScratchOpen(scratch_dir);
        if (z.fd < 0) {
            z.disk_rv = errno == ENOSPC ? RAFT_NOSPACE : RAFT_IOERR;
            goto err;
        }
        z.step = LZ4F_compressBound(FRAME_CHUNK, &z.prefs);
    }
    if (LZ4F_isError(LZ4F_createCompressionContext(&z.ctx, LZ4F_VERSION)) ||
        frameReserve(&z, LZ4F_HEADER_SIZE_MAX) != 0) {
        rv = FSM_ENOMEM;
        goto err;
    }
    n = LZ4F_compressBegin(z.ctx, z.p, z.cap, &z.prefs);
    if (LZ4F_isError(n)) {
        rv = FSM_ENOMEM;
        goto err;
    }
    z.len = n;
    rv = fsmSnapshotStream(snap, FRAME_CHUNK, frameSink, &z);
    if (rv != 0) {
        goto err;
    }
    if (frameReserve(&z, LZ4F_compressBound(0, &z.prefs)) != 0) {
        rv = FSM_ENOMEM;
        goto err;
    }
    n = LZ4F_compressEnd(z.ctx, z.p + z.len, z.cap - z.len, NULL);
    if (LZ4F_isError(n)) {
        rv = FSM_ENOMEM;
        goto err;
    }
    z.len += n;
    rv = frameFlush(&z);
    if (rv != 0) {
        goto err;
    }
    LZ4F_freeCompressionContext(z.ctx);
    out->raw = total;
    if (z.fd >= 0) {
        /* Read back from the scratch file's pages, not a copy on the heap. */
        map = mmap(NULL, z.written, PROT_READ, MAP_SHARED, z.fd, 0);
        close(z.fd);
        raft_free(z.p);
        if (map == MAP_FAILED) {
            return RAFT_NOMEM;
        }
        out->base = map;
        out->len = z.written;
        out->mapped = true;
    } else {
        out->base = z.p;
        out->len = z.len;
    }
    return 0;

err:
    LZ4F_freeCompressionContext(z.ctx);
    if (z.fd >= 0) {
        close(z.fd);
    }
    raft_free(z.p);
    if (z.disk_rv != 0) {
        out->scratch_rv = z.disk_rv;
        return z.disk_rv;
    }
    return rv == FSM_ENOMEM ? RAFT_NOMEM : RAFT_IOERR;
}

void snapshotFrameRelease(void *base, size_t len, bool mapped)
{
    if (mapped) {
        munmap(base, len);
    } else {
        raft_free(base);
    }
}

int snapshotFrameDecompress(const struct raft_buffer *buf, struct raft_buffer *out)
{
    LZ4F_dctx *ctx = NULL;
    LZ4F_frameInfo_t info;
    size_t in = buf->len;
    size_t at;
    size_t done = 0;
    size_t n = 1;
    int rv = RAFT_CORRUPT;

    out->base = NULL;
    out->len = 0;
    if (LZ4F_isError(LZ4F_createDecompressionContext(&ctx, LZ4F_VERSION))) {
        return RAFT_NOMEM;
    }
    memset(&info, 0, sizeof info);
    if (LZ4F_isError(LZ4F_getFrameInfo(ctx, &info, buf->base, &in)) || info.contentSize == 0 ||
        info.contentSize > SIZE_MAX) {
        goto out;
    }
    at = in;
    out->base = raft_malloc((size_t)info.contentSize);
    if (out->base == NULL) {
        rv = RAFT_NOMEM;
        goto out;
    }
    out->len = (size_t)info.contentSize;
    while (n != 0 && at < buf->len) {
        size_t src = buf->len - at;
        size_t dst = out->len - done;
        n = LZ4F_decompress(ctx, (uint8_t *)out->base + done, &dst, (const uint8_t *)buf->base + at,
                            &src, NULL);
        if (LZ4F_isError(n)) {
            goto out;
        }
        at += src;
        done += dst;
    }
    rv = n == 0 && done == out->len ? 0 : RAFT_CORRUPT;

out:
    LZ4F_freeDecompressionContext(ctx);
    if (rv != 0) {
        raft_free(out->base);
        out->base = NULL;
        out->len = 0;
    }
    return rv;
}
