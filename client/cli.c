/* qraft: the command-line client, on the public API of libqraft only.
 *
 *   qraft [-s ADDR[,ADDR...]] [--json] [--timeout MS] COMMAND ...
 *
 * Exit status: 0 success; 1 the cluster refused or could not be reached,
 * with one line "qraft: ErrName: message" on stderr; 2 usage error.
 * Options may come before or after the command words. --json prints one
 * JSON object per result with SQS's field names (cluster status keeps its
 * own row format, which scripts/demo parses). Cluster status is in
 * cli_status.inc and the message commands in cli_msg.inc, included here.
 */
#include "client/qraft.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Used when neither -s nor QRAFT_SERVERS is given. */
#define CLI_SERVERS_DEFAULT "127.0.0.1:7101,127.0.0.1:7102,127.0.0.1:7103"

/* Per-node deadline of cluster status without --timeout, ms. */
#define CLI_STATUS_TIMEOUT 2000

/* Most nodes cluster status shows. */
#define CLI_NODES_MAX 64

/* Most positional words, and repeated options, on a command line. */
#define CLI_ARGS_MAX 256

static const char cliUsage[] =
    "usage: qraft [-s ADDR[,ADDR...]] [--json] [--timeout MS] COMMAND ...\n"
    "\n"
    "commands:\n"
    "  cluster status                  one row per node\n"
    "  queue create NAME [--fifo] [--content-dedup] [--visibility-timeout S]\n"
    "      [--retention S] [--delay S] [--max-size B] [--wait S]\n"
    "      [--dlq NAME --max-receives N] [--tag K=V]...\n"
    "  queue list [--prefix P]         queue names, one per line\n"
    "  queue delete NAME\n"
    "  queue attrs NAME                Name=Value per line, sorted\n"
    "  queue set NAME ATTR=VALUE...\n"
    "  queue purge NAME\n"
    "  queue redrive DLQ [--to QUEUE]  prints the number of messages moved\n"
    "  queue tags NAME | tag NAME K=V... | untag NAME K...\n"
    "  send QUEUE BODY [--group G] [--dedup-id D] [--delay S]\n"
    "      [--attr NAME[:Type]=VALUE]...   BODY '-' reads stdin; prints the\n"
    "      message id (and the sequence number on FIFO queues)\n"
    "  recv QUEUE [--max N] [--wait S] [--visibility S]\n"
    "      ID<TAB>RECEIPT<TAB>RECEIVE_COUNT<TAB>BODY per message\n"
    "  delete QUEUE RECEIPT...\n"
    "  visibility QUEUE RECEIPT SECONDS\n"
    "\n"
    "--attr types: String (default), Number, Binary (value in base64).\n"
    "-s defaults to $QRAFT_SERVERS, then to " CLI_SERVERS_DEFAULT ".\n"
    "Exit status: 0 ok, 1 refused or unreachable, 2 usage error.\n";

/* Command options: flag name, whether it takes a value. The index is the
 * option's bit in a command's allowed set. */
#define CLI_OPTS(X)                                                           \
    X(O_FIFO, "--fifo", false)                                                \
    X(O_CONTENT_DEDUP, "--content-dedup", false)                              \
    X(O_VIS_TIMEOUT, "--visibility-timeout", true)                            \
    X(O_RETENTION, "--retention", true)                                       \
    X(O_DELAY, "--delay", true)                                               \
    X(O_MAX_SIZE, "--max-size", true)                                         \
    X(O_WAIT, "--wait", true)                                                 \
    X(O_DLQ, "--dlq", true)                                                   \
    X(O_MAX_RECEIVES, "--max-receives", true)                                 \
    X(O_TAG, "--tag", true)                                                   \
    X(O_PREFIX, "--prefix", true)                                             \
    X(O_TO, "--to", true)                                                     \
    X(O_GROUP, "--group", true)                                               \
    X(O_DEDUP_ID, "--dedup-id", true)                                         \
    X(O_ATTR, "--attr", true)                                                 \
    X(O_MAX, "--max", true)                                                   \
    X(O_VISIBILITY, "--visibility", true)

