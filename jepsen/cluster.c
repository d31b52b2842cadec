/* The nodes under test, as processes of the harness.
 *
 * Each node is an unmodified bin/qraftd. It binds its real ports and
 * announces the proxy's front ports (--raft-bind/--client-bind), so that
 * its peers and the workload's clients reach it only through the proxy,
 * while the harness asks it for its status directly. Its clock can be
 * moved by the clock fault: with libfaketime preloaded, the node reads the
 * offset in its clock file (re-read every second); its monotonic clock,
 * which raft's timers use, is left alone.
 *
 * Only the main thread calls in here, so the process table needs no lock.
 * Every node is started with PR_SET_PDEATHSIG: if the harness dies, so do
 * its nodes, and nothing is left listening. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "jepsen/jepsen.h"

#define FAKETIME_LIB "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"


static int writeFile(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        return -1;
    }
    fputs(text, f);
    return fclose(f) == 0 ? 0 : -1;
}

int clusterInit(struct jcluster *c,
                unsigned n,
                unsigned zones,
                uint16_t base_port,
                const char *qraftd,
                const char *root,
                bool faketime,
                struct history *history,
                char *errmsg,
                size_t len)
{
    size_t off = 0;
    size_t soff = 0;
    unsigned i;

    memset(c, 0, sizeof *c);
    if (n < 1 || n > JEPSEN_NODES_MAX || zones < 1 || zones > n) {
        snprintf(errmsg, len, "bad cluster shape: %u nodes in %u zones", n, zones);
        return -1;
    }
    c->n = n;
    c->zones = zones;
    c->base_port = base_port;
    c->history = history;
    snprintf(c->qraftd, sizeof c->qraftd, "%s", qraftd);
    snprintf(c->root, sizeof c->root, "%s", root);
    if (access(qraftd, X_OK) != 0) {
        snprintf(errmsg, len, "%s: not an executable (make all builds bin/qraftd)", qraftd);
        return -1;
    }
    if (faketime) {
        if (access(FAKETIME_LIB, R_OK) != 0) {
            snprintf(errmsg, len, "clock faults need libfaketime (%s): scripts/install-deps",
                     FAKETIME_LIB);
            return -1;
        }
        snprintf(c->faketime_lib, sizeof c->faketime_lib, "%s", FAKETIME_LIB);
    }
    for (i = 0; i < n; i++) {
        struct jnode *node = &c->nodes[i];
        node->index = i;
        node->id = i + 1;
        node->zone = i % zones;
        node->raft_back = (uint16_t)(base_port + 1 + i);
        node->raft_front = (uint16_t)(base_port + 21 + i);
        node->client_back = (uint16_t)(base_port + 101 + i);
        node->client_front = (uint16_t)(base_port + 121 + i);
        snprintf(node->root, sizeof node->root, "%s/n%u", root, i + 1);
        snprintf(node->data, sizeof node->data, "%s/data", node->root);
        snprintf(node->clock_file, sizeof node->clock_file, "%s/clock", node->root);
        if ((mkdir(node->root, 0755) != 0 && errno != EEXIST) ||
            (mkdir(node->data, 0755) != 0 && errno != EEXIST) ||
            writeFile(node->clock_file, "+0\n") != 0) {
            snprintf(errmsg, len, "%s: %s", node->root, strerror(errno));
            return -1;
        }
        off += (size_t)snprintf(c->cluster_flag + off, sizeof c->cluster_flag - off,
                                "%s%u@az%u@127.0.0.1:%u@127.0.0.1:%u", i > 0 ? "," : "",
                                i + 1, node->zone + 1, node->raft_front, node->client_front);
        soff += (size_t)snprintf(c->servers + soff, sizeof c->servers - soff,
                                 "%s127.0.0.1:%u", i > 0 ? "," : "", node->client_front);
    }
    return 0;
}

/* In the child, between fork and exec: only async-signal-safe calls. */
static void execNode(const struct jcluster *c, const struct jnode *node, char **argv,
                     char **envp, int log_fd)
{
    int null_fd = open("/dev/null", O_RDONLY);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (null_fd >= 0) {
        dup2(null_fd, 0);
    }
    dup2(log_fd, 1);
    dup2(log_fd, 2);
    (void)node;
    execve(c->qraftd, argv, envp);
    _exit(127);
}

extern char **environ;

