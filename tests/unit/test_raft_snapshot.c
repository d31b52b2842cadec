/* Snapshots through the production glue (raft/fsmglue.c): under libraft's
 * uv backend the compressed snapshot is written to an unnamed scratch file
 * and handed to libraft as a mapping of it. The bytes must be exactly those
 * of the in-memory frame (raft_fixture's path), restore to the same state,
 * leave no file behind, and a scratch file that cannot be made or written
 * must fail the snapshot cleanly (libraft tries again later), not the node. */
#include <dirent.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cmocka.h>

#include "raft/internal.h"
#include "tests/lib/fsmtest.h"

/* Messages in the state: 1 KiB of letters each, a few MiB in all, so that
 * the frame is written in several chunks. */
#define N_MESSAGES 3000
#define BODY_LEN 1024

/* A filled fsm, an adapter over it, and a scratch directory. */
struct fixture
{
    struct ft *t;
    struct fsmAdapter adapter;
    char dir[64];
    char last_log[128]; /* the adapter's last log message */
    char fatal_what[128]; /* the adapter's fatal call, if any */
    int fatal_rv;
};

static void captureLog(void *arg, int level, const char *msg, const char *kv)
{
    struct fixture *x = arg;
    (void)level;
    (void)kv;
    snprintf(x->last_log, sizeof x->last_log, "%s", msg);
}

static void captureFatal(void *arg, const char *what, int rv)
{
    struct fixture *x = arg;
    snprintf(x->fatal_what, sizeof x->fatal_what, "%s", what);
    x->fatal_rv = rv;
}

/* The descriptor this process holds on a file whose path ends in @suffix,
 * or -1. */
static int fdOfFile(const char *suffix)
{
    char link[64];
    char path[512];
    size_t n = strlen(suffix);

    for (int fd = 0; fd < 1024; fd++) {
        ssize_t len;
        snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
        len = readlink(link, path, sizeof path - 1);
        if (len <= 0) {
            continue;
        }
        path[len] = '\0';
        if ((size_t)len >= n && strcmp(path + len - n, suffix) == 0) {
            return fd;
        }
    }
    return -1;
}

static int fixtureSetUp(void **state)
{
    struct fixture *x = calloc(1, sizeof *x);
    char body[BODY_LEN + 1];
    unsigned seed = 7;

    assert_non_null(x);
    x->t = ftOpen(1024, 3600000, 0);
    ftDo(x->t, FSM_OP_CREATE_QUEUE, "{\"QueueName\":\"q\"}");
    for (unsigned i = 0; i < N_MESSAGES; i++) {
        for (unsigned k = 0; k < BODY_LEN; k++) {
            seed = seed * 1103515245u + 12345u;
            body[k] = (char)('a' + (seed >> 16) % 26);
        }
        body[BODY_LEN] = '\0';
        ftSend(x->t, "q", body);
    }
    fsmAdapterInit(&x->adapter, x->t->f);
    x->adapter.log = captureLog;
    x->adapter.arg = x;
    snprintf(x->dir, sizeof x->dir, "/tmp/qraft-test-scratch.XXXXXX");
    assert_non_null(mkdtemp(x->dir));
    *state = x;
    return 0;
}

static int fixtureTearDown(void **state)
{
    struct fixture *x = *state;

    fsmAdapterClose(&x->adapter);
    ftClose(x->t);
    rmdir(x->dir);
    free(x);
    return 0;
}

/* Files in @dir, "." and ".." aside. */
static unsigned filesIn(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    unsigned n = 0;

    assert_non_null(d);
    while ((e = readdir(d)) != NULL) {
        n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    }
    closedir(d);
    return n;
}

/* Take a snapshot as libraft 0.15 does (snapshot, then snapshot_async in
 * its thread pool); returns snapshot_async's code, the buffers in @bufs. */
static int takeSnapshot(struct fsmAdapter *a, struct raft_buffer **bufs, unsigned *n)
{
    *bufs = NULL;
    *n = 0;
    assert_int_equal(a->raft_fsm.snapshot(&a->raft_fsm, bufs, n), 0);
    return a->raft_fsm.snapshot_async(&a->raft_fsm, bufs, n);
}

