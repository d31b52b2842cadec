/* The checker, part two: the invariants and statistics of a history read
 * by checkRead (checker.c).
 *
 * The happy path is: one pass over the bodies gives each logical message
 * its status (ok if any send attempt was ok; else info if any attempt was
 * info or never completed; else fail) and checks it against its deliveries
 * (lost, phantom, failed yet delivered, info appeared or missing,
 * duplicates, FIFO duplicates inside the 5-minute deduplication window);
 * on fifo, the sent bodies "GROUP/N" sorted by (group, N) give the order
 * violations in one sweep per group (O(k log k)); the completed operations
 * of w<N> processes give latency percentiles (exact, from sorted arrays)
 * and availability inside and outside the fault windows (merged, then a
 * binary search per operation).
 *
 * Failure modes are: out of memory (-1). Decisions: a FIFO duplicate is
 * "in the window" when the span from the body's first send invoke to its
 * last send completion is under 300 s; a send attempt that never completed
 * stretches the span to the end of the history. Bodies that are not
 * "GROUP/N" take no part in the order check. Problem examples are shared
 * out across kinds (harness, lost, phantom, failed appeared, FIFO
 * duplicate, order), in turn, so one flood of a kind hides no other. */
#include "jepsen/checker_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEDUP_WINDOW_US (300ULL * 1000000ULL)

/* Kinds of problem examples, in the order they are shared out. */
enum {
    PROBLEM_HARNESS,
    PROBLEM_LOST,
    PROBLEM_PHANTOM,
    PROBLEM_FAILED,
    PROBLEM_DUPLICATE,
    PROBLEM_ORDER,
    PROBLEM_KINDS,
};

/* Examples gathered per kind, before they are shared out. */
struct problems
{
    char line[PROBLEM_KINDS][CHECK_PROBLEMS_MAX][200];
    unsigned n[PROBLEM_KINDS];
};

