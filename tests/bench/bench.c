/* The qraft benchmark: a load generator on libqraft against a running
 * cluster, beside the machine's own ceilings (README "Benchmarks").
 *
 *   bench --servers H:P,... --dir CLUSTER_DIR --script scripts/cluster
 *         [--quick] [--json FILE] [--commit SHA] [--peer PEER_RESULTS]
 *         [--only ROW,ROW,...]   (1 2 2a-2d 2o 3 4 5 6 7 10; 7 is 7a-9 and 7b)
 *
 * tests/bench/run starts the cluster and calls this; `make bench` calls
 * that. The cluster directory gives the data disk (for the fsync probe)
 * and the nodes' PID files (for the failover scenario, which SIGKILLs the
 * leader by PID and restarts it with scripts/cluster).
 *
 * This file: the options, the clock and sleep helpers, the table's rows,
 * and main, which measures the ceilings, runs the rows asked for in order
 * and prints the table. The load generator is load.c; the rows are
 * throughput.c (1-3), flow.c (4-6), state.c (7-9) and failover.c (10).
 *
 * Every figure goes into one row; rows not yet implemented print "not
 * measured yet" so the table keeps the shape. Failure modes: a bad
 * argument or a cluster the admin client cannot reach exits 1 (die); a row
 * that fails says so in its note; lost acknowledged sends in row 10 exit
 * 2. */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "client/qraft.h"
#include "tests/bench/bench.h"

struct benchOptions opt = {.script = "scripts/cluster",
                           .json = "tests/bench/results.json",
                           .commit = "unknown",
                           .seconds = 5.0};

