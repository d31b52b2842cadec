/* Small helpers of fsm/: hex, digests, text checks, message ids and
 * receipt handles.
 *
 * Message id: SHA-256 of qid(8)|seq(8) (the queue and sequence where the
 * message was first sent), first 16 bytes, with the UUID version nibble set
 * to 4 and the variant bits to 10, as 36-char text. It is stored in the
 * message record, so it survives moves to and from a dead-letter queue.
 *
 * Receipt handle: 48 lowercase hex chars: qid(8) seq(8) receive_count(4)
 * (40 chars), then the first 4 bytes of SHA-256("qraft-receipt" | those 20
 * bytes) (8 chars), a check that rejects random or mistyped text (it is not
 * a secret). The receive_count tells a stale receipt from the current one. */
#include <openssl/evp.h>
#include <pthread.h>
#include <string.h>

#include "internal.h"

/* Raw receipt bytes before the check. */
#define RECEIPT_RAW_LEN 20
#define RECEIPT_CHECK_LEN 4

void utilHex(const uint8_t *in, size_t n, char *out)
{
    static const char hex[] = "0123456789abcdef";
    size_t i;

    for (i = 0; i < n; i++) {
        out[2 * i] = hex[in[i] >> 4];
        out[2 * i + 1] = hex[in[i] & 0x0f];
    }
    out[2 * n] = '\0';
}

