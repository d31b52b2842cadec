/* The nemesis: a seeded schedule of faults, run in real time.
 *
 * The plan is made before the run from the seed alone: when each fault
 * starts and ends, and which kind it is (kinds take turns, shuffled, so a
 * short run still meets each one). What a fault hits (the leader, a random
 * node, a zone...) is chosen when it starts, from the plan's random bits
 * and the cluster as it is then, and written to the history:
 *
 *   nemesis info start "kill#3:n2 (leader)"
 *   nemesis info stop  "kill#3:n2 (leader)"
 *
 * One fault is on at a time, with a healing gap after each, so that
 * healing is simply "undo everything" and every window in the history
 * belongs to one fault. Network faults go through the proxy; process
 * faults are signals; clock faults write the node's libfaketime offset;
 * corrupt damages the raft files of a stopped follower and expects it to
 * refuse to start (exit 2) or to start with its peers' data, never to
 * serve wrong data (the final digest check and the checker would see it);
 * disk-full fills the tmpfs that holds one node's data directory and
 * expects a fail-stop (exit 3) or nothing at all. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "jepsen/jepsen.h"

#define TMPFS_SIZE "size=128m"

static const char *const fault_names[] = {
#define NEMESIS__NAME(E, NAME) NAME,
    NEMESIS_FAULTS(NEMESIS__NAME)
#undef NEMESIS__NAME
};

const char *faultName(enum faultKind k)
{
    return k < FAULT_KINDS ? fault_names[k] : "?";
}

int faultParseList(const char *list, unsigned *mask, char *errmsg, size_t len)
{
    char buf[512];
    char *save = NULL;
    char *item;

    *mask = 0;
    if (strcmp(list, "all") == 0) {
        *mask = (1u << FAULT_KINDS) - 1;
        return 0;
    }
    if (strcmp(list, "none") == 0) {
        return 0;
    }
    snprintf(buf, sizeof buf, "%s", list);
    for (item = strtok_r(buf, ",", &save); item != NULL; item = strtok_r(NULL, ",", &save)) {
        unsigned k;
        for (k = 0; k < FAULT_KINDS; k++) {
            if (strcmp(item, fault_names[k]) == 0) {
                break;
            }
        }
        if (k == FAULT_KINDS) {
            snprintf(errmsg, len, "unknown nemesis '%s' (all, none, or a list of: kill, pause, "
                     "partition-zone, partition-leader, partition-halves, bridge, one-way, "
                     "restart-all, slow, clock, corrupt, disk-full)", item);
            return -1;
        }
        *mask |= 1u << k;
    }
    return 0;
}

static uint64_t between(uint64_t *rng, uint64_t lo, uint64_t hi)
{
    return hi <= lo ? lo : lo + jepsenRandom(rng) % (hi - lo + 1);
}

void nemesisPlan(struct nemesis *n, unsigned mask, uint64_t seed, uint64_t duration_ms,
                 unsigned min_ms, unsigned max_ms, unsigned gap_ms)
{
    enum faultKind bag[FAULT_KINDS];
    unsigned bag_len = 0;
    unsigned bag_next = 0;
    uint64_t rng = seed;
    uint64_t t = gap_ms;

    n->n_plan = 0;
    n->active = -1;
    if (mask == 0) {
        return;
    }
    while (n->n_plan < NEMESIS_PLAN_MAX) {
        struct faultPlan *p = &n->plan[n->n_plan];
        uint64_t length;

        if (bag_next == bag_len) {
            unsigned k;
            bag_len = 0;
            bag_next = 0;
            for (k = 0; k < FAULT_KINDS; k++) {
                if (mask & (1u << k)) {
                    bag[bag_len++] = (enum faultKind)k;
                }
            }
            for (k = bag_len; k > 1; k--) {
                unsigned j = (unsigned)(jepsenRandom(&rng) % k);
                enum faultKind tmp = bag[k - 1];
                bag[k - 1] = bag[j];
                bag[j] = tmp;
            }
        }
        p->kind = bag[bag_next++];
        length = between(&rng, min_ms, max_ms);
        if (p->kind == FAULT_RESTART_ALL) {
            length = between(&rng, 500, 1500); /* down together, briefly */
        }
        if (t + length > duration_ms) {
            break;
        }
        p->start_ms = t;
        p->end_ms = t + length;
        p->choice = jepsenRandom(&rng);
        n->n_plan++;
        t += length + between(&rng, gap_ms, 2 * (uint64_t)gap_ms);
    }
}

