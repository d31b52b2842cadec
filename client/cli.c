/* qraft: the command-line client, on the public API of libqraft only.
 *
 *   qraft [-s ADDR[,ADDR...]] [--json] [--timeout MS] COMMAND ...
 *
 * Exit status: 0 success; 1 the cluster refused or could not be reached,
 * with one line "qraft: ErrName: message" on stderr; 2 usage error.
 * Options may come before or after the command words.
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

/* Most positional words on a command line. */
#define CLI_ARGS_MAX 256

static const char cliUsage[] =
    "usage: qraft [-s ADDR[,ADDR...]] [--json] [--timeout MS] COMMAND ...\n"
    "\n"
    "commands:\n"
    "  cluster status                            one row per node\n"
    "  queue create NAME [--visibility-timeout S]\n"
    "  queue list                                queue names, one per line\n"
    "  queue delete NAME\n"
    "  send QUEUE BODY                           BODY '-' reads stdin; "
    "prints the message id\n"
    "  recv QUEUE [--max N] [--visibility S]     ID<TAB>RECEIPT<TAB>"
    "RECEIVE_COUNT<TAB>BODY per message\n"
    "  delete QUEUE RECEIPT...\n"
    "\n"
    "-s defaults to $QRAFT_SERVERS, then to " CLI_SERVERS_DEFAULT ".\n"
    "Exit status: 0 ok, 1 refused or unreachable, 2 usage error.\n";

