/* bin/jepsen: run one chaos scenario against a local qraft cluster, or
 * check a history.
 *
 * The run's phases:
 *   1. start the proxy and N nodes (their data and logs in OUT/nodes), wait
 *      for a leader, create the workload's queue;
 *   2. run the workload's threads while the nemesis runs its schedule;
 *   3. final: stop the workload, heal everything, wait until every node is
 *      up and all agree (same applied index and state digest), drain the
 *      queue to empty, and check once more that the replicas are identical;
 *   4. stop the nodes and the proxy, check the history, write the report.
 *
 * Exit status: 0 when the history checks out, 1 when an invariant fails,
 * 2 when the harness itself could not run. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "jepsen/jepsen.h"

static const char usage[] =
    "usage: jepsen [--nodes 3|5] [--zones Z] [--workload queue|fifo]\n"
    "              [--nemesis all|none|KIND,...] [--duration S] [--rate OPS]\n"
    "              [--concurrency C] [--seed S] [--out DIR] [--base-port P]\n"
    "              [--qraftd PATH] [--zone-delay-ms MS] [--zone-jitter-ms MS]\n"
    "              [--client-timeout-ms MS] [--groups G] [--skip-delete PCT]\n"
    "              [--fault-min-s S] [--fault-max-s S] [--gap-s S]\n"
    "       jepsen check HISTORY\n"
    "\n"
    "Nemesis kinds: kill pause partition-zone partition-leader partition-halves\n"
    "bridge one-way restart-all slow clock corrupt disk-full.\n"
    "Defaults: 3 nodes, 3 zones, queue, all, 60 s, 200 op/s, 8 threads, a random\n"
    "seed (printed), OUT=build/chaos/WORKLOAD-SEED, base port 24000.\n";

struct options
{
    unsigned nodes, zones;
    const char *workload;
    const char *nemesis;
    unsigned duration_s;
    double rate;
    unsigned concurrency;
    uint64_t seed;
    bool seed_given;
    char out[512];
    unsigned base_port;
    const char *qraftd;
    double zone_delay_ms, zone_jitter_ms;
    int client_timeout_ms;
    unsigned groups;
    unsigned skip_delete;
    double fault_min_s, fault_max_s, gap_s;
};

static volatile int interrupted;

static void onSignal(int sig)
{
    (void)sig;
    interrupted = 1;
}

static int parseNumber(const char *flag, const char *s, double lo, double hi, double *out)
{
    char *end;
    double v;
    errno = 0;
    v = strtod(s, &end);
    if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi) {
        fprintf(stderr, "jepsen: %s: '%s' is not a number in %g..%g\n", flag, s, lo, hi);
        return -1;
    }
    *out = v;
    return 0;
}

static int parseOptions(int argc, char **argv, struct options *o)
{
    int i;

    memset(o, 0, sizeof *o);
    o->nodes = 3;
    o->zones = 3;
    o->workload = "queue";
    o->nemesis = "all";
    o->duration_s = 60;
    o->rate = 200;
    o->concurrency = 8;
    o->base_port = 24000;
    o->qraftd = "bin/qraftd";
    o->zone_delay_ms = 1;
    o->zone_jitter_ms = 0.2;
    o->client_timeout_ms = 5000;
    o->groups = 20;
    o->skip_delete = 10;
    o->fault_min_s = 2;
    o->fault_max_s = 6;
    o->gap_s = 2;
    for (i = 1; i < argc; i++) {
        const char *flag = argv[i];
        const char *value = i + 1 < argc ? argv[i + 1] : NULL;
        double v;

        if (strcmp(flag, "-h") == 0 || strcmp(flag, "--help") == 0) {
            fputs(usage, stdout);
            return 1;
        }
        if (value == NULL) {
            fprintf(stderr, "jepsen: %s needs a value\n%s", flag, usage);
            return -1;
        }
        i++;
#define NUMBER(NAME, LO, HI, FIELD, TYPE)                                \
    if (strcmp(flag, NAME) == 0) {                                       \
        if (parseNumber(NAME, value, LO, HI, &v) != 0) {                 \
            return -1;                                                   \
        }                                                                \
        o->FIELD = (TYPE)v;                                              \
        continue;                                                        \
    }
        NUMBER("--nodes", 1, JEPSEN_NODES_MAX, nodes, unsigned)
        NUMBER("--zones", 1, JEPSEN_ZONES_MAX, zones, unsigned)
        NUMBER("--duration", 1, 86400, duration_s, unsigned)
        NUMBER("--rate", 1, 100000, rate, double)
        NUMBER("--concurrency", 2, 64, concurrency, unsigned)
        NUMBER("--base-port", 1024, 65000, base_port, unsigned)
        NUMBER("--zone-delay-ms", 0, 1000, zone_delay_ms, double)
        NUMBER("--zone-jitter-ms", 0, 1000, zone_jitter_ms, double)
        NUMBER("--client-timeout-ms", 100, 600000, client_timeout_ms, int)
        NUMBER("--groups", 1, 10000, groups, unsigned)
        NUMBER("--skip-delete", 0, 100, skip_delete, unsigned)
        NUMBER("--fault-min-s", 0.1, 3600, fault_min_s, double)
        NUMBER("--fault-max-s", 0.1, 3600, fault_max_s, double)
        NUMBER("--gap-s", 0.1, 3600, gap_s, double)
#undef NUMBER
        if (strcmp(flag, "--seed") == 0) {
            char *end;
            o->seed = strtoull(value, &end, 10);
            if (*end != '\0' || end == value) {
                fprintf(stderr, "jepsen: --seed: '%s' is not a number\n", value);
                return -1;
            }
            o->seed_given = true;
        } else if (strcmp(flag, "--workload") == 0) {
            o->workload = value;
        } else if (strcmp(flag, "--nemesis") == 0) {
            o->nemesis = value;
        } else if (strcmp(flag, "--out") == 0) {
            snprintf(o->out, sizeof o->out, "%s", value);
        } else if (strcmp(flag, "--qraftd") == 0) {
            o->qraftd = value;
        } else {
            fprintf(stderr, "jepsen: unknown flag %s\n%s", flag, usage);
            return -1;
        }
    }
    if (o->zones > o->nodes) {
        fprintf(stderr, "jepsen: --zones %u is more than --nodes %u\n", o->zones, o->nodes);
        return -1;
    }
    if (o->fault_max_s < o->fault_min_s) {
        fprintf(stderr, "jepsen: --fault-max-s is below --fault-min-s\n");
        return -1;
    }
    if (!o->seed_given) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        o->seed = ((uint64_t)ts.tv_sec * 1000003u) ^ (uint64_t)ts.tv_nsec ^ (uint64_t)getpid();
        o->seed %= 1000000000u;
    }
    if (o->out[0] == '\0') {
        snprintf(o->out, sizeof o->out, "build/chaos/%s-%llu", o->workload,
                 (unsigned long long)o->seed);
    }
    return 0;
}

static int mkdirs(const char *path)
{
    char buf[600];
    char *p;
    snprintf(buf, sizeof buf, "%s", path);
    for (p = buf + 1; *p != '\0'; p++) {
        if (*p == '/') {
            *p = '\0';
            if (mkdir(buf, 0755) != 0 && errno != EEXIST) {
                return -1;
            }
            *p = '/';
        }
    }
    return mkdir(buf, 0755) != 0 && errno != EEXIST ? -1 : 0;
}

static int checkOnly(const char *path)
{
    struct checkResult r;
    char errmsg[512];

    if (checkHistory(path, &r, errmsg, sizeof errmsg) != 0) {
        fprintf(stderr, "jepsen check: %s\n", errmsg);
        return 2;
    }
    checkPrint(stdout, &r);
    return r.valid ? 0 : 1;
}

static int waitLeader(struct jcluster *c, unsigned timeout_ms)
{
    unsigned waited;
    for (waited = 0; waited < timeout_ms; waited += 100) {
        if (clusterLeader(c) >= 0) {
            return 0;
        }
        usleep(100000);
    }
    return -1;
}

/* The run's settings, for results.json. */
static void configJson(const struct options *o, unsigned mask, const struct nemesis *n,
                       const struct proxyStats *ps, char *buf, size_t len)
{
    size_t off = 0;
    unsigned k;
    bool first = true;

    off += (size_t)snprintf(buf + off, len - off,
                            "{\"nodes\": %u, \"zones\": %u, \"workload\": \"%s\", "
                            "\"duration_s\": %u, \"rate\": %.1f, \"concurrency\": %u, "
                            "\"seed\": %llu, \"zone_delay_ms\": %.3f, \"zone_jitter_ms\": %.3f, "
                            "\"client_timeout_ms\": %d, \"groups\": %u, "
                            "\"skip_delete_percent\": %u, \"faults_injected\": %llu, "
                            "\"proxy\": {\"connections\": %llu, \"resets\": %llu, "
                            "\"bytes\": %llu}, \"nemesis\": [",
                            o->nodes, o->zones, o->workload, o->duration_s, o->rate,
                            o->concurrency, (unsigned long long)o->seed, o->zone_delay_ms,
                            o->zone_jitter_ms, o->client_timeout_ms, o->groups, o->skip_delete,
                            (unsigned long long)n->faults_injected,
                            (unsigned long long)ps->connections,
                            (unsigned long long)ps->resets, (unsigned long long)ps->bytes);
    for (k = 0; k < FAULT_KINDS && off < len; k++) {
        if (mask & (1u << k)) {
            off += (size_t)snprintf(buf + off, len - off, "%s\"%s\"", first ? "" : ", ",
                                    faultName((enum faultKind)k));
            first = false;
        }
    }
    if (off < len) {
        snprintf(buf + off, len - off, "]}");
    }
}

