/* The cluster's nodes seen from outside: status over the client port,
 * PIDs from scripts/cluster's DIR/nodeI/pid, CPU time, RSS and file sizes
 * from /proc and the data directories.
 *
 * The happy path: every node answers qraft_node_status within 500 ms and
 * its PID file names a live qraftd. Failure modes: a node that does not
 * answer counts as not the leader (leaderId returns -1 when none does); a
 * missing PID file or /proc entry gives 0 or -1, which the rows print as
 * unknown instead of failing the run. */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/bench/bench.h"

int leaderId(void)
{
    char addr[64];
    int port = 0;
    const char *last = strrchr(opt.servers, ':');
    port = atoi(last + 1) - NODES; /* the base client port */
    for (int i = 1; i <= NODES; i++) {
        struct qraft_node_status st;
        char err[128];
        snprintf(addr, sizeof addr, "127.0.0.1:%d", port + i);
        if (qraft_node_status(addr, 500, &st, err, sizeof err) == 0 &&
            strcmp(st.state, "leader") == 0) {
            return (int)st.id;
        }
    }
    return -1;
}

int nodeStatus(int id, struct qraft_node_status *st)
{
    char addr[64], err[128];
    const char *last = strrchr(opt.servers, ':');
    snprintf(addr, sizeof addr, "127.0.0.1:%d", atoi(last + 1) - NODES + id);
    return qraft_node_status(addr, 500, st, err, sizeof err);
}

int nodePid(int id)
{
    char path[512];
    snprintf(path, sizeof path, "%s/node%d/pid", opt.dir, id);
    FILE *f = fopen(path, "r");
    long pid = 0;
    if (f != NULL) {
        if (fscanf(f, "%ld", &pid) != 1) {
            pid = 0;
        }
        fclose(f);
    }
    return (int)pid;
}

/* A node keeps pace when it reaches the leader's applied index within this
 * long of reading it. */
#define CAUGHT_UP_PACE_NS 1000000000ull

bool nodeCaughtUp(int id, int timeout_s)
{
    uint64_t deadline = nowNs() + (uint64_t)timeout_s * 1000000000ull;
    uint64_t want = 0;
    uint64_t marked = 0;
    while (nowNs() < deadline) {
        int leader = leaderId();
        struct qraft_node_status st;
        if (want == 0 && leader > 0 && nodeStatus(leader, &st) == 0) {
            want = st.applied_index;
            marked = nowNs();
        }
        if (want != 0 && nodeStatus(id, &st) == 0 && strcmp(st.state, "follower") == 0 &&
            st.applied_index >= want) {
            if (nowNs() - marked < CAUGHT_UP_PACE_NS) {
                return true;
            }
            want = 0; /* the leader went on meanwhile: chase where it is now */
            continue;
        }
        sleepNs(100000000);
    }
    return false;
}

/* A PID that still names a running process (not gone, not a zombie). */
static bool procAlive(int pid)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        return false;
    }
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *rp = strrchr(buf, ')');
    return rp != NULL && rp[1] == ' ' && rp[2] != 'Z' && rp[2] != 'X';
}

bool nodeStop(int id, int timeout_s)
{
    int pid = nodePid(id);
    if (pid <= 0) {
        return false;
    }
    if (kill(pid, SIGTERM) != 0) {
        return errno == ESRCH;
    }
    uint64_t deadline = nowNs() + (uint64_t)timeout_s * 1000000000ull;
    while (procAlive(pid) && nowNs() < deadline) {
        sleepNs(20000000);
    }
    return !procAlive(pid);
}

bool nodeStart(int id)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s restart %d --dir %s >/dev/null", opt.script, id, opt.dir);
    return system(cmd) == 0;
}

double procCpuSeconds(int pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        return -1;
    }
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* Fields after the command name: state is field 3, utime 14, stime 15. */
    const char *p = strrchr(buf, ')');
    unsigned long long ut = 0, st = 0;
    if (p == NULL || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut,
                            &st) != 2) {
        return -1;
    }
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

