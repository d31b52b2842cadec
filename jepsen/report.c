/* The report of a checked history: checkPrint (the text summary) and
 * reportWrite (results.json, summary.txt, and the plot of report_plot.c).
 *
 * The happy path is: reportWrite reads the history once more (the checker
 * keeps nothing of it in struct checkResult), has report_plot.c write the
 * gnuplot script and data and run gnuplot, then writes summary.txt
 * (checkPrint) and results.json (every field of the result, "valid", the
 * caller's config object verbatim, and "plot": what became of the picture).
 * JSON is written by hand: strings are escaped (quote, backslash, control
 * characters as \u00XX, bytes that are not UTF-8 as U+FFFD).
 *
 * Failure modes are: the history cannot be read again (-1); a file cannot
 * be written (-1, the path and errno's text); gnuplot fails or runs past
 * its time limit (results.json and summary.txt are still written and say
 * so; -1). gnuplot missing is no failure: latency.gp and its data stay for
 * a later run, and results.json says "plot": "gnuplot missing". */
#include "jepsen/checker_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* One invariant line of the summary. */
struct invariant
{
    const char *name;
    uint64_t value;
    bool checked; /* false: not checked on this workload */
};

/* The invariants of @r, in print order; returns how many. */
static size_t invariants(const struct checkResult *r, struct invariant out[6])
{
    size_t n = 0;

    out[n++] = (struct invariant){"lost", r->lost, true};
    out[n++] = (struct invariant){"phantoms", r->phantoms, true};
    out[n++] = (struct invariant){"failed_appeared", r->failed_appeared, true};
    out[n++] = (struct invariant){"harness_failures", r->harness_failures, true};
    out[n++] = (struct invariant){"duplicates_in_window", r->duplicates_in_window, r->fifo};
    out[n++] = (struct invariant){"order_violations", r->order_violations, r->fifo};
    return n;
}

/* "97.1% (1000 ops, 971 ok)" or "n/a (no ops)". */
static void printAvailability(FILE *f, const char *label, double ratio, uint64_t ops, uint64_t ok)
{
    if (ops == 0) {
        fprintf(f, "  %-14s n/a     (no ops)\n", label);
    } else {
        fprintf(f, "  %-14s %6.2f%% (%llu ops, %llu ok)\n", label, ratio * 100.0,
                (unsigned long long)ops, (unsigned long long)ok);
    }
}

void checkPrint(FILE *f, const struct checkResult *r)
{
    struct invariant inv[6];
    size_t n = invariants(r, inv);
    bool first = true;

    if (r->valid) {
        fprintf(f, "VALID\n");
    } else {
        fprintf(f, "INVALID:");
        for (size_t i = 0; i < n; i++) {
            if (inv[i].checked && inv[i].value != 0) {
                fprintf(f, "%s %s %llu", first ? "" : ",", inv[i].name,
                        (unsigned long long)inv[i].value);
                first = false;
            }
        }
        fprintf(f, "\n");
    }
    fprintf(f, "\nworkload %s, %llu events over %.1f s\n\ninvariants:\n",
            r->workload[0] ? r->workload : "(unnamed)", (unsigned long long)r->events,
            r->duration_s);
    for (size_t i = 0; i < n; i++) {
        if (inv[i].checked) {
            fprintf(f, "  %-22s %10llu  must be 0  %s\n", inv[i].name,
                    (unsigned long long)inv[i].value, inv[i].value == 0 ? "ok" : "FAILED");
        } else {
            fprintf(f, "  %-22s %10s  (fifo only)\n", inv[i].name, "-");
        }
    }
    fprintf(f, "\ncounts:\n");
    fprintf(f, "  sends          ok %llu, info %llu, fail %llu\n", (unsigned long long)r->sends_ok,
            (unsigned long long)r->sends_info, (unsigned long long)r->sends_fail);
    fprintf(f, "  info sends     appeared %llu, missing %llu\n",
            (unsigned long long)r->info_appeared, (unsigned long long)r->info_missing);
    fprintf(f,
            "  received       %llu bodies, %llu deliveries, %llu redeliveries, %llu duplicates\n",
            (unsigned long long)r->received, (unsigned long long)r->deliveries,
            (unsigned long long)r->redeliveries, (unsigned long long)r->duplicates);
    fprintf(f, "  unfinished     %llu invokes never completed\n",
            (unsigned long long)r->unfinished);
    fprintf(f, "\navailability (ok / completed ops of w<N>, %llu fault windows):\n",
            (unsigned long long)r->faults);
    printAvailability(f, "in faults", r->availability_fault, r->ops_fault, r->ok_fault);
    printAvailability(f, "outside", r->availability_calm, r->ops_calm, r->ok_calm);
    fprintf(f, "\nlatency (ms, every outcome):\n");
    fprintf(f, "  %-8s %10s %9s %9s %9s %9s %9s\n", "op", "count", "p50", "p90", "p99", "p99.9",
            "max");
    for (int op = 0; op < CHECK_OPS; op++) {
        const struct checkLatency *l = &r->latency[op];
        if (l->count == 0) {
            fprintf(f, "  %-8s %10s\n", checkOpName((enum checkOp)op), "0");
            continue;
        }
        fprintf(f, "  %-8s %10llu %9.2f %9.2f %9.2f %9.2f %9.2f\n", checkOpName((enum checkOp)op),
                (unsigned long long)l->count, l->p50_ms, l->p90_ms, l->p99_ms, l->p999_ms,
                l->max_ms);
    }
    if (r->n_problems > 0) {
        fprintf(f, "\nproblems (up to %d examples):\n", CHECK_PROBLEMS_MAX);
        for (unsigned i = 0; i < r->n_problems; i++) {
            fprintf(f, "  %s\n", r->problems[i]);
        }
    }
}

