/* The checksum of libraft's on-disk log, folded with carry-less multiplies.
 *
 * libraft 0.15 checksums every batch of entries it writes (uv_encoding.c)
 * and every segment it reads back (uv_segment.c) with byteCrc32: CRC-32 of
 * polynomial 0x04C11DB7, most significant bit first, the caller's initial
 * value, no final xor; one table lookup per byte. Under pipelined sends of
 * 1 KiB that loop was 17% of each node's CPU (perf, README "Profiling");
 * slicing by eight (eight tables, eight bytes a step) made it 5% of the
 * cluster's CPU, and folding (below) a tenth of that again.
 *
 * qraftd links libraft statically with `-Wl,--wrap=byteCrc32` (Makefile),
 * so libraft's own calls land in __wrap_byteCrc32 below. Its result must
 * equal libraft's bit for bit, or a node could not read the log it wrote,
 * nor one written by a stock libraft: test_raft_crc compares both ways of
 * computing it here with libraft's over every length, alignment and
 * initial value.
 *
 * Folding (where the CPU has PCLMULQDQ). Read the data as one polynomial
 * over GF(2), first byte's top bit the highest power: the checksum is
 * D(x) * x^32 mod P(x), where D is the data with the initial value xored
 * into its first four bytes. Any S with S = D (mod P) gives the same
 * checksum, so the data is reduced sixteen bytes at a time: S is 128 bits
 * (H * x^64 + L), and appending a block B makes it
 *     S * x^128 + B = H * (x^192 mod P) + L * (x^128 mod P) + B  (mod P),
 * two 64x32-bit carry-less products and a xor, still 128 bits. Four such
 * states advance 64 bytes a step (by x^512 and x^576) so that their
 * multiplies overlap, then fold into one. The final S is sixteen bytes
 * whose table checksum from 0 is S * x^32 mod P: the checksum so far. What
 * is left (under sixteen bytes) and short buffers go through the tables.
 * The constants x^n mod P are computed with the tables, not written in.
 *
 * The tables are built once, at the first call, whatever the thread. */

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "raft/internal.h"

#define CRC_POLYNOMIAL 0x04C11DB7u

/* Shorter buffers are not worth the setup of folding. */
#define CRC_FOLD_MIN 64

/* crcTables[k][b]: the checksum of byte b followed by k zero bytes. */
static uint32_t crcTables[8][256];
static pthread_once_t crcTablesOnce = PTHREAD_ONCE_INIT;

/* x^n mod P for the folds: by 128 and 192 bits (one state), by 512 and
 * 576 bits (four states); and whether this CPU can fold at all. */
static uint64_t crcX128, crcX192, crcX512, crcX576;
static bool crcCanFold;

/* x^n mod P, one bit at a time. */
static uint32_t crcPowerOfX(unsigned n)
{
    uint32_t r = 1;

    while (n-- > 0) {
        r = (r & 0x80000000u) ? (r << 1) ^ CRC_POLYNOMIAL : r << 1;
    }
    return r;
}

static void crcTablesBuild(void)
{
    for (uint32_t b = 0; b < 256; b++) {
        uint32_t c = b << 24;
        for (int bit = 0; bit < 8; bit++) {
            c = (c & 0x80000000u) ? (c << 1) ^ CRC_POLYNOMIAL : c << 1;
        }
        crcTables[0][b] = c;
    }
    for (int k = 1; k < 8; k++) {
        for (uint32_t b = 0; b < 256; b++) {
            uint32_t prev = crcTables[k - 1][b];
            crcTables[k][b] = (prev << 8) ^ crcTables[0][prev >> 24];
        }
    }
    crcX128 = crcPowerOfX(128);
    crcX192 = crcPowerOfX(192);
    crcX512 = crcPowerOfX(512);
    crcX576 = crcPowerOfX(576);
#if defined(__x86_64__)
    __builtin_cpu_init();
    crcCanFold = __builtin_cpu_supports("pclmul") && __builtin_cpu_supports("ssse3");
#endif
}