int main(int argc, char **argv)
{
    struct options o;
    struct jcluster cluster;
    static struct nemesis nemesis;
    struct proxyConfig pc;
    struct proxyStats ps;
    struct proxy *proxy = NULL;
    struct history *history = NULL;
    struct workload *workload = NULL;
    struct workloadConfig wc;
    struct checkResult result;
    char path[700], root[600], header[256], errmsg[512], detail[512], config[2048];
    unsigned mask;
    unsigned i;
    int rv;
    int status = 2;
    FILE *f;

    if (argc == 3 && strcmp(argv[1], "check") == 0) {
        return checkOnly(argv[2]);
    }
    rv = parseOptions(argc, argv, &o);
    if (rv != 0) {
        return rv > 0 ? 0 : 2;
    }
    if (faultParseList(o.nemesis, &mask, errmsg, sizeof errmsg) != 0) {
        fprintf(stderr, "jepsen: %s\n", errmsg);
        return 2;
    }
    memset(&wc, 0, sizeof wc);
    wc.ops = workloadFind(o.workload);
    if (wc.ops == NULL) {
        fprintf(stderr, "jepsen: unknown workload '%s' (queue or fifo)\n", o.workload);
        return 2;
    }
    snprintf(root, sizeof root, "%s/nodes", o.out);
    if (mkdirs(root) != 0) {
        fprintf(stderr, "jepsen: %s: %s\n", root, strerror(errno));
        return 2;
    }
    signal(SIGINT, onSignal);
    signal(SIGTERM, onSignal);
    signal(SIGPIPE, SIG_IGN);

    snprintf(header, sizeof header, "qraft-jepsen history v1 workload=%s nodes=%u zones=%u seed=%llu",
             o.workload, o.nodes, o.zones, (unsigned long long)o.seed);
    snprintf(path, sizeof path, "%s/history.txt", o.out);
    if (historyOpen(path, header, &history, errmsg, sizeof errmsg) != 0) {
        fprintf(stderr, "jepsen: %s\n", errmsg);
        return 2;
    }
    if (clusterInit(&cluster, o.nodes, o.zones, (uint16_t)o.base_port, o.qraftd, root,
                    (mask & (1u << FAULT_CLOCK)) != 0, history, errmsg, sizeof errmsg) != 0) {
        fprintf(stderr, "jepsen: %s\n", errmsg);
        goto out;
    }

    printf("jepsen: %u nodes in %u zones, workload %s, %u s, seed %llu\n", o.nodes, o.zones,
           o.workload, o.duration_s, (unsigned long long)o.seed);
    nemesis.cluster = &cluster;
    nemesis.history = history;
    nemesis.interrupted = &interrupted;
    nemesis.zone_delay_us = (unsigned)(o.zone_delay_ms * 1000);
    nemesis.zone_jitter_us = (unsigned)(o.zone_jitter_ms * 1000);
    mask = nemesisPrepare(&nemesis, mask, o.seed, stdout);
    nemesisPlan(&nemesis, mask, o.seed, (uint64_t)o.duration_s * 1000u,
                (unsigned)(o.fault_min_s * 1000), (unsigned)(o.fault_max_s * 1000),
                (unsigned)(o.gap_s * 1000));
    nemesisPrintPlan(&nemesis, stdout);
    snprintf(path, sizeof path, "%s/schedule.txt", o.out);
    f = fopen(path, "w");
    if (f != NULL) {
        fprintf(f, "# %s\n", header);
        nemesisPrintPlan(&nemesis, f);
        fclose(f);
    }

    memset(&pc, 0, sizeof pc);
    pc.n_nodes = o.nodes;
    pc.zone_delay_us = nemesis.zone_delay_us;
    pc.zone_jitter_us = nemesis.zone_jitter_us;
    pc.seed = o.seed;
    for (i = 0; i < o.nodes; i++) {
        pc.zone[i] = cluster.nodes[i].zone;
        pc.raft_id[i] = cluster.nodes[i].id;
        pc.raft_front[i] = cluster.nodes[i].raft_front;
        pc.raft_back[i] = cluster.nodes[i].raft_back;
        pc.client_front[i] = cluster.nodes[i].client_front;
        pc.client_back[i] = cluster.nodes[i].client_back;
    }
    if (proxyStart(&pc, &proxy, errmsg, sizeof errmsg) != 0) {
        fprintf(stderr, "jepsen: proxy: %s\n", errmsg);
        goto out;
    }
    nemesis.proxy = proxy;

    for (i = 0; i < o.nodes; i++) {
        if (clusterStart(&cluster, i) != 0) {
            fprintf(stderr, "jepsen: cannot start node n%u\n", i + 1);
            goto out;
        }
    }
    if (waitLeader(&cluster, 30000) != 0) {
        fprintf(stderr, "jepsen: no leader after 30 s; see %s/n*/log\n", root);
        goto out;
    }
    wc.servers = cluster.servers;
    wc.history = history;
    wc.concurrency = o.concurrency;
    wc.rate = o.rate;
    wc.timeout_ms = o.client_timeout_ms;
    wc.groups = o.groups;
    wc.skip_delete_percent = o.skip_delete;
    wc.seed = o.seed;
    if (workloadSetup(&wc, 30000, errmsg, sizeof errmsg) != 0) {
        fprintf(stderr, "jepsen: %s\n", errmsg);
        goto out;
    }

    printf("jepsen: running\n");
    fflush(stdout);
    if (workloadStart(&wc, &workload) != 0) {
        fprintf(stderr, "jepsen: cannot start the workload threads\n");
        goto out;
    }
    nemesisRun(&nemesis, historyNow(history) / 1000u + (uint64_t)o.duration_s * 1000u);
    workloadStop(workload);
    workload = NULL;
    if (interrupted) {
        fprintf(stderr, "jepsen: interrupted\n");
        goto out;
    }

    printf("jepsen: final phase: heal, converge, drain\n");
    fflush(stdout);
    historyAdd(history, "harness", "info", "phase", "final", NULL);
    nemesisHealAll(&nemesis);
    rv = clusterAwaitConverged(&cluster, 60000, detail, sizeof detail);
    historyAddf(history, "harness", rv == 0 ? "ok" : "fail", "check", "converge:%s", detail);
    if (waitLeader(&cluster, 30000) == 0) {
        rv = workloadDrain(&wc, 120000, errmsg, sizeof errmsg);
        historyAddf(history, "harness", rv == 0 ? "ok" : "fail", "check", "drain:%s",
                    rv == 0 ? "empty" : errmsg);
    } else {
        historyAdd(history, "harness", "fail", "check", "drain:no leader after healing", NULL);
    }
    rv = clusterAwaitConverged(&cluster, 30000, detail, sizeof detail);
    historyAddf(history, "harness", rv == 0 ? "ok" : "fail", "check", "replicas:%s%s",
                rv == 0 ? "identical " : "", detail);
    clusterReap(&cluster);
    status = 0;

out:
    if (workload != NULL) {
        workloadStop(workload);
    }
    clusterStopAll(&cluster);
    memset(&ps, 0, sizeof ps);
    if (proxy != NULL) {
        proxyGetStats(proxy, &ps);
        proxyStop(proxy);
    }
    nemesisCleanup(&nemesis);
    historyClose(history);
    if (status != 0 || interrupted) {
        return interrupted ? 130 : 2;
    }

    snprintf(path, sizeof path, "%s/history.txt", o.out);
    if (checkHistory(path, &result, errmsg, sizeof errmsg) != 0) {
        fprintf(stderr, "jepsen: check: %s\n", errmsg);
        return 2;
    }
    configJson(&o, mask, &nemesis, &ps, config, sizeof config);
    if (reportWrite(o.out, path, &result, config, errmsg, sizeof errmsg) != 0) {
        fprintf(stderr, "jepsen: report: %s\n", errmsg);
    }
    printf("\n");
    checkPrint(stdout, &result);
    printf("\njepsen: report in %s/ (summary.txt, results.json, latency.svg, history.txt, "
           "schedule.txt, nodes/n*/log)\n", o.out);
    return result.valid ? 0 : 1;
}
