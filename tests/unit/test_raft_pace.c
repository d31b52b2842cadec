/* Snapshot pacing (raft/fsmglue.c fsmAdapterThreshold): after a snapshot,
 * the next falls due after about the snapshot's size of log, never fewer
 * entries than --snapshot-threshold, and never more log bytes than
 * --snapshot-log-max (at the bound and past it); entries kept behind a
 * snapshot bounded in bytes (fsmAdapterTrailing), since an entry is a batch
 * of commands whose size varies with the load. The state machine's
 * commits come after a drawn time or amount written (replicaCommitDraw),
 * so that nodes sharing a disk do not fsync at once. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "raft/internal.h"

#define MIB ((uint64_t)1 << 20)

/* No byte bound: the state's size, at the average entry size. */
static void test_pace_by_state(void **state)
{
    (void)state;
    /* 1 GiB of state, entries of 1 KiB on average: 1,048,576 entries. */
    assert_int_equal(fsmAdapterThreshold(1024 * MIB, 1024 * 1000, 1000, 8192, 0), 1048576);
    /* A small state: --snapshot-threshold is the floor. */
    assert_int_equal(fsmAdapterThreshold(1 * MIB, 1024 * 1000, 1000, 8192, 0), 8192);
    /* Nothing applied since the last one: 1 KiB is assumed. */
    assert_int_equal(fsmAdapterThreshold(64 * MIB, 0, 0, 1, 0), 65536);
    /* Capped at what libraft's unsigned threshold holds. */
    assert_int_equal(fsmAdapterThreshold(UINT64_MAX, 1, 1, 1, 0), UINT32_MAX);
}

/* With a byte bound below the state's size, the bound decides. */
static void test_pace_log_max(void **state)
{
    (void)state;
    /* 512 MiB bound, 1 GiB state, 1 KiB entries: 524,288 entries. */
    assert_int_equal(fsmAdapterThreshold(1024 * MIB, 1024 * 1000, 1000, 8192, 512 * MIB),
                     524288);
    /* A bound of exactly the state's size changes nothing ... */
    assert_int_equal(fsmAdapterThreshold(1024 * MIB, 1024 * 1000, 1000, 8192, 1024 * MIB),
                     1048576);
    /* ... one byte under it takes one entry off. */
    assert_int_equal(fsmAdapterThreshold(1024 * MIB, 1024 * 1000, 1000, 8192, 1024 * MIB - 1),
                     1048575);
    /* A bound above the state: pacing by the state, as without one. */
    assert_int_equal(fsmAdapterThreshold(1024 * MIB, 1024 * 1000, 1000, 8192, 4096 * MIB),
                     1048576);
}

/* The byte bound wins over --snapshot-threshold (large entries), and the
 * threshold is never 0. */
static void test_pace_log_max_below_floor(void **state)
{
    (void)state;
    /* 256 KiB entries, 1 MiB bound: 4 entries, though the floor is 8192. */
    assert_int_equal(fsmAdapterThreshold(64 * MIB, 256 * 1024 * 10, 10, 8192, 1 * MIB), 4);
    /* Entries larger than the bound: one entry per snapshot. */
    assert_int_equal(fsmAdapterThreshold(64 * MIB, 4 * MIB, 1, 8192, 1 * MIB), 1);
}

/* Trailing entries: about 64 MiB of them, at least 64, at most
 * --snapshot-trailing. */
static void test_trailing_bytes(void **state)
{
    (void)state;
    /* Entries of 1 KiB: 65,536 would fit, --snapshot-trailing 8192 wins. */
    assert_int_equal(fsmAdapterTrailing(1024 * 1000, 1000, 8192, GLUE_TRAILING_BYTES), 8192);
    /* Batches of 64 KiB: 1,024 entries, 64 MiB. */
    assert_int_equal(fsmAdapterTrailing(64 * 1024 * 1000, 1000, 8192, GLUE_TRAILING_BYTES), 1024);
    /* One byte more per entry: one entry fewer. */
    assert_int_equal(fsmAdapterTrailing((64 * 1024 + 1) * 1000, 1000, 8192, GLUE_TRAILING_BYTES), 1023);
    /* Batches of 4 MiB: 16 would fit, 64 kept at least. */
    assert_int_equal(fsmAdapterTrailing(4 * MIB * 10, 10, 8192, GLUE_TRAILING_BYTES), 64);
    /* ... unless --snapshot-trailing asks for fewer (0: none). */
    assert_int_equal(fsmAdapterTrailing(4 * MIB * 10, 10, 0, GLUE_TRAILING_BYTES), 0);
    /* Nothing applied since the last snapshot: 1 KiB assumed. */
    assert_int_equal(fsmAdapterTrailing(0, 0, 100000, GLUE_TRAILING_BYTES), 65536);
    /* Behind a marker, 16 MiB: batches of 16 KiB, 1,024 entries; one byte
     * more per entry, one entry fewer. */
    assert_int_equal(fsmAdapterTrailing(16 * 1024 * 1000, 1000, 8192, GLUE_MARKER_TRAILING_BYTES),
                     1024);
    assert_int_equal(
        fsmAdapterTrailing((16 * 1024 + 1) * 1000, 1000, 8192, GLUE_MARKER_TRAILING_BYTES), 1023);
}

