/* fsm/md5.c hashes message bodies eight at a time in AVX2 lanes (or one
 * at a time in plain C). A wrong MD5 goes to every client as
 * MD5OfMessageBody, and SDKs reject the reply, so both ways are compared
 * with OpenSSL's MD5: every length over a few blocks (each padding case:
 * the length in the same block or the next), lengths mixed in one call so
 * that lanes finish and take new buffers at different blocks, every count
 * of buffers from 1 to past two rounds of lanes, and unaligned data. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "fsm/internal.h"

#define MAX_LEN 300
#define MAX_JOBS 40

static uint32_t nextRandom(uint64_t *state)
{
    *state = *state * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(*state >> 33);
}

static void opensslMd5(const void *p, size_t len, uint8_t out[16])
{
    unsigned n = 0;

    assert_int_equal(EVP_Digest(len > 0 ? p : "", len, out, &n, EVP_md5(), NULL), 1);
    assert_int_equal(n, 16);
}

typedef void (*md5Fn)(const struct md5Job *jobs, size_t n);

/* The RFC 1321 test suite's first values. */
static void rfcValues(void **state)
{
    static const struct {
        const char *in;
        const char *md5;
    } rfc[] = {
        {"", "d41d8cd98f00b204e9800998ecf8427e"},
        {"a", "0cc175b9c0f1b6a831c399e269772661"},
        {"abc", "900150983cd24fb0d6963f7d28e17f72"},
        {"message digest", "f96b697d7cb7938d525a2f31aaf161d0"},
        {"12345678901234567890123456789012345678901234567890123456789012345678901234567890",
         "57edf4a22be3c955ac49da2e2107b67a"},
    };
    struct md5Job jobs[5];
    uint8_t out[5][16];
    char hex[33];

    (void)state;
    for (size_t i = 0; i < 5; i++) {
        jobs[i] = (struct md5Job){rfc[i].in, strlen(rfc[i].in), out[i]};
    }
    md5Many(jobs, 5);
    for (size_t i = 0; i < 5; i++) {
        utilHex(out[i], 16, hex);
        assert_string_equal(hex, rfc[i].md5);
    }
    md5ManyScalar(jobs, 5);
    for (size_t i = 0; i < 5; i++) {
        utilHex(out[i], 16, hex);
        assert_string_equal(hex, rfc[i].md5);
    }
    print_message("AVX2 lanes: %s\n", md5HasLanes() ? "yes" : "no (plain C)");
}

static void everyLengthAlone(md5Fn fn)
{
    unsigned char buf[MAX_LEN + 8];
    uint64_t rnd = 3;
    uint8_t got[16], want[16];

    for (size_t i = 0; i < sizeof buf; i++) {
        buf[i] = (unsigned char)nextRandom(&rnd);
    }
    for (size_t offset = 0; offset < 8; offset += 3) {
        for (size_t len = 0; len <= MAX_LEN; len++) {
            struct md5Job job = {buf + offset, len, got};
            fn(&job, 1);
            opensslMd5(buf + offset, len, want);
            assert_memory_equal(got, want, 16);
        }
    }
}

static void scalarEveryLength(void **state)
{
    (void)state;
    everyLengthAlone(md5ManyScalar);
}

static void manyEveryLength(void **state)
{
    (void)state;
    everyLengthAlone(md5Many);
}

/* Every count of buffers up to MAX_JOBS, lengths drawn from 0 to 2,000
 * (and all alike), each compared with OpenSSL. */
static void manyMixedLengthsAndCounts(void **state)
{
    enum { BIG = 64 * 1024 };
    unsigned char *big = malloc(BIG);
    struct md5Job jobs[MAX_JOBS];
    uint8_t out[MAX_JOBS][16];
    uint8_t want[16];
    uint64_t rnd = 11;

    (void)state;
    assert_non_null(big);
    for (size_t i = 0; i < BIG; i++) {
        big[i] = (unsigned char)nextRandom(&rnd);
    }
    for (unsigned round = 0; round < 60; round++) {
        for (size_t n = 1; n <= MAX_JOBS; n++) {
            for (size_t i = 0; i < n; i++) {
                size_t len = round % 3 == 0 ? 1024 : nextRandom(&rnd) % 2001;
                size_t at = nextRandom(&rnd) % (BIG - len);
                jobs[i] = (struct md5Job){big + at, len, out[i]};
                memset(out[i], 0, 16);
            }
            md5Many(jobs, n);
            for (size_t i = 0; i < n; i++) {
                opensslMd5(jobs[i].data, jobs[i].len, want);
                assert_memory_equal(out[i], want, 16);
            }
        }
    }
    /* One long buffer among short ones: the others finish and the lanes
     * run idle beside it. */
    jobs[0] = (struct md5Job){big, BIG, out[0]};
    for (size_t i = 1; i < 9; i++) {
        jobs[i] = (struct md5Job){big + i, i * 7, out[i]};
    }
    md5Many(jobs, 9);
    for (size_t i = 0; i < 9; i++) {
        opensslMd5(jobs[i].data, jobs[i].len, want);
        assert_memory_equal(out[i], want, 16);
    }
    free(big);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rfcValues),
        cmocka_unit_test(scalarEveryLength),
        cmocka_unit_test(manyEveryLength),
        cmocka_unit_test(manyMixedLengthsAndCounts),
    };
    return cmocka_run_group_tests_name("fsm_md5", tests, NULL, NULL);
}
