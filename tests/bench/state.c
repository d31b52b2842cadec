/* Rows 7-9: a large backlog in the state (1,000,000 messages of 1 KiB;
 * 100,000 QUICK).
 *
 * The happy path: scenarioStateBegin fills the backlog with row 2's load
 * (row 7a), samples every node's memory and files (row 7, "backlog"), then
 * 8: reads the leader's last snapshot of the fill from its log (size and
 * time from start to end: snapshots are paced by the state's size); then
 * SIGTERMs a follower, removes its raft/ and state/, starts it again and
 * times it until the log says "snapshot restored" and until its applied
 * index reaches the leader's; then 9: SIGTERMs all three nodes, starts
 * them, and times the first acknowledged send. scenarioStateEnd (after
 * the other rows) drains the backlog with 16 consumers (row 7b) and takes
 * row 7's "drained" point. Row 7's "idle" point is taken before any
 * scenario (stateIdleSample).
 *
 * Failure modes: every wait is bounded (the bound goes into the note); a
 * step that fails marks its row not measured, with the reason, and the
 * steps after it go on where they can. A node left stopped is started
 * again before the next step. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/bench/bench.h"

#define QUEUE "bench-7"

/* The three points of row 7. */
static struct nodeMem mem_idle[NODES], mem_backlog[NODES], mem_snap[NODES], mem_drained[NODES];
static bool have_idle, have_backlog;
static uint64_t backlog_n; /* messages in the backlog (acknowledged sends) */
static struct row *row_mem;

void stateIdleSample(void)
{
    nodeMemSample(mem_idle);
    have_idle = true;
}

/* Bytes in MiB; -1 stays -1 (unknown). */
static double mib(long long bytes)
{
    return bytes < 0 ? -1 : (double)bytes / 1048576.0;
}

/* "a/b/c" of one figure of three nodes, in MiB. */
static void fmtNodes(char *buf, size_t len, const struct nodeMem m[NODES], int what)
{
    double v[NODES];
    for (int i = 0; i < NODES; i++) {
        v[i] = what == 0   ? (m[i].rss_kb < 0 ? -1 : (double)m[i].rss_kb / 1024.0)
               : what == 4 ? (m[i].anon_kb < 0 ? -1 : (double)m[i].anon_kb / 1024.0)
               : what == 1 ? mib(m[i].lmdb_disk_bytes)
               : what == 2 ? (m[i].hwm_kb < 0 ? -1 : (double)m[i].hwm_kb / 1024.0)
                           : mib(m[i].raft_bytes);
    }
    snprintf(buf, len, "%.0f/%.0f/%.0f", v[0], v[1], v[2]);
}

/* Row 7's JSON member for one point: every node's figures. */
static void jsonMem(struct row *r, const char *point, const struct nodeMem m[NODES])
{
    char buf[1024];
    size_t off = 0;
    off += (size_t)snprintf(buf + off, sizeof buf - off, "\"%s\": [", point);
    for (int i = 0; i < NODES && off < sizeof buf; i++) {
        off += (size_t)snprintf(buf + off, sizeof buf - off,
                                "%s{\"node\": %d, \"rss_kb\": %ld, \"hwm_kb\": %ld, "
                                "\"rss_anon_kb\": %ld, \"rss_file_kb\": %ld, "
                                "\"lmdb_bytes\": %lld, \"lmdb_disk_bytes\": %lld, "
                                "\"raft_dir_bytes\": %lld}",
                                i ? ", " : "", i + 1, m[i].rss_kb, m[i].hwm_kb, m[i].anon_kb,
                                m[i].file_kb, m[i].lmdb_bytes,
                                m[i].lmdb_disk_bytes, m[i].raft_bytes);
    }
    if (off < sizeof buf) {
        snprintf(buf + off, sizeof buf - off, "]");
    }
    rowExtra(r, "%s", buf);
}

/* The newest snapshot in node @id's raft/ directory whose data file is
 * there (libraft writes the .meta file first, then the data): its index
 * (0: none), the size of its data file and the loop time (ms) in its name,
 * when raft handed it to the disk. */