/* Value of a hex digit, or -1. */
static int utilHexDigit(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

bool utilUnhex(const char *in, size_t n, uint8_t *out)
{
    size_t i;

    for (i = 0; i < n; i++) {
        int hi = utilHexDigit(in[2 * i]);
        int lo = utilHexDigit(in[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            return false;
        }
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return true;
}

/* OpenSSL 3 looks a digest's implementation up, under a lock, on every
 * init given EVP_sha256() or EVP_md5(); fetched once, it does not (that
 * lookup was a visible part of a send's cost). Fetched on first use, from
 * any thread, and kept for the life of the process. */
static EVP_MD *utilFetchedSha256;
static EVP_MD *utilFetchedMd5;
static pthread_once_t utilFetchOnce = PTHREAD_ONCE_INIT;

static void utilFetch(void)
{
    utilFetchedSha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
    utilFetchedMd5 = EVP_MD_fetch(NULL, "MD5", NULL);
}

const EVP_MD *utilMdSha256(void)
{
    pthread_once(&utilFetchOnce, utilFetch);
    return utilFetchedSha256 != NULL ? utilFetchedSha256 : EVP_sha256();
}

/* MD5, fetched once (see utilMdSha256). */
static const EVP_MD *utilMdMd5(void)
{
    pthread_once(&utilFetchOnce, utilFetch);
    return utilFetchedMd5 != NULL ? utilFetchedMd5 : EVP_md5();
}

int utilMd5(const void *p, size_t len, uint8_t out[16])
{
    uint8_t md[EVP_MAX_MD_SIZE];
    unsigned n = 0;

    if (EVP_Digest(len > 0 ? p : "", len, md, &n, utilMdMd5(), NULL) != 1 ||
        n != 16) {
        return FSM_ENOMEM;
    }
    memcpy(out, md, 16);
    return 0;
}

int utilMd5Hex(const void *p, size_t len, char out[33])
{
    uint8_t md[16];
    int rv;

    rv = utilMd5(p, len, md);
    if (rv == 0) {
        utilHex(md, 16, out);
    }
    return rv;
}

int utilSha256(const void *a, size_t alen, const void *b, size_t blen,
               uint8_t out[32])
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned n = 0;
    int ok;

    if (md == NULL) {
        return FSM_ENOMEM;
    }
    ok = EVP_DigestInit_ex(md, utilMdSha256(), NULL) == 1 &&
         EVP_DigestUpdate(md, a, alen) == 1 &&
         EVP_DigestUpdate(md, b, blen) == 1 &&
         EVP_DigestFinal_ex(md, out, &n) == 1 && n == 32;
    EVP_MD_CTX_free(md);
    return ok ? 0 : FSM_ENOMEM;
}

#define UTIL_ONES UINT64_C(0x0101010101010101)
#define UTIL_HIGH_BITS UINT64_C(0x8080808080808080)

bool utilSqsText(const void *p, size_t len, size_t *chars)
{
    const uint8_t *s = p;
    size_t i = 0;
    size_t n = 0;

    while (i < len) {
        uint32_t c;
        size_t k;
        size_t j;
        /* Fast path: eight printable ASCII characters (0x20-0x7f) at once;
         * a message body is mostly that. */
        while (len - i >= 8) {
            uint64_t w;
            memcpy(&w, s + i, 8);
            if ((w & UTIL_HIGH_BITS) != 0 ||
                ((w - UTIL_ONES * 0x20) & ~w & UTIL_HIGH_BITS) != 0) {
                break; /* a byte >= 0x80 or < 0x20 in these eight */
            }
            i += 8;
            n += 8;
        }
        if (i == len) {
            break;
        }
        if (s[i] < 0x80) {
            c = s[i];
            k = 1;
        } else if ((s[i] & 0xe0) == 0xc0) {
            c = s[i] & 0x1fu;
            k = 2;
        } else if ((s[i] & 0xf0) == 0xe0) {
            c = s[i] & 0x0fu;
            k = 3;
        } else if ((s[i] & 0xf8) == 0xf0) {
            c = s[i] & 0x07u;
            k = 4;
        } else {
            return false;
        }
        if (i + k > len) {
            return false;
        }
        for (j = 1; j < k; j++) {
            if ((s[i + j] & 0xc0) != 0x80) {
                return false;
            }
            c = c << 6 | (s[i + j] & 0x3fu);
        }
        /* Overlong forms and surrogates are not UTF-8. */
        if ((k == 2 && c < 0x80) || (k == 3 && c < 0x800) ||
            (k == 4 && c < 0x10000) || c > 0x10ffff ||
            (c >= 0xd800 && c <= 0xdfff)) {
            return false;
        }
        if (!(c == 0x9 || c == 0xa || c == 0xd || (c >= 0x20 && c <= 0xd7ff) ||
              (c >= 0xe000 && c <= 0xfffd) || c >= 0x10000)) {
            return false;
        }
        i += k;
        n++;
    }
    if (chars != NULL) {
        *chars = n;
    }
    return true;
}

int utilMessageId(uint64_t qid, uint64_t seq, char out[37])
{
    uint8_t key[16];
    uint8_t h[32];
    char hex[33];
    int rv;

    bePut64(key, qid);
    bePut64(key + 8, seq);
    rv = utilSha256(key, sizeof key, "", 0, h);
    if (rv != 0) {
        return rv;
    }
    h[6] = (uint8_t)((h[6] & 0x0f) | 0x40);
    h[8] = (uint8_t)((h[8] & 0x3f) | 0x80);
    utilHex(h, 16, hex);
    memcpy(out, hex, 8);
    out[8] = '-';
    memcpy(out + 9, hex + 8, 4);
    out[13] = '-';
    memcpy(out + 14, hex + 12, 4);
    out[18] = '-';
    memcpy(out + 19, hex + 16, 4);
    out[23] = '-';
    memcpy(out + 24, hex + 20, 12);
    out[36] = '\0';
    return 0;
}

/* Check bytes of a receipt's raw bytes. */
static int utilReceiptCheck(const uint8_t raw[RECEIPT_RAW_LEN],
                            uint8_t check[RECEIPT_CHECK_LEN])
{
    static const char tag[] = "qraft-receipt";
    uint8_t h[32];
    int rv;

    rv = utilSha256(tag, strlen(tag), raw, RECEIPT_RAW_LEN, h);
    if (rv == 0) {
        memcpy(check, h, RECEIPT_CHECK_LEN);
    }
    return rv;
}

int utilReceiptMake(uint64_t qid, uint64_t seq, uint32_t count,
                    char out[RECEIPT_TEXT_LEN + 1])
{
    uint8_t raw[RECEIPT_RAW_LEN + RECEIPT_CHECK_LEN];
    int rv;

    bePut64(raw, qid);
    bePut64(raw + 8, seq);
    bePut32(raw + 16, count);
    rv = utilReceiptCheck(raw, raw + RECEIPT_RAW_LEN);
    if (rv != 0) {
        return rv;
    }
    utilHex(raw, sizeof raw, out);
    return 0;
}

int utilReceiptParse(const char *text, size_t len, uint64_t *qid,
                     uint64_t *seq, uint32_t *count, bool *ok)
{
    uint8_t raw[RECEIPT_RAW_LEN + RECEIPT_CHECK_LEN];
    uint8_t check[RECEIPT_CHECK_LEN];
    size_t i;
    int rv;

    *ok = false;
    if (len != RECEIPT_TEXT_LEN) {
        return 0;
    }
    for (i = 0; i < len; i++) {
        if (!((text[i] >= '0' && text[i] <= '9') ||
              (text[i] >= 'a' && text[i] <= 'f'))) {
            return 0;
        }
    }
    if (!utilUnhex(text, sizeof raw, raw)) {
        return 0;
    }
    rv = utilReceiptCheck(raw, check);
    if (rv != 0) {
        return rv;
    }
    if (memcmp(check, raw + RECEIPT_RAW_LEN, RECEIPT_CHECK_LEN) != 0) {
        return 0;
    }
    *qid = beGet64(raw);
    *seq = beGet64(raw + 8);
    *count = beGet32(raw + 16);
    *ok = true;
    return 0;
}

/* Whether @s starts with 12 digits (an AWS account id). */
static bool utilAccountId(const char *s)
{
    int i;
    for (i = 0; i < 12; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return false;
        }
    }
    return true;
}

int utilArnQueue(const char *arn, size_t len, char *out, size_t *out_len)
{
    const char *p = arn;
    const char *end = arn + len;
    const char *fields[6];
    int n = 0;

    /* arn:aws:sqs:REGION:ACCOUNT:NAME */
    if (len < 4 || memcmp(arn, "arn:", 4) != 0) {
        if (len > FSM_QUEUE_NAME_MAX) {
            return -1;
        }
        memcpy(out, arn, len);
        *out_len = len;
        return 0;
    }
    fields[n++] = p;
    while (p < end && n < 6) {
        if (*p == ':') {
            fields[n++] = p + 1;
        }
        p++;
    }
    if (n < 6) {
        return -1;
    }
    if (fields[5] - fields[4] == 13 && utilAccountId(fields[4]) &&
        memcmp(fields[4], "000000000000", 12) != 0) {
        if (13 + (size_t)(end - fields[5]) > FSM_QUEUE_NAME_MAX) {
            return -1;
        }
        memcpy(out, fields[4], 12);
        out[12] = '~';
        memcpy(out + 13, fields[5], (size_t)(end - fields[5]));
        *out_len = 13 + (size_t)(end - fields[5]);
        return 0;
    }
    if ((size_t)(end - fields[5]) > FSM_QUEUE_NAME_MAX) {
        return -1;
    }
    memcpy(out, fields[5], (size_t)(end - fields[5]));
    *out_len = (size_t)(end - fields[5]);
    return 0;
}

bool utilQueueName(const char *name, size_t len, bool *fifo)
{
    size_t base = len;
    size_t i;

    *fifo = false;
    if (len > 13 && name[12] == '~' && utilAccountId(name)) {
        name += 13;
        len -= 13;
        base = len;
    }
    if (len == 0 || len > FSM_QUEUE_BARE_MAX) {
        return false;
    }
    if (len > 5 && memcmp(name + len - 5, ".fifo", 5) == 0) {
        *fifo = true;
        base = len - 5;
    }
    for (i = 0; i < base; i++) {
        char c = name[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
              (c >= '0' && c <= '9') || c == '_' || c == '-')) {
            return false;
        }
    }
    return true;
}