void nemesisPrintPlan(const struct nemesis *n, FILE *f)
{
    unsigned i;

    fprintf(f, "# fault schedule: start_s end_s kind (targets are chosen when it starts)\n");
    for (i = 0; i < n->n_plan; i++) {
        const struct faultPlan *p = &n->plan[i];
        fprintf(f, "%3u %7.1f %7.1f %s\n", i + 1, (double)p->start_ms / 1000.0,
                (double)p->end_ms / 1000.0, faultName(p->kind));
    }
}

/* ---------------------------------------------------------------------- */
/* Helpers                                                                 */

static uint64_t runMs(const struct nemesis *n)
{
    return historyNow(n->history) / 1000u;
}


/* Sleep until run time @t_ms, reaping nodes that exit meanwhile. */
static void waitUntil(struct nemesis *n, uint64_t t_ms)
{
    uint64_t now;
    while ((now = runMs(n)) < t_ms && !(n->interrupted != NULL && *n->interrupted)) {
        uint64_t left = t_ms - now;
        clusterReap(n->cluster);
        jepsenSleepMs(left < 100 ? (unsigned)left : 100);
    }
    clusterReap(n->cluster);
}

/* Run argv to completion (bounded: 60 s). Returns its exit code or -1. */
static int runCommand(char *const argv[])
{
    extern char **environ;
    pid_t pid;
    int status;
    unsigned waited = 0;

    if (posix_spawn(&pid, argv[0], NULL, NULL, argv, environ) != 0) {
        return -1;
    }
    while (waitpid(pid, &status, WNOHANG) == 0) {
        if (waited >= 60000) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            return -1;
        }
        jepsenSleepMs(10);
        waited += 10;
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static int upNodes(const struct jcluster *c, unsigned *idx)
{
    unsigned i;
    int k = 0;
    for (i = 0; i < c->n; i++) {
        if (c->nodes[i].state == JNODE_UP) {
            idx[k++] = i;
        }
    }
    return k;
}

/* The leader, or else a random up node, or -1. */
static int leaderOrRandom(struct nemesis *n, uint64_t *rng, bool want_leader)
{
    unsigned idx[JEPSEN_NODES_MAX];
    int k;
    if (want_leader) {
        int l = clusterLeader(n->cluster);
        if (l >= 0) {
            return l;
        }
    }
    k = upNodes(n->cluster, idx);
    return k == 0 ? -1 : (int)idx[jepsenRandom(rng) % (unsigned)k];
}

/* Shuffle node indices 0..n-1 into @order. */
static void shuffleNodes(unsigned n_nodes, uint64_t *rng, unsigned *order)
{
    unsigned i;
    for (i = 0; i < n_nodes; i++) {
        order[i] = i;
    }
    for (i = n_nodes; i > 1; i--) {
        unsigned j = (unsigned)(jepsenRandom(rng) % i);
        unsigned tmp = order[i - 1];
        order[i - 1] = order[j];
        order[j] = tmp;
    }
}

/* "n1,n3" for a bit mask of node indices. */
static void nodeList(unsigned mask, unsigned n_nodes, char *buf, size_t len)
{
    size_t off = 0;
    unsigned i;
    buf[0] = '\0';
    for (i = 0; i < n_nodes && off < len; i++) {
        if (mask & (1u << i)) {
            off += (size_t)snprintf(buf + off, len - off, "%sn%u", off > 0 ? "," : "", i + 1);
        }
    }
}

/* Cut every link between the nodes in @side and the others, both ways. */
static void cutBetween(struct nemesis *n, unsigned side, enum proxyCutMode mode)
{
    unsigned a, b;
    for (a = 0; a < n->cluster->n; a++) {
        for (b = 0; b < n->cluster->n; b++) {
            bool in_a = (side >> a) & 1u;
            bool in_b = (side >> b) & 1u;
            if (a != b && in_a != in_b) {
                proxyCut(n->proxy, (int)a, (int)b, mode);
            }
        }
    }
}

/* ---------------------------------------------------------------------- */
/* Corrupt and disk-full                                                   */

static bool isRaftDataFile(const char *name)
{
    unsigned long long a, b;
    char end;
    if (strncmp(name, "snapshot-", 9) == 0 || strncmp(name, "open-", 5) == 0) {
        return true;
    }
    return sscanf(name, "%llu-%llu%c", &a, &b, &end) == 2;
}

/* Damage one raft segment or snapshot file of node @i (stopped): flip a
 * few bytes or cut it short. Describes what it did in @what. */
static int corruptFiles(struct nemesis *n, unsigned i, uint64_t *rng, char *what, size_t len)
{
    char dir[700], path[1000];
    char names[256][64];
    unsigned n_names = 0;
    struct dirent *e;
    struct stat st;
    DIR *d;
    int fd;

    snprintf(dir, sizeof dir, "%s/raft", n->cluster->nodes[i].data);
    d = opendir(dir);
    if (d == NULL) {
        snprintf(what, len, "no raft directory");
        return -1;
    }
    while ((e = readdir(d)) != NULL && n_names < 256) {
        if (isRaftDataFile(e->d_name) && strlen(e->d_name) < 64) {
            snprintf(names[n_names++], 64, "%s", e->d_name);
        }
    }
    closedir(d);
    if (n_names == 0) {
        snprintf(what, len, "no segment or snapshot file");
        return -1;
    }
    snprintf(path, sizeof path, "%s/%s", dir, names[jepsenRandom(rng) % n_names]);
    if (stat(path, &st) != 0 || st.st_size == 0) {
        snprintf(what, len, "%s: empty", path);
        return -1;
    }
    if (jepsenRandom(rng) % 3 == 0) {
        off_t cut = (off_t)(jepsenRandom(rng) % (uint64_t)st.st_size);
        if (truncate(path, cut) != 0) {
            snprintf(what, len, "truncate %s: %s", path, strerror(errno));
            return -1;
        }
        snprintf(what, len, "truncated %s to %lld of %lld bytes", strrchr(path, '/') + 1,
                 (long long)cut, (long long)st.st_size);
        return 0;
    }
    fd = open(path, O_RDWR);
    if (fd < 0) {
        snprintf(what, len, "open %s: %s", path, strerror(errno));
        return -1;
    } else {
        unsigned flips = 1 + (unsigned)(jepsenRandom(rng) % 8);
        /* Damage lands where there is data: within the first 64 KiB of the
         * file or its used part, whichever is smaller (open segments are
         * preallocated, and zeroes past the data mean nothing). */
        uint64_t span = (uint64_t)st.st_size < 65536 ? (uint64_t)st.st_size : 65536;
        unsigned k;
        for (k = 0; k < flips; k++) {
            off_t at = (off_t)(jepsenRandom(rng) % span);
            unsigned char byte;
            if (pread(fd, &byte, 1, at) == 1) {
                byte ^= (unsigned char)(1u << (jepsenRandom(rng) % 8));
                if (pwrite(fd, &byte, 1, at) != 1) {
                    break;
                }
            }
        }
        fsync(fd);
        close(fd);
        snprintf(what, len, "flipped %u bits in %s", flips, strrchr(path, '/') + 1);
    }
    return 0;
}

static void corruptStart(struct nemesis *n, struct faultPlan *p, uint64_t *rng, char *value,
                         size_t len)
{
    struct jcluster *c = n->cluster;
    unsigned idx[JEPSEN_NODES_MAX];
    unsigned candidates[JEPSEN_NODES_MAX];
    unsigned k = 0;
    int leader = clusterLeader(c);
    int up = upNodes(c, idx);
    char what[300];
    unsigned i, t;
    char *cp[] = {"/bin/cp", "-a", NULL, NULL, NULL};
    char src[600];
    uint64_t deadline;

    (void)p;
    for (i = 0; i < (unsigned)up; i++) {
        if ((int)idx[i] != leader) {
            candidates[k++] = idx[i];
        }
    }
    if (k == 0) {
        snprintf(value, len, "skipped: no follower up");
        return;
    }
    t = candidates[jepsenRandom(rng) % k];
    n->targets = 1u << t;
    clusterKill(c, t);
    snprintf(n->backup, sizeof n->backup, "%s/backup", c->nodes[t].root);
    snprintf(src, sizeof src, "%s", c->nodes[t].data);
    cp[2] = src;
    cp[3] = n->backup;
    if (runCommand(cp) != 0) {
        snprintf(value, len, "n%u: cannot back up its data; restarted untouched", t + 1);
        n->backup[0] = '\0';
        clusterStart(c, t);
        return;
    }
    if (corruptFiles(n, t, rng, what, sizeof what) != 0) {
        snprintf(value, len, "n%u: nothing to damage (%s)", t + 1, what);
        clusterStart(c, t);
        return;
    }
    clusterStart(c, t);
    c->nodes[t].expect_exit = true;
    /* It should refuse to start (exit 2) within moments, or run. */
    deadline = runMs(n) + 4000;
    while (runMs(n) < deadline && c->nodes[t].state == JNODE_UP) {
        clusterReap(c);
        jepsenSleepMs(50);
    }
    n->refused = c->nodes[t].state == JNODE_DOWN;
    snprintf(value, len, "n%u %s: %s", t + 1, what,
             n->refused ? "refused to start" : "started");
    historyAddf(n->history, "harness", "info", "corrupt", "n%u:%s", t + 1,
                n->refused ? "refused" : "started");
}

/* rm -rf every entry of @dir, leaving @dir. */
static int removeContents(const char *dir)
{
    char path[1000];
    char *rm[] = {"/bin/rm", "-rf", path, NULL};
    struct dirent *e;
    DIR *d = opendir(dir);
    int rv = 0;

    if (d == NULL) {
        return -1;
    }
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) {
            continue;
        }
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (runCommand(rm) != 0) {
            rv = -1;
        }
    }
    closedir(d);
    return rv;
}

