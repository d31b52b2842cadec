/* Proposal batches: the commands proposed in one loop iteration travel as
 * one raft entry.
 *
 * libraft sends an AppendEntries message to every follower for each
 * raft_apply, and every follower answers each one; with one entry per
 * command, a leader under pipelined load spends its time on messages that
 * each carry one small command. replica.c gathers the commands of a loop
 * iteration into one entry instead (flushed in its check and prepare
 * handles) and hands it to one raft_apply; fsmglue.c applies the commands
 * one by one, in order, with the fsm's usual single-command apply, so the
 * state and the digest are those of applying them as separate entries, and
 * gives the leader one reply per command.
 *
 * Entry layout (integers big-endian, every length a multiple of 8 as
 * libraft's uv writer needs):
 *
 *   "qrb" 0x01      4 bytes: magic and format version. 'q' cannot start an
 *                   fsm command (a msgpack map), so a single-command entry
 *                   of an older log is told apart by its first byte.
 *   count           uint32, at least 1
 *   count times:    uint32 length (> 0, a multiple of 8), uint32 zero,
 *                   then the command as fsmCommandPack encodes it
 *
 * Every node checks the whole framing before applying anything from an
 * entry (batchReaderInit); an entry whose framing is wrong is applied as
 * one undecodable command (an InvalidCommand reply, the same on every
 * node), never half. */
#include "raft/internal.h"

#include <string.h>

#define BATCH_HEADER 8u
#define BATCH_ITEM_HEADER 8u

/* Unused bytes a finished entry may keep (batchWriterTake). */
#define BATCH_SLACK_MAX 4096u

static const unsigned char batchMagic[4] = {'q', 'r', 'b', 1};

static void putU32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

static uint32_t getU32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Make room for @more bytes after w->len. */
static int batchReserve(struct batchWriter *w, size_t more)
{
    size_t cap = w->cap > 0 ? w->cap : 4096;
    void *base;

    if (w->len + more <= w->cap) {
        return 0;
    }
    while (cap < w->len + more) {
        cap *= 2;
    }
    base = raft_realloc(w->base, cap);
    if (base == NULL) {
        return RAFT_NOMEM;
    }
    w->base = base;
    w->cap = cap;
    return 0;
}

/* fsmCommandPack write callback: append to the writer. */
static int batchWrite(void *data, const char *buf, size_t len)
{
    struct batchWriter *w = data;

    if (batchReserve(w, len) != 0) {
        return -1;
    }
    memcpy(w->base + w->len, buf, len);
    w->len += len;
    return 0;
}

/* Make room for one more entry of w->unhashed. */
static int batchNoteBodies(struct batchWriter *w)
{
    struct fsmBodiesAt *more =
        glueGrow(w->unhashed, &w->cap_unhashed, w->n_unhashed + 1, sizeof *more, 64);

    if (more == NULL) {
        return RAFT_NOMEM;
    }
    w->unhashed = more;
    return 0;
}

int batchWriterAdd(struct batchWriter *w, const struct fsmCommand *cmd)
{
    struct fsmCommandPlaces at;
    size_t start;
    size_t len;
    int rv;

    if (w->n == 0) {
        rv = batchReserve(w, BATCH_HEADER);
        if (rv != 0) {
            return rv;
        }
        memcpy(w->base, batchMagic, sizeof batchMagic);
        w->len = BATCH_HEADER;
    }
    start = w->len;
    rv = batchReserve(w, BATCH_ITEM_HEADER);
    if (rv != 0) {
        return rv;
    }
    w->len += BATCH_ITEM_HEADER;
    rv = batchNoteBodies(w);
    if (rv != 0) {
        w->len = start;
        return rv;
    }
    rv = fsmCommandPack(cmd, batchWrite, w, &len, &at);
    if (rv != 0 || len > UINT32_MAX) {
        w->len = start; /* the command is left out whole */
        return rv == FSM_ECORRUPT ? RAFT_INVALID : RAFT_NOMEM;
    }
    if (at.bodies > 0) {
        w->unhashed[w->n_unhashed++] = (struct fsmBodiesAt){
            start + BATCH_ITEM_HEADER + at.bodies, cmd->bodies_len,
            start + BATCH_ITEM_HEADER + at.args, cmd->args_len};
    }
    putU32((unsigned char *)w->base + start, (uint32_t)len);
    memset(w->base + start + 4, 0, 4);
    w->n++;
    putU32((unsigned char *)w->base + 4, w->n);
    return 0;
}

void batchWriterTake(struct batchWriter *w, struct raft_buffer *buf)
{
    void *base;

    fsmBodiesHash((uint8_t *)w->base, w->unhashed, w->n_unhashed);
    raft_free(w->unhashed);
    base = w->base;

    /* libraft keeps the entry in memory until a snapshot covers it: give
     * back the slack of the doubling (up to half the buffer). Shrinking
     * in place; if it fails, the larger buffer will do. */
    if (w->cap - w->len > w->cap / 8 && w->cap - w->len > BATCH_SLACK_MAX) {
        base = raft_realloc(w->base, w->len);
        if (base == NULL) {
            base = w->base;
        }
    }
    buf->base = base;
    buf->len = w->len;
    memset(w, 0, sizeof *w);
}

void batchWriterDiscard(struct batchWriter *w)
{
    raft_free(w->base);
    raft_free(w->unhashed);
    memset(w, 0, sizeof *w);
}

bool batchIs(const void *buf, size_t len)
{
    return len >= sizeof batchMagic && memcmp(buf, batchMagic, sizeof batchMagic) == 0;
}

int batchReaderInit(struct batchReader *r, const void *buf, size_t len)
{
    const unsigned char *p = buf;
    size_t off = BATCH_HEADER;
    uint32_t count;
    uint32_t i;

    if (len < BATCH_HEADER || !batchIs(buf, len)) {
        return -1;
    }
    count = getU32(p + 4);
    if (count == 0) {
        return -1;
    }
    for (i = 0; i < count; i++) {
        uint32_t item;
        if (len - off < BATCH_ITEM_HEADER) {
            return -1;
        }
        item = getU32(p + off);
        if (item == 0 || item % 8 != 0 || getU32(p + off + 4) != 0 ||
            len - off - BATCH_ITEM_HEADER < item) {
            return -1;
        }
        off += BATCH_ITEM_HEADER + item;
    }
    if (off != len) {
        return -1;
    }
    r->p = p + BATCH_HEADER;
    r->left = count;
    return 0;
}

bool batchReaderNext(struct batchReader *r, const void **cmd, size_t *len)
{
    uint32_t item;

    if (r->left == 0) {
        return false;
    }
    item = getU32(r->p);
    *cmd = r->p + BATCH_ITEM_HEADER;
    *len = item;
    r->p += BATCH_ITEM_HEADER + item;
    r->left--;
    return true;
}