double nodesCpuSeconds(void)
{
    double sum = 0;
    for (int i = 1; i <= NODES; i++) {
        int pid = nodePid(i);
        double s = pid > 0 ? procCpuSeconds(pid) : -1;
        if (s < 0) {
            return -1;
        }
        sum += s;
    }
    return sum;
}

/* VmRSS, VmHWM, RssAnon and RssFile of @pid in kB (-1: unknown). */
static void procMem(int pid, struct nodeMem *m)
{
    char path[64], line[256];
    m->rss_kb = m->hwm_kb = m->anon_kb = m->file_kb = -1;
    snprintf(path, sizeof path, "/proc/%d/status", pid);
    FILE *f = fopen(path, "r");
    while (f != NULL && fgets(line, sizeof line, f) != NULL) {
        if (strncmp(line, "VmRSS:", 6) == 0) {
            m->rss_kb = strtol(line + 6, NULL, 10);
        } else if (strncmp(line, "VmHWM:", 6) == 0) {
            m->hwm_kb = strtol(line + 6, NULL, 10);
        } else if (strncmp(line, "RssAnon:", 8) == 0) {
            m->anon_kb = strtol(line + 8, NULL, 10);
        } else if (strncmp(line, "RssFile:", 8) == 0) {
            m->file_kb = strtol(line + 8, NULL, 10);
        }
    }
    if (f != NULL) {
        fclose(f);
    }
}

/* Bytes of the regular files under @path (one level of subdirectories). */
static long long dirBytes(const char *path, int depth)
{
    DIR *d = opendir(path);
    long long total = 0;
    struct dirent *e;
    while (d != NULL && (e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) {
            continue;
        }
        char sub[1024];
        struct stat st;
        snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
        if (stat(sub, &st) != 0) {
            continue;
        }
        if (S_ISREG(st.st_mode)) {
            total += (long long)st.st_size;
        } else if (S_ISDIR(st.st_mode) && depth > 0) {
            total += dirBytes(sub, depth - 1);
        }
    }
    if (d != NULL) {
        closedir(d);
    }
    return total;
}

void nodeMemSample(struct nodeMem out[NODES])
{
    for (int i = 1; i <= NODES; i++) {
        struct nodeMem *m = &out[i - 1];
        int pid = nodePid(i);
        m->rss_kb = m->hwm_kb = m->anon_kb = m->file_kb = -1;
        if (pid > 0) {
            procMem(pid, m);
        }
        char path[512];
        struct stat st;
        snprintf(path, sizeof path, "%s/node%d/state/data.mdb", opt.dir, i);
        m->lmdb_bytes = m->lmdb_disk_bytes = -1;
        if (stat(path, &st) == 0) {
            m->lmdb_bytes = (long long)st.st_size;
            m->lmdb_disk_bytes = (long long)st.st_blocks * 512;
        }
        snprintf(path, sizeof path, "%s/node%d/raft", opt.dir, i);
        m->raft_bytes = dirBytes(path, 1);
    }
}

void loadAverage(double la[3])
{
    la[0] = la[1] = la[2] = -1;
    FILE *f = fopen("/proc/loadavg", "r");
    if (f != NULL) {
        if (fscanf(f, "%lf %lf %lf", &la[0], &la[1], &la[2]) != 3) {
            la[0] = la[1] = la[2] = -1;
        }
        fclose(f);
    }
}

long memAvailableMiB(void)
{
    char line[256];
    long kb = -1;
    FILE *f = fopen("/proc/meminfo", "r");
    while (f != NULL && fgets(line, sizeof line, f) != NULL) {
        if (strncmp(line, "MemAvailable:", 13) == 0) {
            kb = strtol(line + 13, NULL, 10);
            break;
        }
    }
    if (f != NULL) {
        fclose(f);
    }
    return kb < 0 ? -1 : kb / 1024;
}