/* Put the node's own data back (it refused to start) and start it. */
static void corruptHeal(struct nemesis *n)
{
    struct jcluster *c = n->cluster;
    unsigned t;
    char *rm[] = {"/bin/rm", "-rf", NULL, NULL};
    char data[600];

    if (n->backup[0] == '\0' || n->targets == 0) {
        return;
    }
    t = (unsigned)__builtin_ctz(n->targets);
    snprintf(data, sizeof data, "%s", c->nodes[t].data);
    if (c->nodes[t].state == JNODE_DOWN) {
        /* Contents, not the directory: it may be a mount point (the
         * disk-full fault's tmpfs). */
        char from[700];
        char *cp[] = {"/bin/cp", "-a", from, data, NULL};
        snprintf(from, sizeof from, "%s/.", n->backup);
        if (removeContents(data) != 0 || runCommand(cp) != 0) {
            historyAddf(n->history, "harness", "fail", "check", "restore:n%u from %s", t + 1,
                        n->backup);
        }
        clusterStart(c, t);
    }
    rm[2] = n->backup;
    runCommand(rm);
    n->backup[0] = '\0';
}

unsigned nemesisPrepare(struct nemesis *n, unsigned mask, uint64_t seed, FILE *f)
{
    n->tmpfs[0] = '\0';
    n->tmpfs_node = -1;
    n->backup[0] = '\0';
    if (mask & (1u << FAULT_DISK_FULL)) {
        unsigned i = (unsigned)(seed % n->cluster->n);
        const char *data = n->cluster->nodes[i].data;
        if (mount("tmpfs", data, "tmpfs", 0, TMPFS_SIZE) != 0) {
            fprintf(f, "disk-full: left out: cannot mount a tmpfs on %s: %s (needs root)\n", data,
                    strerror(errno));
            mask &= ~(1u << FAULT_DISK_FULL);
        } else {
            snprintf(n->tmpfs, sizeof n->tmpfs, "%s", data);
            n->tmpfs_node = (int)i;
            fprintf(f, "disk-full: n%u's data directory is a 128 MiB tmpfs\n", i + 1);
        }
    }
    return mask;
}

