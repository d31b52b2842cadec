/* MD5 (RFC 1321) of many buffers at once.
 *
 * SQS returns the MD5 of every message body, and the proposer computes it
 * once for all replicas (msgops.c "bodies"). MD5 is a chain of 64 dependent
 * steps per 64-byte block, so one buffer hashes at about 5 cycles a byte
 * however it is written (OpenSSL's assembly: 0.5 GB/s here), and it was
 * 16% of the leader's CPU under pipelined 1 KiB sends. The commands of a
 * proposal batch are hashed together instead: eight buffers in the eight
 * 32-bit lanes of AVX2 registers, each lane running the same steps on its
 * own buffer, so that eight blocks cost what one did. A lane that finishes
 * its buffer takes the next at once, so buffers of any lengths keep the
 * lanes busy; a lane with nothing left hashes a block of zeros whose result
 * is dropped. Without AVX2 (or on another architecture) the same steps run
 * on one buffer at a time in plain C.
 *
 * The steps are written once (MD5_STEPS) and expanded for both. Their
 * results are checked against OpenSSL's for every length to a few blocks,
 * mixed lengths, alignments and counts (tests/unit/test_fsm_md5.c). */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "internal.h"

#define MD5_BLOCK 64
#define MD5_LANES 8

/* The sines of RFC 1321: floor(abs(sin(i + 1)) * 2^32). */
static const uint32_t md5Sines[64] = {
    0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee,
    0xf57c0faf, 0x4787c62a, 0xa8304613, 0xfd469501,
    0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be,
    0x6b901122, 0xfd987193, 0xa679438e, 0x49b40821,
    0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa,
    0xd62f105d, 0x02441453, 0xd8a1e681, 0xe7d3fbc8,
    0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed,
    0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a,
    0xfffa3942, 0x8771f681, 0x6d9d6122, 0xfde5380c,
    0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70,
    0x289b7ec6, 0xeaa127fa, 0xd4ef3085, 0x04881d05,
    0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665,
    0xf4292244, 0x432aff97, 0xab9423a7, 0xfc93a039,
    0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
    0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1,
    0xf7537e82, 0xbd3af235, 0x2ad7d2bb, 0xeb86d391,
};

static const uint32_t md5Init[4] = {0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476};

/* The 64 steps: S(function, the four registers in turn, message word,
 * rotation, step). */
