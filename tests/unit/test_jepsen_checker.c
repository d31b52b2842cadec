/* The chaos harness's checker and report (jepsen/checker*.c, report*.c):
 * hand-written histories (a '|' in the test's text stands for a tab), each
 * written to a temporary file and checked: a valid queue run, lost,
 * phantom, failed yet delivered, info sends, duplicates on standard and
 * FIFO queues, FIFO order within and across groups, unfinished invokes,
 * availability inside and outside fault windows, failed harness checks,
 * malformed lines, latency percentiles, the report's files, and a
 * generated history (QRAFT_JEPSEN_EVENTS events, 100,000 by default),
 * timed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "jepsen/jepsen.h"

/* A temporary directory and the history file in it. */
struct fixture
{
    char dir[64];
    char path[128];
};

static int setUp(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);

    if (f == NULL) {
        return -1;
    }
    snprintf(f->dir, sizeof f->dir, "/tmp/qraft-jepsen-check-XXXXXX");
    if (mkdtemp(f->dir) == NULL) {
        free(f);
        return -1;
    }
    snprintf(f->path, sizeof f->path, "%s/history.tsv", f->dir);
    *state = f;
    return 0;
}

static int tearDown(void **state)
{
    struct fixture *f = *state;
    static const char *const files[] = {
        "history.tsv",        "results.json",      "summary.txt",      "latency.svg",
        "latency.gp",         "gnuplot.log",       "latency_send.dat", "latency_receive.dat",
        "latency_delete.dat", "latency_other.dat", "latency_fail.dat", "latency_info.dat",
    };
    char p[256];

    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(p, sizeof p, "%s/%s", f->dir, files[i]);
        unlink(p);
    }
    rmdir(f->dir);
    free(f);
    return 0;
}

/* Write @text to the fixture's history, '|' turned into tabs. */
static void writeHistory(struct fixture *f, const char *text)
{
    FILE *out = fopen(f->path, "w");

    assert_non_null(out);
    for (const char *c = text; *c; c++) {
        fputc(*c == '|' ? '\t' : *c, out);
    }
    assert_int_equal(fclose(out), 0);
}

/* Check @text; must succeed. */
static void check(struct fixture *f, const char *text, struct checkResult *r)
{
    char err[256] = "";

    writeHistory(f, text);
    if (checkHistory(f->path, r, err, sizeof err) != 0) {
        fail_msg("checkHistory: %s", err);
    }
}

/* Whether some problem line of @r contains @needle. */
static bool hasProblem(const struct checkResult *r, const char *needle)
{
    for (unsigned i = 0; i < r->n_problems; i++) {
        if (strstr(r->problems[i], needle) != NULL) {
            return true;
        }
    }
    return false;
}

/* checkPrint of @r, malloc'd. */
static char *printed(const struct checkResult *r)
{
    char *buf = NULL;
    size_t n = 0;
    FILE *m = open_memstream(&buf, &n);

    assert_non_null(m);
    checkPrint(m, r);
    assert_int_equal(fclose(m), 0);
    return buf;
}