int clusterStart(struct jcluster *c, unsigned i)
{
    struct jnode *node = &c->nodes[i];
    char id[24], zone[24], raft_addr[32], raft_bind[32], client_addr[32], client_bind[32];
    char log_path[600];
    char env_preload[300], env_file[600], env_asan[600];
    char *argv[32];
    char *envp[256];
    size_t n_env = 0;
    int argc = 0;
    int log_fd;
    pid_t pid;
    size_t k;

    if (node->state != JNODE_DOWN) {
        return 0;
    }
    snprintf(id, sizeof id, "%llu", (unsigned long long)node->id);
    snprintf(zone, sizeof zone, "az%u", node->zone + 1);
    snprintf(raft_addr, sizeof raft_addr, "127.0.0.1:%u", node->raft_front);
    snprintf(raft_bind, sizeof raft_bind, "127.0.0.1:%u", node->raft_back);
    snprintf(client_addr, sizeof client_addr, "127.0.0.1:%u", node->client_front);
    snprintf(client_bind, sizeof client_bind, "127.0.0.1:%u", node->client_back);
    snprintf(log_path, sizeof log_path, "%s/log", node->root);

    argv[argc++] = c->qraftd;
    argv[argc++] = "--id";
    argv[argc++] = id;
    argv[argc++] = "--zone";
    argv[argc++] = zone;
    argv[argc++] = "--data";
    argv[argc++] = node->data;
    argv[argc++] = "--raft-addr";
    argv[argc++] = raft_addr;
    argv[argc++] = "--raft-bind";
    argv[argc++] = raft_bind;
    argv[argc++] = "--client-addr";
    argv[argc++] = client_addr;
    argv[argc++] = "--client-bind";
    argv[argc++] = client_bind;
    argv[argc++] = "--cluster";
    argv[argc++] = c->cluster_flag;
    /* Snapshots (and their installs on lagging nodes) happen within a
     * short run, so that faults meet them too. */
    argv[argc++] = "--snapshot-threshold";
    argv[argc++] = "1024";
    argv[argc++] = "--snapshot-trailing";
    argv[argc++] = "256";
    /* A small map: the disk-full fault's tmpfs must hold it. */
    argv[argc++] = "--map-size";
    argv[argc++] = "256";
    argv[argc] = NULL;

    for (k = 0; environ[k] != NULL && n_env < 240; k++) {
        if (strncmp(environ[k], "LD_PRELOAD=", 11) != 0 &&
            strncmp(environ[k], "FAKETIME", 8) != 0 &&
            strncmp(environ[k], "ASAN_OPTIONS=", 13) != 0) {
            envp[n_env++] = environ[k];
        }
    }
    if (c->faketime_lib[0] != '\0') {
        /* A sanitized qraftd wants its runtime first among the loaded
         * libraries; libfaketime preloaded comes before it. */
        const char *asan = getenv("ASAN_OPTIONS");
        snprintf(env_asan, sizeof env_asan, "ASAN_OPTIONS=%s%sverify_asan_link_order=0",
                 asan != NULL ? asan : "", asan != NULL && asan[0] != '\0' ? ":" : "");
        envp[n_env++] = env_asan;
        snprintf(env_preload, sizeof env_preload, "LD_PRELOAD=%s", c->faketime_lib);
        snprintf(env_file, sizeof env_file, "FAKETIME_TIMESTAMP_FILE=%s", node->clock_file);
        envp[n_env++] = env_preload;
        envp[n_env++] = env_file;
        envp[n_env++] = "FAKETIME_CACHE_DURATION=1";
        envp[n_env++] = "FAKETIME_DONT_FAKE_MONOTONIC=1";
        envp[n_env++] = "NO_FAKE_STAT=1";
    }
    if (c->faketime_lib[0] == '\0' && getenv("ASAN_OPTIONS") != NULL) {
        snprintf(env_asan, sizeof env_asan, "ASAN_OPTIONS=%s", getenv("ASAN_OPTIONS"));
        envp[n_env++] = env_asan;
    }
    envp[n_env] = NULL;

    log_fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (log_fd < 0) {
        historyAddf(c->history, "harness", "fail", "check", "start:n%u cannot open %s: %s",
                    i + 1, log_path, strerror(errno));
        return -1;
    }
    pid = fork();
    if (pid == 0) {
        execNode(c, node, argv, envp, log_fd);
    }
    close(log_fd);
    if (pid < 0) {
        historyAddf(c->history, "harness", "fail", "check", "start:n%u fork: %s", i + 1,
                    strerror(errno));
        return -1;
    }
    node->pid = pid;
    node->state = JNODE_UP;
    node->expect_exit = false;
    return 0;
}

void clusterKill(struct jcluster *c, unsigned i)
{
    struct jnode *node = &c->nodes[i];
    int status;

    if (node->state == JNODE_DOWN) {
        return;
    }
    kill(node->pid, SIGKILL);
    waitpid(node->pid, &status, 0);
    node->pid = 0;
    node->state = JNODE_DOWN;
}

void clusterPause(struct jcluster *c, unsigned i)
{
    struct jnode *node = &c->nodes[i];
    if (node->state == JNODE_UP) {
        kill(node->pid, SIGSTOP);
        node->state = JNODE_PAUSED;
    }
}