static unsigned long long snapshotNewest(int id, long long *bytes, unsigned long long *ts_ms)
{
    char dir[512];
    snprintf(dir, sizeof dir, "%s/node%d/raft", opt.dir, id);
    DIR *d = opendir(dir);
    unsigned long long best = 0;
    struct dirent *e;
    if (bytes != NULL) {
        *bytes = -1;
    }
    while (d != NULL && (e = readdir(d)) != NULL) {
        unsigned long long term, index, ts;
        size_t n = strlen(e->d_name);
        if (n > 5 && strcmp(e->d_name + n - 5, ".meta") == 0 &&
            sscanf(e->d_name, "snapshot-%llu-%llu-%llu", &term, &index, &ts) == 3 &&
            index > best) {
            struct stat st;
            char path[800];
            snprintf(path, sizeof path, "%s/%.*s", dir, (int)(n - 5), e->d_name);
            if (stat(path, &st) != 0) {
                continue;
            }
            best = index;
            if (bytes != NULL) {
                *bytes = (long long)st.st_size;
            }
            if (ts_ms != NULL) {
                *ts_ms = ts;
            }
        }
    }
    if (d != NULL) {
        closedir(d);
    }
    return best;
}

/* Node @id's applied index, 0 if it does not answer. */
static uint64_t appliedOf(int id)
{
    struct qraft_node_status st;
    return nodeStatus(id, &st) == 0 ? st.applied_index : 0;
}

/* Bytes of node @id's log file. */
static long logSize(int id)
{
    char path[512];
    struct stat st;
    snprintf(path, sizeof path, "%s/node%d/log", opt.dir, id);
    return stat(path, &st) == 0 ? (long)st.st_size : 0;
}

/* The last line of node @id's log, from byte @from, that holds @text,
 * into @line (@len bytes). False if there is none. */
static bool logLast(int id, long from, const char *text, char *line, size_t len)
{
    char path[512], buf[1024];
    snprintf(path, sizeof path, "%s/node%d/log", opt.dir, id);
    FILE *f = fopen(path, "r");
    bool found = false;
    if (f != NULL && fseek(f, from, SEEK_SET) == 0) {
        while (fgets(buf, sizeof buf, f) != NULL) {
            if (strstr(buf, text) != NULL) {
                snprintf(line, len, "%s", buf);
                found = true;
            }
        }
    }
    if (f != NULL) {
        fclose(f);
    }
    return found;
}

/* Whether node @id's log, from byte @from, holds @text. */
static bool logHas(int id, long from, const char *text)
{
    char line[1024];
    return logLast(id, from, text, line, sizeof line);
}

/* The last "snapshot taken bytes=B ms=T next_after_entries=N" line of node
 * @id's log (raft/fsmglue.c). Returns false if it has none. */
static bool lastSnapshotTaken(int id, long long *bytes, unsigned long long *ms,
                              unsigned long long *next)
{
    char line[1024];
    const char *at;
    return logLast(id, 0, "msg=\"snapshot taken\" bytes=", line, sizeof line) &&
           (at = strstr(line, "msg=\"snapshot taken\" bytes=")) != NULL &&
           sscanf(at, "msg=\"snapshot taken\" bytes=%lld ms=%llu next_after_entries=%llu", bytes,
                  ms, next) == 3;
}

/* Row 8, first half: the leader's last snapshot, taken while the backlog
 * was filled. The nodes' snapshots are markers (raft/fsmglue.c): a commit
 * and an fsync of the state's store, then libraft writes the marker, every
 * 8 MiB of log whatever the state's size; the log line gives the time from
 * start to end. (With image snapshots, paced by the state's size, this
 * was the last image of the fill: serialise, compress, write, fsync.) */
static void snapshotTake(struct row *row)
{
    int leader = leaderId();
    long long bytes = -1;
    unsigned long long ms = 0, next = 0;
    unsigned long long index;

    if (leader <= 0) {
        snprintf(row->note, sizeof row->note, "no leader");
        return;
    }
    if (!lastSnapshotTaken(leader, &bytes, &ms, &next)) {
        snprintf(row->note, sizeof row->note, "node %d took no snapshot during the fill",
                 leader);
        return;
    }
    index = snapshotNewest(leader, NULL, NULL);
    row->measured = true;
    row->p50_ms = (double)ms;
    rowExtra(row,
             "\"take_ms\": %llu, \"snapshot_bytes\": %lld, \"snapshot_index\": %llu, "
             "\"next_after_entries\": %llu, \"applied_index\": %llu",
             ms, bytes, index, next, (unsigned long long)appliedOf(leader));
    if (bytes == 0) {
        snprintf(row->note, sizeof row->note,
                 "take: the leader's last snapshot of the fill, a marker (node %d, index %llu "
                 "of %llu applied): %llu ms from start to end; the next after %llu entries",
                 leader, index, (unsigned long long)appliedOf(leader), ms, next);
        return;
    }
    snprintf(row->note, sizeof row->note,
             "take: the leader's last snapshot of the fill (node %d, index %llu of %llu "
             "applied): %llu ms from start to end, %.1f MiB of state; the next after %llu "
             "entries",
             leader, index, (unsigned long long)appliedOf(leader), ms, mib(bytes), next);
}