static void diskFill(struct nemesis *n, char *value, size_t len)
{
    char path[700];
    static char chunk[1 << 20];
    unsigned long long filled = 0;
    unsigned i;
    int fd;

    snprintf(path, sizeof path, "%s/ballast", n->tmpfs);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        snprintf(value, len, "n%d: %s: %s", n->tmpfs_node + 1, path, strerror(errno));
        return;
    }
    /* At most 256 chunks: the tmpfs is 128 MiB. */
    for (i = 0; i < 256; i++) {
        ssize_t w = write(fd, chunk, sizeof chunk);
        if (w <= 0) {
            break;
        }
        filled += (unsigned long long)w;
    }
    /* Then the last bytes, so that not even a page is left. */
    for (i = 0; i < 4096; i++) {
        if (write(fd, chunk, 512) <= 0) {
            break;
        }
        filled += 512;
    }
    close(fd);
    n->targets = 1u << n->tmpfs_node;
    n->cluster->nodes[n->tmpfs_node].expect_exit = true;
    snprintf(value, len, "n%d: disk filled (%llu MiB of ballast)", n->tmpfs_node + 1,
             filled >> 20);
}

static void diskFree(struct nemesis *n)
{
    char path[700];
    if (n->tmpfs[0] == '\0') {
        return;
    }
    snprintf(path, sizeof path, "%s/ballast", n->tmpfs);
    unlink(path);
}