/* The whole of file @path, malloc'd (NULL if it cannot be read). */
static char *slurp(const char *path)
{
    FILE *in = fopen(path, "r");
    char *buf;
    long n;

    if (in == NULL) {
        return NULL;
    }
    fseek(in, 0, SEEK_END);
    n = ftell(in);
    fseek(in, 0, SEEK_SET);
    buf = calloc(1, (size_t)n + 1);
    if (buf != NULL && fread(buf, 1, (size_t)n, in) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(in);
    return buf;
}

#define HEAD_QUEUE "# qraft-jepsen history v1 workload=queue nodes=3 zones=3 seed=1\n"
#define HEAD_FIFO "# qraft-jepsen history v1 workload=fifo nodes=3 zones=3 seed=1\n"

/* A valid queue run: sends, a failed send, receives, a redelivery,
 * deletes, a fault window, the final phase, the drain, a passed check. */
static const char valid_queue[] = HEAD_QUEUE
    "1000|w0|invoke|send|a\n"
    "2000|w0|ok|send|a\n"
    "3000|w1|invoke|send|b\n"
    "4000|w1|ok|send|b\n"
    "5000|nemesis|info|start|partition#1:n1 from n2,n3\n"
    "6000|w0|invoke|receive|-\n"
    "7000|w0|ok|receive|a@m1,b@m2\n"
    "7500|w1|invoke|send|c\n"
    "8000|w1|fail|send|c|QueueDoesNotExist\n"
    "9000|nemesis|info|stop|partition#1:healed\n"
    "10000|w0|invoke|delete|a@m1\n"
    "11000|w0|ok|delete|a@m1\n"
    "12000|w1|invoke|receive|-\n"
    "13000|w1|ok|receive|b@m2\n"
    "14000|w1|invoke|delete|b@m2\n"
    "15000|w1|ok|delete|b@m2\n"
    "16000|harness|info|phase|final\n"
    "17000|drain|invoke|receive|-\n"
    "18000|drain|ok|receive|-\n"
    "19000|harness|ok|check|digests:equal on 3 nodes\n";

static void test_validQueue(void **state)
{
    struct checkResult r;
    char *text;

    check(*state, valid_queue, &r);
    assert_true(r.valid);
    assert_false(r.fifo);
    assert_string_equal(r.workload, "queue");
    assert_int_equal(r.events, 20);
    assert_int_equal(r.sends_ok, 2);
    assert_int_equal(r.sends_fail, 1);
    assert_int_equal(r.sends_info, 0);
    assert_int_equal(r.lost, 0);
    assert_int_equal(r.phantoms, 0);
    assert_int_equal(r.failed_appeared, 0);
    assert_int_equal(r.received, 2);
    assert_int_equal(r.deliveries, 3);
    assert_int_equal(r.redeliveries, 1);
    assert_int_equal(r.duplicates, 0);
    assert_int_equal(r.faults, 1);
    assert_int_equal(r.harness_failures, 0);
    assert_int_equal(r.unfinished, 0);
    /* w ops: receive at 6000 (ok) and send c at 7500 (fail) in the window */
    assert_int_equal(r.ops_fault, 2);
    assert_int_equal(r.ok_fault, 1);
    assert_int_equal(r.ops_calm, 5);
    assert_int_equal(r.ok_calm, 5);
    assert_true(r.availability_fault > 0.49 && r.availability_fault < 0.51);
    assert_true(r.availability_calm > 0.99);
    assert_int_equal(r.latency[CHECK_SEND].count, 3);
    assert_int_equal(r.latency[CHECK_RECEIVE].count, 2); /* not the drain's */
    assert_int_equal(r.latency[CHECK_DELETE].count, 2);
    assert_int_equal(r.n_problems, 0);
    text = printed(&r);
    assert_true(strncmp(text, "VALID\n", 6) == 0);
    assert_non_null(strstr(text, "lost"));
    assert_non_null(strstr(text, "must be 0"));
    free(text);
}

static void test_lost(void **state)
{
    struct checkResult r;
    char *text;

    check(*state,
          HEAD_QUEUE
          "1000|w0|invoke|send|g3/16\n"
          "2000|w0|ok|send|g3/16\n"
          "3000|w2|invoke|send|g3/17\n"
          "12345000|w2|ok|send|g3/17\n"
          "12346000|drain|invoke|receive|-\n"
          "12347000|drain|ok|receive|g3/16@m1\n",
          &r);
    assert_false(r.valid);
    assert_int_equal(r.lost, 1);
    assert_int_equal(r.sends_ok, 2);
    assert_true(hasProblem(&r, "lost: g3/17 acknowledged at 12.345 s (w2), never received"));
    text = printed(&r);
    assert_true(strncmp(text, "INVALID: lost 1\n", 16) == 0);
    free(text);
}

static void test_phantom(void **state)
{
    struct checkResult r;

    check(*state,
          HEAD_QUEUE
          "1000|w0|invoke|send|a\n"
          "2000|w0|ok|send|a\n"
          "3000|w1|invoke|receive|-\n"
          "4000|w1|ok|receive|a@m1,ghost@m7\n",
          &r);
    assert_false(r.valid);
    assert_int_equal(r.phantoms, 1);
    assert_int_equal(r.lost, 0);
    assert_int_equal(r.received, 2);
    assert_true(hasProblem(&r, "phantom: ghost"));
    assert_true(hasProblem(&r, "m7"));
}

static void test_failedAppeared(void **state)
{
    struct checkResult r;

    check(*state,
          HEAD_QUEUE
          "1000|w0|invoke|send|c\n"
          "2000|w0|fail|send|c|InvalidParameterValue\n"
          "3000|w1|invoke|receive|-\n"
          "4000|w1|ok|receive|c@m1\n",
          &r);
    assert_false(r.valid);
    assert_int_equal(r.sends_fail, 1);
    assert_int_equal(r.failed_appeared, 1);
    assert_true(hasProblem(&r, "failed appeared: c refused at 0.002 s (w0)"));
}

/* Info sends are allowed either way; a retry that is ok makes the body ok. */
static void test_infoSends(void **state)
{
    struct checkResult r;

    check(*state,
          HEAD_QUEUE
          "1000|w0|invoke|send|a\n"
          "2000|w0|info|send|a|timeout\n"
          "3000|w0|invoke|send|b\n"
          "4000|w0|info|send|b|timeout\n"
          "5000|w0|invoke|send|c\n"
          "6000|w0|info|send|c|timeout\n"
          "7000|w0|invoke|send|c\n"
          "8000|w0|ok|send|c\n"
          "9000|w1|invoke|receive|-\n"
          "10000|w1|ok|receive|a@m1,c@m3\n",
          &r);
    assert_true(r.valid);
    assert_int_equal(r.sends_info, 2);
    assert_int_equal(r.info_appeared, 1);
    assert_int_equal(r.info_missing, 1);
    assert_int_equal(r.sends_ok, 1);
    assert_int_equal(r.lost, 0);
}

/* A standard queue may deliver a body under two message ids. */
static void test_queueDuplicate(void **state)
{
    struct checkResult r;

    check(*state,
          HEAD_QUEUE
          "1000|w0|invoke|send|a\n"
          "2000|w0|info|send|a|timeout\n"
          "3000|w0|invoke|send|a\n"
          "4000|w0|ok|send|a\n"
          "5000|w1|invoke|receive|-\n"
          "6000|w1|ok|receive|a@m1,a@m2\n"
          "7000|w1|invoke|receive|-\n"
          "8000|w1|ok|receive|a@m2\n",
          &r);
    assert_true(r.valid);
    assert_int_equal(r.duplicates, 1);
    assert_int_equal(r.duplicates_in_window, 0);
    assert_int_equal(r.redeliveries, 1);
    assert_int_equal(r.deliveries, 3);
    assert_int_equal(r.received, 1);
}

/* FIFO: a duplicate within 5 minutes of the first send is a violation; one
 * whose sends spanned more than 5 minutes is not. */
static void test_fifoDuplicate(void **state)
{
    struct checkResult r;

    check(*state,
          HEAD_FIFO
          "1000|w0|invoke|send|g/1\n"
          "2000|w0|info|send|g/1|timeout\n"
          "3000|w0|invoke|send|g/1\n"
          "4000|w0|ok|send|g/1\n"
          "5000|w1|invoke|send|h/1\n"
          "6000|w1|info|send|h/1|timeout\n"
          "400000000|w1|invoke|send|h/1\n"
          "400001000|w1|ok|send|h/1\n"
          "400002000|w2|invoke|receive|-\n"
          "400003000|w2|ok|receive|g/1@m1,h/1@m3\n"
          "400004000|w2|invoke|receive|-\n"
          "400005000|w2|ok|receive|g/1@m2,h/1@m4\n",
          &r);
    assert_true(r.fifo);
    assert_false(r.valid);
    assert_int_equal(r.duplicates, 2);
    assert_int_equal(r.duplicates_in_window, 1);
    assert_int_equal(r.order_violations, 0);
    assert_true(hasProblem(&r, "fifo duplicate: g/1"));
    assert_false(hasProblem(&r, "fifo duplicate: h/1"));
}

static void test_fifoReorder(void **state)
{
    struct checkResult r;

    check(*state,
          HEAD_FIFO
          "1000|w0|invoke|send|g/1\n"
          "2000|w0|ok|send|g/1\n"
          "3000|w0|invoke|send|g/2\n"
          "4000|w0|ok|send|g/2\n"
          "5000|w0|invoke|send|g/3\n"
          "6000|w0|ok|send|g/3\n"
          "7000|w1|invoke|receive|-\n"
          "8000|w1|ok|receive|g/2@m2\n"
          "9000|w1|invoke|receive|-\n"
          "10000|w1|ok|receive|g/1@m1,g/3@m3\n",
          &r);
    assert_false(r.valid);
    /* g/2 came before g/1; g/3 came after both */
    assert_int_equal(r.order_violations, 1);
    assert_true(hasProblem(&r, "order: g/2 first received at 0.008 s (w1), before g/1"));
}

/* Order within one receive's list counts too. */
static void test_fifoReorderInOneReceive(void **state)
{
    struct checkResult r;

    check(*state,
          HEAD_FIFO
          "1000|w0|invoke|send|g/1\n"
          "2000|w0|ok|send|g/1\n"
          "3000|w0|invoke|send|g/2\n"
          "4000|w0|ok|send|g/2\n"
          "7000|w1|invoke|receive|-\n"
          "8000|w1|ok|receive|g/2@m2,g/1@m1\n",
          &r);
    assert_false(r.valid);
    assert_int_equal(r.order_violations, 1);
}

/* Two groups interleaved, each in order: valid. An info message of smaller
 * N delivered late is no violation (its send may have taken effect late). */
static void test_fifoGroupsInterleaved(void **state)
{
    struct checkResult r;

    check(*state,
          HEAD_FIFO
          "1000|w0|invoke|send|a/1\n"
          "1100|w1|invoke|send|b/1\n"
          "2000|w0|ok|send|a/1\n"
          "2100|w1|ok|send|b/1\n"
          "3000|w0|invoke|send|a/2\n"
          "3100|w1|invoke|send|b/2\n"
          "4000|w0|ok|send|a/2\n"
          "4100|w1|ok|send|b/2\n"
          "4200|w3|invoke|send|c/1\n"
          "4300|w3|info|send|c/1|timeout\n"
          "4400|w3|invoke|send|c/2\n"
          "4500|w3|ok|send|c/2\n"
          "5000|w2|invoke|receive|-\n"
          "6000|w2|ok|receive|b/1@m2,a/1@m1\n"
          "7000|w2|invoke|receive|-\n"
          "8000|w2|ok|receive|b/2@m4,c/2@m6\n"
          "9000|w2|invoke|receive|-\n"
          "10000|w2|ok|receive|a/2@m3,c/1@m5\n",
          &r);
    assert_true(r.valid);
    assert_int_equal(r.order_violations, 0);
    assert_int_equal(r.sends_ok, 5);
    assert_int_equal(r.info_appeared, 1);
}

/* An invoke never completed counts as info, so does one its process
 * abandoned by invoking again. */
static void test_unfinished(void **state)
{
    struct checkResult r;

    check(*state,
          HEAD_QUEUE
          "1000|w0|invoke|send|a\n"
          "2000|w1|invoke|send|b\n"
          "3000|w1|invoke|send|c\n"
          "4000|w1|ok|send|c\n"
          "5000|w2|invoke|receive|-\n"
          "6000|w2|ok|receive|c@m3,b@m2\n",
          &r);
    assert_true(r.valid);
    assert_int_equal(r.unfinished, 2);
    assert_int_equal(r.sends_info, 2);
    assert_int_equal(r.info_appeared, 1);
    assert_int_equal(r.info_missing, 1);
    assert_int_equal(r.sends_ok, 1);
    assert_int_equal(r.latency[CHECK_SEND].count, 1);
}

/* Ops are in a fault when invoked inside any window (overlapping windows,
 * one left open closes at the final phase); drain, nemesis and harness are
 * not counted; no ops in windows reads n/a. */
static void test_availability(void **state)
{
    struct checkResult r;
    char *text;

    check(*state,
          HEAD_QUEUE
          "1000|w0|invoke|send|a\n"
          "2000|w0|ok|send|a\n"
          "10000|nemesis|info|start|kill#1:n1\n"
          "15000|nemesis|info|start|partition#2:zone 2\n"
          "16000|w0|invoke|send|b\n"
          "17000|w0|info|send|b|timeout\n"
          "20000|nemesis|info|stop|kill#1:restarted\n"
          "21000|w0|invoke|send|c\n"
          "22000|w0|fail|send|c|NotLeader\n"
          "23000|w1|invoke|send|d\n"
          "24000|w1|ok|send|d\n"
          "30000|harness|info|phase|final\n"
          "31000|w0|invoke|send|e\n"
          "32000|w0|ok|send|e\n"
          "33000|drain|invoke|receive|-\n"
          "34000|drain|ok|receive|a@1,b@2,d@4,e@5\n",
          &r);
    assert_true(r.valid);
    assert_int_equal(r.faults, 2);
    assert_int_equal(r.ops_fault, 3); /* b, c, d */
    assert_int_equal(r.ok_fault, 1);
    assert_int_equal(r.ops_calm, 2); /* a, e */
    assert_int_equal(r.ok_calm, 2);
    assert_true(r.availability_fault > 0.33 && r.availability_fault < 0.34);
    assert_int_equal(r.latency[CHECK_RECEIVE].count, 0);

    check(*state,
          HEAD_QUEUE
          "1000|w0|invoke|send|a\n2000|w0|ok|send|a\n"
          "3000|drain|invoke|receive|-\n4000|drain|ok|receive|a@1\n",
          &r);
    assert_int_equal(r.faults, 0);
    assert_int_equal(r.ops_fault, 0);
    assert_true(r.availability_fault == 1.0);
    text = printed(&r);
    assert_non_null(strstr(text, "n/a"));
    free(text);
}

static void test_harnessFail(void **state)
{
    struct checkResult r;
    char *text;

    check(*state,
          HEAD_QUEUE
          "1000|w0|invoke|send|a\n"
          "2000|w0|ok|send|a\n"
          "3000|drain|invoke|receive|-\n"
          "4000|drain|ok|receive|a@1\n"
          "5000|harness|fail|check|digests:n2 differs at index 120\n",
          &r);
    assert_false(r.valid);
    assert_int_equal(r.harness_failures, 1);
    assert_true(hasProblem(&r, "digests:n2 differs at index 120"));
    text = printed(&r);
    assert_true(strncmp(text, "INVALID: harness_failures 1", 27) == 0);
    free(text);
}

/* Latency percentiles: 100 sends of 1..100 ms. */
static void test_latency(void **state)
{
    char *text = calloc(1, 100 * 64 + 128);
    size_t n;
    struct checkResult r;

    assert_non_null(text);
    n = (size_t)sprintf(text, HEAD_QUEUE);
    for (unsigned i = 1; i <= 100; i++) {
        uint64_t t = i * 1000000ULL;
        n += (size_t)sprintf(text + n, "%llu|w0|invoke|send|m%u\n%llu|w0|ok|send|m%u\n",
                             (unsigned long long)t, i, (unsigned long long)(t + i * 1000), i);
    }
    n += (size_t)sprintf(text + n,
                         "200000000|drain|invoke|receive|-\n200000001|drain|ok|receive|-\n");
    check(*state, text, &r);
    free(text);
    assert_int_equal(r.latency[CHECK_SEND].count, 100);
    assert_true(r.latency[CHECK_SEND].p50_ms == 50.0);
    assert_true(r.latency[CHECK_SEND].p90_ms == 90.0);
    assert_true(r.latency[CHECK_SEND].p99_ms == 99.0);
    assert_true(r.latency[CHECK_SEND].p999_ms == 100.0);
    assert_true(r.latency[CHECK_SEND].max_ms == 100.0);
    assert_int_equal(r.lost, 100);
    assert_int_equal(r.n_problems, CHECK_PROBLEMS_MAX);
}

/* Malformed lines: -1 and "history:LINE: ...". */
static void test_malformed(void **state)
{
    static const struct
    {
        const char *text;
        const char *want;
    } cases[] = {
        {HEAD_QUEUE "1000|w0|invoke|send|a\n2000|w0|ok|send\n", "history:3: too few fields"},
        {HEAD_QUEUE "1000|w0|invoke|send|a|note|more\n", "history:2: too many fields"},
        {HEAD_QUEUE "1000|w0|invoke|send|a\n2000|w0|done|send|a\n",
         "history:3: unknown type: done"},
        {HEAD_QUEUE "\n1000|w0|invoke|send|a\n12x|w0|ok|send|a\n", "history:4: time is not"},
        {HEAD_QUEUE "-5|w0|invoke|send|a\n", "history:2: time is not"},
        {HEAD_QUEUE "1|w0|invoke|receive|-\n2|w0|ok|receive|a@m1,bm2\n", "history:3: receive item"},
        {HEAD_QUEUE "1|w0|invoke|receive|-\n2|w0|ok|receive|a@m1,\n", "history:3: receive item"},
        {HEAD_QUEUE "1|w0|invoke|receive|-\n2|w0|ok|receive|a@\n", "history:3: receive item"},
        {HEAD_QUEUE "1|w0|ok|send|a\n", "history:2: a completion with no invoke"},
        {HEAD_QUEUE "1|w0|invoke|send|a\n2|w0|ok|delete|a@1\n",
         "history:3: a completion of another op"},
        {HEAD_QUEUE "1|nemesis|info|start|partition\n", "history:2: nemesis start/stop"},
    };
    struct fixture *f = *state;
    struct checkResult r;
    char err[256];

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        err[0] = '\0';
        writeHistory(f, cases[i].text);
        assert_int_equal(checkHistory(f->path, &r, err, sizeof err), -1);
        if (strstr(err, cases[i].want) == NULL) {
            fail_msg("case %zu: got \"%s\", want \"%s\"", i, err, cases[i].want);
        }
    }
    assert_int_equal(checkHistory("/nonexistent/history", &r, err, sizeof err), -1);
    assert_non_null(strstr(err, "/nonexistent/history"));
}

