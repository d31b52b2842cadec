/* Replay through the production glue (fsmAdapterApplyAt): after a restart
 * at a marker, or an install of an image further on than its index,
 * libraft hands the node entries its state holds already, whole or in
 * part (a commit may fall between two commands of one entry). They must
 * be skipped, command by command, and nothing else. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "raft/internal.h"
#include "tests/lib/fsmtest.h"

#define N_ENTRIES 3

/* Three batch entries: 1 creates queue q, 2 sends three messages, 3 sends
 * two, all in the session of @t (whose sequence they advance). */
static void makeEntries(struct ft *t, struct raft_buffer entries[N_ENTRIES])
{
    static const unsigned sends[N_ENTRIES] = {0, 3, 2};
    struct batchWriter w;
    struct fsmCommand c;

    memset(&w, 0, sizeof w);
    for (unsigned e = 0; e < N_ENTRIES; e++) {
        for (unsigned i = 0; i < (e == 0 ? 1 : sends[e]); i++) {
            if (e == 0) {
                ftArgs(t, "{\"QueueName\":\"q\"}");
                ftCommandNext(t, FSM_OP_CREATE_QUEUE, &c);
            } else {
                ftArgs(t, "{\"QueueName\":\"q\",\"MessageBody\":\"e%u-%u\"}", e, i);
                ftCommandNext(t, FSM_OP_SEND_MESSAGE, &c);
            }
            assert_int_equal(batchWriterAdd(&w, &c), 0);
        }
        batchWriterTake(&w, &entries[e]);
    }
}

static struct glueResult *applyAt(struct fsmAdapter *a, uint64_t index,
                                  const struct raft_buffer *entry)
{
    void *result = NULL;

    assert_int_equal(fsmAdapterApplyAt(a, index, entry, &result), 0);
    assert_non_null(result);
    return result;
}

/* Entries the state holds are skipped whole, the first commands of a
 * partly held entry too, and the rest applied: the state ends where a node
 * that applied everything once is, and a second replay changes nothing. */
static void test_replaySkipsWhatTheStateHolds(void **state)
{
    struct ft *once = ftOpenDurable(1024, 3600000);
    struct ft *t = ftOpenDurable(1024, 3600000);
    struct raft_buffer entries[N_ENTRIES];
    struct fsmAdapter a;
    struct fsmAdapter b;
    struct batchReader r;
    const void *cmd;
    size_t len;
    char want[33];
    char got[33];
    uint64_t index;
    uint32_t cmds;

    (void)state;
    makeEntries(once, entries);
    fsmAdapterInit(&a, once->f);
    for (unsigned e = 0; e < N_ENTRIES; e++) {
        assert_int_equal(applyAt(&a, e + 1, &entries[e])->n, e == 0 ? 1 : e == 1 ? 3 : 2);
    }
    fsmDigest(once->f, want);

    /* @t holds entries 1 and 2 and the first command of 3, as a commit
     * between two commands of entry 3 followed by a crash would leave it. */
    fsmAdapterInit(&b, t->f);
    applyAt(&b, 1, &entries[0]);
    applyAt(&b, 2, &entries[1]);
    fsmSetIndex(t->f, 3);
    assert_int_equal(batchReaderInit(&r, entries[2].base, entries[2].len), 0);
    assert_true(batchReaderNext(&r, &cmd, &len));
    ftApplyRaw(t, cmd, len);
    fsmPosition(t->f, &index, &cmds);
    assert_int_equal(index, 3);
    assert_int_equal(cmds, 1);

    /* The replay from a marker at index 1. */
    assert_int_equal(applyAt(&b, 2, &entries[1])->n, 0);
    assert_int_equal(b.skipped, 3);
    assert_int_equal(applyAt(&b, 3, &entries[2])->n, 0); /* nobody waits */
    assert_int_equal(b.skipped, 4);
    fsmDigest(t->f, got);
    assert_string_equal(got, want);
    fsmPosition(t->f, &index, &cmds);
    assert_int_equal(index, 3);
    assert_int_equal(cmds, 2);
    assert_string_equal(ftAttr(t, "q", "ApproximateNumberOfMessages"), "5");

    /* Again, from the start: nothing applies twice. */
    for (unsigned e = 0; e < N_ENTRIES; e++) {
        assert_int_equal(applyAt(&b, e + 1, &entries[e])->n, 0);
    }
    assert_int_equal(b.skipped, 10);
    fsmDigest(t->f, got);
    assert_string_equal(got, want);

    fsmAdapterClose(&a);
    fsmAdapterClose(&b);
    for (unsigned e = 0; e < N_ENTRIES; e++) {
        raft_free(entries[e].base);
    }
    ftClose(once);
    ftClose(t);
}

/* A single-command entry (older logs) is skipped as a whole. */
static void test_replaySingleCommandEntry(void **state)
{
    struct ft *t = ftOpenDurable(1024, 3600000);
    struct fsmAdapter a;
    struct fsmCommand c;
    struct raft_buffer entry;
    char before[33];
    char after[33];

    (void)state;
    ftArgs(t, "{\"QueueName\":\"q\"}");
    ftCommandNext(t, FSM_OP_CREATE_QUEUE, &c);
    assert_int_equal(fsmCommandEncode(&c, raft_malloc, &entry.base, &entry.len), 0);
    fsmAdapterInit(&a, t->f);
    assert_int_equal(applyAt(&a, 4, &entry)->n, 1);
    fsmDigest(t->f, before);
    assert_int_equal(applyAt(&a, 4, &entry)->n, 0);
    assert_int_equal(applyAt(&a, 3, &entry)->n, 0);
    assert_int_equal(a.skipped, 2);
    fsmDigest(t->f, after);
    assert_string_equal(before, after);
    fsmAdapterClose(&a);
    raft_free(entry.base);
    ftClose(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_replaySkipsWhatTheStateHolds),
        cmocka_unit_test(test_replaySingleCommandEntry),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
