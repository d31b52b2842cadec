/* A growable byte buffer and XML escaping, for the replies node/http writes.
 *
 * The happy path appends into a buffer that doubles as it grows. Failure
 * mode: an allocation fails; the buffer then keeps what it had, ignores
 * every later append and sets `oom`, which the caller turns into a 500.
 */
#include "node/http/http.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void httpBufInit(struct httpBuf *b)
{
    memset(b, 0, sizeof *b);
}

void httpBufFree(struct httpBuf *b)
{
    free(b->p);
    memset(b, 0, sizeof *b);
}

/* Make room for @extra more bytes and a NUL. */
static bool bufReserve(struct httpBuf *b, size_t extra)
{
    size_t cap;
    char *p;

    if (b->oom) {
        return false;
    }
    if (b->len + extra + 1 <= b->cap) {
        return true;
    }
    cap = b->cap == 0 ? 256 : b->cap;
    while (cap < b->len + extra + 1) {
        cap *= 2;
    }
    p = realloc(b->p, cap);
    if (p == NULL) {
        b->oom = true;
        return false;
    }
    b->p = p;
    b->cap = cap;
    return true;
}

void httpBufAdd(struct httpBuf *b, const void *data, size_t len)
{
    if (!bufReserve(b, len)) {
        return;
    }
    memcpy(b->p + b->len, data, len);
    b->len += len;
    b->p[b->len] = '\0';
}

void httpBufStr(struct httpBuf *b, const char *s)
{
    httpBufAdd(b, s, strlen(s));
}

void httpBufPrintf(struct httpBuf *b, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || !bufReserve(b, (size_t)n)) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void httpXmlEscape(struct httpBuf *b, const char *s, size_t len)
{
    size_t i, run = 0;

    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        const char *rep = NULL;

        switch (c) {
            case '&': rep = "&amp;"; break;
            case '<': rep = "&lt;"; break;
            case '>': rep = "&gt;"; break;
            case '"': rep = "&quot;"; break;
            case '\'': rep = "&apos;"; break;
            case '\t': rep = "&#x9;"; break;
            case '\n': rep = "&#xA;"; break;
            case '\r': rep = "&#xD;"; break;
            default:
                /* Other control characters cannot appear in XML 1.0 at
                 * all (SQS refuses them in bodies); in an echoed value
                 * such as an error message they become '?'. */
                if (c < 0x20 || c == 0x7f) {
                    rep = "?";
                }
                break;
        }
        if (rep != NULL) {
            httpBufAdd(b, s + i - run, run);
            run = 0;
            httpBufStr(b, rep);
        } else {
            run++;
        }
    }
    httpBufAdd(b, s + len - run, run);
}