#define MD5_STEPS(S) \
    S(F, a, b, c, d,  0,  7,  0) S(F, d, a, b, c,  1, 12,  1) S(F, c, d, a, b,  2, 17,  2) S(F, b, c, d, a,  3, 22,  3) \
    S(F, a, b, c, d,  4,  7,  4) S(F, d, a, b, c,  5, 12,  5) S(F, c, d, a, b,  6, 17,  6) S(F, b, c, d, a,  7, 22,  7) \
    S(F, a, b, c, d,  8,  7,  8) S(F, d, a, b, c,  9, 12,  9) S(F, c, d, a, b, 10, 17, 10) S(F, b, c, d, a, 11, 22, 11) \
    S(F, a, b, c, d, 12,  7, 12) S(F, d, a, b, c, 13, 12, 13) S(F, c, d, a, b, 14, 17, 14) S(F, b, c, d, a, 15, 22, 15) \
    S(G, a, b, c, d,  1,  5, 16) S(G, d, a, b, c,  6,  9, 17) S(G, c, d, a, b, 11, 14, 18) S(G, b, c, d, a,  0, 20, 19) \
    S(G, a, b, c, d,  5,  5, 20) S(G, d, a, b, c, 10,  9, 21) S(G, c, d, a, b, 15, 14, 22) S(G, b, c, d, a,  4, 20, 23) \
    S(G, a, b, c, d,  9,  5, 24) S(G, d, a, b, c, 14,  9, 25) S(G, c, d, a, b,  3, 14, 26) S(G, b, c, d, a,  8, 20, 27) \
    S(G, a, b, c, d, 13,  5, 28) S(G, d, a, b, c,  2,  9, 29) S(G, c, d, a, b,  7, 14, 30) S(G, b, c, d, a, 12, 20, 31) \
    S(H, a, b, c, d,  5,  4, 32) S(H, d, a, b, c,  8, 11, 33) S(H, c, d, a, b, 11, 16, 34) S(H, b, c, d, a, 14, 23, 35) \
    S(H, a, b, c, d,  1,  4, 36) S(H, d, a, b, c,  4, 11, 37) S(H, c, d, a, b,  7, 16, 38) S(H, b, c, d, a, 10, 23, 39) \
    S(H, a, b, c, d, 13,  4, 40) S(H, d, a, b, c,  0, 11, 41) S(H, c, d, a, b,  3, 16, 42) S(H, b, c, d, a,  6, 23, 43) \
    S(H, a, b, c, d,  9,  4, 44) S(H, d, a, b, c, 12, 11, 45) S(H, c, d, a, b, 15, 16, 46) S(H, b, c, d, a,  2, 23, 47) \
    S(I, a, b, c, d,  0,  6, 48) S(I, d, a, b, c,  7, 10, 49) S(I, c, d, a, b, 14, 15, 50) S(I, b, c, d, a,  5, 21, 51) \
    S(I, a, b, c, d, 12,  6, 52) S(I, d, a, b, c,  3, 10, 53) S(I, c, d, a, b, 10, 15, 54) S(I, b, c, d, a,  1, 21, 55) \
    S(I, a, b, c, d,  8,  6, 56) S(I, d, a, b, c, 15, 10, 57) S(I, c, d, a, b,  6, 15, 58) S(I, b, c, d, a, 13, 21, 59) \
    S(I, a, b, c, d,  4,  6, 60) S(I, d, a, b, c, 11, 10, 61) S(I, c, d, a, b,  2, 15, 62) S(I, b, c, d, a,  9, 21, 63)

/* One buffer's progress: its whole blocks read in place, then its last
 * bytes with the padding (0x80, zeros, the length in bits as 64 bits
 * little-endian) in @tail: one block, or two when fewer than 8 bytes of
 * the first are free. */
struct md5Lane
{
    const struct md5Job *job; /* NULL: idle */
    const uint8_t *next;      /* next whole block */
    size_t whole;             /* whole blocks left */
    size_t padded;            /* blocks of @tail left */
    const uint8_t *tail_next;
    uint8_t tail[2 * MD5_BLOCK];
};

static void md5LaneStart(struct md5Lane *l, const struct md5Job *job)
{
    size_t rest = job->len % MD5_BLOCK;
    uint64_t bits = (uint64_t)job->len * 8;
    uint8_t *end;

    l->job = job;
    l->next = job->data;
    l->whole = job->len / MD5_BLOCK;
    memset(l->tail, 0, sizeof l->tail);
    if (rest > 0) {
        memcpy(l->tail, (const uint8_t *)job->data + job->len - rest, rest);
    }
    l->tail[rest] = 0x80;
    l->padded = rest < MD5_BLOCK - 8 ? 1 : 2;
    l->tail_next = l->tail;
    end = l->tail + l->padded * MD5_BLOCK - 8;
    for (int i = 0; i < 8; i++) {
        end[i] = (uint8_t)(bits >> (8 * i));
    }
}

/* The lane's next block (it has one). */
static const uint8_t *md5LaneTake(struct md5Lane *l)
{
    const uint8_t *p;

    if (l->whole > 0) {
        p = l->next;
        l->next += MD5_BLOCK;
        l->whole--;
    } else {
        p = l->tail_next;
        l->tail_next += MD5_BLOCK;
        l->padded--;
    }
    return p;
}

static bool md5LaneDone(const struct md5Lane *l)
{
    return l->whole == 0 && l->padded == 0;
}