/* ---------------------------------------------------------------------- */
/* Start and heal                                                          */

static void faultStart(struct nemesis *n, struct faultPlan *p, char *value, size_t len)
{
    struct jcluster *c = n->cluster;
    uint64_t rng = p->choice;
    enum proxyCutMode mode = (jepsenRandom(&rng) & 1) ? PROXY_CUT_STALL : PROXY_CUT_RESET;
    const char *mode_name = mode == PROXY_CUT_STALL ? "stall" : "reset";
    unsigned order[JEPSEN_NODES_MAX];
    char list[64], list2[64];
    unsigned i;
    int t;

    n->targets = 0;
    n->refused = false;
    switch (p->kind) {
        case FAULT_KILL: {
            unsigned how = (unsigned)(jepsenRandom(&rng) % 3);
            if (how == 2) { /* a minority */
                unsigned m = (c->n - 1) / 2;
                shuffleNodes(c->n, &rng, order);
                for (i = 0; i < m; i++) {
                    n->targets |= 1u << order[i];
                }
            } else if ((t = leaderOrRandom(n, &rng, how == 1)) >= 0) {
                n->targets = 1u << t;
            }
            for (i = 0; i < c->n; i++) {
                if (n->targets & (1u << i)) {
                    clusterKill(c, i);
                }
            }
            nodeList(n->targets, c->n, list, sizeof list);
            snprintf(value, len, "%s (%s)", list,
                     how == 0 ? "random" : how == 1 ? "leader" : "minority");
            break;
        }
        case FAULT_PAUSE: {
            bool leader = jepsenRandom(&rng) & 1;
            if ((t = leaderOrRandom(n, &rng, leader)) >= 0) {
                n->targets = 1u << t;
                clusterPause(c, (unsigned)t);
            }
            nodeList(n->targets, c->n, list, sizeof list);
            snprintf(value, len, "%s (%s)", list, leader ? "leader" : "random");
            break;
        }
        case FAULT_PARTITION_ZONE: {
            unsigned z = (unsigned)(jepsenRandom(&rng) % c->zones);
            unsigned side = 0;
            for (i = 0; i < c->n; i++) {
                if (c->nodes[i].zone == z) {
                    side |= 1u << i;
                }
            }
            cutBetween(n, side, mode);
            nodeList(side, c->n, list, sizeof list);
            nodeList(~side & ((1u << c->n) - 1), c->n, list2, sizeof list2);
            snprintf(value, len, "az%u: %s | %s (%s)", z + 1, list, list2, mode_name);
            break;
        }
        case FAULT_PARTITION_LEADER:
            if ((t = leaderOrRandom(n, &rng, true)) >= 0) {
                cutBetween(n, 1u << t, mode);
                snprintf(value, len, "n%d isolated (%s)", t + 1, mode_name);
            } else {
                snprintf(value, len, "no node up");
            }
            break;
        case FAULT_PARTITION_HALVES: {
            unsigned m = 1 + (unsigned)(jepsenRandom(&rng) % ((c->n - 1) / 2 > 0 ? (c->n - 1) / 2 : 1));
            unsigned side = 0;
            shuffleNodes(c->n, &rng, order);
            for (i = 0; i < m && i < c->n; i++) {
                side |= 1u << order[i];
            }
            cutBetween(n, side, mode);
            nodeList(side, c->n, list, sizeof list);
            nodeList(~side & ((1u << c->n) - 1), c->n, list2, sizeof list2);
            snprintf(value, len, "%s | %s (%s)", list, list2, mode_name);
            break;
        }
        case FAULT_BRIDGE: {
            unsigned x = 0, y = 0;
            if (c->n < 3) {
                snprintf(value, len, "skipped: needs 3 nodes");
                break;
            }
            shuffleNodes(c->n, &rng, order);
            /* order[0] bridges; the rest split in two. */
            for (i = 1; i < c->n; i++) {
                if (i <= (c->n - 1) / 2) {
                    x |= 1u << order[i];
                } else {
                    y |= 1u << order[i];
                }
            }
            for (unsigned a = 0; a < c->n; a++) {
                for (unsigned b = 0; b < c->n; b++) {
                    if (((x >> a) & 1u) && ((y >> b) & 1u)) {
                        proxyCut(n->proxy, (int)a, (int)b, mode);
                        proxyCut(n->proxy, (int)b, (int)a, mode);
                    }
                }
            }
            nodeList(x, c->n, list, sizeof list);
            nodeList(y, c->n, list2, sizeof list2);
            snprintf(value, len, "n%u bridges %s | %s (%s)", order[0] + 1, list, list2,
                     mode_name);
            break;
        }
        case FAULT_ONE_WAY: {
            bool from_leader = jepsenRandom(&rng) & 1;
            int a = leaderOrRandom(n, &rng, from_leader);
            if (a < 0) {
                snprintf(value, len, "no node up");
                break;
            }
            if (from_leader) {
                for (i = 0; i < c->n; i++) {
                    if ((int)i != a) {
                        proxyCut(n->proxy, a, (int)i, mode);
                    }
                }
                snprintf(value, len, "n%d -> all dropped (leader, %s)", a + 1, mode_name);
            } else {
                int b = (int)((unsigned)(a + 1 + (int)(jepsenRandom(&rng) % (c->n - 1))) % c->n);
                proxyCut(n->proxy, a, b, mode);
                snprintf(value, len, "n%d -> n%d dropped (%s)", a + 1, b + 1, mode_name);
            }
            break;
        }
        case FAULT_RESTART_ALL:
            for (i = 0; i < c->n; i++) {
                clusterKill(c, i);
            }
            n->targets = (1u << c->n) - 1;
            snprintf(value, len, "every node killed");
            break;
        case FAULT_SLOW: {
            unsigned delay = 20000 + (unsigned)(jepsenRandom(&rng) % 60000);
            for (unsigned a = 0; a < c->n; a++) {
                for (unsigned b = 0; b < c->n; b++) {
                    if (a != b) {
                        proxySetDelay(n->proxy, (int)a, (int)b, delay, delay / 2);
                    }
                }
                proxySetDelay(n->proxy, PROXY_CLIENT, (int)a, delay / 4, delay / 8);
            }
            snprintf(value, len, "every link %u +- %u ms", delay / 1000, delay / 2000);
            break;
        }
        case FAULT_CLOCK: {
            static const char *const offsets[] = {"+90s", "-90s", "+600s", "-30s", "+3600s"};
            const char *off = offsets[jepsenRandom(&rng) % 5];
            bool leader = jepsenRandom(&rng) & 1;
            FILE *f;
            if (c->faketime_lib[0] == '\0' || (t = leaderOrRandom(n, &rng, leader)) < 0) {
                snprintf(value, len, "skipped: no libfaketime or no node up");
                break;
            }
            f = fopen(c->nodes[t].clock_file, "w");
            if (f != NULL) {
                fprintf(f, "%s\n", off);
                fclose(f);
            }
            n->targets = 1u << t;
            snprintf(value, len, "n%d wall clock %s (%s)", t + 1, off,
                     leader ? "leader" : "random");
            break;
        }
        case FAULT_CORRUPT:
            corruptStart(n, p, &rng, value, len);
            break;
        case FAULT_DISK_FULL:
            if (n->tmpfs[0] == '\0') {
                snprintf(value, len, "skipped: no tmpfs");
                break;
            }
            diskFill(n, value, len);
            break;
        default:
            snprintf(value, len, "?");
            break;
    }
}