static inline uint32_t crcLoadBigEndian(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
           (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* The table way: eight bytes a step, then byte by byte. */
static uint32_t crcSliced(const unsigned char *p, size_t size, uint32_t crc)
{
    const uint32_t(*t)[256] = (const uint32_t(*)[256])crcTables;

    while (size >= 8) {
        uint32_t hi = crc ^ crcLoadBigEndian(p);
        uint32_t lo = crcLoadBigEndian(p + 4);
        crc = t[7][hi >> 24] ^ t[6][(hi >> 16) & 0xff] ^
              t[5][(hi >> 8) & 0xff] ^ t[4][hi & 0xff] ^ t[3][lo >> 24] ^
              t[2][(lo >> 16) & 0xff] ^ t[1][(lo >> 8) & 0xff] ^
              t[0][lo & 0xff];
        p += 8;
        size -= 8;
    }
    while (size-- > 0) {
        crc = (crc << 8) ^ t[0][(crc >> 24) ^ *p++];
    }
    return crc;
}

#if defined(__x86_64__)
#define CRC_FOLD_TARGET __attribute__((target("pclmul,ssse3")))

/* Sixteen bytes as a 128-bit polynomial: first byte's top bit is bit 127. */
CRC_FOLD_TARGET static inline __m128i crcLoadBlock(const unsigned char *p, __m128i reverse)
{
    return _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)p), reverse);
}

/* S * x^n + B mod P as 128 bits, with k = x^(n+64) mod P in the low
 * quadword and x^n mod P in the high one. */
CRC_FOLD_TARGET static inline __m128i crcFold(__m128i s, __m128i k, __m128i b)
{
    __m128i hi = _mm_clmulepi64_si128(s, k, 0x01);
    __m128i lo = _mm_clmulepi64_si128(s, k, 0x10);
    return _mm_xor_si128(_mm_xor_si128(hi, lo), b);
}

/* The checksum of the first size - size % 16 bytes (size >= 16); the
 * caller goes on from there. */
CRC_FOLD_TARGET static uint32_t crcFolded(const unsigned char *p, size_t size, uint32_t crc)
{
    const __m128i reverse = _mm_set_epi8(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    const __m128i by128 = _mm_set_epi64x((long long)crcX128, (long long)crcX192);
    const __m128i init = _mm_set_epi32((int)crc, 0, 0, 0);
    unsigned char out[16];
    __m128i s;

    s = _mm_xor_si128(crcLoadBlock(p, reverse), init);
    p += 16;
    size -= 16;
    if (size >= 48) {
        const __m128i by512 = _mm_set_epi64x((long long)crcX512, (long long)crcX576);
        __m128i s1 = crcLoadBlock(p, reverse);
        __m128i s2 = crcLoadBlock(p + 16, reverse);
        __m128i s3 = crcLoadBlock(p + 32, reverse);

        p += 48;
        size -= 48;
        while (size >= 64) {
            s = crcFold(s, by512, crcLoadBlock(p, reverse));
            s1 = crcFold(s1, by512, crcLoadBlock(p + 16, reverse));
            s2 = crcFold(s2, by512, crcLoadBlock(p + 32, reverse));
            s3 = crcFold(s3, by512, crcLoadBlock(p + 48, reverse));
            p += 64;
            size -= 64;
        }
        s = crcFold(s, by128, s1);
        s = crcFold(s, by128, s2);
        s = crcFold(s, by128, s3);
    }
    while (size >= 16) {
        s = crcFold(s, by128, crcLoadBlock(p, reverse));
        p += 16;
        size -= 16;
    }
    _mm_storeu_si128((__m128i *)out, _mm_shuffle_epi8(s, reverse));
    return crcSliced(out, sizeof out, 0);
}
#endif

uint32_t logChecksumSliced(const void *buf, size_t size, uint32_t crc)
{
    pthread_once(&crcTablesOnce, crcTablesBuild);
    return crcSliced(buf, size, crc);
}

bool logChecksumFolds(void)
{
    pthread_once(&crcTablesOnce, crcTablesBuild);
    return crcCanFold;
}

uint32_t logChecksum(const void *buf, size_t size, uint32_t crc)
{
    const unsigned char *p = buf;

    pthread_once(&crcTablesOnce, crcTablesBuild);
#if defined(__x86_64__)
    if (crcCanFold && size >= CRC_FOLD_MIN) {
        size_t folded = size - size % 16;
        crc = crcFolded(p, size, crc);
        p += folded;
        size -= folded;
    }
#endif
    return crcSliced(p, size, crc);
}

/* What libraft's calls to byteCrc32 resolve to (see above). */
unsigned __wrap_byteCrc32(const void *buf, size_t size, unsigned init);

unsigned __wrap_byteCrc32(const void *buf, size_t size, unsigned init)
{
    return logChecksum(buf, size, init);
}