/* The length of the valid UTF-8 sequence at @s (at most @n bytes), or 0. */
static size_t utf8Len(const unsigned char *s, size_t n)
{
    size_t len;
    uint32_t c;

    if (s[0] < 0x80) {
        return 1;
    } else if ((s[0] & 0xe0) == 0xc0) {
        len = 2;
        c = s[0] & 0x1f;
    } else if ((s[0] & 0xf0) == 0xe0) {
        len = 3;
        c = s[0] & 0x0f;
    } else if ((s[0] & 0xf8) == 0xf0) {
        len = 4;
        c = s[0] & 0x07;
    } else {
        return 0;
    }
    if (len > n) {
        return 0;
    }
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80) {
            return 0;
        }
        c = (c << 6) | (s[i] & 0x3f);
    }
    if ((len == 2 && c < 0x80) || (len == 3 && c < 0x800) || (len == 4 && c < 0x10000) ||
        c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff)) {
        return 0;
    }
    return len;
}

/* @s as a JSON string. */
static void jsonString(FILE *f, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t n = strlen(s);

    fputc('"', f);
    for (size_t i = 0; i < n;) {
        unsigned char c = p[i];
        size_t len;
        if (c == '"' || c == '\\') {
            fputc('\\', f);
            fputc(c, f);
            i++;
        } else if (c < 0x20 || c == 0x7f) {
            fprintf(f, "\\u%04x", c);
            i++;
        } else if ((len = utf8Len(p + i, n - i)) == 0) {
            fputs("\\ufffd", f);
            i++;
        } else {
            fwrite(p + i, 1, len, f);
            i += len;
        }
    }
    fputc('"', f);
}

/* "NAME": VALUE, for the counters. */
static void jsonU64(FILE *f, const char *name, uint64_t v)
{
    fprintf(f, "  \"%s\": %llu,\n", name, (unsigned long long)v);
}

