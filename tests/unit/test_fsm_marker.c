/* A durable fsm across restarts (fsm/marker.c): the store survives
 * fsmClose/fsmOpen, a snapshot marker vouches for it, its place in the
 * raft log is counted per command and kept with every commit, and a store
 * that does not hold the marker's state is refused, changing nothing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "tests/lib/fsmtest.h"

static void assertPosition(struct ft *t, uint64_t index, uint32_t cmds)
{
    uint64_t i;
    uint32_t c;

    fsmPosition(t->f, &i, &c);
    assert_int_equal(i, index);
    assert_int_equal(c, cmds);
}

/* Entry @index: create queue q and send @n messages. */
static void applyEntry(struct ft *t, uint64_t index, unsigned n)
{
    char body[32];

    fsmSetIndex(t->f, index);
    ftDo(t, FSM_OP_CREATE_QUEUE, "{\"QueueName\":\"q\"}");
    for (unsigned i = 0; i < n; i++) {
        snprintf(body, sizeof body, "m%llu-%u", (unsigned long long)index, i);
        ftSend(t, "q", body);
    }
}

/* Commands count within an entry; naming the same entry again keeps the
 * count, the next one starts from 0; unset, nothing counts. */
static void test_positionCounts(void **state)
{
    struct ft *t = ftOpenDurable(1024, 3600000);

    (void)state;
    applyEntry(t, 0, 2);
    assertPosition(t, 0, 0);
    applyEntry(t, 3, 2);
    assertPosition(t, 3, 3);
    fsmSetIndex(t->f, 3);
    assertPosition(t, 3, 3);
    fsmSetIndex(t->f, 4);
    assertPosition(t, 4, 0);
    ftClose(t);
}

/* Restart @t and restore @marker: accepted, with the digest of before the
 * restart, at place (@index, @cmds), and @messages messages in q. */
static void restartAndRestore(struct ft *t, const uint8_t *marker, uint64_t index, uint32_t cmds,
                              const char *messages)
{
    char before[33];
    char after[33];

    fsmDigest(t->f, before);
    ftReopen(t);
    assert_int_equal(fsmRestoreMarker(t->f, marker, FSM_MARKER_LEN), 0);
    fsmDigest(t->f, after);
    assert_string_equal(before, after);
    assertPosition(t, index, cmds);
    assert_string_equal(ftAttr(t, "q", "ApproximateNumberOfMessages"), messages);
}

/* A marker, a restart, the marker restored: the same state, digest and
 * place. */
static void test_restartAtMarker(void **state)
{
    struct ft *t = ftOpenDurable(1024, 3600000);
    uint8_t marker[FSM_MARKER_LEN];

    (void)state;
    applyEntry(t, 5, 3);
    assert_int_equal(fsmMarker(t->f, marker), 0);
    assert_true(fsmIsMarker(marker, sizeof marker));
    assert_int_equal(fsmSync(t->f), 0);
    restartAndRestore(t, marker, 5, 4, "3");
    ftClose(t);
}

/* The store went on after the marker: accepted, at the store's place
 * (the caller skips what it holds). */
static void test_storeAheadOfMarker(void **state)
{
    struct ft *t = ftOpenDurable(1024, 3600000);
    uint8_t marker[FSM_MARKER_LEN];

    (void)state;
    applyEntry(t, 5, 3);
    assert_int_equal(fsmMarker(t->f, marker), 0);
    fsmSetIndex(t->f, 6);
    ftSend(t, "q", "later");
    assert_int_equal(fsmFlush(t->f), 0);
    restartAndRestore(t, marker, 6, 1, "4");
    ftClose(t);
}

/* A store behind the marker (lost, wiped, another node's), or at its place
 * with another digest: refused with a clear error; the store is left
 * untrusted, and its first use empties it. */
static void test_storeBehindMarkerRefused(void **state)
{
    struct ft *ahead = ftOpenDurable(1024, 3600000);
    struct ft *other = ftOpenDurable(1024, 3600000);
    struct ft *t = ftOpenDurable(1024, 3600000);
    uint8_t marker[FSM_MARKER_LEN];
    uint8_t same_place[FSM_MARKER_LEN];

    (void)state;
    applyEntry(ahead, 9, 1);
    assert_int_equal(fsmMarker(ahead->f, marker), 0);
    /* At the place t will be at, with other bodies. */
    fsmSetIndex(other->f, 5);
    ftDo(other, FSM_OP_CREATE_QUEUE, "{\"QueueName\":\"q\"}");
    ftSend(other, "q", "x");
    ftSend(other, "q", "y");
    ftSend(other, "q", "z");
    assert_int_equal(fsmMarker(other->f, same_place), 0);

    applyEntry(t, 5, 3);
    ftReopen(t);
    assert_int_equal(fsmRestoreMarker(t->f, marker, sizeof marker), FSM_ECORRUPT);
    assert_non_null(strstr(fsmErrmsg(t->f), "holds raft entry 5 (4 commands)"));
    assert_non_null(strstr(fsmErrmsg(t->f), "needs entry 9 (2 commands)"));
    assert_non_null(strstr(fsmErrmsg(t->f), "wipe this node's data directory"));
    assert_int_equal(fsmRestoreMarker(t->f, same_place, sizeof same_place), FSM_ECORRUPT);
    assert_non_null(strstr(fsmErrmsg(t->f), "with another digest"));
    assertPosition(t, 0, 0);
    /* Not trusted: the first use starts from an empty store. */
    ftQuery(t, FSM_OP_LIST_QUEUES, "{}");
    assert_int_equal(ftArr(&t->u.data, "QueueNames")->via.array.size, 0);
    ftClose(ahead);
    ftClose(other);
    ftClose(t);
}

