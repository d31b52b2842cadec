/* Real qraftd processes on 127.0.0.1 for integration tests.
 *
 * Every process a test starts is stopped by PID (testClusterStop), and every
 * wait is bounded in time. Node i (0-based) of a cluster at base port P
 * listens on raft port P+1+i and client port P+101+i, in zone az(i%3+1). */
#ifndef QRAFT_TEST_CLUSTER_H
#define QRAFT_TEST_CLUSTER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "client/qraft.h"

#define TEST_NODES_MAX 5

struct testNode
{
    uint64_t id;
    pid_t pid; /* 0 when not running */
    char dir[256];
    char client_addr[64];
    char raft_addr[64];
};

struct testCluster
{
    unsigned n;
    int base_port;
    char dir[256];
    char extra[512]; /* more qraftd flags, space separated */
    char node_extra[TEST_NODES_MAX][128]; /* flags for one node only */
    char servers[512];
    struct testNode nodes[TEST_NODES_MAX];
};

/* Lay out and start @n nodes; waits until a leader accepts writes (bounded by
 * @timeout_ms). Returns 0 or -1. */
int testClusterStart(struct testCluster *c, unsigned n, int base_port, const char *extra,
                     int timeout_ms);

/* Start node @i (again), with the same flags. */
int testNodeStart(struct testCluster *c, unsigned i);

/* Send @sig to node @i and, for SIGKILL/SIGTERM, reap it (bounded). Returns
 * its exit status as from waitpid, or -1. */
int testNodeStop(struct testCluster *c, unsigned i, int sig, int timeout_ms);

/* Index of the node that reports itself leader, or -1 after @timeout_ms. */
int testClusterLeader(struct testCluster *c, int timeout_ms);

/* Status of node @i; 0 or an error. */
int testNodeStatus(struct testCluster *c, unsigned i, struct qraft_node_status *st);

/* Wait until every running node has applied the leader's applied index
 * (read after the wait begins). Returns 0, or -1 after @timeout_ms. */
int testClusterWaitCaughtUp(struct testCluster *c, int timeout_ms);

/* Stop every node (SIGTERM, then SIGKILL after a grace period) and, if
 * @remove, delete the directory. */
void testClusterStop(struct testCluster *c, bool remove);

/* Milliseconds on the monotonic clock. */
uint64_t testNowMs(void);

/* Sleep @ms milliseconds. */
void testSleepMs(unsigned ms);

#endif /* QRAFT_TEST_CLUSTER_H */
