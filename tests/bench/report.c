/* The table and tests/bench/results.json. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "tests/bench/bench.h"

#include "client/qraft.h"

/* ---------------------------------------------------------------------- */
/* Output                                                                  */

static void machine(char *cpu, size_t cpu_len, char *kernel, size_t kernel_len)
{
    snprintf(cpu, cpu_len, "unknown");
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[256];
    while (f != NULL && fgets(line, sizeof line, f) != NULL) {
        if (strncmp(line, "model name", 10) == 0) {
            char *v = strchr(line, ':');
            if (v != NULL) {
                v += 2;
                v[strcspn(v, "\n")] = '\0';
                snprintf(cpu, cpu_len, "%s", v);
            }
            break;
        }
    }
    if (f != NULL) {
        fclose(f);
    }
    struct utsname u;
    snprintf(kernel, kernel_len, "%s", uname(&u) == 0 ? u.release : "unknown");
}

static void fmtNum(char *buf, size_t len, double v, int decimals)
{
    if (v < 0) {
        snprintf(buf, len, "-");
    } else {
        snprintf(buf, len, "%.*f", decimals, v);
    }
}

void printTable(void)
{
    printf("\n%-4s %-52s %9s %8s %8s %8s %8s %8s %8s\n", "row", "scenario", "msgs/s", "MB/s",
           "p50 ms", "p90 ms", "p99 ms", "p99.9 ms", "max ms");
    for (unsigned i = 0; i < n_rows; i++) {
        struct row *r = &rows[i];
        if (!r->measured) {
            printf("%-4s %-52s %s\n", r->id, r->name, r->note);
            continue;
        }
        char m[16], b[16];
        fmtNum(m, sizeof m, r->msgs_s, 0);
        fmtNum(b, sizeof b, r->mb_s, 1);
        printf("%-4s %-52s %9s %8s", r->id, r->name, m, b);
        if (r->has_lat) {
            printf(" %8.3f %8.3f %8.3f %8.3f %8.3f", r->p50_ms, r->p90_ms, r->p99_ms, r->p999_ms,
                   r->max_ms);
        }
        printf("\n");
        if (r->note[0] || r->errors) {
            printf("     %s%s(errors: %llu)\n", r->note, r->note[0] ? " " : "",
                   (unsigned long long)r->errors);
        }
        const struct row *p = peerRow(r->id);
        if (p != NULL) {
            fmtNum(m, sizeof m, p->msgs_s, 0);
            fmtNum(b, sizeof b, p->mb_s, 1);
            printf("%-4s %-52s %9s %8s", "", "  peer: RabbitMQ quorum queue", m, b);
            if (p->has_lat) {
                printf(" %8.3f %8.3f %8.3f %8.3f %8.3f", p->p50_ms, p->p90_ms, p->p99_ms,
                       p->p999_ms, p->max_ms);
            }
            printf("\n     qraft/peer: msgs/s x%.2f",
                   p->msgs_s > 0 ? r->msgs_s / p->msgs_s : 0);
            if (p->has_lat && r->has_lat && p->p50_ms > 0 && p->p99_ms > 0) {
                printf(", p50 latency x%.2f, p99 latency x%.2f", r->p50_ms / p->p50_ms,
                       r->p99_ms / p->p99_ms);
            }
            printf(" (peer: %s)\n", p->name);
        }
    }
    if (peerSkipped()[0] != '\0') {
        printf("peer (RabbitMQ) not measured: %s\n", peerSkipped());
    }
    printf("load average: %.2f %.2f %.2f at the start, %.2f %.2f %.2f at the end (%ld cores); "
           "qraft's scenarios took %.0f s\n",
           load_start[0], load_start[1], load_start[2], load_end[0], load_end[1], load_end[2],
           sysconf(_SC_NPROCESSORS_ONLN), run_seconds);
}

static void jsonStr(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') {
            fprintf(f, "\\%c", *s);
        } else if ((unsigned char)*s < 0x20) {
            fprintf(f, "\\u%04x", *s);
        } else {
            fputc(*s, f);
        }
    }
    fputc('"', f);
}

static void jsonHist(FILE *f, const char *name, const struct hist *h)
{
    fprintf(f,
            "    \"%s\": {\"n\": %llu, \"p50_ms\": %.4f, \"p90_ms\": %.4f, \"p99_ms\": %.4f, "
            "\"p999_ms\": %.4f, \"max_ms\": %.4f}",
            name, (unsigned long long)h->n, (double)histQuantile(h, 0.5) / 1e6,
            (double)histQuantile(h, 0.9) / 1e6, (double)histQuantile(h, 0.99) / 1e6,
            (double)histQuantile(h, 0.999) / 1e6, (double)h->max / 1e6);
}