/* Damaged markers are refused as corrupt; a frame of another length is
 * not a marker at all. */
static void test_markerCorrupt(void **state)
{
    struct ft *t = ftOpenDurable(1024, 3600000);
    uint8_t marker[FSM_MARKER_LEN];

    (void)state;
    applyEntry(t, 2, 1);
    assert_int_equal(fsmMarker(t->f, marker), 0);
    ftReopen(t);
    assert_false(fsmIsMarker(marker, sizeof marker - 1));
    assert_int_equal(fsmRestoreMarker(t->f, marker, sizeof marker - 1), FSM_ECORRUPT);
    marker[20] ^= 1;
    assert_int_equal(fsmRestoreMarker(t->f, marker, sizeof marker), FSM_ECORRUPT);
    assert_string_equal(fsmErrmsg(t->f), "snapshot marker is corrupt");
    marker[20] ^= 1;
    assert_int_equal(fsmRestoreMarker(t->f, marker, sizeof marker), 0);
    assertPosition(t, 2, 2);
    ftClose(t);
}

/* Without a marker, a durable store of the last run is never trusted: the
 * first apply starts from an empty one (libraft replays the whole log). */
static void test_staleStoreEmptiedOnFirstUse(void **state)
{
    struct ft *t = ftOpenDurable(1024, 3600000);
    const msgpack_object *o;

    (void)state;
    applyEntry(t, 4, 2);
    ftReopen(t);
    assertPosition(t, 0, 0);
    t->seq = 0;
    ftDo(t, FSM_OP_CREATE_QUEUE, "{\"QueueName\":\"other\"}");
    o = ftQuery(t, FSM_OP_LIST_QUEUES, "{}");
    assert_int_equal(ftArr(o, "QueueNames")->via.array.size, 1);
    ftClose(t);
}

/* A full restore (an install) takes the image's place. */
static void test_imageCarriesPosition(void **state)
{
    struct ft *t = ftOpenDurable(1024, 3600000);
    struct ft *u = ftOpenDurable(1024, 3600000);
    uint8_t *image;
    size_t len;

    (void)state;
    applyEntry(t, 7, 2);
    image = ftSnapshot(t, &len);
    assert_int_equal(fsmRestore(u->f, image, len), 0);
    assertPosition(u, 7, 3);
    free(image);
    ftClose(t);
    ftClose(u);
}

/* A fsm that is not durable makes no markers and takes none. */
static void test_notDurable(void **state)
{
    struct ft *t = ftOpen(1024, 3600000, 0);
    struct ft *d = ftOpenDurable(1024, 3600000);
    uint8_t marker[FSM_MARKER_LEN];

    (void)state;
    assert_int_equal(fsmMarker(t->f, marker), FSM_ESTORE);
    assert_int_equal(fsmMarker(d->f, marker), 0);
    assert_int_equal(fsmRestoreMarker(t->f, marker, sizeof marker), FSM_ECORRUPT);
    assert_non_null(strstr(fsmErrmsg(t->f), "durable"));
    ftClose(t);
    ftClose(d);
}

/* LMDB files that a durable store did not write (an earlier build's, or
 * a store opened not durable: MDB_NOSYNC, maybe torn by a crash) are
 * never read by a durable open: without the mark file they are removed
 * first, so a marker made over them is refused. A durable open writes the
 * mark; an open that is not durable removes it. */
static void test_unmarkedFilesNotTrusted(void **state)
{
    struct ft *t = ftOpenDurable(1024, 3600000);
    uint8_t marker[FSM_MARKER_LEN];
    char mark[4096];

    (void)state;
    snprintf(mark, sizeof mark, "%s/durable", t->dir);
    assert_int_equal(access(mark, F_OK), 0);
    applyEntry(t, 5, 3);
    assert_int_equal(fsmMarker(t->f, marker), 0);
    assert_int_equal(fsmSync(t->f), 0);

    /* Opened once not durable: the mark goes, and with it the trust. */
    t->conf.durable = false;
    ftReopen(t);
    assert_int_not_equal(access(mark, F_OK), 0);
    t->seq = 0;
    applyEntry(t, 5, 3); /* the same state again, written with NOSYNC */
    assert_int_equal(fsmFlush(t->f), 0);
    t->conf.durable = true;
    ftReopen(t);
    assert_int_equal(access(mark, F_OK), 0);
    assert_int_equal(fsmRestoreMarker(t->f, marker, sizeof marker), FSM_ECORRUPT);
    assert_non_null(strstr(fsmErrmsg(t->f), "holds raft entry 0"));
    ftClose(t);
}

/* The defaults are not durable, whatever the struct held before. */
static void test_defaultsNotDurable(void **state)
{
    struct fsmConfig c;

    (void)state;
    memset(&c, 0xff, sizeof c);
    fsmConfigDefaults(&c);
    assert_false(c.durable);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_positionCounts),
        cmocka_unit_test(test_restartAtMarker),
        cmocka_unit_test(test_storeAheadOfMarker),
        cmocka_unit_test(test_storeBehindMarkerRefused),
        cmocka_unit_test(test_markerCorrupt),
        cmocka_unit_test(test_staleStoreEmptiedOnFirstUse),
        cmocka_unit_test(test_imageCarriesPosition),
        cmocka_unit_test(test_notDurable),
        cmocka_unit_test(test_unmarkedFilesNotTrusted),
        cmocka_unit_test(test_defaultsNotDurable),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
