/* The latency picture: dir/latency.svg, drawn by gnuplot from
 * dir/latency.gp and data files beside it.
 *
 * The happy path is: one data file per kind of point ("t_s latency_ms"
 * lines): latency_send.dat, latency_receive.dat, latency_delete.dat,
 * latency_other.dat (ok operations, coloured by op), latency_fail.dat (red
 * crosses) and latency_info.dat (orange triangles); x is the operation's
 * invoke time in seconds since the run began, y its latency in ms on a log
 * scale (at least 0.001 ms). Each fault window is a shaded rectangle with
 * its fault's name at the top. The script names only files in dir, and
 * gnuplot runs there (fork, chdir, exec /usr/bin/gnuplot latency.gp; no
 * shell), its output in gnuplot.log, waited for at most PLOT_TIMEOUT_S.
 *
 * Failure modes are: a file cannot be written (-1); /usr/bin/gnuplot is
 * missing (0: the script and data stay, note "gnuplot missing"); gnuplot
 * exits non-zero or runs too long (killed by PID; -1, note says why).
 * Above PLOT_POINTS_MAX completed operations, ok points are thinned to
 * every k-th one, except those slower than their op's p99, which all stay
 * (the title says so); fail and info points always all stay. Fault names
 * are reduced to [A-Za-z0-9_.:/+-] before they enter the script. */
#include "jepsen/checker_int.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define GNUPLOT "/usr/bin/gnuplot"
#define PLOT_TIMEOUT_S 120
#define PLOT_POINTS_MAX 100000

/* Kinds of points: one data file each. */
enum {
    KIND_SEND,
    KIND_RECEIVE,
    KIND_DELETE,
    KIND_OTHER,
    KIND_FAIL,
    KIND_INFO,
    KINDS,
};

/* File, title and style of each kind. */
static const struct
{
    const char *file;
    const char *title;
    const char *style;
} kinds[KINDS] = {
    {"latency_send.dat", "send ok", "pt 7 ps 0.4 lc rgb '#501f77b4'"},
    {"latency_receive.dat", "receive ok", "pt 7 ps 0.4 lc rgb '#502ca02c'"},
    {"latency_delete.dat", "delete ok", "pt 7 ps 0.4 lc rgb '#509467bd'"},
    {"latency_other.dat", "other ok", "pt 7 ps 0.4 lc rgb '#507f7f7f'"},
    {"latency_fail.dat", "fail", "pt 2 ps 0.8 lw 1.5 lc rgb '#e00000'"},
    {"latency_info.dat", "info (timeout)", "pt 9 ps 0.8 lc rgb '#ff8c00'"},
};

/* Fill @errmsg with "@path: errno's text". Returns -1. */
static int plotFail(char *errmsg, size_t len, const char *path)
{
    snprintf(errmsg, len, "%s: %s", path, strerror(errno));
    return -1;
}

/* Close @f, and whether it was written without error (0) or not (-1). */
static int closeChecked(FILE *f)
{
    int rv = ferror(f) ? -1 : 0;
    if (fclose(f) != 0) {
        rv = -1;
    }
    return rv;
}

/* The data files. Sets @points per kind and @stride (1: every ok point).
 * Returns 0 or -1. */