static void finalizeSnapshot(struct fsmAdapter *a, struct raft_buffer **bufs, unsigned *n)
{
    assert_int_equal(a->raft_fsm.snapshot_finalize(&a->raft_fsm, bufs, n), 0);
    assert_null(*bufs);
    assert_null(a->snapshot);
}

/* The mapped scratch file holds the in-memory frame's bytes exactly; the
 * file is gone from the directory while mapped and after; the bytes
 * restore to the same state. */
static void scratchFileEqualsMemoryFrame(void **state)
{
    struct fixture *x = *state;
    struct raft_buffer *bufs;
    struct raft_buffer copy;
    unsigned n;
    uint8_t *want;
    uint8_t *got;
    size_t want_len;
    size_t got_len;
    struct ft *other;
    struct fsmAdapter restorer;

    assert_int_equal(takeSnapshot(&x->adapter, &bufs, &n), 0);
    assert_int_equal(n, 1);
    assert_null(x->adapter.snapshot_map);
    copy.len = bufs[0].len;
    copy.base = raft_malloc(copy.len);
    assert_non_null(copy.base);
    memcpy(copy.base, bufs[0].base, copy.len);
    finalizeSnapshot(&x->adapter, &bufs, &n);
    assert_true(copy.len > 2 * ((size_t)1 << 20)); /* several chunks */

    x->adapter.scratch_dir = x->dir;
    assert_int_equal(takeSnapshot(&x->adapter, &bufs, &n), 0);
    assert_int_equal(n, 1);
    assert_ptr_equal(bufs[0].base, x->adapter.snapshot_map);
    assert_int_equal(bufs[0].len, copy.len);
    assert_memory_equal(bufs[0].base, copy.base, copy.len);
    assert_int_equal(filesIn(x->dir), 0);
    finalizeSnapshot(&x->adapter, &bufs, &n);
    assert_null(x->adapter.snapshot_map);
    assert_int_equal(filesIn(x->dir), 0);

    /* The frame restores (raft_fixture's path: the glue decompresses). */
    other = ftOpen(1024, 3600000, 0);
    fsmAdapterInit(&restorer, other->f);
    restorer.trim_owed = true; /* an image restore trims at once, owed or not */
    restorer.trimmed_ms = replicaMonotonicMs();
    assert_int_equal(restorer.raft_fsm.restore(&restorer.raft_fsm, &copy), 0);
    assert_false(restorer.trim_owed);
    want = ftState(x->t, &want_len);
    got = ftState(other, &got_len);
    assert_int_equal(got_len, want_len);
    assert_memory_equal(got, want, want_len);
    free(want);
    free(got);
    fsmAdapterClose(&restorer);
    ftClose(other);
}

/* No directory for the scratch file: the snapshot fails with RAFT_IOERR,
 * finalize logs it, and the next one (directory back) succeeds. */
static void scratchDirMissingFailsSnapshot(void **state)
{
    struct fixture *x = *state;
    struct raft_buffer *bufs;
    unsigned n;
    char missing[96];

    snprintf(missing, sizeof missing, "%s/gone", x->dir);
    x->adapter.scratch_dir = missing;
    assert_int_equal(takeSnapshot(&x->adapter, &bufs, &n), RAFT_IOERR);
    assert_null(bufs);
    finalizeSnapshot(&x->adapter, &bufs, &n);
    assert_string_equal(x->last_log, "snapshot scratch file failed");
    assert_int_equal(x->adapter.scratch_rv, 0);

    x->adapter.scratch_dir = x->dir;
    assert_int_equal(takeSnapshot(&x->adapter, &bufs, &n), 0);
    assert_non_null(bufs);
    finalizeSnapshot(&x->adapter, &bufs, &n);
}

/* Writing the scratch file fails midway (a file size limit of 256 KiB:
 * write() fails with EFBIG): the snapshot fails with RAFT_IOERR, nothing is
 * leaked or left mapped, and the next one succeeds. */
