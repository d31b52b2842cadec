/* qraft queue ...: create, list, delete, attrs, set, purge, redrive, tags,
 * tag, untag (delete, purge and untag are one library call each, made in
 * cli.c's dispatch). */
#include "client/cli.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Scratch space for the NAME=VALUE words of one command. */
static char cliQueueBuf[CLI_ARGS_MAX][CLI_PAIR_MAX];

/* Attributes of one command (queue create, set, tag). */
static struct qraft_attr cliQueueAttrs[CLI_ARGS_MAX];

/* Split "K=V" words as cliPairs does, printing a usage error. Returns 0
 * or 2. */
static int cliQueuePairs(const char *const *words, int n,
                         struct qraft_attr *out, const char *what)
{
    char err[CLI_ERR_MAX];
    if (cliPairs(words, n, out, cliQueueBuf, what, err, sizeof err) != 0) {
        return cliUsageError("%s", err);
    }
    return 0;
}

/* Order attributes by name. */
static int cliQueueAttrCmp(const void *x, const void *y)
{
    return strcmp(((const struct qraft_attr *)x)->name,
                  ((const struct qraft_attr *)y)->name);
}

/* Print attributes or tags sorted: Name=Value lines, or with --json one
 * object {"@key":{...}}. */
static void cliQueuePrintAttrs(const struct cliArgs *a, const char *key,
                               struct qraft_attr *v, size_t n)
{
    size_t i;
    if (n > 0) {
        qsort(v, n, sizeof *v, cliQueueAttrCmp);
    }
    if (a->json) {
        printf("{\"%s\":{", key);
        for (i = 0; i < n; i++) {
            cliJsonKv(stdout, i == 0, v[i].name, v[i].value);
        }
        printf("}}\n");
        return;
    }
    for (i = 0; i < n; i++) {
        printf("%s=%s\n", v[i].name, v[i].value);
    }
}

/* qraft queue create NAME [options]. */
int cliQueueCreate(qraft_client *c, const struct cliArgs *a)
{
    static const struct {
        int opt;
        const char *attr;
        long lo, hi;
    } nums[] = {
        {CLI_O_VIS_TIMEOUT, "VisibilityTimeout", 0, QRAFT_VISIBILITY_MAX},
        {CLI_O_RETENTION, "MessageRetentionPeriod", 0, 100000000},
        {CLI_O_DELAY, "DelaySeconds", 0, 100000},
        {CLI_O_MAX_SIZE, "MaximumMessageSize", 0, 100000000},
        {CLI_O_WAIT, "ReceiveMessageWaitTimeSeconds", 0, 100000},
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
        cliQueueAttrs[n++] = (struct qraft_attr){nums[i].attr, numText[i]};
    }
    if (a->opt[CLI_O_FIFO] != NULL) {
        cliQueueAttrs[n++] = (struct qraft_attr){"FifoQueue", "true"};
    }
    if (a->opt[CLI_O_CONTENT_DEDUP] != NULL) {
        cliQueueAttrs[n++] =
            (struct qraft_attr){"ContentBasedDeduplication", "true"};
    }
    if ((a->opt[CLI_O_DLQ] == NULL) != (a->opt[CLI_O_MAX_RECEIVES] == NULL)) {
        return cliUsageError("--dlq and --max-receives go together");
    }
    if (a->opt[CLI_O_DLQ] != NULL) {
        rv = cliOptNumber(a, CLI_O_MAX_RECEIVES, 1, 1000000, &v);
        if (rv != 0) {
            return rv;
        }
        if (cliRedrivePolicy(redrive, sizeof redrive, a->opt[CLI_O_DLQ],
                             v) != 0) {
            return cliUsageError("bad --dlq '%s'", a->opt[CLI_O_DLQ]);
        }
        cliQueueAttrs[n++] = (struct qraft_attr){"RedrivePolicy", redrive};
    }
    rv = cliQueuePairs(a->tags, a->nTags, tags, "--tag");
    if (rv != 0) {
        return rv;
    }
    rv = qraft_create_queue(c, a->words[2], cliQueueAttrs, n, tags,
                            (size_t)a->nTags);
    if (rv != 0) {
        return cliFail(rv, qraft_errmsg(c));
    }
    if (a->json) {
        printf("{");
        cliJsonKv(stdout, true, "QueueName", a->words[2]);
        printf("}\n");
    }
    return 0;
}

/* qraft queue list [--prefix P]: every page. */
int cliQueueList(qraft_client *c, const struct cliArgs *a)
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
        rv = qraft_list_queues(c, a->opt[CLI_O_PREFIX], 1000, token, &names, &n,
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
                cliJsonStr(stdout, names[i], strlen(names[i]));
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
int cliQueueShow(qraft_client *c, const struct cliArgs *a, bool tags)
{
    struct qraft_attr *v;
    size_t n;
    int rv = tags ? qraft_list_queue_tags(c, a->words[2], &v, &n)
                  : qraft_get_queue_attributes(c, a->words[2], NULL, 0, &v,
                                               &n);
    if (rv != 0) {
        return cliFail(rv, qraft_errmsg(c));
    }
    cliQueuePrintAttrs(a, tags ? "Tags" : "Attributes", v, n);
    qraft_attrs_free(v, n);
    return 0;
}

/* qraft queue set NAME A=V... and queue tag NAME K=V.... */
int cliQueueSetPairs(qraft_client *c, const struct cliArgs *a,
                            bool tags)
{
    int n = a->nWords - 3;
    int rv = cliQueuePairs(a->words + 3, n, cliQueueAttrs,
                           tags ? "tag" : "attribute");
    if (rv != 0) {
        return rv;
    }
    rv = tags ? qraft_tag_queue(c, a->words[2], cliQueueAttrs, (size_t)n)
              : qraft_set_queue_attributes(c, a->words[2], cliQueueAttrs,
                                           (size_t)n);
    return rv != 0 ? cliFail(rv, qraft_errmsg(c)) : 0;
}

/* qraft queue redrive DLQ [--to QUEUE]. */
int cliQueueRedrive(qraft_client *c, const struct cliArgs *a)
{
    uint64_t moved = 0;
    int rv = qraft_start_message_move_task(c, a->words[2], a->opt[CLI_O_TO],
                                           &moved);
    if (rv != 0) {
        return cliFail(rv, qraft_errmsg(c));
    }
    printf(a->json ? "{\"MovedCount\":%" PRIu64 "}\n" : "%" PRIu64 "\n",
           moved);
    return 0;
}