/* Write results.json into @path. Returns 0 or -1 (errno set). */
static int writeResults(const char *path, const struct checkResult *r, const char *config_json,
                        const char *plot)
{
    FILE *f = fopen(path, "w");
    int rv;

    if (f == NULL) {
        return -1;
    }
    fprintf(f, "{\n  \"valid\": %s,\n  \"workload\": ", r->valid ? "true" : "false");
    jsonString(f, r->workload);
    fprintf(f, ",\n  \"fifo\": %s,\n", r->fifo ? "true" : "false");
    jsonU64(f, "events", r->events);
    fprintf(f, "  \"duration_s\": %.6f,\n", r->duration_s);
    jsonU64(f, "unfinished", r->unfinished);
    jsonU64(f, "sends_ok", r->sends_ok);
    jsonU64(f, "sends_fail", r->sends_fail);
    jsonU64(f, "sends_info", r->sends_info);
    jsonU64(f, "info_appeared", r->info_appeared);
    jsonU64(f, "info_missing", r->info_missing);
    jsonU64(f, "lost", r->lost);
    jsonU64(f, "phantoms", r->phantoms);
    jsonU64(f, "failed_appeared", r->failed_appeared);
    jsonU64(f, "received", r->received);
    jsonU64(f, "deliveries", r->deliveries);
    jsonU64(f, "redeliveries", r->redeliveries);
    jsonU64(f, "duplicates", r->duplicates);
    jsonU64(f, "duplicates_in_window", r->duplicates_in_window);
    jsonU64(f, "order_violations", r->order_violations);
    jsonU64(f, "harness_failures", r->harness_failures);
    jsonU64(f, "faults", r->faults);
    jsonU64(f, "ops_fault", r->ops_fault);
    jsonU64(f, "ok_fault", r->ok_fault);
    jsonU64(f, "ops_calm", r->ops_calm);
    jsonU64(f, "ok_calm", r->ok_calm);
    fprintf(f, "  \"availability_fault\": %.6f,\n", r->availability_fault);
    fprintf(f, "  \"availability_calm\": %.6f,\n", r->availability_calm);
    fprintf(f, "  \"latency\": {");
    for (int op = 0; op < CHECK_OPS; op++) {
        const struct checkLatency *l = &r->latency[op];
        fprintf(f,
                "%s\n    \"%s\": {\"count\": %llu, \"p50_ms\": %.3f, \"p90_ms\": %.3f, "
                "\"p99_ms\": %.3f, \"p999_ms\": %.3f, \"max_ms\": %.3f}",
                op ? "," : "", checkOpName((enum checkOp)op), (unsigned long long)l->count,
                l->p50_ms, l->p90_ms, l->p99_ms, l->p999_ms, l->max_ms);
    }
    fprintf(f, "\n  },\n  \"n_problems\": %u,\n  \"problems\": [", r->n_problems);
    for (unsigned i = 0; i < r->n_problems; i++) {
        fprintf(f, "%s\n    ", i ? "," : "");
        jsonString(f, r->problems[i]);
    }
    fprintf(f, "%s],\n  \"plot\": ", r->n_problems ? "\n  " : "");
    jsonString(f, plot);
    fprintf(f, ",\n  \"config\": %s\n}\n", config_json != NULL ? config_json : "null");
    rv = ferror(f) ? -1 : 0;
    if (fclose(f) != 0) {
        rv = -1;
    }
    return rv;
}

/* Write summary.txt into @path. Returns 0 or -1 (errno set). */
static int writeSummary(const char *path, const struct checkResult *r)
{
    FILE *f = fopen(path, "w");
    int rv;

    if (f == NULL) {
        return -1;
    }
    checkPrint(f, r);
    rv = ferror(f) ? -1 : 0;
    if (fclose(f) != 0) {
        rv = -1;
    }
    return rv;
}

int reportWrite(const char *dir, const char *history_path, const struct checkResult *r,
                const char *config_json, char *errmsg, size_t len)
{
    struct checkState s;
    char path[4096];
    char note[256];
    char plot_err[256] = "";
    int plot_rv;

    if (checkRead(history_path, &s, errmsg, len) != 0) {
        return -1;
    }
    plot_rv = reportPlot(dir, &s, r, note, sizeof note, plot_err, sizeof plot_err);
    checkStateFree(&s);
    snprintf(path, sizeof path, "%s/summary.txt", dir);
    if (writeSummary(path, r) != 0) {
        snprintf(errmsg, len, "%s: %s", path, strerror(errno));
        return -1;
    }
    snprintf(path, sizeof path, "%s/results.json", dir);
    if (writeResults(path, r, config_json, note) != 0) {
        snprintf(errmsg, len, "%s: %s", path, strerror(errno));
        return -1;
    }
    if (plot_rv != 0) {
        snprintf(errmsg, len, "%s", plot_err);
        return -1;
    }
    return 0;
}