static void md5Output(const uint32_t st[4], uint8_t out[16])
{
    for (int i = 0; i < 4; i++) {
        for (int j = 0; j < 4; j++) {
            out[4 * i + j] = (uint8_t)(st[i] >> (8 * j));
        }
    }
}

static inline uint32_t md5Rotl(uint32_t x, int s)
{
    return (x << s) | (x >> (32 - s));
}

#define MD5_F(b, c, d) ((d) ^ ((b) & ((c) ^ (d))))
#define MD5_G(b, c, d) ((c) ^ ((d) & ((b) ^ (c))))
#define MD5_H(b, c, d) ((b) ^ (c) ^ (d))
#define MD5_I(b, c, d) ((c) ^ ((b) | ~(d)))

static void md5Block(uint32_t st[4], const uint8_t *p)
{
    uint32_t w[16];
    uint32_t a = st[0], b = st[1], c = st[2], d = st[3];

    for (int i = 0; i < 16; i++) {
        w[i] = (uint32_t)p[4 * i] | (uint32_t)p[4 * i + 1] << 8 |
               (uint32_t)p[4 * i + 2] << 16 | (uint32_t)p[4 * i + 3] << 24;
    }
#define MD5_STEP(fn, a, b, c, d, g, s, i)                                     \
    a += MD5_##fn(b, c, d) + w[g] + md5Sines[i];                               \
    a = b + md5Rotl(a, s);
    MD5_STEPS(MD5_STEP)
#undef MD5_STEP
    st[0] += a;
    st[1] += b;
    st[2] += c;
    st[3] += d;
}

void md5ManyScalar(const struct md5Job *jobs, size_t n)
{
    struct md5Lane l;

    for (size_t i = 0; i < n; i++) {
        uint32_t st[4];
        memcpy(st, md5Init, sizeof st);
        md5LaneStart(&l, &jobs[i]);
        while (!md5LaneDone(&l)) {
            md5Block(st, md5LaneTake(&l));
        }
        md5Output(st, jobs[i].out);
    }
}

#if defined(__x86_64__)
#define MD5_LANES_TARGET __attribute__((target("avx2")))

#define MD5V_ADD(x, y) _mm256_add_epi32(x, y)
#define MD5V_F(b, c, d) _mm256_xor_si256(d, _mm256_and_si256(b, _mm256_xor_si256(c, d)))
#define MD5V_G(b, c, d) _mm256_xor_si256(c, _mm256_and_si256(d, _mm256_xor_si256(b, c)))
#define MD5V_H(b, c, d) _mm256_xor_si256(_mm256_xor_si256(b, c), d)
#define MD5V_I(b, c, d) _mm256_xor_si256(c, _mm256_or_si256(b, _mm256_xor_si256(d, ones)))
#define MD5V_ROTL(x, s) _mm256_or_si256(_mm256_slli_epi32(x, s), _mm256_srli_epi32(x, 32 - (s)))

/* Rows r[0..7] (lane i's eight words) into columns: w[j] = word j of
 * every lane. */
MD5_LANES_TARGET static inline void md5Transpose(const __m256i r[8], __m256i w[8])
{
    __m256i t[8], u[8];

    for (int i = 0; i < 8; i += 2) {
        t[i] = _mm256_unpacklo_epi32(r[i], r[i + 1]);
        t[i + 1] = _mm256_unpackhi_epi32(r[i], r[i + 1]);
    }
    for (int i = 0; i < 8; i += 4) {
        u[i] = _mm256_unpacklo_epi64(t[i], t[i + 2]);
        u[i + 1] = _mm256_unpackhi_epi64(t[i], t[i + 2]);
        u[i + 2] = _mm256_unpacklo_epi64(t[i + 1], t[i + 3]);
        u[i + 3] = _mm256_unpackhi_epi64(t[i + 1], t[i + 3]);
    }
    for (int j = 0; j < 4; j++) {
        w[j] = _mm256_permute2x128_si256(u[j], u[j + 4], 0x20);
        w[j + 4] = _mm256_permute2x128_si256(u[j], u[j + 4], 0x31);
    }
}

