/* qraft: the command-line client, on the public API of libqraft only.
 *
 *   qraft [-s ADDR[,ADDR...]] [--json] [--timeout MS] COMMAND ...
 *
 * Exit status: 0 success; 1 the cluster refused or could not be reached,
 * with one line "qraft: ErrName: message" on stderr; 2 usage error.
 * Options may come before or after the command words. --json prints one
 * JSON object per result with SQS's field names (cluster status keeps its
 * own row format, which scripts/demo parses).
 *
 * This file: usage, error reporting, the command table and main. The
 * commands are in cli_queue.c, cli_msg.c and cli_status.c; the pure parts
 * (parsing, JSON, base64) in clitext.c. See cli.h.
 */
#include "client/cli.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The text of qraft --help. */
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

/* ---------------------------------------------------------------------- */
/* Reporting                                                               */

int cliUsageError(const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "qraft: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n(see qraft --help)\n");
    return 2;
}

int cliFail(int rv, const char *msg)
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

int cliOptNumber(const struct cliArgs *a, int k, long lo, long hi,
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
/* Dispatch                                                                */

/* Option bit. */
#define CLI_BIT(o) (1u << (o))

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
    CLI_K_CREATE,
    CLI_K_LIST,
    CLI_K_DELETE_Q,
    CLI_K_ATTRS,
    CLI_K_SET,
    CLI_K_PURGE,
    CLI_K_REDRIVE,
    CLI_K_TAGS,
    CLI_K_TAG,
    CLI_K_UNTAG,
    CLI_K_SEND,
    CLI_K_RECV,
    CLI_K_DELETE,
    CLI_K_VISIBILITY
};

/* Every command that talks to the cluster through a client. */
static const struct cliCmd cliCmds[] = {
    {"queue", "create", 3, 3,
     CLI_BIT(CLI_O_FIFO) | CLI_BIT(CLI_O_CONTENT_DEDUP) |
         CLI_BIT(CLI_O_VIS_TIMEOUT) | CLI_BIT(CLI_O_RETENTION) |
         CLI_BIT(CLI_O_DELAY) | CLI_BIT(CLI_O_MAX_SIZE) |
         CLI_BIT(CLI_O_WAIT) | CLI_BIT(CLI_O_DLQ) |
         CLI_BIT(CLI_O_MAX_RECEIVES) | CLI_BIT(CLI_O_TAG),
     CLI_K_CREATE},
    {"queue", "list", 2, 2, CLI_BIT(CLI_O_PREFIX), CLI_K_LIST},
    {"queue", "delete", 3, 3, 0, CLI_K_DELETE_Q},
    {"queue", "attrs", 3, 3, 0, CLI_K_ATTRS},
    {"queue", "set", 4, 0, 0, CLI_K_SET},
    {"queue", "purge", 3, 3, 0, CLI_K_PURGE},
    {"queue", "redrive", 3, 3, CLI_BIT(CLI_O_TO), CLI_K_REDRIVE},
    {"queue", "tags", 3, 3, 0, CLI_K_TAGS},
    {"queue", "tag", 4, 0, 0, CLI_K_TAG},
    {"queue", "untag", 4, 0, 0, CLI_K_UNTAG},
    {"send", NULL, 3, 3,
     CLI_BIT(CLI_O_GROUP) | CLI_BIT(CLI_O_DEDUP_ID) | CLI_BIT(CLI_O_DELAY) |
         CLI_BIT(CLI_O_ATTR),
     CLI_K_SEND},
    {"recv", NULL, 2, 2,
     CLI_BIT(CLI_O_MAX) | CLI_BIT(CLI_O_WAIT) | CLI_BIT(CLI_O_VISIBILITY),
     CLI_K_RECV},
    {"delete", NULL, 3, 0, 0, CLI_K_DELETE},
    {"visibility", NULL, 4, 4, 0, CLI_K_VISIBILITY},
};

/* Run the command selected by @kind (checked) on client @c. */
static int cliRun(qraft_client *c, const struct cliArgs *a, int kind)
{
    int rv;
    switch (kind) {
        case CLI_K_CREATE:
            return cliQueueCreate(c, a);
        case CLI_K_LIST:
            return cliQueueList(c, a);
        case CLI_K_ATTRS:
        case CLI_K_TAGS:
            return cliQueueShow(c, a, kind == CLI_K_TAGS);
        case CLI_K_SET:
        case CLI_K_TAG:
            return cliQueueSetPairs(c, a, kind == CLI_K_TAG);
        case CLI_K_REDRIVE:
            return cliQueueRedrive(c, a);
        case CLI_K_SEND:
            return cliSend(c, a);
        case CLI_K_RECV:
            return cliRecv(c, a);
        case CLI_K_DELETE:
            return cliDelete(c, a);
        case CLI_K_VISIBILITY:
            return cliVisibility(c, a);
        case CLI_K_UNTAG:
            rv = qraft_untag_queue(c, a->words[2], a->words + 3,
                                   (size_t)(a->nWords - 3));
            break;
        case CLI_K_PURGE:
            rv = qraft_purge_queue(c, a->words[2]);
            break;
        default: /* CLI_K_DELETE_Q */
            rv = qraft_delete_queue(c, a->words[2]);
            break;
    }
    return rv != 0 ? cliFail(rv, qraft_errmsg(c)) : 0;
}

/* Check that only the options in @allowed are set. Returns 0 or 2. */
static int cliCheckOpts(const struct cliArgs *a, unsigned allowed)
{
    int k;
    for (k = 0; k < CLI_O_COUNT; k++) {
        if (a->opt[k] != NULL && !(allowed & CLI_BIT(k))) {
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

/* Parse, then run one command; the exit status as described above. */
int main(int argc, char **argv)
{
    struct cliArgs a;
    qraft_client *check;
    char err[CLI_ERR_MAX];
    int rv = cliParse(argc, argv, &a, err, sizeof err);
    if (rv == -1) {
        fputs(cliUsage, stdout);
        return 0;
    }
    if (rv != 0) {
        return cliUsageError("%s", err);
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