void writeJson(void)
{
    FILE *f = fopen(opt.json, "w");
    if (f == NULL) {
        fprintf(stderr, "bench: %s: %s\n", opt.json, strerror(errno));
        return;
    }
    char cpu[128], kernel[128];
    machine(cpu, sizeof cpu, kernel, sizeof kernel);
    fprintf(f, "{\n  \"machine\": {\"cpu\": ");
    jsonStr(f, cpu);
    fprintf(f, ", \"cores\": %ld, \"kernel\": ", sysconf(_SC_NPROCESSORS_ONLN));
    jsonStr(f, kernel);
    fprintf(f, "},\n  \"commit\": ");
    jsonStr(f, opt.commit);
    const char *flags = getenv("BENCH_QRAFTD_FLAGS"); /* tests/bench/run */
    fprintf(f,
            ",\n  \"config\": {\"quick\": %s, \"nodes\": 3, \"zones\": 3, \"host\": "
            "\"127.0.0.1\", \"qraftd_flags\": ",
            opt.quick ? "true" : "false");
    jsonStr(f, flags != NULL && flags[0] != '\0' ? flags : "defaults");
    fprintf(f, ", \"seconds_per_timed_row\": %.1f, \"run_seconds\": %.1f},\n", opt.seconds,
            run_seconds);
    fprintf(f,
            "  \"load_average\": {\"start\": [%.2f, %.2f, %.2f], \"end\": [%.2f, %.2f, "
            "%.2f]},\n",
            load_start[0], load_start[1], load_start[2], load_end[0], load_end[1], load_end[2]);
    fprintf(f, "  \"ceilings\": {\n");
    jsonHist(f, "fsync_4k_append", &ceil_.fsync);
    fprintf(f, ",\n    \"fsync_per_s\": %.0f,\n", ceil_.fsync_rate);
    jsonHist(f, "loopback_rtt", &ceil_.rtt);
    fprintf(f, ",\n    \"best_one_in_flight_ms\": %.4f,\n    \"best_one_in_flight_per_s\": %.0f\n  },\n",
            ceil_.best_one_ms, ceil_.best_one_ms > 0 ? 1000.0 / ceil_.best_one_ms : 0);
    fprintf(f, "  \"rows\": [\n");
    for (unsigned i = 0; i < n_rows; i++) {
        struct row *r = &rows[i];
        fprintf(f, "    {\"id\": ");
        jsonStr(f, r->id);
        fprintf(f, ", \"name\": ");
        jsonStr(f, r->name);
        fprintf(f, ", \"measured\": %s", r->measured ? "true" : "false");
        if (r->measured) {
            if (r->msgs_s >= 0) {
                fprintf(f, ", \"msgs_per_s\": %.1f", r->msgs_s);
            }
            if (r->mb_s >= 0) {
                fprintf(f, ", \"mb_per_s\": %.2f", r->mb_s);
            }
            if (r->has_lat) {
                fprintf(f,
                        ", \"p50_ms\": %.4f, \"p90_ms\": %.4f, \"p99_ms\": %.4f, \"p999_ms\": "
                        "%.4f, \"max_ms\": %.4f",
                        r->p50_ms, r->p90_ms, r->p99_ms, r->p999_ms, r->max_ms);
            }
            fprintf(f, ", \"n\": %llu, \"errors\": %llu", (unsigned long long)r->n,
                    (unsigned long long)r->errors);
        }
        if (r->extra[0] != '\0') {
            fprintf(f, ", %s", r->extra);
        }
        const struct row *p = peerRow(r->id);
        if (p != NULL) {
            fprintf(f,
                    ", \"peer\": {\"msgs_per_s\": %.1f, \"mb_per_s\": %.2f, \"p50_ms\": %.4f, "
                    "\"p90_ms\": %.4f, \"p99_ms\": %.4f, \"p999_ms\": %.4f, \"max_ms\": %.4f, "
                    "\"n\": %llu, \"errors\": %llu, \"ratio_msgs_per_s\": %.3f}",
                    p->msgs_s, p->mb_s, p->p50_ms, p->p90_ms, p->p99_ms, p->p999_ms, p->max_ms,
                    (unsigned long long)p->n, (unsigned long long)p->errors,
                    p->msgs_s > 0 ? r->msgs_s / p->msgs_s : 0);
        }
        fprintf(f, ", \"note\": ");
        jsonStr(f, r->note);
        fprintf(f, "}%s\n", i + 1 < n_rows ? "," : "");
    }
    fprintf(f, "  ],\n  \"peer\": {");
    if (peerInfo()[0] != '\0') {
        fprintf(f, "%s, ", peerInfo());
    }
    fprintf(f, "\"skipped\": ");
    jsonStr(f, peerSkipped());
    fprintf(f, "}\n}\n");
    fclose(f);
}

