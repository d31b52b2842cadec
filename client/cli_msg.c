/* qraft send, recv, delete, visibility: the message commands. The recv
 * text lines (ID<TAB>RECEIPT<TAB>RECEIVE_COUNT<TAB>BODY) are parsed by
 * scripts/demo. */
#include "client/cli.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Read stdin, up to the largest body + 1 byte (so that a body too long is
 * refused by the cluster, with its own error). */
static int cliMsgReadStdin(char **out, size_t *len)
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

/* Scratch space for the --attr words of a send. */
static char cliMsgBuf[CLI_ARGS_MAX][CLI_PAIR_MAX];

/* qraft send QUEUE BODY [options]. */
int cliSend(qraft_client *c, const struct cliArgs *a)
{
    struct qraft_send_params p = QRAFT_SEND_PARAMS_INIT;
    struct qraft_message_attr attrs[CLI_ARGS_MAX];
    unsigned char *bins[CLI_ARGS_MAX] = {NULL};
    struct qraft_send_result res;
    const char *body = a->words[2];
    char *in = NULL;
    size_t len = strlen(body);
    char err[CLI_ERR_MAX];
    long delay = -1;
    int i;
    int rv = cliOptNumber(a, CLI_O_DELAY, 0, 100000, &delay);
    if (rv == 0 && cliMsgAttrs(a->attrs, a->nAttrs, attrs, cliMsgBuf, bins,
                               err, sizeof err) != 0) {
        rv = cliUsageError("%s", err);
    }
    if (rv == 0 && strcmp(body, "-") == 0 && cliMsgReadStdin(&in, &len) != 0) {
        fprintf(stderr, "qraft: cannot read the body from stdin\n");
        rv = 1;
    }
    if (rv == 0) {
        p.delay_s = (int)delay;
        p.group_id = a->opt[CLI_O_GROUP];
        p.dedup_id = a->opt[CLI_O_DEDUP_ID];
        p.attrs = attrs;
        p.n_attrs = (size_t)a->nAttrs;
        rv = qraft_send(c, a->words[1], in != NULL ? in : body, len, &p, &res);
        rv = rv != 0 ? cliFail(rv, qraft_errmsg(c)) : 0;
    }
    free(in);
    for (i = 0; i < a->nAttrs; i++) {
        free(bins[i]);
    }
    if (rv != 0) {
        return rv;
    }
    if (a->json) {
        printf("{");
        cliJsonKv(stdout, true, "MessageId", res.message_id);
        cliJsonKv(stdout, false, "MD5OfMessageBody", res.md5_body);
        if (res.md5_attrs[0] != '\0') {
            cliJsonKv(stdout, false, "MD5OfMessageAttributes", res.md5_attrs);
        }
        if (res.sequence_number[0] != '\0') {
            cliJsonKv(stdout, false, "SequenceNumber", res.sequence_number);
        }
        printf("}\n");
    } else if (res.sequence_number[0] != '\0') {
        printf("%s\t%s\n", res.message_id, res.sequence_number);
    } else {
        printf("%s\n", res.message_id);
    }
    return 0;
}

