/* Private declarations of the qraft CLI, shared by its files. qraft.h stays
 * the one public header; nothing here is exported.
 *
 * Files:
 * - cli.c: usage, error reporting, the command table, main.
 * - cli_queue.c, cli_msg.c, cli_status.c: the commands, one concern each.
 * - clitext.c: the pure parts (option parsing, NAME=VALUE and --attr
 *   words, base64, JSON strings, RedrivePolicy, filling status rows from
 *   member lists). It is compiled into libqraft with hidden visibility
 *   (its name does not match the Makefile's client/cli.c client/cli_*.c),
 *   so that tests/unit/test_client_cli.c, which links libqraft alone, can
 *   call it. It does no I/O except on the FILE it is given.
 */
#ifndef QRAFT_CLIENT_CLI_H
#define QRAFT_CLIENT_CLI_H

#include "client/qraft.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Used when neither -s nor QRAFT_SERVERS is given. */
#define CLI_SERVERS_DEFAULT "127.0.0.1:7101,127.0.0.1:7102,127.0.0.1:7103"

/* Per-node deadline of cluster status without --timeout, ms. */
#define CLI_STATUS_TIMEOUT 2000

/* Most nodes cluster status shows. */
#define CLI_NODES_MAX 64

/* Most positional words, and repeated options, on a command line. */
#define CLI_ARGS_MAX 256

/* Room for one NAME=VALUE word, with its terminating NUL. */
#define CLI_PAIR_MAX 512

/* Room for an error message of the pure helpers (long enough for any
 * message about a CLI_PAIR_MAX word). */
#define CLI_ERR_MAX 1024

/* Longest --dlq name cliRedrivePolicy accepts. */
#define CLI_DLQ_MAX 500

/* Command options: flag name, whether it takes a value. The index is the
 * option's bit in a command's allowed set. */
#define CLI_OPTS(X)                                                           \
    X(CLI_O_FIFO, "--fifo", false)                                            \
    X(CLI_O_CONTENT_DEDUP, "--content-dedup", false)                          \
    X(CLI_O_VIS_TIMEOUT, "--visibility-timeout", true)                        \
    X(CLI_O_RETENTION, "--retention", true)                                   \
    X(CLI_O_DELAY, "--delay", true)                                           \
    X(CLI_O_MAX_SIZE, "--max-size", true)                                     \
    X(CLI_O_WAIT, "--wait", true)                                             \
    X(CLI_O_DLQ, "--dlq", true)                                               \
    X(CLI_O_MAX_RECEIVES, "--max-receives", true)                             \
    X(CLI_O_TAG, "--tag", true)                                               \
    X(CLI_O_PREFIX, "--prefix", true)                                         \
    X(CLI_O_TO, "--to", true)                                                 \
    X(CLI_O_GROUP, "--group", true)                                           \
    X(CLI_O_DEDUP_ID, "--dedup-id", true)                                     \
    X(CLI_O_ATTR, "--attr", true)                                             \
    X(CLI_O_MAX, "--max", true)                                               \
    X(CLI_O_VISIBILITY, "--visibility", true)

/* Option indexes. */
enum {
#define CLI__OPT_ENUM(CODE, NAME, VALUE) CODE,
    CLI_OPTS(CLI__OPT_ENUM)
#undef CLI__OPT_ENUM
        CLI_O_COUNT
};

/* Option names ("--fifo"), by index. */
extern const char *const cliOptNames[CLI_O_COUNT];

/* Whether each option takes a value, by index. */
extern const bool cliOptValue[CLI_O_COUNT];

/* The parsed command line. Strings point into argv (or the environment). */
struct cliArgs
{
    const char *servers;                 /* -s, $QRAFT_SERVERS or default */
    bool json;                           /* --json */
    int timeoutMs;                       /* --timeout, 0: library default */
    const char *opt[CLI_O_COUNT];        /* last value of each option ("" for
                                            flags), NULL if absent */
    const char *tags[CLI_ARGS_MAX];      /* every --tag */
    int nTags;                           /* entries in tags */
    const char *attrs[CLI_ARGS_MAX];     /* every --attr */
    int nAttrs;                          /* entries in attrs */
    const char *words[CLI_ARGS_MAX];     /* command words and operands */
    int nWords;                          /* entries in words */
};

/* One row of cluster status. */
struct cliNode
{
    bool known;                  /* id is known */
    bool up;                     /* answered */
    uint64_t id;                 /* node id */
    char addr[128];              /* client address asked, "" if none */
    struct qraft_node_status st; /* its answer; if down, all zero except
                                    zone and role from a member list */
};

/* ---------------------------------------------------------------------- */
/* Pure helpers (clitext.c, in libqraft, hidden)                           */

/* Parse a whole decimal number in [lo, hi] into *out. Returns 0 or -1
 * (empty, trailing bytes, out of range; *out untouched). */
int cliNumber(const char *s, long lo, long hi, long *out);

/* Index of the command option @o ("--fifo"), or -1. */
int cliOptIndex(const char *o);

/* Parse argv into @a (zeroed first): global options (-s/--servers,
 * --json, --timeout MS), command options anywhere, the rest as words.
 * -s falls back on $QRAFT_SERVERS, then CLI_SERVERS_DEFAULT.
 * Returns:
 * - 0: parsed;
 * - 2: usage error, the reason in @err (no "qraft: " prefix);
 * - -1: -h or --help was seen (nothing printed). */
int cliParse(int argc, char **argv, struct cliArgs *a, char *err,
             size_t errlen);