/* One block of each lane: st[k] holds register k of every lane. */
MD5_LANES_TARGET static void md5Block8(__m256i st[4], const uint8_t *const p[MD5_LANES])
{
    const __m256i ones = _mm256_set1_epi32(-1);
    __m256i r[8], w[16];
    __m256i a = st[0], b = st[1], c = st[2], d = st[3];

    for (int half = 0; half < 2; half++) {
        for (int i = 0; i < MD5_LANES; i++) {
            r[i] = _mm256_loadu_si256((const __m256i *)(p[i] + 32 * half));
        }
        md5Transpose(r, w + 8 * half);
    }
#define MD5V_STEP(fn, a, b, c, d, g, s, i)                                    \
    a = MD5V_ADD(a, MD5V_ADD(MD5V_##fn(b, c, d),                              \
                             MD5V_ADD(w[g], _mm256_set1_epi32((int)md5Sines[i])))); \
    a = MD5V_ADD(b, MD5V_ROTL(a, s));
    MD5_STEPS(MD5V_STEP)
#undef MD5V_STEP
    st[0] = MD5V_ADD(st[0], a);
    st[1] = MD5V_ADD(st[1], b);
    st[2] = MD5V_ADD(st[2], c);
    st[3] = MD5V_ADD(st[3], d);
}

MD5_LANES_TARGET static void md5ManyLanes(const struct md5Job *jobs, size_t n)
{
    static const uint8_t idle[MD5_BLOCK];
    struct md5Lane lanes[MD5_LANES];
    const uint8_t *p[MD5_LANES];
    uint32_t regs[4][MD5_LANES];
    __m256i st[4];
    size_t next = 0;
    unsigned active = 0;

    for (int i = 0; i < MD5_LANES; i++) {
        lanes[i].job = NULL;
        for (int k = 0; k < 4; k++) {
            regs[k][i] = md5Init[k];
        }
        if (next < n) {
            md5LaneStart(&lanes[i], &jobs[next++]);
            active++;
        }
    }
    for (int k = 0; k < 4; k++) {
        st[k] = _mm256_loadu_si256((const __m256i *)regs[k]);
    }
    while (active > 0) {
        bool changed = false;

        for (int i = 0; i < MD5_LANES; i++) {
            p[i] = lanes[i].job != NULL ? md5LaneTake(&lanes[i]) : idle;
        }
        md5Block8(st, p);
        for (int i = 0; i < MD5_LANES; i++) {
            if (lanes[i].job == NULL || !md5LaneDone(&lanes[i])) {
                continue;
            }
            if (!changed) {
                for (int k = 0; k < 4; k++) {
                    _mm256_storeu_si256((__m256i *)regs[k], st[k]);
                }
                changed = true;
            }
            uint32_t one[4] = {regs[0][i], regs[1][i], regs[2][i], regs[3][i]};
            md5Output(one, lanes[i].job->out);
            for (int k = 0; k < 4; k++) {
                regs[k][i] = md5Init[k];
            }
            if (next < n) {
                md5LaneStart(&lanes[i], &jobs[next++]);
            } else {
                lanes[i].job = NULL;
                active--;
            }
        }
        if (changed) {
            for (int k = 0; k < 4; k++) {
                st[k] = _mm256_loadu_si256((const __m256i *)regs[k]);
            }
        }
    }
}
#endif

bool md5HasLanes(void)
{
#if defined(__x86_64__)
    return __builtin_cpu_supports("avx2");
#else
    return false;
#endif
}

void md5Many(const struct md5Job *jobs, size_t n)
{
#if defined(__x86_64__)
    if (n > 1 && md5HasLanes()) {
        md5ManyLanes(jobs, n);
        return;
    }
#endif
    md5ManyScalar(jobs, n);
}