void nemesisHealAll(struct nemesis *n)
{
    struct jcluster *c = n->cluster;
    unsigned i;

    proxyHeal(n->proxy);
    diskFree(n);
    corruptHeal(n);
    for (i = 0; i < c->n; i++) {
        FILE *f = fopen(c->nodes[i].clock_file, "w");
        if (f != NULL) {
            fputs("+0\n", f);
            fclose(f);
        }
        clusterReap(c);
        if (c->nodes[i].state == JNODE_PAUSED) {
            clusterResume(c, i);
        } else if (c->nodes[i].state == JNODE_DOWN) {
            clusterStart(c, i);
        }
    }
    /* From here on, a node's exit is a finding again. */
    for (i = 0; i < c->n; i++) {
        c->nodes[i].expect_exit = false;
    }
    n->targets = 0;
}

void nemesisRun(struct nemesis *n, uint64_t until_ms)
{
    unsigned i;

    for (i = 0; i < n->n_plan; i++) {
        struct faultPlan *p = &n->plan[i];
        char detail[300];
        char value[400];

        if (p->start_ms >= until_ms) {
            break;
        }
        waitUntil(n, p->start_ms);
        faultStart(n, p, detail, sizeof detail);
        snprintf(value, sizeof value, "%s#%u:%s", faultName(p->kind), i + 1, detail);
        historyAdd(n->history, "nemesis", "info", "start", value, NULL);
        printf("  %7.1f s  start %s\n", (double)runMs(n) / 1000.0, value);
        fflush(stdout);
        n->faults_injected++;
        waitUntil(n, p->end_ms < until_ms ? p->end_ms : until_ms);
        nemesisHealAll(n);
        historyAdd(n->history, "nemesis", "info", "stop", value, NULL);
        printf("  %7.1f s  stop  %s#%u\n", (double)runMs(n) / 1000.0, faultName(p->kind), i + 1);
        fflush(stdout);
    }
    waitUntil(n, until_ms);
}

void nemesisCleanup(struct nemesis *n)
{
    if (n->tmpfs[0] != '\0') {
        diskFree(n);
        if (umount2(n->tmpfs, MNT_DETACH) != 0) {
            fprintf(stderr, "jepsen: umount %s: %s\n", n->tmpfs, strerror(errno));
        }
        n->tmpfs[0] = '\0';
    }
}