/* Split the "K=V" @words into @out, pointing into @buf (one copy per
 * word, the '=' replaced by a NUL). @what names the words in errors.
 * Returns 0, or -1 with the reason in @err (word longer than
 * CLI_PAIR_MAX - 1 bytes, no '=', or an empty name). */
int cliPairs(const char *const *words, int n, struct qraft_attr *out,
             char (*buf)[CLI_PAIR_MAX], const char *what, char *err,
             size_t errlen);

/* Parse --attr words NAME=V (type String) or NAME:TYPE=V into @out,
 * pointing into @buf. A TYPE starting with "Binary" has its value decoded
 * from base64 into malloc'd bins[i]; every other bins[i] is left alone.
 * The caller sets bins[0..n) to NULL before, and frees them after, even
 * on error. Returns 0, or -1 with the reason in @err. */
int cliMsgAttrs(const char *const *words, int n,
                struct qraft_message_attr *out, char (*buf)[CLI_PAIR_MAX],
                unsigned char **bins, char *err, size_t errlen);

/* Decode base64 (RFC 4648 alphabet; '=' padding optional, and nothing but
 * '=' after the first '=') @s into malloc'd *out of *len bytes. Bits of a
 * final partial group that make no whole byte are dropped ("QQ" is "A",
 * "Q" is empty). The caller frees *out. Returns 0 or -1 (a byte outside
 * the alphabet, or out of memory; *out untouched). */
int cliB64Decode(const char *s, unsigned char **out, size_t *len);

/* Write @len bytes to @f as a JSON string: '"', '\\', \n, \r, \t escaped,
 * other control bytes and DEL as \u00XX, well-formed UTF-8 (no overlong
 * forms, no surrogates, nothing above U+10FFFF) as it is, and every byte
 * that is not part of well-formed UTF-8 as \u00XX. */
void cliJsonStr(FILE *f, const void *data, size_t len);

/* Write @len bytes to @f in base64 (with padding), as a JSON string. */
void cliJsonB64(FILE *f, const void *data, size_t len);

/* Write "key":"value" to @f, with a comma before it unless @first. */
void cliJsonKv(FILE *f, bool first, const char *key, const char *value);

/* Build the RedrivePolicy attribute value for dead-letter queue @dlq and
 * @maxReceives into @buf:
 * {"deadLetterTargetArn":"DLQ","maxReceiveCount":N}. The name is not
 * checked further (the cluster does). Returns 0, or -1 if @dlq is longer
 * than CLI_DLQ_MAX, holds '"' or '\\', or the result does not fit. */
int cliRedrivePolicy(char *buf, size_t len, const char *dlq,
                     long maxReceives);

/* For every row of @nodes that did not answer, fill what the member lists
 * of the rows that did answer say of it, first answer first: the id of a
 * row whose address is a member's client address, and the zone and role
 * (where still empty) of a row whose id is known. */
void cliStatusFill(struct cliNode *nodes, int n);

/* ---------------------------------------------------------------------- */
/* Reporting (cli.c)                                                       */

/* Print "qraft: MESSAGE\n(see qraft --help)" on stderr. Returns 2. */
__attribute__((format(printf, 1, 2))) int cliUsageError(const char *fmt,
                                                        ...);

/* Report a failure of the library on stderr: "qraft: ErrName: message"
 * (@msg as it is if it already starts with "ErrName:"). Returns 1. */
int cliFail(int rv, const char *msg);

/* A numeric option @k in [lo, hi] into *out (left alone if absent).
 * Returns 0, or 2 with the usage error printed. */
int cliOptNumber(const struct cliArgs *a, int k, long lo, long hi,
                 long *out);

/* ---------------------------------------------------------------------- */
/* Commands (each returns the exit status, errors already printed)         */

/* qraft queue create NAME [options] (cli_queue.c). */
int cliQueueCreate(qraft_client *c, const struct cliArgs *a);

/* qraft queue list [--prefix P]: every page (cli_queue.c). */
int cliQueueList(qraft_client *c, const struct cliArgs *a);

/* qraft queue attrs NAME, or queue tags NAME if @tags (cli_queue.c). */
int cliQueueShow(qraft_client *c, const struct cliArgs *a, bool tags);

/* qraft queue set NAME A=V..., or queue tag NAME K=V... if @tags
 * (cli_queue.c). */
int cliQueueSetPairs(qraft_client *c, const struct cliArgs *a, bool tags);

/* qraft queue redrive DLQ [--to QUEUE] (cli_queue.c). */
int cliQueueRedrive(qraft_client *c, const struct cliArgs *a);

/* qraft send QUEUE BODY [options] (cli_msg.c). */
int cliSend(qraft_client *c, const struct cliArgs *a);

/* qraft recv QUEUE [--max N] [--wait S] [--visibility S] (cli_msg.c). */
int cliRecv(qraft_client *c, const struct cliArgs *a);

/* qraft delete QUEUE RECEIPT...: DeleteMessageBatch, 10 at a time
 * (cli_msg.c). */
int cliDelete(qraft_client *c, const struct cliArgs *a);

/* qraft visibility QUEUE RECEIPT SECONDS (cli_msg.c). */
int cliVisibility(qraft_client *c, const struct cliArgs *a);

/* qraft cluster status: one row per node, each asked alone
 * (cli_status.c). */
int cliClusterStatus(const struct cliArgs *a);

#endif /* QRAFT_CLIENT_CLI_H */