/* Option indexes. */
enum {
#define CLI__OPT_ENUM(CODE, NAME, VALUE) CODE,
    CLI_OPTS(CLI__OPT_ENUM)
#undef CLI__OPT_ENUM
        O_COUNT
};

/* Option names, by index. */
static const char *const cliOptNames[] = {
#define CLI__OPT_NAME(CODE, NAME, VALUE) NAME,
    CLI_OPTS(CLI__OPT_NAME)
#undef CLI__OPT_NAME
};

/* Whether each option takes a value, by index. */
static const bool cliOptValue[] = {
#define CLI__OPT_VALUE(CODE, NAME, VALUE) VALUE,
    CLI_OPTS(CLI__OPT_VALUE)
#undef CLI__OPT_VALUE
};

/* The parsed command line. */
struct cliArgs
{
    const char *servers; /* -s */
    bool json;           /* --json */
    int timeoutMs;       /* --timeout, 0: library default */
    const char *opt[O_COUNT];  /* last value of each option ("" for flags) */
    const char *tags[CLI_ARGS_MAX];  /* every --tag */
    int nTags;
    const char *attrs[CLI_ARGS_MAX]; /* every --attr */
    int nAttrs;
    const char *words[CLI_ARGS_MAX]; /* command words and operands */
    int nWords;                      /* entries in words */
};

/* Print a usage error and return 2. */
__attribute__((format(printf, 1, 2))) static int cliUsageError(
    const char *fmt,
    ...)
{
    va_list ap;
    fprintf(stderr, "qraft: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n(see qraft --help)\n");
    return 2;
}

/* Report a failure of the library: "qraft: ErrName: message". Returns 1. */
static int cliFail(int rv, const char *msg)
{
    const char *name = qraft_errname(rv);
    size_t n = strlen(name);
    if (msg == NULL || *msg == '\0') {
        fprintf(stderr, "qraft: %s: %s\n", name, qraft_strerror(rv));
    } else if (strncmp(msg, name, n) == 0 && msg[n] == ':') {
        fprintf(stderr, "qraft: %s\n", msg);
    } else {
        fprintf(stderr, "qraft: %s: %s\n", name, msg);
    }
    return 1;
}

/* Parse a whole decimal number in [lo, hi]. Returns 0 or -1. */
static int cliNumber(const char *s, long lo, long hi, long *out)
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

/* Index of the command option @o, or -1. */
static int cliOptIndex(const char *o)
{
    int i;
    for (i = 0; i < O_COUNT; i++) {
        if (strcmp(o, cliOptNames[i]) == 0) {
            return i;
        }
    }
    return -1;
}