/* The image the leader built for the wiped follower (raft/snapget.c),
 * logged since byte @from of its log: its bytes, compressed bytes and
 * build time. False if there is none. */
static bool imageBuilt(int id, long from, long long *bytes, long long *compressed,
                       unsigned long long *ms)
{
    char line[1024];
    const char *b;
    return logLast(id, from, "msg=\"snapshot image built for a follower\"", line, sizeof line) &&
           (b = strstr(line, "bytes=")) != NULL &&
           sscanf(b, "bytes=%lld compressed=%lld ms=%llu", bytes, compressed, ms) == 3;
}

/* Row 8, second half: a wiped follower installs the snapshot and catches
 * up. */
static void snapshotInstall(struct row *row)
{
    int leader = leaderId();
    int f = leader == 1 ? 2 : 1;
    uint64_t want = leader > 0 ? appliedOf(leader) : 0;
    char note[200];
    if (want == 0 || !nodeStop(f, 30)) {
        snprintf(note, sizeof note, "; install: could not stop node %d", f);
        strncat(row->note, note, sizeof row->note - strlen(row->note) - 1);
        return;
    }
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s/node%d/raft' '%s/node%d/state'", opt.dir, f, opt.dir,
             f);
    if (system(cmd) != 0) {
        snprintf(note, sizeof note, "; install: could not wipe node %d", f);
        strncat(row->note, note, sizeof row->note - strlen(row->note) - 1);
        nodeStart(f);
        return;
    }
    long from = logSize(f);
    long leader_from = logSize(leader);
    uint64_t t0 = nowNs();
    if (!nodeStart(f)) {
        snprintf(note, sizeof note, "; install: could not start node %d", f);
        strncat(row->note, note, sizeof row->note - strlen(row->note) - 1);
        return;
    }
    uint64_t installed = 0, caught = 0;
    int bound_s = opt.quick ? 60 : 180;
    uint64_t limit = t0 + (uint64_t)bound_s * 1000000000ull;
    while (nowNs() < limit && caught == 0) {
        /* The status first: the node logs "snapshot restored" before it
         * can answer that it caught up, so a restore and the catch-up
         * seen in one round are both seen. */
        struct qraft_node_status st;
        bool up = nodeStatus(f, &st) == 0 && strcmp(st.state, "follower") == 0 &&
                  st.applied_index >= want;
        if (installed == 0 && logHas(f, from, "snapshot restored")) {
            installed = nowNs();
        }
        if (up) {
            caught = nowNs();
        }
        sleepNs(20000000);
    }
    if (caught == 0) {
        struct qraft_node_status st;
        uint64_t applied = nodeStatus(f, &st) == 0 ? st.applied_index : 0;
        snprintf(note, sizeof note,
                 "; install: wiped node %d not caught up within %d s (%s; applied %llu of "
                 "%llu)",
                 f, bound_s, installed ? "snapshot restored" : "no snapshot restored",
                 (unsigned long long)applied, (unsigned long long)want);
        rowExtra(row, "\"install_ms\": %.1f, \"catch_up_ms\": null, \"wiped_node\": %d",
                 installed ? (double)(installed - t0) / 1e6 : -1.0, f);
        strncat(row->note, note, sizeof row->note - strlen(row->note) - 1);
        return;
    }
    row->p90_ms = installed ? (double)(installed - t0) / 1e6 : -1;
    row->p99_ms = (double)(caught - t0) / 1e6;
    rowExtra(row, "\"install_ms\": %.1f, \"catch_up_ms\": %.1f, \"wiped_node\": %d", row->p90_ms,
             row->p99_ms, f);
    char restored[64] = "no \"snapshot restored\" in its log";
    if (installed != 0) {
        snprintf(restored, sizeof restored, "snapshot restored after %.0f ms", row->p90_ms);
    }
    snprintf(note, sizeof note,
             "; wiped follower (node %d) from its start: %s, caught up after %.0f ms", f,
             restored, row->p99_ms);
    strncat(row->note, note, sizeof row->note - strlen(row->note) - 1);
    long long image = -1, compressed = -1;
    unsigned long long image_ms = 0;
    if (imageBuilt(leader, leader_from, &image, &compressed, &image_ms)) {
        rowExtra(row, "\"image_bytes\": %lld, \"image_compressed_bytes\": %lld, "
                      "\"image_ms\": %llu",
                 image, compressed, image_ms);
        snprintf(note, sizeof note, " (the leader's image for it: %.1f MiB, %.1f compressed, "
                                    "built in %llu ms)",
                 mib(image), mib(compressed), image_ms);
        strncat(row->note, note, sizeof row->note - strlen(row->note) - 1);
    }
}

