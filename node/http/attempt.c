/* ReceiveRequestAttemptId of FIFO receives: a retried ReceiveMessage with
 * the same attempt id gets the first one's messages and receipt handles
 * again, as SQS promises for 5 minutes.
 *
 * The happy path: a FIFO receive that carried an attempt id and succeeded
 * leaves its result here, keyed by account, queue and attempt id; the
 * same request again within HTTP_ATTEMPT_TTL_MS is answered from here
 * without touching the cluster. Failure modes and limits: the cache is
 * this node's, not replicated: a retry sent to another node, or after this
 * node restarts, is a new receive (the client's retries go to the endpoint
 * it was configured with, so the usual retry after a timeout or a dropped
 * connection is covered). At most HTTP_ATTEMPTS_MAX results are kept; an
 * allocation failure keeps nothing (the retry is then a new receive).
 */
#include "node/http/http.h"

#include <stdlib.h>
#include <string.h>

struct httpAttempt
{
    char *key; /* account NUL queue NUL attempt */
    size_t key_len;
    json_t *result;
    uint64_t at;
    struct httpAttempt *next;
};

/* The key of an attempt into @out (malloc'd); 0 or -1. */
static int attemptKey(const char *account, const char *queue, size_t queue_len,
                      const char *attempt, char **out, size_t *len)
{
    size_t a = strlen(account), t = strlen(attempt);
    char *k = malloc(a + 1 + queue_len + 1 + t);

    if (k == NULL) {
        return -1;
    }
    memcpy(k, account, a + 1);
    memcpy(k + a + 1, queue, queue_len);
    k[a + 1 + queue_len] = '\0';
    memcpy(k + a + 1 + queue_len + 1, attempt, t);
    *out = k;
    *len = a + 1 + queue_len + 1 + t;
    return 0;
}

static void attemptFree(struct httpAttempt *e)
{
    json_decref(e->result);
    free(e->key);
    free(e);
}

/* Drop expired entries, and those past the cap. */
static void attemptsPrune(struct http *h, uint64_t now_ms)
{
    struct httpAttempt **link = &h->attempts;
    unsigned kept = 0;

    while (*link != NULL) {
        struct httpAttempt *e = *link;
        if (now_ms - e->at > HTTP_ATTEMPT_TTL_MS || kept >= HTTP_ATTEMPTS_MAX) {
            *link = e->next;
            attemptFree(e);
            h->n_attempts--;
        } else {
            kept++;
            link = &e->next;
        }
    }
}

json_t *httpAttemptGet(struct http *h, const char *account, const char *queue, size_t queue_len,
                       const char *attempt, uint64_t now_ms)
{
    struct httpAttempt *e;
    char *key;
    size_t len;
    json_t *found = NULL;

    if (h->attempts == NULL || attemptKey(account, queue, queue_len, attempt, &key, &len) != 0) {
        return NULL;
    }
    for (e = h->attempts; e != NULL; e = e->next) {
        if (e->key_len == len && memcmp(e->key, key, len) == 0 &&
            now_ms - e->at <= HTTP_ATTEMPT_TTL_MS) {
            found = json_incref(e->result);
            break;
        }
    }
    free(key);
    return found;
}

void httpAttemptPut(struct http *h, const char *account, const char *queue, size_t queue_len,
                    const char *attempt, json_t *result, uint64_t now_ms)
{
    struct httpAttempt *e = calloc(1, sizeof *e);

    if (e == NULL || attemptKey(account, queue, queue_len, attempt, &e->key, &e->key_len) != 0) {
        free(e);
        return;
    }
    e->result = json_incref(result);
    e->at = now_ms;
    e->next = h->attempts;
    h->attempts = e;
    h->n_attempts++;
    attemptsPrune(h, now_ms);
}

void httpAttemptsFree(struct http *h)
{
    while (h->attempts != NULL) {
        struct httpAttempt *e = h->attempts;
        h->attempts = e->next;
        attemptFree(e);
    }
    h->n_attempts = 0;
}