static void test_report(void **state)
{
    struct fixture *f = *state;
    struct checkResult r;
    char err[256] = "";
    char p[256];
    char *json, *summary, *svg;

    check(f, valid_queue, &r);
    if (reportWrite(f->dir, f->path, &r, "{\"seed\": 7, \"nodes\": 3}", err, sizeof err) != 0) {
        fail_msg("reportWrite: %s", err);
    }
    snprintf(p, sizeof p, "%s/results.json", f->dir);
    json = slurp(p);
    assert_non_null(json);
    assert_non_null(strstr(json, "\"valid\": true"));
    assert_non_null(strstr(json, "\"config\": {\"seed\": 7, \"nodes\": 3}"));
    assert_non_null(strstr(json, "\"redeliveries\": 1,"));
    assert_non_null(strstr(json, "\"receive\": {\"count\": 2,"));
    snprintf(p, sizeof p, "%s/summary.txt", f->dir);
    summary = slurp(p);
    assert_non_null(summary);
    assert_true(strncmp(summary, "VALID\n", 6) == 0);
    snprintf(p, sizeof p, "%s/latency.svg", f->dir);
    svg = slurp(p);
    if (access("/usr/bin/gnuplot", X_OK) == 0) {
        assert_non_null(svg);
        assert_non_null(strstr(svg, "<svg"));
        assert_non_null(strstr(svg, "partition"));
        assert_non_null(strstr(json, "\"plot\": \"latency.svg\""));
    } else {
        assert_non_null(strstr(json, "\"plot\": \"gnuplot missing\""));
    }
    free(json);
    free(summary);
    free(svg);
}