/* The log's byte budget: the state's size (the last snapshot's, or the
 * state's now), at least 8 MiB, at most --snapshot-log-max. */
static void test_log_budget(void **state)
{
    (void)state;
    assert_true(fsmAdapterLogBudget(1024 * MIB, 0) == 1024 * MIB);
    assert_true(fsmAdapterLogBudget(1024 * MIB, 512 * MIB) == 512 * MIB);
    assert_true(fsmAdapterLogBudget(1024 * MIB, 1024 * MIB + 1) == 1024 * MIB);
    assert_true(fsmAdapterLogBudget(1 * MIB, 0) == 8 * MIB);
    assert_true(fsmAdapterLogBudget(1 * MIB, 2 * MIB) == 2 * MIB);
    /* An empty state (a new node before its first snapshot): the floor. */
    assert_true(fsmAdapterLogBudget(0, 0) == 8 * MIB);
    assert_true(fsmAdapterLogBudget(0, 512 * MIB) == 8 * MIB);
    assert_true(fsmAdapterLogBudget(0, 4 * MIB) == 4 * MIB);
    /* At the floor and one byte past it. */
    assert_true(fsmAdapterLogBudget(8 * MIB, 0) == 8 * MIB);
    assert_true(fsmAdapterLogBudget(8 * MIB + 1, 0) == 8 * MIB + 1);
}

/* Every draw lies in [base/2, 3 base/2), both bounds are reached closely,
 * the mean is the base, and two nodes' schedules differ. */
static void test_commit_draw(void **state)
{
    uint64_t a = 0x9E3779B97F4A7C15ull ^ 1u;
    uint64_t b = 2 * 0x9E3779B97F4A7C15ull ^ 1u;
    uint64_t ms, bytes, ms_b, bytes_b;
    uint64_t min_ms = UINT64_MAX, max_ms = 0, min_b = UINT64_MAX, max_b = 0;
    uint64_t sum_ms = 0, same = 0;
    const unsigned n = 100000;

    (void)state;
    for (unsigned i = 0; i < n; i++) {
        replicaCommitDraw(&a, &ms, &bytes);
        replicaCommitDraw(&b, &ms_b, &bytes_b);
        assert_true(ms >= REPLICA_COMMIT_MS / 2 && ms < REPLICA_COMMIT_MS * 3 / 2);
        assert_true(bytes >= REPLICA_COMMIT_BYTES / 2 && bytes < REPLICA_COMMIT_BYTES * 3 / 2);
        min_ms = ms < min_ms ? ms : min_ms;
        max_ms = ms > max_ms ? ms : max_ms;
        min_b = bytes < min_b ? bytes : min_b;
        max_b = bytes > max_b ? bytes : max_b;
        sum_ms += ms;
        same += ms == ms_b;
    }
    assert_int_equal(min_ms, REPLICA_COMMIT_MS / 2);
    assert_int_equal(max_ms, REPLICA_COMMIT_MS * 3 / 2 - 1);
    assert_true(min_b < REPLICA_COMMIT_BYTES / 2 + MIB / 16);
    assert_true(max_b > REPLICA_COMMIT_BYTES * 3 / 2 - MIB / 16);
    assert_true(sum_ms / n >= REPLICA_COMMIT_MS - 2 && sum_ms / n <= REPLICA_COMMIT_MS + 2);
    assert_true(same < n / 50); /* 1 in 100 by chance */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pace_by_state),
        cmocka_unit_test(test_pace_log_max),
        cmocka_unit_test(test_pace_log_max_below_floor),
        cmocka_unit_test(test_trailing_bytes),
        cmocka_unit_test(test_log_budget),
        cmocka_unit_test(test_commit_draw),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
