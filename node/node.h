/* qraftd: one node of a qraft cluster.
 *
 * The node owns the libuv loop. It opens the state machine (fsm/), then the
 * replica (raft/), then the client listener; it decodes client frames,
 * checks what can be checked before the log (malformed input, leadership),
 * proposes commands and answers from their apply callbacks.
 */
#ifndef QRAFT_NODE_H
#define QRAFT_NODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NODE_ADDR_MAX 128
#define NODE_ZONE_MAX 64
#define NODE_PEERS_MAX 16

/* Log levels. */
enum { NODE_LOG_DEBUG, NODE_LOG_INFO, NODE_LOG_WARN, NODE_LOG_ERROR };

/* A member of the cluster as --cluster gives it. */
struct nodePeer
{
    uint64_t id;
    char zone[NODE_ZONE_MAX];
    char raft_addr[NODE_ADDR_MAX];
    char client_addr[NODE_ADDR_MAX];
};

struct nodeConfig
{
    uint64_t id;
    char zone[NODE_ZONE_MAX];
    char data_dir[1024];
    char raft_addr[NODE_ADDR_MAX];
    char client_addr[NODE_ADDR_MAX];
    /* Where to listen, when it differs from the address peers and clients
     * are told (behind NAT, a proxy, or the chaos harness): empty means
     * the announced address. */
    char raft_bind[NODE_ADDR_MAX];
    char client_bind[NODE_ADDR_MAX];
    struct nodePeer peers[NODE_PEERS_MAX];
    size_t n_peers;
    unsigned election_timeout_ms;
    unsigned heartbeat_timeout_ms;
    unsigned snapshot_threshold;
    unsigned snapshot_trailing;
    size_t snapshot_log_max; /* bytes of log between snapshots, at most (0: no bound) */
    unsigned tick_interval_ms;
    uint64_t session_idle_ms;
    size_t max_frame;
    size_t map_size;
    int log_level;
    unsigned fault_append_after; /* tests only, see --fault-append-after */
    /* The AWS-compatible HTTP endpoint (node/http/): */
    char http_addr[NODE_ADDR_MAX];      /* --http-addr; "" = no listener */
    char http_advertise[NODE_ADDR_MAX]; /* --http-advertise; "" = http_addr */
    char region[NODE_ZONE_MAX];         /* --region, in QueueArns */
    char credentials[1024];             /* --credentials FILE, or "" */
    bool http_auth_none;                /* --http-auth none: no SigV4 */
};

/* Fill @c from argv (and --config FILE, whose keys are the long flags
 * without dashes, one `key = value` per line; flags override the file).
 * Returns 0, 1 after printing help, or -1 with a sentence in errmsg. */
int nodeConfigParse(struct nodeConfig *c,
                    int argc,
                    char **argv,
                    char *errmsg,
                    size_t errmsg_len);

/* Run the node until SIGTERM/SIGINT (exit status 0) or a fatal error
 * (non-zero). */
int nodeRun(const struct nodeConfig *c);

/* Structured log line on stderr: `ts level node=ID msg="..." k=v ...`. */
void nodeLogSetup(uint64_t id, int level);
void nodeLog(int level, const char *msg, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Parse "debug", "info", "warn", "error"; -1 if unknown. */
int nodeLogLevel(const char *name);

#endif /* QRAFT_NODE_H */