/* Strings in results.json are escaped; config NULL is null. */
static void test_reportEscapes(void **state)
{
    struct fixture *f = *state;
    struct checkResult r;
    char err[256] = "";
    char p[256];
    char *json;

    check(f,
          HEAD_QUEUE
          "1|w0|invoke|receive|-\n"
          "2|w0|ok|receive|q\"uo\\te\x01\xff@m1\n"
          "3|nemesis|info|start|we'ird$(x)#1:detail\n",
          &r);
    assert_int_equal(r.phantoms, 1);
    if (reportWrite(f->dir, f->path, &r, NULL, err, sizeof err) != 0) {
        fail_msg("reportWrite: %s", err);
    }
    snprintf(p, sizeof p, "%s/results.json", f->dir);
    json = slurp(p);
    assert_non_null(json);
    assert_non_null(strstr(json, "\"valid\": false"));
    assert_non_null(strstr(json, "q\\\"uo\\\\te\\u0001\\ufffd"));
    assert_non_null(strstr(json, "\"config\": null"));
    free(json);
}

/* A generated fifo history: QRAFT_JEPSEN_EVENTS events (about), 16
 * writers with a group each and 16 readers; every message received and
 * deleted once; every tenth receive also carries x@y (x is sent first), so
 * x is redelivered; one fault window from the middle on. Timed. */
