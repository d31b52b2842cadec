#include "tests/integration/cluster.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

uint64_t testNowMs(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void testSleepMs(unsigned ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static const char *qraftdPath(void)
{
    const char *p = getenv("QRAFTD");
    return p != NULL ? p : "bin/qraftd";
}

int testNodeStart(struct testCluster *c, unsigned i)
{
    struct testNode *node = &c->nodes[i];
    char members[1024];
    char idbuf[32];
    char logpath[300];
    char zone[16];
    char *argv[64];
    char extra[512];
    char *save = NULL;
    char *tok;
    unsigned k;
    int argc = 0;
    pid_t pid;

    members[0] = '\0';
    for (k = 0; k < c->n; k++) {
        char item[200];
        snprintf(item, sizeof item, "%s%llu@az%u@%s@%s", k == 0 ? "" : ",",
                 (unsigned long long)c->nodes[k].id, k % 3 + 1, c->nodes[k].raft_addr,
                 c->nodes[k].client_addr);
        strncat(members, item, sizeof members - strlen(members) - 1);
    }
    snprintf(idbuf, sizeof idbuf, "%llu", (unsigned long long)node->id);
    snprintf(zone, sizeof zone, "az%u", i % 3 + 1);
    snprintf(logpath, sizeof logpath, "%s/log", node->dir);

    argv[argc++] = (char *)qraftdPath();
    argv[argc++] = "--id";
    argv[argc++] = idbuf;
    argv[argc++] = "--zone";
    argv[argc++] = zone;
    argv[argc++] = "--data";
    argv[argc++] = node->dir;
    argv[argc++] = "--raft-addr";
    argv[argc++] = node->raft_addr;
    argv[argc++] = "--client-addr";
    argv[argc++] = node->client_addr;
    argv[argc++] = "--cluster";
    argv[argc++] = members;
    snprintf(extra, sizeof extra, "%s %s", c->extra, c->node_extra[i]);
    for (tok = strtok_r(extra, " ", &save); tok != NULL && argc < 62;
         tok = strtok_r(NULL, " ", &save)) {
        argv[argc++] = tok;
    }
    argv[argc] = NULL;

    pid = fork();
    if (pid < 0) {
        return -1;
    }
    if (pid == 0) {
        int fd = open(logpath, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, STDERR_FILENO);
            dup2(fd, STDOUT_FILENO);
            close(fd);
        }
        execv(argv[0], argv);
        _exit(127);
    }
    node->pid = pid;
    return 0;
}

int testNodeStop(struct testCluster *c, unsigned i, int sig, int timeout_ms)
{
    struct testNode *node = &c->nodes[i];
    uint64_t deadline = testNowMs() + (uint64_t)timeout_ms;
    int status;

    if (node->pid == 0) {
        return -1;
    }
    kill(node->pid, sig);
    while (testNowMs() < deadline) {
        pid_t r = waitpid(node->pid, &status, WNOHANG);
        if (r == node->pid) {
            node->pid = 0;
            return status;
        }
        testSleepMs(10);
    }
    /* Past the grace period: make sure it is gone. */
    kill(node->pid, SIGKILL);
    waitpid(node->pid, &status, 0);
    node->pid = 0;
    return -1;
}

int testNodeStatus(struct testCluster *c, unsigned i, struct qraft_node_status *st)
{
    char errmsg[128];
    if (c->nodes[i].pid == 0) {
        return QRAFT_EUNAVAILABLE;
    }
    return qraft_node_status(c->nodes[i].client_addr, 500, st, errmsg, sizeof errmsg);
}

int testClusterLeader(struct testCluster *c, int timeout_ms)
{
    uint64_t deadline = testNowMs() + (uint64_t)timeout_ms;
    struct qraft_node_status st;
    unsigned i;

    do {
        for (i = 0; i < c->n; i++) {
            if (testNodeStatus(c, i, &st) == 0 && strcmp(st.state, "leader") == 0) {
                return (int)i;
            }
        }
        testSleepMs(50);
    } while (testNowMs() < deadline);
    return -1;
}

int testClusterWaitCaughtUp(struct testCluster *c, int timeout_ms)
{
    uint64_t deadline = testNowMs() + (uint64_t)timeout_ms;
    struct qraft_node_status st;
    uint64_t target = 0;
    int leader;
    unsigned i;

    leader = testClusterLeader(c, timeout_ms);
    if (leader < 0 || testNodeStatus(c, (unsigned)leader, &st) != 0) {
        return -1;
    }
    target = st.applied_index;
    do {
        bool all = true;
        for (i = 0; i < c->n; i++) {
            if (c->nodes[i].pid == 0) {
                continue;
            }
            if (testNodeStatus(c, i, &st) != 0 || st.applied_index < target) {
                all = false;
            }
        }
        if (all) {
            return 0;
        }
        testSleepMs(50);
    } while (testNowMs() < deadline);
    return -1;
}

int testClusterStart(struct testCluster *c, unsigned n, int base_port, const char *extra,
                     int timeout_ms)
{
    unsigned i;
    qraft_client *client;
    uint64_t deadline;
    int rv;

    memset(c, 0, sizeof *c);
    c->n = n;
    c->base_port = base_port;
    snprintf(c->extra, sizeof c->extra, "%s", extra != NULL ? extra : "");
    snprintf(c->dir, sizeof c->dir, "/tmp/qraft-test-XXXXXX");
    if (mkdtemp(c->dir) == NULL) {
        return -1;
    }
    for (i = 0; i < n; i++) {
        struct testNode *node = &c->nodes[i];
        node->id = i + 1;
        snprintf(node->dir, sizeof node->dir, "%s/node%u", c->dir, i + 1);
        mkdir(node->dir, 0755);
        snprintf(node->raft_addr, sizeof node->raft_addr, "127.0.0.1:%d", base_port + 1 + (int)i);
        snprintf(node->client_addr, sizeof node->client_addr, "127.0.0.1:%d",
                 base_port + 101 + (int)i);
        strncat(c->servers, i == 0 ? "" : ",", sizeof c->servers - strlen(c->servers) - 1);
        strncat(c->servers, node->client_addr, sizeof c->servers - strlen(c->servers) - 1);
    }
    for (i = 0; i < n; i++) {
        if (testNodeStart(c, i) != 0) {
            testClusterStop(c, true);
            return -1;
        }
    }
    /* Ready means a write is acknowledged. */
    if (qraft_open(c->servers, &(struct qraft_options){.timeout_ms = 2000}, &client) != 0) {
        testClusterStop(c, true);
        return -1;
    }
    deadline = testNowMs() + (uint64_t)timeout_ms;
    do {
        rv = qraft_create_queue(client, "ready-probe", NULL, 0, NULL, 0);
    } while (rv != 0 && testNowMs() < deadline);
    qraft_close(client);
    if (rv != 0) {
        fprintf(stderr, "cluster in %s: no leader accepted a write: %s\n", c->dir,
                qraft_errname(rv));
        testClusterStop(c, false);
        return -1;
    }
    return 0;
}

void testClusterStop(struct testCluster *c, bool remove)
{
    unsigned i;
    char cmd[300];

    for (i = 0; i < c->n; i++) {
        if (c->nodes[i].pid != 0) {
            testNodeStop(c, i, SIGTERM, 10000);
        }
    }
    if (remove && strncmp(c->dir, "/tmp/qraft-test-", 16) == 0) {
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", c->dir);
        if (system(cmd) != 0) {
            fprintf(stderr, "could not remove %s\n", c->dir);
        }
    }
}