static int writeData(const char *dir, const struct checkState *s, const struct checkResult *r,
                     uint64_t points[KINDS], uint64_t *stride, char *errmsg, size_t len)
{
    FILE *f[KINDS] = {0};
    char path[4096];
    uint64_t seen_ok = 0;
    int rv = -1;

    *stride = s->n_ops > PLOT_POINTS_MAX ? (s->n_ops + PLOT_POINTS_MAX - 1) / PLOT_POINTS_MAX : 1;
    for (int k = 0; k < KINDS; k++) {
        points[k] = 0;
        snprintf(path, sizeof path, "%s/%s", dir, kinds[k].file);
        f[k] = fopen(path, "w");
        if (f[k] == NULL) {
            plotFail(errmsg, len, path);
            goto out;
        }
    }
    for (size_t i = 0; i < s->n_ops; i++) {
        const struct checkOpRec *o = &s->ops[i];
        double ms = checkOpLatencyMs(o);
        int k;
        if (o->outcome == CHECK_OUT_FAIL) {
            k = KIND_FAIL;
        } else if (o->outcome == CHECK_OUT_INFO) {
            k = KIND_INFO;
        } else {
            k = o->op < CHECK_OPS ? o->op : KIND_OTHER;
            if ((seen_ok++ % *stride) != 0 &&
                (o->op >= CHECK_OPS || ms <= r->latency[o->op].p99_ms)) {
                continue;
            }
        }
        fprintf(f[k], "%.6f %.4f\n", (double)o->invoke_us / 1e6, ms < 0.001 ? 0.001 : ms);
        points[k]++;
    }
    rv = 0;
out:
    for (int k = 0; k < KINDS; k++) {
        if (f[k] != NULL && closeChecked(f[k]) != 0 && rv == 0) {
            snprintf(path, sizeof path, "%s/%s", dir, kinds[k].file);
            rv = plotFail(errmsg, len, path);
        }
    }
    return rv;
}