static void scratchWriteFailsSnapshot(void **state)
{
    struct fixture *x = *state;
    struct raft_buffer *bufs;
    struct rlimit old;
    struct rlimit small;
    unsigned n;

    x->adapter.scratch_dir = x->dir;
    /* One first, so that LMDB has nothing left to write under the limit. */
    assert_int_equal(takeSnapshot(&x->adapter, &bufs, &n), 0);
    finalizeSnapshot(&x->adapter, &bufs, &n);
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    small = old;
    small.rlim_cur = 256 * 1024;
    signal(SIGXFSZ, SIG_IGN);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &small), 0);
    assert_int_equal(takeSnapshot(&x->adapter, &bufs, &n), RAFT_IOERR);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    assert_null(bufs);
    assert_null(x->adapter.snapshot_map);
    finalizeSnapshot(&x->adapter, &bufs, &n);
    assert_string_equal(x->last_log, "snapshot scratch file failed");

    assert_int_equal(takeSnapshot(&x->adapter, &bufs, &n), 0);
    assert_ptr_equal(bufs[0].base, x->adapter.snapshot_map);
    finalizeSnapshot(&x->adapter, &bufs, &n);
    assert_int_equal(filesIn(x->dir), 0);
}

/* An adapter over @x's fsm that takes markers and reports to @x. */
static void markerAdapterInit(struct fixture *x)
{
    fsmAdapterInit(&x->adapter, x->t->f);
    x->adapter.markers = true;
    x->adapter.log = captureLog;
    x->adapter.fatal = captureFatal;
    x->adapter.arg = x;
}

/* A durable fsm holding queue q with one message, and such an adapter. */
static void markerFixtureOpen(struct fixture *x)
{
    memset(x, 0, sizeof *x);
    x->t = ftOpenDurable(1024, 3600000);
    ftDo(x->t, FSM_OP_CREATE_QUEUE, "{\"QueueName\":\"q\"}");
    ftSend(x->t, "q", "kept");
    markerAdapterInit(x);
}

/* With a durable fsm the glue's snapshots are markers: snapshot and
 * snapshot_async hand libraft FSM_MARKER_LEN bytes (no scratch file, no
 * pinned transaction), a second snapshot before finalize is refused as
 * busy, and the marker restores through the glue after a restart, while a
 * damaged one is refused as corrupt and logged. */
