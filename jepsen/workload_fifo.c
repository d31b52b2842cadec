/* The fifo workload: a FIFO queue with many message groups. Producer P
 * owns the groups g with g % producers == P and sends to them in turn,
 * each group's bodies numbered 1, 2, ... ("gG/N"), so that N order is the
 * order of sends within the group: the checker's FIFO order check rests
 * on it. The body is also the deduplication id, and a send whose outcome
 * is unknown is sent again with it (up to 3 times), as SQS users are told
 * to: the queue must keep exactly one copy within its 5-minute window. */
#include <stdio.h>

#include "jepsen/jepsen.h"

static const struct qraft_attr fifo_attrs[] = {
    {"FifoQueue", "true"},
    {"VisibilityTimeout", "3"},
    {"ReceiveMessageWaitTimeSeconds", "0"},
};

/* state[0]: turn; state[1 + k]: last N of the producer's k-th group. */
static void fifoNext(unsigned producer, unsigned producers, unsigned groups, uint64_t *state,
                     char *body, size_t cap, char *group, char *dedup)
{
    unsigned owned = 0;
    unsigned k, g;

    if (groups == 0) {
        groups = 1;
    }
    /* How many groups this producer owns (at least one: its own index). */
    for (g = producer; g < groups; g += producers) {
        owned++;
    }
    if (owned == 0) {
        owned = 1;
    }
    if (owned > WORKLOAD_STATE_MAX - 1) {
        owned = WORKLOAD_STATE_MAX - 1;
    }
    k = (unsigned)(state[0]++ % owned);
    g = producer + k * producers;
    snprintf(group, QRAFT_GROUP_ID_MAX, "g%u", g);
    snprintf(body, cap, "g%u/%llu", g, (unsigned long long)++state[1 + k]);
    snprintf(dedup, QRAFT_GROUP_ID_MAX, "%s", body);
}

const struct workloadOps workloadFifo = {
    .name = "fifo",
    .queue = "jepsen.fifo",
    .attrs = fifo_attrs,
    .n_attrs = sizeof fifo_attrs / sizeof fifo_attrs[0],
    .send_retries = 3,
    .next = fifoNext,
};
