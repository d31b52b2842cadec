/* The pure parts of the qraft CLI: option parsing, NAME=VALUE and --attr
 * words, base64, JSON strings, RedrivePolicy, status rows from member
 * lists.
 *
 * This file is part of libqraft, built with hidden visibility, so nothing
 * here is exported from libqraft.so; it is here (and not in a cli_*.c
 * file, which would go into bin/qraft only) so that the unit tests, which
 * link libqraft alone, can call it. Rules for this file:
 * - no I/O except on a FILE given by the caller, no exit, no globals
 *   written (getenv is read by cliParse);
 * - errors come back as -1 or 2 with the message in a caller's buffer,
 *   worded as the CLI prints it after "qraft: ".
 */
#include "client/cli.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

const char *const cliOptNames[CLI_O_COUNT] = {
#define CLI__OPT_NAME(CODE, NAME, VALUE) NAME,
    CLI_OPTS(CLI__OPT_NAME)
#undef CLI__OPT_NAME
};

const bool cliOptValue[CLI_O_COUNT] = {
#define CLI__OPT_VALUE(CODE, NAME, VALUE) VALUE,
    CLI_OPTS(CLI__OPT_VALUE)
#undef CLI__OPT_VALUE
};

/* Base64 alphabet (RFC 4648). */
static const char clitextB64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Format an error message into @err (cut to @errlen). Returns @rv. */
__attribute__((format(printf, 4, 5))) static int clitextErr(
    int rv,
    char *err,
    size_t errlen,
    const char *fmt,
    ...)
{
    va_list ap;
    if (errlen > 0) {
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return rv;
}

int cliNumber(const char *s, long lo, long hi, long *out)
{
    char *end;
    long v;
    errno = 0;
    v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi) {
        return -1;
    }
    *out = v;
    return 0;
}

int cliOptIndex(const char *o)
{
    int i;
    for (i = 0; i < CLI_O_COUNT; i++) {
        if (strcmp(o, cliOptNames[i]) == 0) {
            return i;
        }
    }
    return -1;
}

/* Whether @o is -s or --servers. */
static bool clitextIsServers(const char *o)
{
    return strcmp(o, "-s") == 0 || strcmp(o, "--servers") == 0;
}

int cliParse(int argc, char **argv, struct cliArgs *a, char *err,
             size_t errlen)
{
    int i;
    int k;
    long v;
    memset(a, 0, sizeof *a);
    for (i = 1; i < argc; i++) {
        const char *o = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(o, "-h") == 0 || strcmp(o, "--help") == 0) {
            return -1;
        }
        if (strcmp(o, "--json") == 0) {
            a->json = true;
            continue;
        }
        k = cliOptIndex(o);
        if (clitextIsServers(o) || strcmp(o, "--timeout") == 0 ||
            (k >= 0 && cliOptValue[k])) {
            if (val == NULL) {
                return clitextErr(2, err, errlen, "option %s needs a value",
                                  o);
            }
            i++;
        }
        if (clitextIsServers(o)) {
            a->servers = val;
        } else if (strcmp(o, "--timeout") == 0) {
            if (cliNumber(val, 1, 86400000, &v) != 0) {
                return clitextErr(2, err, errlen,
                                  "bad --timeout '%s' (ms, 1 or more)", val);
            }
            a->timeoutMs = (int)v;
        } else if (k >= 0) {
            a->opt[k] = cliOptValue[k] ? val : "";
            if ((k == CLI_O_TAG && a->nTags == CLI_ARGS_MAX) ||
                (k == CLI_O_ATTR && a->nAttrs == CLI_ARGS_MAX)) {
                return clitextErr(2, err, errlen, "too many %s options", o);
            }
            if (k == CLI_O_TAG) {
                a->tags[a->nTags++] = val;
            } else if (k == CLI_O_ATTR) {
                a->attrs[a->nAttrs++] = val;
            }
        } else if (o[0] == '-' && o[1] != '\0') {
            return clitextErr(2, err, errlen, "unknown option %s", o);
        } else if (a->nWords == CLI_ARGS_MAX) {
            return clitextErr(2, err, errlen, "too many arguments");
        } else {
            a->words[a->nWords++] = o;
        }
    }
    if (a->servers == NULL) {
        a->servers = getenv("QRAFT_SERVERS");
    }
    if (a->servers == NULL || *a->servers == '\0') {
        a->servers = CLI_SERVERS_DEFAULT;
    }
    return 0;
}