/* @in reduced to characters safe in a single-quoted gnuplot string. */
static void safeLabel(char *out, size_t n, const char *in)
{
    size_t i = 0;

    for (; in[i] != '\0' && i + 1 < n; i++) {
        char c = in[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  strchr("_.:/+-", c) != NULL;
        out[i] = ok ? c : '_';
    }
    out[i] = '\0';
}

/* The script latency.gp. Returns 0 or -1. */
static int writeScript(const char *dir, const struct checkState *s, const struct checkResult *r,
                       const uint64_t points[KINDS], uint64_t stride, char *errmsg, size_t len)
{
    char path[4096];
    char label[64];
    FILE *f;
    double x_max = (double)s->end_us / 1e6;
    uint64_t total = 0;
    bool first = true;

    snprintf(path, sizeof path, "%s/latency.gp", dir);
    f = fopen(path, "w");
    if (f == NULL) {
        return plotFail(errmsg, len, path);
    }
    for (int k = 0; k < KINDS; k++) {
        total += points[k];
    }
    safeLabel(label, sizeof label, r->workload[0] ? r->workload : "history");
    fprintf(f, "# drawn by qraft jepsen's report (jepsen/report_plot.c)\n");
    fprintf(f,
            "set terminal svg size 1400,700 dynamic noenhanced font 'sans,14' background rgb "
            "'white'\n");
    fprintf(f, "set output 'latency.svg'\n");
    fprintf(f, "set title 'latency of every client operation (%s, %s)%s'\n", label,
            r->valid ? "VALID" : "INVALID",
            stride > 1 ? ": ok points thinned, all above p99 kept" : "");
    fprintf(f, "set xlabel 'run time (s)'\nset ylabel 'latency (ms, log scale)'\n");
    fprintf(f, "set logscale y\nset grid xtics ytics lc rgb '#dddddd'\n");
    fprintf(f, "set key outside right top box\n");
    fprintf(f, "set xrange [0:%.6f]\n", x_max > 0.001 ? x_max * 1.01 : 0.001);
    if (total == 0) {
        fprintf(f, "set yrange [0.1:1000]\n");
    }
    for (size_t i = 0; i < s->n_windows; i++) {
        const struct checkWindow *w = &s->windows[i];
        safeLabel(label, sizeof label, w->fault[0] ? w->fault : "fault");
        fprintf(f,
                "set object %zu rect from %.6f, graph 0 to %.6f, graph 1 behind "
                "fillcolor rgb '#f2c4c4' fillstyle solid 0.45 noborder\n",
                i + 1, (double)w->start_us / 1e6, (double)w->stop_us / 1e6);
        fprintf(
            f,
            "set label %zu '%s' at %.6f, graph %.2f left front font 'sans,13' tc rgb '#902020'\n",
            i + 1, label, (double)w->start_us / 1e6, 0.97 - 0.04 * (double)(i % 4));
    }
    fprintf(f, "plot ");
    for (int k = 0; k < KINDS; k++) {
        if (points[k] == 0) {
            continue;
        }
        fprintf(f, "%s'%s' using 1:2 with points %s title '%s'", first ? "" : ", \\\n     ",
                kinds[k].file, kinds[k].style, kinds[k].title);
        first = false;
    }
    if (first) {
        fprintf(f, "1/0 notitle");
    }
    fprintf(f, "\n");
    if (closeChecked(f) != 0) {
        return plotFail(errmsg, len, path);
    }
    return 0;
}

/* Run gnuplot in @dir, wait at most PLOT_TIMEOUT_S. Returns 0, or -1 with
 * @note and @errmsg saying why. */
static int runGnuplot(const char *dir, char *note, size_t note_len, char *errmsg, size_t len)
{
    char path[4096];
    int log_fd, null_fd;
    pid_t pid;
    int status = 0;
    struct timespec tick = {0, 20 * 1000 * 1000};
    long waited_ms = 0;

    snprintf(path, sizeof path, "%s/gnuplot.log", dir);
    log_fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (log_fd < 0) {
        return plotFail(errmsg, len, path);
    }
    null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (null_fd < 0) {
        close(log_fd);
        return plotFail(errmsg, len, "/dev/null");
    }
    pid = fork();
    if (pid < 0) {
        close(log_fd);
        close(null_fd);
        return plotFail(errmsg, len, "fork");
    }
    if (pid == 0) {
        char *const argv[] = {"gnuplot", "latency.gp", NULL};
        if (chdir(dir) != 0 || dup2(null_fd, 0) < 0 || dup2(log_fd, 1) < 0 || dup2(log_fd, 2) < 0) {
            _exit(126);
        }
        execv(GNUPLOT, argv);
        _exit(127);
    }
    close(log_fd);
    close(null_fd);
    for (;;) {
        pid_t w = waitpid(pid, &status, WNOHANG);
        if (w == pid) {
            break;
        }
        if (w < 0 && errno != EINTR) {
            snprintf(note, note_len, "gnuplot: waitpid failed");
            return plotFail(errmsg, len, "waitpid");
        }
        if (waited_ms >= PLOT_TIMEOUT_S * 1000L) {
            kill(pid, SIGKILL);
            while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
            }
            snprintf(note, note_len, "gnuplot killed after %d s", PLOT_TIMEOUT_S);
            snprintf(errmsg, len, "%s/latency.svg: gnuplot ran over %d s and was killed", dir,
                     PLOT_TIMEOUT_S);
            return -1;
        }
        nanosleep(&tick, NULL);
        waited_ms += 20;
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        snprintf(note, note_len, "gnuplot failed (status %d), see gnuplot.log",
                 WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
        snprintf(errmsg, len, "%s/latency.svg: %s", dir, note);
        return -1;
    }
    snprintf(note, note_len, "latency.svg");
    return 0;
}

int reportPlot(const char *dir, const struct checkState *s, const struct checkResult *r, char *note,
               size_t note_len, char *errmsg, size_t len)
{
    uint64_t points[KINDS];
    uint64_t stride;

    snprintf(note, note_len, "not drawn");
    if (writeData(dir, s, r, points, &stride, errmsg, len) != 0 ||
        writeScript(dir, s, r, points, stride, errmsg, len) != 0) {
        snprintf(note, note_len, "not drawn: %s", errmsg);
        return -1;
    }
    if (access(GNUPLOT, X_OK) != 0) {
        snprintf(note, note_len, "gnuplot missing");
        return 0;
    }
    return runGnuplot(dir, note, note_len, errmsg, len);
}