void clusterResume(struct jcluster *c, unsigned i)
{
    struct jnode *node = &c->nodes[i];
    if (node->state == JNODE_PAUSED) {
        kill(node->pid, SIGCONT);
        node->state = JNODE_UP;
    }
}

void clusterStopAll(struct jcluster *c)
{
    unsigned i;

    for (i = 0; i < c->n; i++) {
        struct jnode *node = &c->nodes[i];
        uint64_t deadline = jepsenNowMs() + 10000;
        int status;

        if (node->state == JNODE_DOWN) {
            continue;
        }
        if (node->state == JNODE_PAUSED) {
            kill(node->pid, SIGCONT);
        }
        kill(node->pid, SIGTERM);
        while (waitpid(node->pid, &status, WNOHANG) == 0) {
            if (jepsenNowMs() > deadline) {
                kill(node->pid, SIGKILL);
                waitpid(node->pid, &status, 0);
                break;
            }
            jepsenSleepMs(20);
        }
        node->pid = 0;
        node->state = JNODE_DOWN;
    }
}

static void describeStatus(int status, char *buf, size_t len)
{
    if (WIFEXITED(status)) {
        snprintf(buf, len, "exit=%d", WEXITSTATUS(status));
    } else if (WIFSIGNALED(status)) {
        snprintf(buf, len, "signal=%d", WTERMSIG(status));
    } else {
        snprintf(buf, len, "status=%d", status);
    }
}

void clusterReap(struct jcluster *c)
{
    unsigned i;

    for (i = 0; i < c->n; i++) {
        struct jnode *node = &c->nodes[i];
        char how[32];
        int status;
        bool expected;

        if (node->state == JNODE_DOWN || waitpid(node->pid, &status, WNOHANG) <= 0) {
            continue;
        }
        node->pid = 0;
        node->state = JNODE_DOWN;
        describeStatus(status, how, sizeof how);
        /* A fault may explain a refusal to start (exit 2: corrupt files)
         * or a fail-stop (exit 3: disk error); nothing explains a crash. */
        expected = node->expect_exit && WIFEXITED(status) &&
                   (WEXITSTATUS(status) == 2 || WEXITSTATUS(status) == 3);
        historyAddf(c->history, "harness", expected ? "ok" : "fail", "check",
                    "node-exit:n%u %s%s", i + 1, how, expected ? " (expected)" : "");
        if (!expected) {
            fprintf(stderr, "jepsen: node n%u exited unexpectedly (%s), see %s/log\n", i + 1,
                    how, node->root);
        }
    }
}

int clusterStatus(struct jcluster *c, unsigned i, struct qraft_node_status *st)
{
    char addr[32];
    char errmsg[256];

    memset(st, 0, sizeof *st);
    if (c->nodes[i].state != JNODE_UP) {
        snprintf(st->state, sizeof st->state, "unavailable");
        return -1;
    }
    snprintf(addr, sizeof addr, "127.0.0.1:%u", c->nodes[i].client_back);
    return qraft_node_status(addr, 1000, st, errmsg, sizeof errmsg) == 0 ? 0 : -1;
}

int clusterLeader(struct jcluster *c)
{
    struct qraft_node_status st;
    uint64_t best_term = 0;
    int best = -1;
    unsigned i;

    for (i = 0; i < c->n; i++) {
        if (clusterStatus(c, i, &st) == 0 && strcmp(st.state, "leader") == 0 &&
            st.term >= best_term) {
            best_term = st.term;
            best = (int)i;
        }
    }
    return best;
}

int clusterAwaitConverged(struct jcluster *c, unsigned timeout_ms, char *detail, size_t len)
{
    uint64_t deadline = jepsenNowMs() + timeout_ms;

    snprintf(detail, len, "no answer");
    do {
        struct qraft_node_status st[JEPSEN_NODES_MAX];
        unsigned i;
        unsigned leaders = 0;
        bool same = true;

        for (i = 0; i < c->n; i++) {
            if (clusterStatus(c, i, &st[i]) != 0) {
                snprintf(detail, len, "n%u does not answer", i + 1);
                same = false;
                break;
            }
            leaders += strcmp(st[i].state, "leader") == 0;
            if (i > 0 && (st[i].applied_index != st[0].applied_index ||
                          strcmp(st[i].digest, st[0].digest) != 0)) {
                snprintf(detail, len, "n1 at %llu %s, n%u at %llu %s",
                         (unsigned long long)st[0].applied_index, st[0].digest, i + 1,
                         (unsigned long long)st[i].applied_index, st[i].digest);
                same = false;
            }
        }
        if (same && leaders == 1) {
            snprintf(detail, len, "index=%llu digest=%s", (unsigned long long)st[0].applied_index,
                     st[0].digest);
            return 0;
        }
        if (same && leaders != 1) {
            snprintf(detail, len, "%u leaders", leaders);
        }
        jepsenSleepMs(200);
    } while (jepsenNowMs() < deadline);
    return -1;
}