static void test_generated(void **state)
{
    struct fixture *f = *state;
    const char *env = getenv("QRAFT_JEPSEN_EVENTS");
    uint64_t want = env ? strtoull(env, NULL, 10) : 100000;
    uint64_t sends = want / 6, t = 10;
    FILE *out = fopen(f->path, "w");
    struct checkResult r;
    char err[256] = "";
    struct timespec a, b;
    double took;

    assert_non_null(out);
    fprintf(out, HEAD_FIFO "0\tw99\tinvoke\tsend\tx\n1\tw99\tok\tsend\tx\n");
    for (uint64_t i = 0; i < sends; i++) {
        unsigned w = (unsigned)(i % 16);
        uint64_t n = i / 16 + 1;
        if (i == sends / 2) {
            fprintf(out, "%llu\tnemesis\tinfo\tstart\tpartition#1:x\n", (unsigned long long)t);
        }
        fprintf(out, "%llu\tw%u\tinvoke\tsend\tg%u/%llu\n", (unsigned long long)t, w, w,
                (unsigned long long)n);
        fprintf(out, "%llu\tw%u\tok\tsend\tg%u/%llu\n", (unsigned long long)(t + 700 + i % 500), w,
                w, (unsigned long long)n);
        fprintf(out, "%llu\tw%u\tinvoke\treceive\t-\n", (unsigned long long)(t + 2000), w + 16);
        fprintf(out, "%llu\tw%u\tok\treceive\tg%u/%llu@id%llu%s\n", (unsigned long long)(t + 2500),
                w + 16, w, (unsigned long long)n, (unsigned long long)i, i % 10 ? "" : ",x@y");
        fprintf(out, "%llu\tw%u\tinvoke\tdelete\tg%u/%llu@id%llu\n", (unsigned long long)(t + 3000),
                w + 16, w, (unsigned long long)n, (unsigned long long)i);
        fprintf(out, "%llu\tw%u\tok\tdelete\tg%u/%llu@id%llu\n", (unsigned long long)(t + 3400),
                w + 16, w, (unsigned long long)n, (unsigned long long)i);
        t += 50;
    }
    assert_int_equal(fclose(out), 0);
    clock_gettime(CLOCK_MONOTONIC, &a);
    if (checkHistory(f->path, &r, err, sizeof err) != 0) {
        fail_msg("checkHistory: %s", err);
    }
    clock_gettime(CLOCK_MONOTONIC, &b);
    took = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
    printf("generated history: %llu events checked in %.3f s\n", (unsigned long long)r.events,
           took);
    assert_true(r.valid);
    assert_int_equal(r.sends_ok, sends + 1);
    assert_int_equal(r.received, sends + 1);
    assert_int_equal(r.redeliveries, (sends + 9) / 10 - 1);
    assert_int_equal(r.order_violations, 0);
    assert_int_equal(r.faults, 1);
    assert_int_equal(r.unfinished, 0);
    assert_int_equal(r.latency[CHECK_DELETE].count, sends);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_validQueue, setUp, tearDown),
        cmocka_unit_test_setup_teardown(test_lost, setUp, tearDown),
        cmocka_unit_test_setup_teardown(test_phantom, setUp, tearDown),
        cmocka_unit_test_setup_teardown(test_failedAppeared, setUp, tearDown),
        cmocka_unit_test_setup_teardown(test_infoSends, setUp, tearDown),
        cmocka_unit_test_setup_teardown(test_queueDuplicate, setUp, tearDown),
        cmocka_unit_test_setup_teardown(test_fifoDuplicate, setUp, tearDown),
        cmocka_unit_test_setup_teardown(test_fifoReorder, setUp, tearDown),
        cmocka_unit_test_setup_teardown(test_fifoReorderInOneReceive, setUp, tearDown),
        cmocka_unit_test_setup_teardown(test_fifoGroupsInterleaved, setUp, tearDown),
        cmocka_unit_test_setup_teardown(test_unfinished, setUp, tearDown),
        cmocka_unit_test_setup_teardown(test_availability, setUp, tearDown),
        cmocka_unit_test_setup_teardown(test_harnessFail, setUp, tearDown),
        cmocka_unit_test_setup_teardown(test_latency, setUp, tearDown),
        cmocka_unit_test_setup_teardown(test_malformed, setUp, tearDown),
        cmocka_unit_test_setup_teardown(test_report, setUp, tearDown),
        cmocka_unit_test_setup_teardown(test_reportEscapes, setUp, tearDown),
        cmocka_unit_test_setup_teardown(test_generated, setUp, tearDown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