/* Add an example of @kind (dropped when the kind has enough). */
static void problemAdd(struct problems *p, int kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void problemAdd(struct problems *p, int kind, const char *fmt, ...)
{
    va_list ap;

    if (p->n[kind] >= CHECK_PROBLEMS_MAX) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(p->line[kind][p->n[kind]], sizeof p->line[kind][0], fmt, ap);
    va_end(ap);
    p->n[kind]++;
}

/* Share the examples out into @r: one of each kind in turn. */
static void problemsShare(const struct problems *p, struct checkResult *r)
{
    for (unsigned round = 0; round < CHECK_PROBLEMS_MAX; round++) {
        for (int k = 0; k < PROBLEM_KINDS; k++) {
            if (round < p->n[k] && r->n_problems < CHECK_PROBLEMS_MAX) {
                memcpy(r->problems[r->n_problems++], p->line[k][round], sizeof r->problems[0]);
            }
        }
    }
}

/* Seconds of a time in microseconds. */
static double secs(uint64_t us)
{
    return (double)us / 1e6;
}

/* Whether delivery position @a comes before @b. */
static bool posBefore(const struct checkPos *a, const struct checkPos *b)
{
    if (a->t_us != b->t_us) {
        return a->t_us < b->t_us;
    }
    if (a->seq != b->seq) {
        return a->seq < b->seq;
    }
    return a->idx < b->idx;
}

/* The status of a sent body. */
static int bodyStatus(const struct checkBody *b)
{
    if (b->flags & BODY_OK) {
        return CHECK_OUT_OK;
    }
    if (b->flags & (BODY_INFO | BODY_UNFINISHED)) {
        return CHECK_OUT_INFO;
    }
    return CHECK_OUT_FAIL;
}

/* Per body: status counts, lost, phantoms, failed appeared, duplicates. */
static void evalBodies(const struct checkState *s, struct checkResult *r, struct problems *p)
{
    for (uint32_t i = 0; i < s->body_names.n; i++) {
        const struct checkBody *b = &s->bodies[i];
        const char *name = checkInternKey(&s->body_names, i);
        bool delivered = b->deliveries > 0;
        int status;

        if (delivered) {
            r->received++;
        }
        if (!(b->flags & BODY_SENT)) {
            r->phantoms++;
            problemAdd(p, PROBLEM_PHANTOM,
                       "phantom: %.60s received at %.3f s (%s) as %.40s, never sent", name,
                       secs(b->first.t_us), checkInternKey(&s->proc_names, b->first_proc),
                       checkPairMsgid(s, b->first_pair));
            if (b->msgids > 1) {
                r->duplicates++;
            }
            continue;
        }
        status = bodyStatus(b);
        if (status == CHECK_OUT_OK) {
            r->sends_ok++;
            if (!delivered) {
                r->lost++;
                problemAdd(p, PROBLEM_LOST,
                           "lost: %.60s acknowledged at %.3f s (%s), never received", name,
                           secs(b->ack_us), checkInternKey(&s->proc_names, b->ack_proc));
            }
        } else if (status == CHECK_OUT_INFO) {
            r->sends_info++;
            if (delivered) {
                r->info_appeared++;
            } else {
                r->info_missing++;
            }
        } else {
            r->sends_fail++;
            if (delivered) {
                r->failed_appeared++;
                problemAdd(
                    p, PROBLEM_FAILED,
                    "failed appeared: %.60s refused at %.3f s (%s), yet received at %.3f s (%s)",
                    name, secs(b->fail_us), checkInternKey(&s->proc_names, b->fail_proc),
                    secs(b->first.t_us), checkInternKey(&s->proc_names, b->first_proc));
            }
        }
        if (b->msgids > 1) {
            uint64_t last = (b->flags & BODY_UNFINISHED) ? s->end_us : b->last_complete_us;
            uint64_t span = last > b->first_invoke_us ? last - b->first_invoke_us : 0;
            r->duplicates++;
            if (s->fifo && span < DEDUP_WINDOW_US) {
                r->duplicates_in_window++;
                problemAdd(
                    p, PROBLEM_DUPLICATE,
                    "fifo duplicate: %.60s delivered under %u message ids, its sends spanned "
                    "%.3f s (from %.3f s), inside the 300 s deduplication window",
                    name, b->msgids, secs(span), secs(b->first_invoke_us));
            }
        }
    }
}

/* A sent FIFO body "GROUP/N". */
struct fifoEntry
{
    uint32_t group;
    uint32_t body;
    uint64_t n;
};

/* Order of struct fifoEntry: by group, then N. */
static int fifoCompare(const void *a, const void *b)
{
    const struct fifoEntry *x = a, *y = b;

    if (x->group != y->group) {
        return x->group < y->group ? -1 : 1;
    }
    if (x->n != y->n) {
        return x->n < y->n ? -1 : 1;
    }
    return x->body < y->body ? -1 : x->body > y->body;
}

/* Parse "GROUP/N": the group's length and N. Returns 0, or -1 if @name is
 * not of that shape. */
static int fifoSplit(const char *name, size_t *group_len, uint64_t *n)
{
    const char *slash = strrchr(name, '/');
    uint64_t v = 0;

    if (slash == NULL || slash[1] == '\0') {
        return -1;
    }
    for (const char *c = slash + 1; *c; c++) {
        if (*c < '0' || *c > '9' || v > (UINT64_MAX - 9) / 10) {
            return -1;
        }
        v = v * 10 + (uint64_t)(*c - '0');
    }
    *group_len = (size_t)(slash - name);
    *n = v;
    return 0;
}

/* FIFO order: within a group, no delivered message may be first delivered
 * before an acknowledged message of smaller N. Returns 0 or -1. */
static int evalOrder(const struct checkState *s, struct checkResult *r, struct problems *p)
{
    struct checkIntern groups = {0};
    struct fifoEntry *e = NULL;
    size_t n = 0;
    int rv = -1;

    e = malloc((s->body_names.n ? s->body_names.n : 1) * sizeof *e);
    if (e == NULL) {
        goto out;
    }
    for (uint32_t i = 0; i < s->body_names.n; i++) {
        const char *name = checkInternKey(&s->body_names, i);
        size_t glen;
        uint64_t num;
        if (!(s->bodies[i].flags & BODY_SENT) || fifoSplit(name, &glen, &num) != 0) {
            continue;
        }
        if (checkInternPut(&groups, name, glen, &e[n].group, NULL) != 0) {
            goto out;
        }
        e[n].body = i;
        e[n].n = num;
        n++;
    }
    qsort(e, n, sizeof *e, fifoCompare);
    for (size_t i = 0; i < n;) {
        bool have = false;
        struct checkPos best = {0};
        uint32_t best_body = 0;
        size_t j = i;
        /* one group: e[i, end) */
        while (j < n && e[j].group == e[i].group) {
            size_t k = j;
            while (k < n && e[k].group == e[i].group && e[k].n == e[j].n) {
                k++;
            }
            for (size_t m = j; m < k && have; m++) {
                const struct checkBody *b = &s->bodies[e[m].body];
                if (b->deliveries > 0 && posBefore(&b->first, &best)) {
                    r->order_violations++;
                    problemAdd(p, PROBLEM_ORDER,
                               "order: %.40s first received at %.3f s (%s), before %.40s "
                               "(acknowledged, sent earlier) first received at %.3f s",
                               checkInternKey(&s->body_names, e[m].body), secs(b->first.t_us),
                               checkInternKey(&s->proc_names, b->first_proc),
                               checkInternKey(&s->body_names, best_body), secs(best.t_us));
                }
            }
            for (size_t m = j; m < k; m++) {
                const struct checkBody *b = &s->bodies[e[m].body];
                if (b->deliveries > 0 && bodyStatus(b) == CHECK_OUT_OK &&
                    (!have || posBefore(&best, &b->first))) {
                    have = true;
                    best = b->first;
                    best_body = e[m].body;
                }
            }
            j = k;
        }
        i = j;
    }
    rv = 0;
out:
    free(e);
    checkInternFree(&groups);
    return rv;
}

/* Order of uint64_t. */
static int u64Compare(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* The nearest-rank @q quantile of sorted @v (@n > 0), in ms. */
static double quantileMs(const uint64_t *v, size_t n, double q)
{
    size_t rank = (size_t)(q * (double)n + 0.999999);
    if (rank < 1) {
        rank = 1;
    }
    if (rank > n) {
        rank = n;
    }
    return (double)v[rank - 1] / 1000.0;
}

/* Latency percentiles per op. Returns 0 or -1. */
static int evalLatency(const struct checkState *s, struct checkResult *r)
{
    uint64_t *v = malloc((s->n_ops ? s->n_ops : 1) * sizeof *v);

    if (v == NULL) {
        return -1;
    }
    for (int op = 0; op < CHECK_OPS; op++) {
        size_t n = 0;
        struct checkLatency *l = &r->latency[op];
        for (size_t i = 0; i < s->n_ops; i++) {
            const struct checkOpRec *o = &s->ops[i];
            if (o->op == op) {
                v[n++] = o->complete_us > o->invoke_us ? o->complete_us - o->invoke_us : 0;
            }
        }
        l->count = n;
        if (n == 0) {
            continue;
        }
        qsort(v, n, sizeof *v, u64Compare);
        l->p50_ms = quantileMs(v, n, 0.50);
        l->p90_ms = quantileMs(v, n, 0.90);
        l->p99_ms = quantileMs(v, n, 0.99);
        l->p999_ms = quantileMs(v, n, 0.999);
        l->max_ms = (double)v[n - 1] / 1000.0;
    }
    free(v);
    return 0;
}

/* A time interval [start, stop]. */
struct span
{
    uint64_t start, stop;
};

/* Order of struct span by start. */
static int spanCompare(const void *a, const void *b)
{
    const struct span *x = a, *y = b;
    return x->start < y->start ? -1 : x->start > y->start;
}

/* Availability inside and outside the fault windows. Returns 0 or -1. */
static int evalAvailability(const struct checkState *s, struct checkResult *r)
{
    struct span *w = malloc((s->n_windows ? s->n_windows : 1) * sizeof *w);
    size_t n = 0;

    if (w == NULL) {
        return -1;
    }
    for (size_t i = 0; i < s->n_windows; i++) {
        w[i].start = s->windows[i].start_us;
        w[i].stop = s->windows[i].stop_us;
    }
    qsort(w, s->n_windows, sizeof *w, spanCompare);
    for (size_t i = 0; i < s->n_windows; i++) {
        if (n > 0 && w[i].start <= w[n - 1].stop) {
            if (w[i].stop > w[n - 1].stop) {
                w[n - 1].stop = w[i].stop;
            }
        } else {
            w[n++] = w[i];
        }
    }
    for (size_t i = 0; i < s->n_ops; i++) {
        const struct checkOpRec *o = &s->ops[i];
        size_t lo = 0, hi = n; /* first window starting after the invoke */
        bool in;
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (w[mid].start <= o->invoke_us) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        in = lo > 0 && o->invoke_us <= w[lo - 1].stop;
        if (in) {
            r->ops_fault++;
            r->ok_fault += o->outcome == CHECK_OUT_OK;
        } else {
            r->ops_calm++;
            r->ok_calm += o->outcome == CHECK_OUT_OK;
        }
    }
    free(w);
    r->availability_fault = r->ops_fault ? (double)r->ok_fault / (double)r->ops_fault : 1.0;
    r->availability_calm = r->ops_calm ? (double)r->ok_calm / (double)r->ops_calm : 1.0;
    return 0;
}

int checkEvaluate(const struct checkState *s, struct checkResult *r)
{
    struct problems *p = calloc(1, sizeof *p);

    memset(r, 0, sizeof *r);
    if (p == NULL) {
        return -1;
    }
    snprintf(r->workload, sizeof r->workload, "%s", s->workload);
    r->fifo = s->fifo;
    r->events = s->events;
    r->deliveries = s->deliveries;
    r->redeliveries = s->redeliveries;
    r->harness_failures = s->harness_failures;
    r->faults = s->n_windows;
    r->unfinished = s->unfinished;
    r->duration_s = secs(s->end_us);
    for (size_t i = 0; i < s->n_harness; i++) {
        problemAdd(p, PROBLEM_HARNESS, "harness check failed at %.3f s: %s",
                   secs(s->harness[i].t_us), s->harness[i].what);
    }
    evalBodies(s, r, p);
    if ((s->fifo && evalOrder(s, r, p) != 0) || evalLatency(s, r) != 0 ||
        evalAvailability(s, r) != 0) {
        free(p);
        memset(r, 0, sizeof *r);
        return -1;
    }
    problemsShare(p, r);
    free(p);
    r->valid = r->lost == 0 && r->phantoms == 0 && r->failed_appeared == 0 &&
               r->harness_failures == 0 &&
               (!r->fifo || (r->duplicates_in_window == 0 && r->order_violations == 0));
    return 0;
}