/* Row 9: every node SIGTERMed, started again, time to the first ack. */
static void restartAll(void)
{
    struct row *row = rowAdd("9", "restart: start 3 nodes with the backlog to first ack");
    uint64_t s0 = nowNs();
    bool stopped = true;
    for (int i = 1; i <= NODES; i++) {
        stopped = nodeStop(i, 60) && stopped;
    }
    double stop_ms = (double)(nowNs() - s0) / 1e6;
    uint64_t t0 = nowNs();
    for (int i = 1; i <= NODES; i++) {
        nodeStart(i);
    }
    qraft_client *c;
    struct qraft_options o = {2000, 0};
    uint64_t acked = 0;
    if (qraft_open(opt.servers, &o, &c) == 0) {
        uint64_t limit = t0 + 600000000000ull;
        while (nowNs() < limit) {
            if (qraft_send(c, QUEUE, "restart", 7, NULL, NULL) == 0) {
                acked = nowNs();
                backlog_n++;
                break;
            }
            sleepNs(20000000);
        }
        qraft_close(c);
    }
    if (acked == 0) {
        snprintf(row->note, sizeof row->note, "no acknowledged send within 600 s%s",
                 stopped ? "" : " (a node did not stop on SIGTERM)");
        return;
    }
    row->measured = true;
    row->p50_ms = (double)(acked - t0) / 1e6;
    row->has_lat = false;
    rowExtra(row, "\"first_ack_ms\": %.1f, \"stop_ms\": %.1f, \"backlog\": %llu", row->p50_ms,
             stop_ms, (unsigned long long)backlog_n);
    snprintf(row->note, sizeof row->note,
             "first ack %.0f ms after starting the 3 nodes with %llu messages in state (their "
             "SIGTERM stop took %.0f ms)%s",
             row->p50_ms, (unsigned long long)backlog_n, stop_ms,
             stopped ? "" : "; a node did not stop on SIGTERM");
    /* The followers catch up before the next row. */
    for (int i = 1; i <= NODES; i++) {
        if (i != leaderId()) {
            nodeCaughtUp(i, 120);
        }
    }
}

