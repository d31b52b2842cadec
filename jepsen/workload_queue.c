/* The queue workload: a standard queue; every body is unique ("pP-N":
 * producer P's Nth message), so the checker can follow each message from
 * its send to its receives. A send whose outcome is unknown is not sent
 * again: a standard queue has no deduplication, and libqraft's own
 * session retries are what users get. The short visibility timeout brings
 * undeleted messages back within the run. */
#include <stdio.h>

#include "jepsen/jepsen.h"

static const struct qraft_attr queue_attrs[] = {
    {"VisibilityTimeout", "3"},
    {"ReceiveMessageWaitTimeSeconds", "0"},
};

static void queueNext(unsigned producer, unsigned producers, unsigned groups, uint64_t *state,
                      char *body, size_t cap, char *group, char *dedup)
{
    (void)producers;
    (void)groups;
    (void)group;
    (void)dedup;
    snprintf(body, cap, "p%u-%llu", producer, (unsigned long long)++state[0]);
}

const struct workloadOps workloadQueue = {
    .name = "queue",
    .queue = "jepsen-queue",
    .attrs = queue_attrs,
    .n_attrs = sizeof queue_attrs / sizeof queue_attrs[0],
    .send_retries = 0,
    .next = queueNext,
};