static void markerSnapshotThroughGlue(void **state)
{
    struct fixture x;
    struct raft_buffer *bufs;
    struct raft_buffer *busy;
    struct raft_buffer marker;
    unsigned n;
    unsigned busy_n;

    (void)state;
    markerFixtureOpen(&x);

    assert_int_equal(takeSnapshot(&x.adapter, &bufs, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(bufs[0].len, FSM_MARKER_LEN);
    assert_true(fsmIsMarker(bufs[0].base, bufs[0].len));
    assert_null(x.adapter.snapshot);
    assert_int_equal(x.adapter.raft_fsm.snapshot(&x.adapter.raft_fsm, &busy, &busy_n),
                     RAFT_BUSY);
    marker.len = bufs[0].len;
    marker.base = raft_malloc(marker.len);
    assert_non_null(marker.base);
    memcpy(marker.base, bufs[0].base, marker.len);
    finalizeSnapshot(&x.adapter, &bufs, &n);
    assert_null(x.adapter.marker);
    fsmAdapterClose(&x.adapter);

    ftReopen(x.t);
    markerAdapterInit(&x);
    ((uint8_t *)marker.base)[30] ^= 1;
    assert_int_equal(x.adapter.raft_fsm.restore(&x.adapter.raft_fsm, &marker), RAFT_CORRUPT);
    assert_string_equal(x.last_log, "snapshot marker refused");
    ((uint8_t *)marker.base)[30] ^= 1;
    /* On success the buffer is the glue's (it frees it). */
    assert_int_equal(x.adapter.raft_fsm.restore(&x.adapter.raft_fsm, &marker), 0);
    assert_string_equal(x.last_log, "snapshot restored");
    assert_string_equal(ftAttr(x.t, "q", "ApproximateNumberOfMessages"), "1");
    fsmAdapterClose(&x.adapter);
    ftClose(x.t);
}

/* Snapshots give freed memory back to the kernel at most once a second
 * (fsmglue.c "Memory"): the first trims, one right after owes it, and the
 * loop's fsmAdapterTrimOwed makes it up only once the second has passed
 * (an image restore trims at once: scratchFileEqualsMemoryFrame). */
static void snapshotsTrimAtMostOnceASecond(void **state)
{
    struct fixture x;
    struct raft_buffer *bufs;
    uint64_t first;
    unsigned n;

    (void)state;
    markerFixtureOpen(&x);
    assert_int_equal(takeSnapshot(&x.adapter, &bufs, &n), 0);
    finalizeSnapshot(&x.adapter, &bufs, &n);
    assert_false(x.adapter.trim_owed);
    first = x.adapter.trimmed_ms;
    assert_true(first > 0);

    ftSend(x.t, "q", "more");
    assert_int_equal(takeSnapshot(&x.adapter, &bufs, &n), 0);
    finalizeSnapshot(&x.adapter, &bufs, &n);
    assert_true(x.adapter.trim_owed);
    assert_int_equal(x.adapter.trimmed_ms, first);
    fsmAdapterTrimOwed(&x.adapter);
    assert_true(x.adapter.trim_owed); /* not a second yet */
    x.adapter.trimmed_ms = first - 1000;
    fsmAdapterTrimOwed(&x.adapter);
    assert_false(x.adapter.trim_owed);
    assert_true(x.adapter.trimmed_ms >= first);
    fsmAdapterClose(&x.adapter);
    ftClose(x.t);
}

/* The marker's state cannot be made durable (the store's fdatasync fails:
 * here its descriptor is swapped for a pipe's, on which fdatasync is
 * EINVAL): snapshot_async fails, so libraft neither writes the marker nor
 * drops the log, and finalize stops the node through the fatal callback
 * (a node whose store may have lost committed pages must not go on). */
static void markerSyncFailureIsFatal(void **state)
{
    struct fixture x;
    struct raft_buffer *bufs = NULL;
    unsigned n = 0;
    int pipefd[2];
    int data_fd;
    int saved_fd;

    (void)state;
    markerFixtureOpen(&x);

    assert_int_equal(x.adapter.raft_fsm.snapshot(&x.adapter.raft_fsm, &bufs, &n), 0);
    data_fd = fdOfFile("/data.mdb");
    assert_true(data_fd >= 0);
    saved_fd = dup(data_fd);
    assert_true(saved_fd >= 0);
    assert_int_equal(pipe(pipefd), 0);
    assert_true(dup2(pipefd[1], data_fd) == data_fd);

    assert_int_equal(x.adapter.raft_fsm.snapshot_async(&x.adapter.raft_fsm, &bufs, &n),
                     RAFT_IOERR);
    assert_true(x.adapter.sync_failed);
    assert_string_equal(x.fatal_what, "");
    assert_int_equal(x.adapter.raft_fsm.snapshot_finalize(&x.adapter.raft_fsm, &bufs, &n), 0);
    assert_null(bufs);
    assert_null(x.adapter.marker);
    assert_string_equal(x.fatal_what, "state machine sync failed");
    assert_int_equal(x.fatal_rv, RAFT_IOERR);
    assert_string_equal(x.last_log, "state machine sync failed");

    assert_true(dup2(saved_fd, data_fd) == data_fd);
    close(saved_fd);
    close(pipefd[0]);
    close(pipefd[1]);
    fsmAdapterClose(&x.adapter);
    ftClose(x.t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(scratchFileEqualsMemoryFrame, fixtureSetUp,
                                        fixtureTearDown),
        cmocka_unit_test_setup_teardown(scratchDirMissingFailsSnapshot, fixtureSetUp,
                                        fixtureTearDown),
        cmocka_unit_test_setup_teardown(scratchWriteFailsSnapshot, fixtureSetUp,
                                        fixtureTearDown),
        cmocka_unit_test(markerSnapshotThroughGlue),
        cmocka_unit_test(markerSyncFailureIsFatal),
        cmocka_unit_test(snapshotsTrimAtMostOnceASecond),
    };
    return cmocka_run_group_tests_name("unit/raft_snapshot", tests, NULL, NULL);
}