void scenarioStateBegin(void)
{
    uint64_t want = opt.quick ? 100000 : 1000000;
    double limit = opt.quick ? 60 : 420;
    queueFresh(QUEUE);
    printf("  7    backlog of %llu x 1 KiB ...\n", (unsigned long long)want);
    fflush(stdout);
    /* In steps of 100,000, so that a machine running short of memory (the
     * nodes hold the state in LMDB's map and serialise it whole for each
     * snapshot) ends the fill before it hurts anyone: below 3 GiB
     * available, the backlog stays where it is. */
    struct loadResult r;
    struct hist h;
    histInit(&h);
    uint64_t ok = 0, err = 0;
    double elapsed = 0;
    char why[96] = "";
    backlog_n = 0;
    uint64_t fill_start = nowNs();
    while (ok < want) {
        double left = limit - (double)(nowNs() - fill_start) / 1e9;
        long avail = memAvailableMiB();
        if (left <= 1) {
            snprintf(why, sizeof why, "; stopped at the %.0f s bound", limit);
            break;
        }
        if (avail >= 0 && avail < 3072) {
            snprintf(why, sizeof why, "; stopped: only %ld MiB of memory available", avail);
            break;
        }
        uint64_t step = want - ok < 100000 ? want - ok : 100000;
        struct load l = {QUEUE, 1024, 16, 64, 0, left, step / 16, 0, NULL, false, false, 0};
        loadRun(&l, &r, NULL);
        ok += r.ok;
        err += r.err;
        elapsed += r.elapsed;
        histMerge(&h, &r.h);
        backlog_n += r.ok + l.conns; /* with the warm-up sends */
        if (r.ok == 0) {
            break;
        }
    }
    struct load l = {QUEUE, 1024, 16, 64, 0, 0, 0, 0, NULL, false, false, 0};
    r.ok = ok;
    r.err = err;
    r.elapsed = elapsed;
    r.h = h;
    struct row *fill = rowAdd("7a", "fill the backlog: send 1 KiB, 16 x 64 in flight");
    rowFromLoad(fill, &l, &r);
    snprintf(fill->note, sizeof fill->note, "%llu of %llu sent (bound %.0f s)%s",
             (unsigned long long)r.ok, (unsigned long long)want, limit, why);
    sleepNs(2000000000ull);
    nodeMemSample(mem_backlog);
    have_backlog = true;
    row_mem = rowAdd("7", "memory: RSS and LMDB per node, idle/backlog/drained");

    printf("  8    snapshot at the backlog ...\n");
    fflush(stdout);
    struct row *snap = rowAdd("8", "snapshot: take at the backlog; wiped follower installs it");
    snapshotTake(snap);
    snapshotInstall(snap);
    /* Before the restart resets them: the peaks (VmHWM) of the fill and the
     * snapshots. */
    nodeMemSample(mem_snap);
    printf("  9    restart with the backlog ...\n");
    fflush(stdout);
    restartAll();
}

void scenarioStateEnd(void)
{
    printf("  7b   draining the backlog of %llu ...\n", (unsigned long long)backlog_n);
    fflush(stdout);
    struct drainResult d;
    drainQueue(QUEUE, 16, backlog_n, opt.quick ? 60 : 420, &d);
    struct row *row = rowAdd("7b", "drain the backlog: receive+delete, 16 consumers");
    row->measured = true;
    row->n = d.deleted;
    row->errors = d.errors;
    row->msgs_s = d.elapsed > 0 ? (double)d.deleted / d.elapsed : 0;
    row->mb_s = row->msgs_s * 1024 / 1e6;
    rowLatency(row, &d.h);
    snprintf(row->note, sizeof row->note, "%llu of %llu drained",
             (unsigned long long)d.deleted, (unsigned long long)backlog_n);
    if (d.deleted < backlog_n) {
        qraft_purge_queue(admin, QUEUE);
    }
    sleepNs(2000000000ull);
    nodeMemSample(mem_drained);

    struct row *r = row_mem;
    if (r == NULL || !have_idle || !have_backlog) {
        return;
    }
    r->measured = true;
    char a[3][48], b[3][48], an[3][48], hw[48];
    const struct nodeMem *pts[3] = {mem_idle, mem_backlog, mem_drained};
    for (int i = 0; i < 3; i++) {
        fmtNodes(a[i], sizeof a[i], pts[i], 0);
        fmtNodes(b[i], sizeof b[i], pts[i], 1);
        fmtNodes(an[i], sizeof an[i], pts[i], 4);
    }
    fmtNodes(hw, sizeof hw, mem_snap, 2);
    snprintf(r->note, sizeof r->note,
             "MiB per node 1/2/3, %llu msgs. RSS idle %s, backlog %s, drained %s (peak before "
             "restart %s); of it anonymous (not LMDB's map) %s, %s, %s. LMDB on disk %s, %s, "
             "%s%s",
             (unsigned long long)backlog_n, a[0], a[1], a[2], hw, an[0], an[1], an[2], b[0],
             b[1], b[2],
             d.deleted < backlog_n ? " (not fully drained: purged)" : "");
    rowExtra(r, "\"backlog\": %llu", (unsigned long long)backlog_n);
    jsonMem(r, "idle", mem_idle);
    jsonMem(r, "backlog", mem_backlog);
    jsonMem(r, "after_snapshot", mem_snap);
    jsonMem(r, "drained", mem_drained);
    queueDrop(QUEUE);
}
