/* raft/crc.c computes libraft's log checksum by folding with carry-less
 * multiplies (where the CPU can) or eight bytes at a time from tables, and
 * qraftd links libraft with byteCrc32 wrapped to it. A single differing
 * bit would make every log unreadable (ours by a stock libraft, theirs by
 * us), so both ways are compared with libraft's over every length up to a
 * few cache lines (each of the fold's paths: one state, four, the
 * leftover blocks and bytes), every alignment, and initial values that
 * exercise each table and each bit of the folded-in first block. This
 * binary is linked as qraftd is (Makefile RAFT_LIBS): __real_byteCrc32 is
 * libraft's own byte-wise loop. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "raft/internal.h"

unsigned __real_byteCrc32(const void *buf, size_t size, unsigned init);
unsigned byteCrc32(const void *buf, size_t size, unsigned init);

#define MAX_LEN 520
#define BIG_LEN (1u << 20)

static uint32_t nextRandom(uint64_t *state)
{
    *state = *state * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(*state >> 33);
}

/* The check value of the standard's "123456789": CRC-32/POSIX is this
 * function with initial value 0 and the result inverted (0x765E7680). */
static void checkValue(void **state)
{
    (void)state;
    assert_int_equal(logChecksum("123456789", 9, 0), 0x89A1897Fu);
    assert_int_equal(logChecksumSliced("123456789", 9, 0), 0x89A1897Fu);
    assert_int_equal(__real_byteCrc32("123456789", 9, 0), 0x89A1897Fu);
    assert_int_equal(logChecksum("", 0, 0x12345678u), 0x12345678u);
    print_message("folding with carry-less multiplies: %s\n",
                  logChecksumFolds() ? "yes" : "no (this CPU has no PCLMULQDQ)");
}

static void sameAsLibraftAtEveryLength(void **state)
{
    static const uint32_t inits[] = {0, 0xFFFFFFFFu, 0x80000001u,
                                     0x04C11DB7u, 0xDEADBEEFu, 0x00000001u,
                                     0x80000000u};
    unsigned char buf[MAX_LEN + 8];
    uint64_t rnd = 42;

    (void)state;
    for (size_t i = 0; i < sizeof buf; i++) {
        buf[i] = (unsigned char)nextRandom(&rnd);
    }
    for (size_t offset = 0; offset < 8; offset++) {
        for (size_t len = 0; len <= MAX_LEN; len++) {
            for (size_t k = 0; k < sizeof inits / sizeof inits[0]; k++) {
                uint32_t want = __real_byteCrc32(buf + offset, len, inits[k]);
                assert_int_equal(logChecksum(buf + offset, len, inits[k]),
                                 want);
                assert_int_equal(logChecksumSliced(buf + offset, len, inits[k]),
                                 want);
            }
        }
    }
}

/* Chained calls (libraft checksums a batch's header and its data apart)
 * and a large buffer of every byte value. */
static void sameAsLibraftChainedAndLarge(void **state)
{
    unsigned char *big = malloc(BIG_LEN);
    uint64_t rnd = 7;

    (void)state;
    assert_non_null(big);
    for (size_t i = 0; i < BIG_LEN; i++) {
        big[i] = (unsigned char)(i < 256 ? i : nextRandom(&rnd));
    }
    assert_int_equal(logChecksum(big, BIG_LEN, 0),
                     __real_byteCrc32(big, BIG_LEN, 0));
    assert_int_equal(logChecksumSliced(big, BIG_LEN, 0xFFFFFFFFu),
                     __real_byteCrc32(big, BIG_LEN, 0xFFFFFFFFu));
    for (unsigned trial = 0; trial < 200; trial++) {
        size_t cut = nextRandom(&rnd) % 4096;
        size_t len = cut + nextRandom(&rnd) % 4096;
        uint32_t whole = __real_byteCrc32(big, len, trial);
        uint32_t first = logChecksum(big, cut, trial);
        assert_int_equal(logChecksum(big + cut, len - cut, first), whole);
        assert_int_equal(logChecksumSliced(big + cut, len - cut, first), whole);
    }
    free(big);
}

/* A reference to byteCrc32 from an object linked like libraft's is bound
 * to the wrapper: what libraft's encoder and loader call. */
static void libraftCallsLandInTheWrapper(void **state)
{
    unsigned char buf[100];

    (void)state;
    memset(buf, 0xA5, sizeof buf);
    assert_int_equal(byteCrc32(buf, sizeof buf, 3), logChecksum(buf, sizeof buf, 3));
    assert_true((void *)byteCrc32 != (void *)__real_byteCrc32);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(checkValue),
        cmocka_unit_test(sameAsLibraftAtEveryLength),
        cmocka_unit_test(sameAsLibraftChainedAndLarge),
        cmocka_unit_test(libraftCallsLandInTheWrapper),
    };
    return cmocka_run_group_tests_name("raft_crc", tests, NULL, NULL);
}