int cliPairs(const char *const *words, int n, struct qraft_attr *out,
             char (*buf)[CLI_PAIR_MAX], const char *what, char *err,
             size_t errlen)
{
    int i;
    char *eq;
    for (i = 0; i < n; i++) {
        if (snprintf(buf[i], CLI_PAIR_MAX, "%s", words[i]) >= CLI_PAIR_MAX) {
            return clitextErr(-1, err, errlen, "%s '%.40s...' is too long",
                              what, words[i]);
        }
        eq = strchr(buf[i], '=');
        if (eq == NULL || eq == buf[i]) {
            return clitextErr(-1, err, errlen,
                              "bad %s '%s' (want NAME=VALUE)", what,
                              words[i]);
        }
        *eq = '\0';
        out[i].name = buf[i];
        out[i].value = eq + 1;
    }
    return 0;
}

int cliMsgAttrs(const char *const *words, int n,
                struct qraft_message_attr *out, char (*buf)[CLI_PAIR_MAX],
                unsigned char **bins, char *err, size_t errlen)
{
    struct qraft_attr pair;
    int i;
    /* Every word is split first, so that a word without '=' is reported
     * before a bad base64 value of an earlier word. */
    for (i = 0; i < n; i++) {
        if (cliPairs(words + i, 1, &pair, buf + i, "--attr", err, errlen) !=
            0) {
            return -1;
        }
        out[i].name = pair.name;
        out[i].type = "String";
        out[i].value = pair.value;
        out[i].len = strlen(pair.value);
    }
    for (i = 0; i < n; i++) {
        char *colon = strchr(buf[i], ':');
        const char *text = out[i].value;
        size_t len;
        if (colon != NULL) {
            *colon = '\0';
            out[i].type = colon + 1;
        }
        if (strncmp(out[i].type, "Binary", 6) != 0) {
            continue;
        }
        if (cliB64Decode(text, &bins[i], &len) != 0) {
            return clitextErr(-1, err, errlen,
                              "--attr %s: the value is not base64",
                              out[i].name);
        }
        out[i].value = bins[i];
        out[i].len = len;
    }
    return 0;
}

int cliB64Decode(const char *s, unsigned char **out, size_t *len)
{
    size_t n = strlen(s);
    size_t i;
    size_t o = 0;
    uint32_t x = 0;
    int bits = 0;
    unsigned char *buf = malloc(n / 4 * 3 + 3);
    if (buf == NULL) {
        return -1;
    }
    for (i = 0; i < n && s[i] != '='; i++) {
        const char *at = strchr(clitextB64, s[i]);
        if (at == NULL) {
            free(buf);
            return -1;
        }
        x = x << 6 | (uint32_t)(at - clitextB64);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            buf[o++] = (unsigned char)(x >> bits);
        }
    }
    for (; i < n; i++) {
        if (s[i] != '=') {
            free(buf);
            return -1;
        }
    }
    *out = buf;
    *len = o;
    return 0;
}

/* Length of the well-formed UTF-8 sequence at @p (@avail bytes left), or
 * 0 if there is none: no overlong forms, no surrogates, at most
 * U+10FFFF. */
