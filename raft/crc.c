/* The checksum of libraft's on-disk log, eight bytes at a time.
 *
 * libraft 0.15 checksums every batch of entries it writes (uv_encoding.c)
 * and every segment it reads back (uv_segment.c) with byteCrc32: CRC-32 of
 * polynomial 0x04C11DB7, most significant bit first, the caller's initial
 * value, no final xor; one table lookup per byte. Under pipelined sends of
 * 1 KiB that loop was 17% of each node's CPU (perf, README "Profiling").
 *
 * qraftd links libraft statically with `-Wl,--wrap=byteCrc32` (Makefile),
 * so libraft's own calls land in __wrap_byteCrc32 below: the same function
 * computed by slicing (eight tables, eight bytes per step, 5x fewer cycles).
 * Its result must equal libraft's bit for bit, or a node could not read
 * the log it wrote, nor one written by a stock libraft: test_raft_crc
 * compares the two over every length, alignment and initial value.
 *
 * The tables are built once, at the first call, whatever the thread. */

#include <pthread.h>
#include <stdint.h>

#include "raft/internal.h"

#define CRC_POLYNOMIAL 0x04C11DB7u

/* crcTables[k][b]: the checksum of byte b followed by k zero bytes. */
static uint32_t crcTables[8][256];
static pthread_once_t crcTablesOnce = PTHREAD_ONCE_INIT;

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
}

static inline uint32_t crcLoadBigEndian(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
           (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

uint32_t logChecksum(const void *buf, size_t size, uint32_t crc)
{
    const unsigned char *p = buf;
    const uint32_t(*t)[256] = (const uint32_t(*)[256])crcTables;

    pthread_once(&crcTablesOnce, crcTablesBuild);
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

/* What libraft's calls to byteCrc32 resolve to (see above). */
unsigned __wrap_byteCrc32(const void *buf, size_t size, unsigned init);

unsigned __wrap_byteCrc32(const void *buf, size_t size, unsigned init)
{
    return logChecksum(buf, size, init);
}