/* Parse argv into @a. Returns 0, 2 (usage error) or -1 (help printed). */
static int cliParse(int argc, char **argv, struct cliArgs *a)
{
    int i;
    int k;
    long v;
    memset(a, 0, sizeof *a);
    for (i = 1; i < argc; i++) {
        const char *o = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(o, "-h") == 0 || strcmp(o, "--help") == 0) {
            fputs(cliUsage, stdout);
            return -1;
        }
        if (strcmp(o, "--json") == 0) {
            a->json = true;
            continue;
        }
        k = cliOptIndex(o);
        if (strcmp(o, "-s") == 0 || strcmp(o, "--servers") == 0 ||
            strcmp(o, "--timeout") == 0 || (k >= 0 && cliOptValue[k])) {
            if (val == NULL) {
                return cliUsageError("option %s needs a value", o);
            }
            i++;
        }
        if (strcmp(o, "-s") == 0 || strcmp(o, "--servers") == 0) {
            a->servers = val;
        } else if (strcmp(o, "--timeout") == 0) {
            if (cliNumber(val, 1, 86400000, &v) != 0) {
                return cliUsageError("bad --timeout '%s' (ms, 1 or more)",
                                     val);
            }
            a->timeoutMs = (int)v;
        } else if (k >= 0) {
            a->opt[k] = cliOptValue[k] ? val : "";
            if ((k == O_TAG && a->nTags == CLI_ARGS_MAX) ||
                (k == O_ATTR && a->nAttrs == CLI_ARGS_MAX)) {
                return cliUsageError("too many %s options", o);
            }
            if (k == O_TAG) {
                a->tags[a->nTags++] = val;
            } else if (k == O_ATTR) {
                a->attrs[a->nAttrs++] = val;
            }
        } else if (o[0] == '-' && o[1] != '\0') {
            return cliUsageError("unknown option %s", o);
        } else if (a->nWords == CLI_ARGS_MAX) {
            return cliUsageError("too many arguments");
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

/* A numeric option in [lo, hi] into *out (left alone if absent). Returns
 * 0 or 2 (usage error printed). */
static int cliOptNumber(const struct cliArgs *a, int k, long lo, long hi,
                        long *out)
{
    if (a->opt[k] == NULL) {
        return 0;
    }
    if (cliNumber(a->opt[k], lo, hi, out) != 0) {
        return cliUsageError("bad %s '%s' (a whole number, %ld..%ld)",
                             cliOptNames[k], a->opt[k], lo, hi);
    }
    return 0;
}

/* ---------------------------------------------------------------------- */
/* JSON output                                                             */

/* Print @len bytes as a JSON string: escapes, and bytes that are not
 * valid UTF-8 as \u00XX. */
static void cliJsonStr(const void *data, size_t len)
{
    const unsigned char *p = data;
    size_t i = 0;
    putchar('"');
    while (i < len) {
        unsigned char ch = p[i];
        size_t n = 0;
        size_t k;
        if (ch == '"' || ch == '\\') {
            printf("\\%c", ch);
        } else if (ch == '\n') {
            fputs("\\n", stdout);
        } else if (ch == '\r') {
            fputs("\\r", stdout);
        } else if (ch == '\t') {
            fputs("\\t", stdout);
        } else if (ch < 0x20 || ch == 0x7f) {
            printf("\\u%04x", ch);
        } else if (ch < 0x80) {
            putchar(ch);
        } else {
            /* Length of a well-formed UTF-8 sequence starting here. */
            uint32_t cp = 0;
            if (ch >= 0xc2 && ch <= 0xdf) {
                n = 2, cp = ch & 0x1f;
            } else if (ch >= 0xe0 && ch <= 0xef) {
                n = 3, cp = ch & 0x0f;
            } else if (ch >= 0xf0 && ch <= 0xf4) {
                n = 4, cp = ch & 0x07;
            }
            for (k = 1; n > 0 && k < n; k++) {
                if (i + k >= len || (p[i + k] & 0xc0) != 0x80) {
                    n = 0;
                    break;
                }
                cp = (cp << 6) | (p[i + k] & 0x3f);
            }
            if ((n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
                (n == 4 && (cp < 0x10000 || cp > 0x10ffff))) {
                n = 0;
            }
            if (n == 0) {
                printf("\\u%04x", ch);
            } else {
                fwrite(p + i, 1, n, stdout);
                i += n;
                continue;
            }
        }
        i++;
    }
    putchar('"');
}

/* ---------------------------------------------------------------------- */
/* Output helpers                                                          */

/* Base64 alphabet (RFC 4648). */
static const char cliB64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Print @len bytes in base64, quoted. */
static void cliJsonB64(const void *data, size_t len)
{
    const unsigned char *p = data;
    size_t i;
    putchar('"');
    for (i = 0; i < len; i += 3) {
        uint32_t x = (uint32_t)p[i] << 16;
        x |= i + 1 < len ? (uint32_t)p[i + 1] << 8 : 0;
        x |= i + 2 < len ? p[i + 2] : 0;
        putchar(cliB64[x >> 18 & 63]);
        putchar(cliB64[x >> 12 & 63]);
        putchar(i + 1 < len ? cliB64[x >> 6 & 63] : '=');
        putchar(i + 2 < len ? cliB64[x & 63] : '=');
    }
    putchar('"');
}

/* Decode base64 @s into malloc'd *out. Returns 0 or -1 (not base64). */
static int cliB64Decode(const char *s, unsigned char **out, size_t *len)
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
        const char *at = strchr(cliB64, s[i]);
        if (at == NULL || s[i] == '\0') {
            free(buf);
            return -1;
        }
        x = x << 6 | (uint32_t)(at - cliB64);
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

/* Print "key":"value" (with a comma before unless @first). */
static void cliJsonKv(bool first, const char *key, const char *value)
{
    if (!first) {
        putchar(',');
    }
    cliJsonStr(key, strlen(key));
    putchar(':');
    cliJsonStr(value, strlen(value));
}

/* Order attributes by name. */
static int cliAttrCmp(const void *x, const void *y)
{
    return strcmp(((const struct qraft_attr *)x)->name,
                  ((const struct qraft_attr *)y)->name);
}

/* Print attributes or tags sorted: Name=Value lines, or with --json one
 * object {"@key":{...}}. */
static void cliPrintAttrs(const struct cliArgs *a, const char *key,
                          struct qraft_attr *v, size_t n)
{
    size_t i;
    if (n > 0) {
        qsort(v, n, sizeof *v, cliAttrCmp);
    }
    if (a->json) {
        printf("{\"%s\":{", key);
        for (i = 0; i < n; i++) {
            cliJsonKv(i == 0, v[i].name, v[i].value);
        }
        printf("}}\n");
        return;
    }
    for (i = 0; i < n; i++) {
        printf("%s=%s\n", v[i].name, v[i].value);
    }
}

/* Split "K=V" words into attributes (pointing into @buf, one copy per
 * word). Returns 0 or 2 (usage error). */
static int cliPairs(const char *const *words, int n, struct qraft_attr *out,
                    char (*buf)[512], const char *what)
{
    int i;
    char *eq;
    for (i = 0; i < n; i++) {
        if (snprintf(buf[i], sizeof buf[i], "%s", words[i]) >=
            (int)sizeof buf[i]) {
            return cliUsageError("%s '%.40s...' is too long", what, words[i]);
        }
        eq = strchr(buf[i], '=');
        if (eq == NULL || eq == buf[i]) {
            return cliUsageError("bad %s '%s' (want NAME=VALUE)", what,
                                 words[i]);
        }
        *eq = '\0';
        out[i].name = buf[i];
        out[i].value = eq + 1;
    }
    return 0;
}


#include "client/cli_status.inc"

/* ---------------------------------------------------------------------- */
/* Queue commands                                                          */

/* Scratch space for NAME=VALUE words of one command. */
static char cliBuf[CLI_ARGS_MAX][512];

/* Attributes built by queue create. */
static struct qraft_attr cliAttrs[CLI_ARGS_MAX];

/* qraft queue create NAME [options]. */
static int cliQueueCreate(qraft_client *c, const struct cliArgs *a)
{
    static const struct {
        int opt;
        const char *attr;
        long lo, hi;
    } nums[] = {
        {O_VIS_TIMEOUT, "VisibilityTimeout", 0, QRAFT_VISIBILITY_MAX},
        {O_RETENTION, "MessageRetentionPeriod", 0, 100000000},
        {O_DELAY, "DelaySeconds", 0, 100000},
        {O_MAX_SIZE, "MaximumMessageSize", 0, 100000000},
        {O_WAIT, "ReceiveMessageWaitTimeSeconds", 0, 100000},
    };
    static char numText[5][24];
    static char redrive[600];
    struct qraft_attr tags[CLI_ARGS_MAX];
    size_t n = 0;
    size_t i;
    long v = 0;
    int rv;
    for (i = 0; i < sizeof nums / sizeof nums[0]; i++) {
        if (a->opt[nums[i].opt] == NULL) {
            continue;
        }
        rv = cliOptNumber(a, nums[i].opt, nums[i].lo, nums[i].hi, &v);
        if (rv != 0) {
            return rv;
        }
        snprintf(numText[i], sizeof numText[i], "%ld", v);
        cliAttrs[n++] = (struct qraft_attr){nums[i].attr, numText[i]};
    }
    if (a->opt[O_FIFO] != NULL) {
        cliAttrs[n++] = (struct qraft_attr){"FifoQueue", "true"};
    }
    if (a->opt[O_CONTENT_DEDUP] != NULL) {
        cliAttrs[n++] = (struct qraft_attr){"ContentBasedDeduplication", "true"};
    }
    if ((a->opt[O_DLQ] == NULL) != (a->opt[O_MAX_RECEIVES] == NULL)) {
        return cliUsageError("--dlq and --max-receives go together");
    }
    if (a->opt[O_DLQ] != NULL) {
        rv = cliOptNumber(a, O_MAX_RECEIVES, 1, 1000000, &v);
        if (rv != 0) {
            return rv;
        }
        if (strlen(a->opt[O_DLQ]) > 500 ||
            strpbrk(a->opt[O_DLQ], "\"\\") != NULL) {
            return cliUsageError("bad --dlq '%s'", a->opt[O_DLQ]);
        }
        snprintf(redrive, sizeof redrive,
                 "{\"deadLetterTargetArn\":\"%s\",\"maxReceiveCount\":%ld}",
                 a->opt[O_DLQ], v);
        cliAttrs[n++] = (struct qraft_attr){"RedrivePolicy", redrive};
    }
    rv = cliPairs(a->tags, a->nTags, tags, cliBuf, "--tag");
    if (rv != 0) {
        return rv;
    }
    rv = qraft_create_queue(c, a->words[2], cliAttrs, n, tags,
                            (size_t)a->nTags);
    if (rv != 0) {
        return cliFail(rv, qraft_errmsg(c));
    }
    if (a->json) {
        printf("{");
        cliJsonKv(true, "QueueName", a->words[2]);
        printf("}\n");
    }
    return 0;
}

/* qraft queue list [--prefix P]: every page. */
static int cliQueueList(qraft_client *c, const struct cliArgs *a)
{
    char **names;
    char *next = NULL;
    char *token = NULL;
    size_t n;
    size_t i;
    bool first = true;
    int rv;
    if (a->json) {
        printf("{\"QueueNames\":[");
    }
    do {
        rv = qraft_list_queues(c, a->opt[O_PREFIX], 1000, token, &names, &n,
                               &next);
        free(token);
        token = next;
        if (rv != 0) {
            if (a->json) {
                printf("]}\n");
            }
            return cliFail(rv, qraft_errmsg(c));
        }
        for (i = 0; i < n; i++, first = false) {
            if (a->json) {
                printf(first ? "" : ",");
                cliJsonStr(names[i], strlen(names[i]));
            } else {
                printf("%s\n", names[i]);
            }
        }
        qraft_strings_free(names, n);
    } while (token != NULL);
    if (a->json) {
        printf("]}\n");
    }
    return 0;
}

/* qraft queue attrs NAME and queue tags NAME. */
static int cliQueueShow(qraft_client *c, const struct cliArgs *a, bool tags)
{
    struct qraft_attr *v;
    size_t n;
    int rv = tags ? qraft_list_queue_tags(c, a->words[2], &v, &n)
                  : qraft_get_queue_attributes(c, a->words[2], NULL, 0, &v,
                                               &n);
    if (rv != 0) {
        return cliFail(rv, qraft_errmsg(c));
    }
    cliPrintAttrs(a, tags ? "Tags" : "Attributes", v, n);
    qraft_attrs_free(v, n);
    return 0;
}

/* qraft queue set NAME A=V... and queue tag NAME K=V.... */
static int cliQueueSetPairs(qraft_client *c, const struct cliArgs *a,
                            bool tags)
{
    int n = a->nWords - 3;
    int rv = cliPairs(a->words + 3, n, cliAttrs, cliBuf,
                      tags ? "tag" : "attribute");
    if (rv != 0) {
        return rv;
    }
    rv = tags ? qraft_tag_queue(c, a->words[2], cliAttrs, (size_t)n)
              : qraft_set_queue_attributes(c, a->words[2], cliAttrs,
                                           (size_t)n);
    return rv != 0 ? cliFail(rv, qraft_errmsg(c)) : 0;
}

/* qraft queue redrive DLQ [--to QUEUE]. */
static int cliQueueRedrive(qraft_client *c, const struct cliArgs *a)
{
    uint64_t moved = 0;
    int rv = qraft_start_message_move_task(c, a->words[2], a->opt[O_TO],
                                           &moved);
    if (rv != 0) {
        return cliFail(rv, qraft_errmsg(c));
    }
    printf(a->json ? "{\"MovedCount\":%" PRIu64 "}\n" : "%" PRIu64 "\n",
           moved);
    return 0;
}


#include "client/cli_msg.inc"

/* ---------------------------------------------------------------------- */
/* Dispatch                                                                */

/* Option bit. */
#define B(o) (1u << (o))

/* One command: words, operand counts, allowed options, handler. */
struct cliCmd
{
    const char *word;    /* first word */
    const char *sub;     /* second word, or NULL */
    int minWords;        /* words including the command words */
    int maxWords;        /* 0: no maximum */
    unsigned allowed;    /* option bits */
    int kind;            /* handler selector */
};

/* Handler selectors. */
enum {
    K_CREATE, K_LIST, K_DELETE_Q, K_ATTRS, K_SET, K_PURGE, K_REDRIVE,
    K_TAGS, K_TAG, K_UNTAG, K_SEND, K_RECV, K_DELETE, K_VISIBILITY
};

/* Every command that talks to the cluster through a client. */
static const struct cliCmd cliCmds[] = {
    {"queue", "create", 3, 3,
     B(O_FIFO) | B(O_CONTENT_DEDUP) | B(O_VIS_TIMEOUT) | B(O_RETENTION) |
         B(O_DELAY) | B(O_MAX_SIZE) | B(O_WAIT) | B(O_DLQ) |
         B(O_MAX_RECEIVES) | B(O_TAG),
     K_CREATE},
    {"queue", "list", 2, 2, B(O_PREFIX), K_LIST},
    {"queue", "delete", 3, 3, 0, K_DELETE_Q},
    {"queue", "attrs", 3, 3, 0, K_ATTRS},
    {"queue", "set", 4, 0, 0, K_SET},
    {"queue", "purge", 3, 3, 0, K_PURGE},
    {"queue", "redrive", 3, 3, B(O_TO), K_REDRIVE},
    {"queue", "tags", 3, 3, 0, K_TAGS},
    {"queue", "tag", 4, 0, 0, K_TAG},
    {"queue", "untag", 4, 0, 0, K_UNTAG},
    {"send", NULL, 3, 3,
     B(O_GROUP) | B(O_DEDUP_ID) | B(O_DELAY) | B(O_ATTR), K_SEND},
    {"recv", NULL, 2, 2, B(O_MAX) | B(O_WAIT) | B(O_VISIBILITY), K_RECV},
    {"delete", NULL, 3, 0, 0, K_DELETE},
    {"visibility", NULL, 4, 4, 0, K_VISIBILITY},
};

/* Run the command @cmd (checked) on client @c. */
static int cliRun(qraft_client *c, const struct cliArgs *a, int kind)
{
    int rv;
    switch (kind) {
        case K_CREATE:
            return cliQueueCreate(c, a);
        case K_LIST:
            return cliQueueList(c, a);
        case K_ATTRS:
        case K_TAGS:
            return cliQueueShow(c, a, kind == K_TAGS);
        case K_SET:
        case K_TAG:
            return cliQueueSetPairs(c, a, kind == K_TAG);
        case K_REDRIVE:
            return cliQueueRedrive(c, a);
        case K_SEND:
            return cliSend(c, a);
        case K_RECV:
            return cliRecv(c, a);
        case K_DELETE:
            return cliDelete(c, a);
        case K_VISIBILITY:
            return cliVisibility(c, a);
        case K_UNTAG:
            rv = qraft_untag_queue(c, a->words[2], a->words + 3,
                                   (size_t)(a->nWords - 3));
            break;
        case K_PURGE:
            rv = qraft_purge_queue(c, a->words[2]);
            break;
        default: /* K_DELETE_Q */
            rv = qraft_delete_queue(c, a->words[2]);
            break;
    }
    return rv != 0 ? cliFail(rv, qraft_errmsg(c)) : 0;
}

/* Check that only the options in @allowed are set. Returns 0 or 2. */
static int cliCheckOpts(const struct cliArgs *a, unsigned allowed)
{
    int k;
    for (k = 0; k < O_COUNT; k++) {
        if (a->opt[k] != NULL && !(allowed & B(k))) {
            return cliUsageError("%s does not apply to '%s'", cliOptNames[k],
                                 a->words[0]);
        }
    }
    return 0;
}

/* Run a command that talks to the cluster through a client. */
static int cliClientCommand(const struct cliArgs *a)
{
    struct qraft_options opts = {a->timeoutMs, 0};
    const struct cliCmd *cmd = NULL;
    const char *sub = a->nWords > 1 ? a->words[1] : "";
    qraft_client *c;
    size_t i;
    int rv;
    for (i = 0; i < sizeof cliCmds / sizeof cliCmds[0]; i++) {
        if (strcmp(cliCmds[i].word, a->words[0]) == 0 &&
            (cliCmds[i].sub == NULL || strcmp(cliCmds[i].sub, sub) == 0)) {
            cmd = &cliCmds[i];
            break;
        }
    }
    if (cmd == NULL) {
        return strcmp(a->words[0], "queue") == 0
                   ? cliUsageError("unknown command 'queue %s'", sub)
                   : cliUsageError("unknown command '%s'", a->words[0]);
    }
    if (a->nWords < cmd->minWords ||
        (cmd->maxWords > 0 && a->nWords > cmd->maxWords)) {
        return cliUsageError("wrong number of arguments for '%s%s%s'",
                             cmd->word, cmd->sub != NULL ? " " : "",
                             cmd->sub != NULL ? cmd->sub : "");
    }
    rv = cliCheckOpts(a, cmd->allowed);
    if (rv != 0) {
        return rv;
    }
    rv = qraft_open(a->servers, &opts, &c);
    if (rv == QRAFT_EINVAL) {
        return cliUsageError("bad server list '%s' (want host:port,...)",
                             a->servers);
    }
    if (rv != 0) {
        return cliFail(rv, NULL);
    }
    rv = cliRun(c, a, cmd->kind);
    qraft_close(c);
    return rv;
}

int main(int argc, char **argv)
{
    struct cliArgs a;
    qraft_client *check;
    int rv = cliParse(argc, argv, &a);
    if (rv == -1) {
        return 0;
    }
    if (rv != 0) {
        return rv;
    }
    if (a.nWords == 0) {
        fputs(cliUsage, stderr);
        return 2;
    }
    if (strcmp(a.words[0], "cluster") == 0) {
        if (a.nWords != 2 || strcmp(a.words[1], "status") != 0) {
            return cliUsageError("unknown command '%s' (try 'cluster status')",
                                 a.nWords > 1 ? a.words[1] : "cluster");
        }
        rv = cliCheckOpts(&a, 0);
        if (rv != 0) {
            return rv;
        }
        if (qraft_open(a.servers, NULL, &check) != 0) {
            return cliUsageError("bad server list '%s' (want host:port,...)",
                                 a.servers);
        }
        qraft_close(check); /* only the address check was wanted */
        rv = cliClusterStatus(&a);
    } else {
        rv = cliClientCommand(&a);
    }
    fflush(stdout);
    return rv;
}