static size_t clitextUtf8Len(const unsigned char *p, size_t avail)
{
    unsigned char ch = p[0];
    uint32_t cp = 0;
    size_t n = 0;
    size_t k;
    if (ch >= 0xc2 && ch <= 0xdf) {
        n = 2, cp = ch & 0x1f;
    } else if (ch >= 0xe0 && ch <= 0xef) {
        n = 3, cp = ch & 0x0f;
    } else if (ch >= 0xf0 && ch <= 0xf4) {
        n = 4, cp = ch & 0x07;
    }
    for (k = 1; n > 0 && k < n; k++) {
        if (k >= avail || (p[k] & 0xc0) != 0x80) {
            return 0;
        }
        cp = (cp << 6) | (p[k] & 0x3f);
    }
    if ((n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
        (n == 4 && (cp < 0x10000 || cp > 0x10ffff))) {
        return 0;
    }
    return n;
}

void cliJsonStr(FILE *f, const void *data, size_t len)
{
    const unsigned char *p = data;
    size_t i = 0;
    size_t n;
    fputc('"', f);
    while (i < len) {
        unsigned char ch = p[i];
        if (ch == '"' || ch == '\\') {
            fprintf(f, "\\%c", ch);
        } else if (ch == '\n') {
            fputs("\\n", f);
        } else if (ch == '\r') {
            fputs("\\r", f);
        } else if (ch == '\t') {
            fputs("\\t", f);
        } else if (ch < 0x20 || ch == 0x7f) {
            fprintf(f, "\\u%04x", ch);
        } else if (ch < 0x80) {
            fputc(ch, f);
        } else if ((n = clitextUtf8Len(p + i, len - i)) == 0) {
            fprintf(f, "\\u%04x", ch);
        } else {
            fwrite(p + i, 1, n, f);
            i += n;
            continue;
        }
        i++;
    }
    fputc('"', f);
}

void cliJsonB64(FILE *f, const void *data, size_t len)
{
    const unsigned char *p = data;
    size_t i;
    fputc('"', f);
    for (i = 0; i < len; i += 3) {
        uint32_t x = (uint32_t)p[i] << 16;
        x |= i + 1 < len ? (uint32_t)p[i + 1] << 8 : 0;
        x |= i + 2 < len ? p[i + 2] : 0;
        fputc(clitextB64[x >> 18 & 63], f);
        fputc(clitextB64[x >> 12 & 63], f);
        fputc(i + 1 < len ? clitextB64[x >> 6 & 63] : '=', f);
        fputc(i + 2 < len ? clitextB64[x & 63] : '=', f);
    }
    fputc('"', f);
}

void cliJsonKv(FILE *f, bool first, const char *key, const char *value)
{
    if (!first) {
        fputc(',', f);
    }
    cliJsonStr(f, key, strlen(key));
    fputc(':', f);
    cliJsonStr(f, value, strlen(value));
}

int cliRedrivePolicy(char *buf, size_t len, const char *dlq,
                     long maxReceives)
{
    int w;
    if (strlen(dlq) > CLI_DLQ_MAX || strpbrk(dlq, "\"\\") != NULL) {
        return -1;
    }
    w = snprintf(buf, len,
                 "{\"deadLetterTargetArn\":\"%s\",\"maxReceiveCount\":%ld}",
                 dlq, maxReceives);
    return w < 0 || (size_t)w >= len ? -1 : 0;
}

/* Fill the down row @r from the member list of the up row @from. */
static void clitextFillFrom(struct cliNode *r, const struct cliNode *from)
{
    size_t n = from->st.n_members;
    size_t m;
    if (n > sizeof from->st.members / sizeof from->st.members[0]) {
        n = sizeof from->st.members / sizeof from->st.members[0];
    }
    for (m = 0; m < n; m++) {
        const struct qraft_member *mem = &from->st.members[m];
        if (!r->known && r->addr[0] != '\0' &&
            strcmp(mem->client_addr, r->addr) == 0) {
            r->known = true;
            r->id = mem->id;
        }
        if (!r->known || mem->id != r->id) {
            continue;
        }
        if (r->st.zone[0] == '\0') {
            snprintf(r->st.zone, sizeof r->st.zone, "%s", mem->zone);
        }
        if (r->st.role[0] == '\0') {
            snprintf(r->st.role, sizeof r->st.role, "%s", mem->role);
        }
    }
}

void cliStatusFill(struct cliNode *nodes, int n)
{
    int i;
    int j;
    for (i = 0; i < n; i++) {
        for (j = 0; !nodes[i].up && j < n; j++) {
            if (nodes[j].up) {
                clitextFillFrom(&nodes[i], &nodes[j]);
            }
        }
    }
}