/* Print one received message as a JSON object with SQS's names. */
static void cliMsgJson(const struct qraft_message *m)
{
    char num[24];
    size_t i;
    printf("{");
    cliJsonKv(stdout, true, "MessageId", m->id);
    cliJsonKv(stdout, false, "ReceiptHandle", m->receipt);
    cliJsonKv(stdout, false, "MD5OfBody", m->md5_body);
    printf(",\"Body\":");
    cliJsonStr(stdout, m->body, m->body_len);
    printf(",\"Attributes\":{");
    snprintf(num, sizeof num, "%" PRIu64, m->sent_ms);
    cliJsonKv(stdout, true, "SentTimestamp", num);
    snprintf(num, sizeof num, "%" PRIu32, m->receive_count);
    cliJsonKv(stdout, false, "ApproximateReceiveCount", num);
    snprintf(num, sizeof num, "%" PRIu64, m->first_receive_ms);
    cliJsonKv(stdout, false, "ApproximateFirstReceiveTimestamp", num);
    if (m->group_id[0] != '\0') {
        cliJsonKv(stdout, false, "MessageGroupId", m->group_id);
    }
    if (m->dedup_id[0] != '\0') {
        cliJsonKv(stdout, false, "MessageDeduplicationId", m->dedup_id);
    }
    if (m->sequence_number[0] != '\0') {
        cliJsonKv(stdout, false, "SequenceNumber", m->sequence_number);
    }
    printf("}");
    if (m->md5_attrs[0] != '\0') {
        cliJsonKv(stdout, false, "MD5OfMessageAttributes", m->md5_attrs);
    }
    printf(",\"MessageAttributes\":{");
    for (i = 0; i < m->n_attrs; i++) {
        const struct qraft_message_attr *x = &m->attrs[i];
        bool bin = strncmp(x->type, "Binary", 6) == 0;
        printf(i > 0 ? "," : "");
        cliJsonStr(stdout, x->name, strlen(x->name));
        printf(":{");
        cliJsonKv(stdout, true, "DataType", x->type);
        printf(bin ? ",\"BinaryValue\":" : ",\"StringValue\":");
        if (bin) {
            cliJsonB64(stdout, x->value, x->len);
        } else {
            cliJsonStr(stdout, x->value, x->len);
        }
        printf("}");
    }
    printf("}}\n");
}

/* qraft recv QUEUE [--max N] [--wait S] [--visibility S]. */
int cliRecv(qraft_client *c, const struct cliArgs *a)
{
    struct qraft_receive_params p = QRAFT_RECEIVE_PARAMS_INIT;
    struct qraft_message *msgs;
    long max = 1;
    long vis = -1;
    long wait = -1;
    size_t n;
    size_t i;
    int rv = cliOptNumber(a, CLI_O_MAX, 1, 1000000, &max);
    if (rv == 0) {
        rv = cliOptNumber(a, CLI_O_VISIBILITY, 0, 1000000000, &vis);
    }
    if (rv == 0) {
        rv = cliOptNumber(a, CLI_O_WAIT, 0, 100000, &wait);
    }
    if (rv != 0) {
        return rv;
    }
    p.max = (unsigned)max;
    p.visibility_s = (int)vis;
    p.wait_s = (int)wait;
    rv = qraft_receive(c, a->words[1], &p, &msgs, &n);
    if (rv != 0) {
        return cliFail(rv, qraft_errmsg(c));
    }
    for (i = 0; i < n; i++) {
        const struct qraft_message *m = &msgs[i];
        if (a->json) {
            cliMsgJson(m);
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

/* qraft delete QUEUE RECEIPT...: DeleteMessageBatch, 10 at a time. */
int cliDelete(qraft_client *c, const struct cliArgs *a)
{
    struct qraft_delete_entry e[QRAFT_BATCH_MAX];
    struct qraft_batch_result res[QRAFT_BATCH_MAX];
    int failed = 0;
    int at;
    int n;
    int i;
    int rv;
    for (at = 2; at < a->nWords; at += n) {
        n = a->nWords - at < QRAFT_BATCH_MAX ? a->nWords - at
                                             : QRAFT_BATCH_MAX;
        for (i = 0; i < n; i++) {
            e[i].id = NULL;
            e[i].receipt = a->words[at + i];
        }
        rv = qraft_delete_batch(c, a->words[1], e, (size_t)n, res);
        if (rv != 0) {
            return cliFail(rv, qraft_errmsg(c));
        }
        for (i = 0; i < n; i++) {
            if (res[i].status != QRAFT_OK) {
                fprintf(stderr, "qraft: %s: %s\n", e[i].receipt,
                        res[i].message);
                failed++;
            }
        }
    }
    return failed > 0 ? 1 : 0;
}

/* qraft visibility QUEUE RECEIPT SECONDS. */
int cliVisibility(qraft_client *c, const struct cliArgs *a)
{
    long s;
    int rv;
    if (cliNumber(a->words[3], 0, 1000000000, &s) != 0) {
        return cliUsageError("bad SECONDS '%s'", a->words[3]);
    }
    rv = qraft_change_visibility(c, a->words[1], a->words[2], (int)s);
    return rv != 0 ? cliFail(rv, qraft_errmsg(c)) : 0;
}