uint64_t nowNs(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void sleepNs(uint64_t ns)
{
    struct timespec ts = {(time_t)(ns / 1000000000ull), (long)(ns % 1000000000ull)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "bench: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(1);
}

/* ---------------------------------------------------------------------- */
/* Rows of the table                                                       */


struct row rows[ROWS_MAX];
unsigned n_rows;
double load_start[3], load_end[3];
double run_seconds;

struct row *rowAdd(const char *id, const char *name)
{
    struct row *r = &rows[n_rows++];
    memset(r, 0, sizeof *r);
    snprintf(r->id, sizeof r->id, "%s", id);
    snprintf(r->name, sizeof r->name, "%s", name);
    r->msgs_s = -1;
    r->mb_s = -1;
    return r;
}

void rowLatency(struct row *r, const struct hist *h)
{
    r->has_lat = h->n > 0;
    r->p50_ms = (double)histQuantile(h, 0.50) / 1e6;
    r->p90_ms = (double)histQuantile(h, 0.90) / 1e6;
    r->p99_ms = (double)histQuantile(h, 0.99) / 1e6;
    r->p999_ms = (double)histQuantile(h, 0.999) / 1e6;
    r->max_ms = (double)h->max / 1e6;
}

void rowExtra(struct row *r, const char *fmt, ...)
{
    char buf[sizeof r->extra];
    size_t len = strlen(r->extra);
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    /* A member that does not fit whole is left out: the JSON stays valid. */
    if (n < 0 || len + (size_t)n + 3 > sizeof r->extra) {
        fprintf(stderr, "bench: row %s: a JSON member left out (no room)\n", r->id);
        return;
    }
    snprintf(r->extra + len, sizeof r->extra - len, "%s%s", len > 0 ? ", " : "", buf);
}

/* The bench's own client, for setup. */
qraft_client *admin;

/* Whether row @id is to run (--only ID,ID,...; all by default). */
static bool want(const char *id)
{
    if (opt.only == NULL) {
        return true;
    }
    size_t n = strlen(id);
    for (const char *p = opt.only; *p != '\0';) {
        size_t len = strcspn(p, ",");
        if (len == n && strncmp(p, id, n) == 0) {
            return true;
        }
        p += len + (p[len] == ',');
    }
    return false;
}

/* Print how long the scenario that just ended took (the run's budget:
 * QUICK under 2 minutes, full under 20). */
static uint64_t step_start;
static void stepTook(void)
{
    uint64_t now = nowNs();
    printf("       (%.1f s)\n", (double)(now - step_start) / 1e9);
    fflush(stdout);
    step_start = now;
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--quick") == 0) {
            opt.quick = true;
        } else if (v != NULL && strcmp(a, "--servers") == 0) {
            opt.servers = v, i++;
        } else if (v != NULL && strcmp(a, "--dir") == 0) {
            opt.dir = v, i++;
        } else if (v != NULL && strcmp(a, "--script") == 0) {
            opt.script = v, i++;
        } else if (v != NULL && strcmp(a, "--json") == 0) {
            opt.json = v, i++;
        } else if (v != NULL && strcmp(a, "--only") == 0) {
            opt.only = v, i++;
        } else if (v != NULL && strcmp(a, "--peer") == 0) {
            opt.peer = v, i++;
        } else if (v != NULL && strcmp(a, "--commit") == 0) {
            opt.commit = v, i++;
        } else {
            die("unknown argument %s", a);
        }
    }
    if (opt.servers == NULL || opt.dir == NULL) {
        die("usage: bench --servers H:P,... --dir CLUSTER_DIR [--script S] [--quick] "
            "[--json FILE] [--commit SHA] [--peer FILE] [--only ROWS]");
    }
    signal(SIGPIPE, SIG_IGN);
    opt.seconds = opt.quick ? 2.0 : 10.0;
    if (qraft_open(opt.servers, NULL, &admin) != 0) {
        die("cannot open a client on %s", opt.servers);
    }

    uint64_t run_start = nowNs();
    peerLoad();
    loadAverage(load_start);
    stateIdleSample();
    printf("load average at the start: %.2f %.2f %.2f (%ld cores)\n", load_start[0],
           load_start[1], load_start[2], sysconf(_SC_NPROCESSORS_ONLN));
    if (getenv("BENCH_QRAFTD_FLAGS") != NULL && getenv("BENCH_QRAFTD_FLAGS")[0] != '\0') {
        printf("qraftd flags: %s (not the defaults)\n", getenv("BENCH_QRAFTD_FLAGS"));
    }
    printf("machine ceilings ...\n");
    fflush(stdout);
    ceilFsync();
    ceilRtt();
    printf("  fsync of a 4 KiB append: p50 %.3f ms, p99 %.3f ms, %.0f per second\n",
           (double)histQuantile(&ceil_.fsync, 0.5) / 1e6,
           (double)histQuantile(&ceil_.fsync, 0.99) / 1e6, ceil_.fsync_rate);
    printf("  loopback round trip: p50 %.1f us, p99 %.1f us\n",
           (double)histQuantile(&ceil_.rtt, 0.5) / 1e3,
           (double)histQuantile(&ceil_.rtt, 0.99) / 1e3);
    printf("  best one-in-flight durable send: %.3f ms (%.0f per second)\n", ceil_.best_one_ms,
           1000.0 / ceil_.best_one_ms);

    printf("scenarios (%.0f s each) ...\n", opt.seconds);
    step_start = nowNs();
    if (want("1")) {
        scenarioSend("1", "send 1 KiB, 1 connection x 1 in flight", 1024, 1, 1, 0, 0, "");
        stepTook();
    }
    double r2 = 0;
    if (want("2")) {
        r2 = scenarioSend("2", "send 1 KiB, 16 x 64 in flight", 1024, 16, 64, 0, 0, "");
        stepTook();
    }
    if (want("2a")) {
        scenarioSend("2a", "send 64 B, 16 x 64 in flight", 64, 16, 64, 0, 0, "");
        stepTook();
    }
    if (want("2b")) {
        scenarioSend("2b", "send 16 KiB, 16 x 64 in flight", 16384, 16, 64, 0, 0, "");
        stepTook();
    }
    if (want("2c")) {
        /* QUICK: 16 in flight per connection, or the window's 256 MiB alone
         * takes 6 s to drain at the end of the 2 s. */
        scenarioSend("2c", opt.quick ? "send 256 KiB, 16 x 16 in flight (QUICK)"
                                     : "send 256 KiB, 16 x 64 in flight",
                     262144, 16, opt.quick ? 16 : 64, 0, 0, "");
        stepTook();
    }
    if (want("2d")) {
        scenarioSend("2d", "SendMessageBatch 10 x 1 KiB, 16 x 1 in flight", 1024, 16, 1, 10, 0,
                     "libqraft has no async batch call: one batch in flight per connection; "
                     "latency is per batch");
        stepTook();
    }
    char note[160];
    snprintf(note, sizeof note,
             "open loop at 50%% of row 2 (%.0f msgs/s); latency from each send's due time "
             "(coordinated omission corrected)",
             r2 / 2);
    if (want("2o")) {
        scenarioSend("2o", "send 1 KiB, 16 x 64, open loop at half of row 2", 1024, 16, 64, 0,
                     r2 / 2, note);
        stepTook();
    }
    if (want("3")) {
        scenarioDrain();
        stepTook();
    }
    if (want("4")) {
        scenarioEndToEnd(r2);
        stepTook();
    }
    if (want("5")) {
        scenarioLongPoll();
        stepTook();
    }
    if (want("6")) {
        scenarioFifo();
        stepTook();
    }
    if (want("7")) {
        scenarioStateBegin();
        stepTook();
    }
    if (want("7")) {
        scenarioStateEnd();
        stepTook();
    }
    /* Last: row 10 replaces the cluster with a fresh one (failover.c). */
    if (want("10")) {
        scenarioFailover();
        stepTook();
    }
    qraft_close(admin);

    printf("\nmachine ceilings: fsync 4 KiB append p50 %.3f / p99 %.3f ms (%.0f/s); "
           "loopback RTT p50 %.1f us; best one-in-flight send %.3f ms (%.0f/s)\n",
           (double)histQuantile(&ceil_.fsync, 0.5) / 1e6,
           (double)histQuantile(&ceil_.fsync, 0.99) / 1e6, ceil_.fsync_rate,
           (double)histQuantile(&ceil_.rtt, 0.5) / 1e3, ceil_.best_one_ms,
           1000.0 / ceil_.best_one_ms);
    loadAverage(load_end);
    run_seconds = (double)(nowNs() - run_start) / 1e9;
    printTable();
    writeJson();
    printf("\nresults: %s\n", opt.json);
    for (unsigned i = 0; i < n_rows; i++) {
        if (strcmp(rows[i].id, "10") == 0 && rows[i].measured && rows[i].errors > 0) {
            fprintf(stderr, "bench: acknowledged messages were lost in failover\n");
            return 2;
        }
    }
    return 0;
}