/* The parsed command line. */
struct cliArgs
{
    const char *servers; /* -s */
    bool json;           /* --json */
    int timeoutMs;       /* --timeout, 0: library default */
    long visTimeout;     /* --visibility-timeout, -1: absent */
    long max;            /* --max, 0: absent */
    long visibility;     /* --visibility, -1: absent */
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

/* Parse argv into @a. Returns 0, 2 (usage error) or -1 (help printed). */
static int cliParse(int argc, char **argv, struct cliArgs *a)
{
    int i;
    long v;
    memset(a, 0, sizeof *a);
    a->visTimeout = -1;
    a->visibility = -1;
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
        if (strcmp(o, "-s") == 0 || strcmp(o, "--servers") == 0 ||
            strcmp(o, "--timeout") == 0 || strcmp(o, "--max") == 0 ||
            strcmp(o, "--visibility") == 0 ||
            strcmp(o, "--visibility-timeout") == 0) {
            if (val == NULL) {
                return cliUsageError("option %s needs a value", o);
            }
            i++;
            if (o[1] == 's' || strcmp(o, "--servers") == 0) {
                a->servers = val;
            } else if (strcmp(o, "--timeout") == 0) {
                if (cliNumber(val, 1, 86400000, &v) != 0) {
                    return cliUsageError("bad --timeout '%s' (ms, 1 or more)",
                                         val);
                }
                a->timeoutMs = (int)v;
            } else if (strcmp(o, "--max") == 0) {
                if (cliNumber(val, 1, 1000000, &v) != 0) {
                    return cliUsageError("bad --max '%s' (1..10)", val);
                }
                a->max = v;
            } else if (cliNumber(val, 0, 1000000000, &v) != 0) {
                return cliUsageError("bad visibility '%s' (seconds)", val);
            } else if (strcmp(o, "--visibility") == 0) {
                a->visibility = v;
            } else {
                a->visTimeout = v;
            }
            continue;
        }
        if (o[0] == '-' && o[1] != '\0') {
            return cliUsageError("unknown option %s", o);
        }
        if (a->nWords == CLI_ARGS_MAX) {
            return cliUsageError("too many arguments");
        }
        a->words[a->nWords++] = o;
    }
    if (a->servers == NULL) {
        a->servers = getenv("QRAFT_SERVERS");
    }
    if (a->servers == NULL || *a->servers == '\0') {
        a->servers = CLI_SERVERS_DEFAULT;
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
/* cluster status                                                          */

/* One row of cluster status. */
struct cliNode
{
    bool known;     /* id is known */
    bool up;        /* answered */
    uint64_t id;    /* node id */
    char addr[128]; /* client address asked */
    struct qraft_node_status st;
};

/* Error of the last node that did not answer. */
static char cliLastErr[256];

/* Index of the row of @addr, or -1. */
static int cliFindAddr(struct cliNode *nodes, int n, const char *addr)
{
    int i;
    for (i = 0; i < n; i++) {
        if (strcmp(nodes[i].addr, addr) == 0) {
            return i;
        }
    }
    return -1;
}

/* Ask @addr and add a row, unless asked already. */
static void cliAsk(struct cliNode *nodes, int *n, const char *addr, int ms)
{
    struct cliNode *row;
    char err[256];
    if (*n >= CLI_NODES_MAX || cliFindAddr(nodes, *n, addr) >= 0) {
        return;
    }
    row = &nodes[(*n)++];
    memset(row, 0, sizeof *row);
    snprintf(row->addr, sizeof row->addr, "%s", addr);
    if (qraft_node_status(addr, ms, &row->st, err, sizeof err) == 0) {
        row->up = true;
        row->known = true;
        row->id = row->st.id;
    } else {
        snprintf(cliLastErr, sizeof cliLastErr, "%s", err);
    }
}

/* Sort rows by id, unknown ids last (by address). */
static int cliNodeCmp(const void *x, const void *y)
{
    const struct cliNode *a = x;
    const struct cliNode *b = y;
    if (a->known != b->known) {
        return a->known ? -1 : 1;
    }
    if (a->known && a->id != b->id) {
        return a->id < b->id ? -1 : 1;
    }
    return strcmp(a->addr, b->addr);
}

/* A number or "-". */
static void cliNum(char *buf, size_t len, bool up, uint64_t v)
{
    if (up) {
        snprintf(buf, len, "%" PRIu64, v);
    } else {
        snprintf(buf, len, "-");
    }
}

/* Print the rows as JSON lines. */
static void cliStatusJson(const struct cliNode *nodes, int n)
{
    int i;
    for (i = 0; i < n; i++) {
        const struct cliNode *r = &nodes[i];
        if (r->known) {
            printf("{\"id\":%" PRIu64 ",", r->id);
        } else {
            printf("{\"id\":null,");
        }
        if (r->up) {
            printf("\"zone\":");
            cliJsonStr(r->st.zone, strlen(r->st.zone));
            printf(",\"role\":");
            cliJsonStr(r->st.role, strlen(r->st.role));
            printf(",\"state\":");
            cliJsonStr(r->st.state, strlen(r->st.state));
            printf(",\"term\":%" PRIu64 ",\"last_index\":%" PRIu64
                   ",\"applied\":%" PRIu64 ",\"leader\":%" PRIu64
                   ",\"digest\":",
                   r->st.term, r->st.last_index, r->st.applied_index,
                   r->st.leader_id);
            cliJsonStr(r->st.digest, strlen(r->st.digest));
        } else {
            printf("\"zone\":null,\"role\":null,\"state\":\"unavailable\","
                   "\"term\":null,\"last_index\":null,\"applied\":null,"
                   "\"leader\":null,\"digest\":null");
        }
        printf(",\"addr\":");
        cliJsonStr(r->addr, strlen(r->addr));
        printf("}\n");
    }
}

/* Number of columns of the status table. */
#define CLI_COLS 9

/* Print the rows as an aligned table with a header. */
static void cliStatusTable(const struct cliNode *nodes, int n)
{
    static const char *const head[CLI_COLS] = {
        "ID",         "ZONE",    "ROLE",   "STATE", "TERM",
        "LAST_INDEX", "APPLIED", "LEADER", "DIGEST"};
    char cells[CLI_NODES_MAX][CLI_COLS][72];
    size_t width[CLI_COLS];
    int i;
    int j;
    for (j = 0; j < CLI_COLS; j++) {
        width[j] = strlen(head[j]);
    }
    for (i = 0; i < n; i++) {
        const struct cliNode *r = &nodes[i];
        bool up = r->up;
        cliNum(cells[i][0], sizeof cells[i][0], r->known, r->id);
        snprintf(cells[i][1], sizeof cells[i][1], "%s",
                 up && r->st.zone[0] ? r->st.zone : "-");
        snprintf(cells[i][2], sizeof cells[i][2], "%s",
                 up && r->st.role[0] ? r->st.role : "-");
        snprintf(cells[i][3], sizeof cells[i][3], "%s",
                 up ? r->st.state : "unavailable");
        cliNum(cells[i][4], sizeof cells[i][4], up, r->st.term);
        cliNum(cells[i][5], sizeof cells[i][5], up, r->st.last_index);
        cliNum(cells[i][6], sizeof cells[i][6], up, r->st.applied_index);
        cliNum(cells[i][7], sizeof cells[i][7], up && r->st.leader_id != 0,
               r->st.leader_id);
        snprintf(cells[i][8], sizeof cells[i][8], "%s",
                 up && r->st.digest[0] ? r->st.digest : "-");
        for (j = 0; j < CLI_COLS; j++) {
            size_t w = strlen(cells[i][j]);
            width[j] = w > width[j] ? w : width[j];
        }
    }
    for (i = -1; i < n; i++) {
        for (j = 0; j < CLI_COLS; j++) {
            const char *cell = i < 0 ? head[j] : cells[i][j];
            if (j + 1 < CLI_COLS) {
                printf("%-*s  ", (int)width[j], cell);
            } else {
                printf("%s\n", cell);
            }
        }
    }
}

/* qraft cluster status. */
static int cliClusterStatus(const struct cliArgs *a)
{
    static struct cliNode nodes[CLI_NODES_MAX];
    struct qraft_node_status members;
    char addr[128];
    const char *p = a->servers;
    const char *comma;
    size_t len;
    bool haveMembers = false;
    int ms = a->timeoutMs > 0 ? a->timeoutMs : CLI_STATUS_TIMEOUT;
    int n = 0;
    int up = 0;
    int i;
    size_t m;

    /* Every -s address, in order; the first answer gives the members. */
    for (;; p = comma + 1) {
        comma = strchr(p, ',');
        len = comma != NULL ? (size_t)(comma - p) : strlen(p);
        if (len > 0 && len < sizeof addr) {
            memcpy(addr, p, len);
            addr[len] = '\0';
            cliAsk(nodes, &n, addr, ms);
            i = cliFindAddr(nodes, n, addr);
            if (!haveMembers && i >= 0 && nodes[i].up) {
                members = nodes[i].st;
                haveMembers = true;
            }
        }
        if (comma == NULL) {
            break;
        }
    }
    /* Every member's client address. */
    for (m = 0; haveMembers && m < members.n_members; m++) {
        const struct qraft_member *mem = &members.members[m];
        bool seen = false;
        for (i = 0; i < n; i++) {
            seen = seen || (nodes[i].known && nodes[i].id == mem->id);
        }
        if (seen) {
            continue;
        }
        if (mem->client_addr[0] != '\0') {
            cliAsk(nodes, &n, mem->client_addr, ms);
            i = cliFindAddr(nodes, n, mem->client_addr);
        } else {
            i = -1;
        }
        if (i >= 0 && !nodes[i].known) {
            nodes[i].known = true; /* unreachable: id from the config */
            nodes[i].id = mem->id;
        } else if (i < 0 && n < CLI_NODES_MAX) {
            memset(&nodes[n], 0, sizeof nodes[n]);
            nodes[n].known = true;
            nodes[n].id = mem->id;
            n++;
        }
    }
    /* An unreachable -s address that is a member's: give it that id. */
    for (i = 0; i < n; i++) {
        for (m = 0; haveMembers && !nodes[i].known && m < members.n_members;
             m++) {
            if (strcmp(members.members[m].client_addr, nodes[i].addr) == 0) {
                nodes[i].known = true;
                nodes[i].id = members.members[m].id;
            }
        }
        up += nodes[i].up;
    }
    qsort(nodes, (size_t)n, sizeof nodes[0], cliNodeCmp);
    if (a->json) {
        cliStatusJson(nodes, n);
    } else {
        cliStatusTable(nodes, n);
    }
    if (up == 0) {
        fprintf(stderr, "qraft: Unavailable: no node answered (last: %s)\n",
                cliLastErr);
        return 1;
    }
    return 0;
}

/* ---------------------------------------------------------------------- */
/* Queue and message commands                                              */

/* Read stdin, up to the largest body + 1 byte (so that a body too long is
 * refused by the cluster, with its own error). */
static int cliReadStdin(char **out, size_t *len)
{
    size_t cap = QRAFT_BODY_MAX + 1;
    char *buf = malloc(cap);
    size_t n = 0;
    size_t got;
    if (buf == NULL) {
        return -1;
    }
    while (n < cap && (got = fread(buf + n, 1, cap - n, stdin)) > 0) {
        n += got;
    }
    if (ferror(stdin)) {
        free(buf);
        return -1;
    }
    *out = buf;
    *len = n;
    return 0;
}

/* qraft send QUEUE BODY. */
static int cliSend(qraft_client *c, const struct cliArgs *a)
{
    char id[QRAFT_MESSAGE_ID_MAX];
    const char *body = a->words[2];
    char *in = NULL;
    size_t len = strlen(body);
    int rv;
    if (strcmp(body, "-") == 0) {
        if (cliReadStdin(&in, &len) != 0) {
            fprintf(stderr, "qraft: cannot read the body from stdin\n");
            return 1;
        }
        body = in;
    }
    rv = qraft_send(c, a->words[1], body, len, id);
    free(in);
    if (rv != 0) {
        return cliFail(rv, qraft_errmsg(c));
    }
    if (a->json) {
        printf("{\"id\":");
        cliJsonStr(id, strlen(id));
        printf("}\n");
    } else {
        printf("%s\n", id);
    }
    return 0;
}

/* qraft recv QUEUE [--max N] [--visibility S]. */
static int cliRecv(qraft_client *c, const struct cliArgs *a)
{
    struct qraft_message *msgs;
    size_t n;
    size_t i;
    int rv = qraft_receive(c, a->words[1], a->max > 0 ? (unsigned)a->max : 1,
                           (int)a->visibility, &msgs, &n);
    if (rv != 0) {
        return cliFail(rv, qraft_errmsg(c));
    }
    for (i = 0; i < n; i++) {
        const struct qraft_message *m = &msgs[i];
        if (a->json) {
            printf("{\"id\":");
            cliJsonStr(m->id, strlen(m->id));
            printf(",\"receipt\":");
            cliJsonStr(m->receipt, strlen(m->receipt));
            printf(",\"body\":");
            cliJsonStr(m->body, m->body_len);
            printf(",\"receive_count\":%" PRIu32 ",\"sent_ms\":%" PRIu64
                   ",\"first_receive_ms\":%" PRIu64 "}\n",
                   m->receive_count, m->sent_ms, m->first_receive_ms);
        } else {
            printf("%s\t%s\t%" PRIu32 "\t", m->id, m->receipt,
                   m->receive_count);
            fwrite(m->body, 1, m->body_len, stdout);
            putchar('\n');
        }
    }
    qraft_messages_free(msgs, n);
    return 0;
}

/* qraft queue list. */
static int cliQueueList(qraft_client *c, const struct cliArgs *a)
{
    char **names;
    size_t n;
    size_t i;
    int rv = qraft_queue_list(c, &names, &n);
    if (rv != 0) {
        return cliFail(rv, qraft_errmsg(c));
    }
    if (a->json) {
        putchar('[');
        for (i = 0; i < n; i++) {
            if (i > 0) {
                putchar(',');
            }
            cliJsonStr(names[i], strlen(names[i]));
        }
        printf("]\n");
    } else {
        for (i = 0; i < n; i++) {
            printf("%s\n", names[i]);
        }
    }
    qraft_strings_free(names, n);
    return 0;
}

/* Check the operand count and that only @allowed command options are
 * set. Returns 0 or 2. */
static int cliExpect(const struct cliArgs *a, int minWords, int maxWords,
                     const char *allowed)
{
    if (a->nWords < minWords || (maxWords > 0 && a->nWords > maxWords)) {
        return cliUsageError("wrong number of arguments for '%s'",
                             a->words[0]);
    }
    if (a->max > 0 && strstr(allowed, "max") == NULL) {
        return cliUsageError("--max does not apply to '%s'", a->words[0]);
    }
    if (a->visibility >= 0 && strstr(allowed, "vis") == NULL) {
        return cliUsageError("--visibility does not apply to '%s'",
                             a->words[0]);
    }
    if (a->visTimeout >= 0 && strstr(allowed, "vt") == NULL) {
        return cliUsageError("--visibility-timeout does not apply to '%s'",
                             a->words[0]);
    }
    return 0;
}

/* Run a command that talks to the cluster through a client. */
static int cliClientCommand(const struct cliArgs *a)
{
    struct qraft_options opts = {a->timeoutMs, 0};
    qraft_client *c;
    const char *cmd = a->words[0];
    const char *sub = a->nWords > 1 ? a->words[1] : "";
    int rv;
    int i;
    bool queue = strcmp(cmd, "queue") == 0;

    if (queue && strcmp(sub, "create") == 0) {
        rv = cliExpect(a, 3, 3, "vt");
    } else if (queue && strcmp(sub, "list") == 0) {
        rv = cliExpect(a, 2, 2, "");
    } else if (queue && strcmp(sub, "delete") == 0) {
        rv = cliExpect(a, 3, 3, "");
    } else if (queue) {
        return cliUsageError("unknown command 'queue %s'", sub);
    } else if (strcmp(cmd, "send") == 0) {
        rv = cliExpect(a, 3, 3, "");
    } else if (strcmp(cmd, "recv") == 0) {
        rv = cliExpect(a, 2, 2, "max vis");
    } else if (strcmp(cmd, "delete") == 0) {
        rv = cliExpect(a, 3, 0, "");
    } else {
        return cliUsageError("unknown command '%s'", cmd);
    }
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
    if (queue && strcmp(sub, "create") == 0) {
        rv = qraft_queue_create(c, a->words[2], (int)a->visTimeout);
        rv = rv != 0 ? cliFail(rv, qraft_errmsg(c)) : 0;
    } else if (queue && strcmp(sub, "list") == 0) {
        rv = cliQueueList(c, a);
    } else if (queue) {
        rv = qraft_queue_delete(c, a->words[2]);
        rv = rv != 0 ? cliFail(rv, qraft_errmsg(c)) : 0;
    } else if (strcmp(cmd, "send") == 0) {
        rv = cliSend(c, a);
    } else if (strcmp(cmd, "recv") == 0) {
        rv = cliRecv(c, a);
    } else {
        for (i = 2, rv = 0; i < a->nWords && rv == 0; i++) {
            rv = qraft_delete(c, a->words[1], a->words[i]);
            rv = rv != 0 ? cliFail(rv, qraft_errmsg(c)) : 0;
        }
    }
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
        rv = cliExpect(&a, 2, 2, "");
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
