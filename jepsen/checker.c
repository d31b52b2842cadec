/* The checker, part one: reading a history (format in jepsen.h) into a
 * struct checkState, and checkHistory, which reads and then evaluates
 * (checker_eval.c).
 *
 * The happy path is: one pass over the file, line by line. Each event line
 * splits into its 5 or 6 tab-separated fields; an invoke of a process
 * becomes the process's outstanding operation; a completion (ok, fail,
 * info) pairs with it. A send's attempts fold into its body's record
 * (hash table keyed by body); an ok receive's items fold into their bodies'
 * records and into a table of (body, message id) pairs, which tells a
 * redelivery (a pair seen again) from a duplicate (a second message id);
 * nemesis start/stop events open and close fault windows; failed harness
 * checks are kept. Every completed operation of a w<N> process is kept
 * (invoke time, completion time, op, outcome) for latency, availability
 * and the plot. Work per event is O(1) expected: no scans.
 *
 * Failure modes are: the file cannot be opened or read (-1, errno's text);
 * a malformed line (-1, "history:LINE: what is wrong"): wrong field count,
 * a non-numeric time, an unknown type, a bad receive list, a nemesis
 * start/stop without FAULT#K, a completion with no invoke outstanding or
 * of another op than its invoke; out of memory (-1). Blank lines are
 * skipped. A completion pairs with the latest invoke of its process: an
 * earlier invoke still outstanding is abandoned, and counts as never
 * completed (info). A nemesis stop whose window is not open is ignored. */
#include "jepsen/checker_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* 64-bit FNV-1a. */
static uint64_t internHash(const char *key, size_t len)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)key[i];
        h *= 1099511628211ULL;
    }
    return h ^ (h >> 29);
}

/* Make room for @need elements of @size in *@p (capacity *@cap). Returns
 * 0, or -1 out of memory (*@p unchanged). */
static int growArray(void **p, size_t *cap, size_t need, size_t size)
{
    size_t c = *cap ? *cap : 16;
    void *q;

    if (need <= *cap) {
        return 0;
    }
    while (c < need) {
        c *= 2;
    }
    q = realloc(*p, c * size);
    if (q == NULL) {
        return -1;
    }
    *p = q;
    *cap = c;
    return 0;
}

/* Double the slots of @t and rehash. Returns 0, or -1 out of memory. */
static int internRehash(struct checkIntern *t)
{
    size_t cap = t->cap ? t->cap * 2 : 1024;
    uint32_t *slots = calloc(cap, sizeof *slots);

    if (slots == NULL) {
        return -1;
    }
    for (size_t i = 0; i < t->n; i++) {
        size_t s = (size_t)t->keys[i].hash & (cap - 1);
        while (slots[s] != 0) {
            s = (s + 1) & (cap - 1);
        }
        slots[s] = (uint32_t)(i + 1);
    }
    free(t->slots);
    t->slots = slots;
    t->cap = cap;
    return 0;
}

/* The slot holding @key, or the empty slot where it would go. */
static size_t internFind(const struct checkIntern *t, const char *key, size_t len, uint64_t h)
{
    size_t s = (size_t)h & (t->cap - 1);

    while (t->slots[s] != 0) {
        uint32_t i = t->slots[s] - 1;
        const struct checkInternKey *k = &t->keys[i];
        if (k->hash == h && k->len == len && memcmp(t->arena + k->off, key, len) == 0) {
            return s;
        }
        s = (s + 1) & (t->cap - 1);
    }
    return s;
}

int checkInternPut(struct checkIntern *t, const char *key, size_t len, uint32_t *index,
                   bool *created)
{
    uint64_t h = internHash(key, len);
    size_t s;

    if (created != NULL) {
        *created = false;
    }
    if ((t->n + 1) * 2 > t->cap && internRehash(t) != 0) {
        return -1;
    }
    s = internFind(t, key, len, h);
    if (t->slots[s] != 0) {
        *index = t->slots[s] - 1;
        return 0;
    }
    if (t->n >= UINT32_MAX - 1 || len > UINT32_MAX) {
        return -1;
    }
    if (growArray((void **)&t->keys, &t->keys_cap, t->n + 1, sizeof *t->keys) != 0 ||
        growArray((void **)&t->arena, &t->arena_cap, t->arena_len + len + 1, 1) != 0) {
        return -1;
    }
    memcpy(t->arena + t->arena_len, key, len);
    t->arena[t->arena_len + len] = '\0';
    t->keys[t->n].hash = h;
    t->keys[t->n].off = t->arena_len;
    t->keys[t->n].len = (uint32_t)len;
    t->arena_len += len + 1;
    t->slots[s] = (uint32_t)(t->n + 1);
    *index = (uint32_t)t->n;
    t->n++;
    if (created != NULL) {
        *created = true;
    }
    return 0;
}

int64_t checkInternGet(const struct checkIntern *t, const char *key, size_t len)
{
    size_t s;

    if (t->cap == 0) {
        return -1;
    }
    s = internFind(t, key, len, internHash(key, len));
    return t->slots[s] == 0 ? -1 : (int64_t)(t->slots[s] - 1);
}

const char *checkInternKey(const struct checkIntern *t, uint32_t index)
{
    return t->arena + t->keys[index].off;
}

void checkInternFree(struct checkIntern *t)
{
    free(t->slots);
    free(t->keys);
    free(t->arena);
    memset(t, 0, sizeof *t);
}

const char *checkPairMsgid(const struct checkState *s, uint32_t pair)
{
    return checkInternKey(&s->pairs, pair) + sizeof(uint32_t);
}

const char *checkOpName(enum checkOp op)
{
    switch (op) {
    case CHECK_SEND:
        return "send";
    case CHECK_RECEIVE:
        return "receive";
    case CHECK_DELETE:
        return "delete";
    default:
        return "other";
    }
}

double checkOpLatencyMs(const struct checkOpRec *o)
{
    if (o->complete_us <= o->invoke_us) {
        return 0.0;
    }
    return (double)(o->complete_us - o->invoke_us) / 1000.0;
}

void checkStateFree(struct checkState *s)
{
    checkInternFree(&s->body_names);
    checkInternFree(&s->pairs);
    checkInternFree(&s->proc_names);
    checkInternFree(&s->op_names);
    free(s->bodies);
    free(s->procs);
    free(s->ops);
    free(s->windows);
    free(s->harness);
    memset(s, 0, sizeof *s);
}

/* The reader's working state: the checkState, the line, a scratch key. */
struct reader
{
    struct checkState *s;
    uint64_t line;
    char *key; /* scratch for pair keys */
    size_t key_cap;
    bool seen_comment;
    char *errmsg;
    size_t len;
};

/* Fill the reader's errmsg with "history:LINE: " and @what. Returns -1. */
static int readerFail(struct reader *rd, const char *what, const char *arg)
{
    snprintf(rd->errmsg, rd->len, "history:%llu: %s%.80s", (unsigned long long)rd->line, what,
             arg ? arg : "");
    return -1;
}

/* The body record of @body (added, zeroed, if new). Returns 0 or -1. */
static int readerBody(struct reader *rd, const char *body, size_t len, uint32_t *index)
{
    struct checkState *s = rd->s;
    bool created;

    if (checkInternPut(&s->body_names, body, len, index, &created) != 0 ||
        growArray((void **)&s->bodies, &s->bodies_cap, s->body_names.n, sizeof *s->bodies) != 0) {
        return readerFail(rd, "out of memory", NULL);
    }
    if (created) {
        memset(&s->bodies[*index], 0, sizeof s->bodies[*index]);
    }
    return 0;
}

/* Parse a time: decimal digits only, no overflow. Returns 0 or -1. */
static int parseU64(const char *text, uint64_t *out)
{
    char *end;
    unsigned long long v;

    if (*text < '0' || *text > '9') {
        return -1;
    }
    errno = 0;
    v = strtoull(text, &end, 10);
    if (errno != 0 || *end != '\0') {
        return -1;
    }
    *out = v;
    return 0;
}

/* The first comment line names the workload: "... workload=W ...". */
static void readerComment(struct reader *rd, const char *line)
{
    const char *w;
    size_t n;

    if (rd->seen_comment) {
        return;
    }
    rd->seen_comment = true;
    w = strstr(line, "workload=");
    if (w == NULL) {
        return;
    }
    w += strlen("workload=");
    n = strcspn(w, " \t\r\n");
    if (n >= sizeof rd->s->workload) {
        n = sizeof rd->s->workload - 1;
    }
    memcpy(rd->s->workload, w, n);
    rd->s->workload[n] = '\0';
    rd->s->fifo = strcmp(rd->s->workload, "fifo") == 0;
}

/* Close every open window at @t_us. */
static void closeWindows(struct checkState *s, uint64_t t_us)
{
    for (size_t i = 0; i < s->n_windows; i++) {
        if (s->windows[i].open) {
            s->windows[i].open = false;
            s->windows[i].stop_us = t_us < s->windows[i].start_us ? s->windows[i].start_us : t_us;
        }
    }
}

/* "nemesis info start|stop FAULT#K:DETAIL"; other nemesis events are
 * notes. Returns 0 or -1. */
static int readerNemesis(struct reader *rd, uint64_t t, const char *op, const char *value)
{
    struct checkState *s = rd->s;
    bool start = strcmp(op, "start") == 0;
    const char *hash, *end;
    char *kend;
    unsigned long long k;

    if (!start && strcmp(op, "stop") != 0) {
        return 0;
    }
    hash = strchr(value, '#');
    if (hash == NULL || hash[1] < '0' || hash[1] > '9') {
        return readerFail(rd, "nemesis start/stop value is not FAULT#K:DETAIL: ", value);
    }
    errno = 0;
    k = strtoull(hash + 1, &kend, 10);
    end = kend;
    if (errno != 0 || (*end != ':' && *end != '\0')) {
        return readerFail(rd, "nemesis start/stop value is not FAULT#K:DETAIL: ", value);
    }
    if (start) {
        struct checkWindow *w;
        size_t n = (size_t)(hash - value);
        if (growArray((void **)&s->windows, &s->windows_cap, s->n_windows + 1,
                      sizeof *s->windows) != 0) {
            return readerFail(rd, "out of memory", NULL);
        }
        w = &s->windows[s->n_windows++];
        memset(w, 0, sizeof *w);
        w->start_us = t;
        w->k = k;
        w->open = true;
        if (n >= sizeof w->fault) {
            n = sizeof w->fault - 1;
        }
        memcpy(w->fault, value, n);
        w->fault[n] = '\0';
        return 0;
    }
    /* the latest open window #K closes; a stop of nothing open is ignored */
    for (size_t i = s->n_windows; i-- > 0;) {
        struct checkWindow *w = &s->windows[i];
        if (w->open && w->k == k) {
            w->open = false;
            w->stop_us = t < w->start_us ? w->start_us : t;
            break;
        }
    }
    return 0;
}

/* Harness events: failed checks, and the final phase. */
static int readerHarness(struct reader *rd, uint64_t t, const char *type, const char *op,
                         const char *value)
{
    struct checkState *s = rd->s;

    if (strcmp(op, "check") == 0 && strcmp(type, "fail") == 0) {
        s->harness_failures++;
        if (s->n_harness < CHECK_PROBLEMS_MAX) {
            if (s->harness == NULL) {
                s->harness = calloc(CHECK_PROBLEMS_MAX, sizeof *s->harness);
                if (s->harness == NULL) {
                    return readerFail(rd, "out of memory", NULL);
                }
            }
            s->harness[s->n_harness].t_us = t;
            snprintf(s->harness[s->n_harness].what, sizeof s->harness[0].what, "%s", value);
            s->n_harness++;
        }
    } else if (strcmp(op, "phase") == 0 && strcmp(value, "final") == 0) {
        s->final_us = t;
        closeWindows(s, t);
    }
    return 0;
}

/* An ok receive's list "BODY@MESSAGEID,..." (or "-"). Returns 0 or -1. */
static int readerDeliveries(struct reader *rd, uint64_t t, uint32_t proc, const char *value)
{
    struct checkState *s = rd->s;
    const char *item = value;
    uint32_t idx = 0;
    uint64_t seq = s->receives++;

    if (strcmp(value, "-") == 0) {
        return 0;
    }
    for (;;) {
        const char *comma = strchr(item, ',');
        size_t n = comma ? (size_t)(comma - item) : strlen(item);
        const char *at = n ? memrchr(item, '@', n) : NULL;
        size_t body_len, id_len;
        uint32_t b, pair;
        bool created;
        struct checkBody *body;
        struct checkPos pos = {t, seq, idx};

        if (at == NULL || at == item || at == item + n - 1) {
            return readerFail(rd, "receive item is not BODY@MESSAGEID: ", item);
        }
        body_len = (size_t)(at - item);
        id_len = n - body_len - 1;
        if (readerBody(rd, item, body_len, &b) != 0) {
            return -1;
        }
        if (growArray((void **)&rd->key, &rd->key_cap, id_len + sizeof b, 1) != 0) {
            return readerFail(rd, "out of memory", NULL);
        }
        memcpy(rd->key, &b, sizeof b);
        memcpy(rd->key + sizeof b, at + 1, id_len);
        if (checkInternPut(&s->pairs, rd->key, id_len + sizeof b, &pair, &created) != 0) {
            return readerFail(rd, "out of memory", NULL);
        }
        body = &s->bodies[b];
        s->deliveries++;
        if (created) {
            body->msgids++;
        } else {
            s->redeliveries++;
        }
        if (body->deliveries == 0 || pos.t_us < body->first.t_us ||
            (pos.t_us == body->first.t_us && pos.seq < body->first.seq)) {
            body->first = pos;
            body->first_proc = proc;
            body->first_pair = pair;
        }
        body->deliveries++;
        idx++;
        if (comma == NULL) {
            return 0;
        }
        item = comma + 1;
    }
}

/* Whether @name is "w" followed by digits. */
static bool isWorker(const char *name)
{
    if (name[0] != 'w' || name[1] == '\0') {
        return false;
    }
    for (const char *c = name + 1; *c; c++) {
        if (*c < '0' || *c > '9') {
            return false;
        }
    }
    return true;
}

/* The outstanding invoke of @p is abandoned: it never completed. */
static void abandon(struct checkState *s, struct checkProc *p)
{
    if (p->outstanding) {
        s->unfinished++;
        if (p->op == CHECK_SEND) {
            s->bodies[p->body].flags |= BODY_UNFINISHED;
        }
        p->outstanding = false;
    }
}

/* An invoke or completion of a client process. Returns 0 or -1. */
static int readerOp(struct reader *rd, uint64_t t, const char *proc_name, const char *type,
                    const char *op, const char *value)
{
    struct checkState *s = rd->s;
    uint32_t pi, oi;
    bool created;
    struct checkProc *p;
    uint8_t code = CHECK_OPS, outcome;

    if (checkInternPut(&s->proc_names, proc_name, strlen(proc_name), &pi, &created) != 0 ||
        growArray((void **)&s->procs, &s->procs_cap, s->proc_names.n, sizeof *s->procs) != 0 ||
        checkInternPut(&s->op_names, op, strlen(op), &oi, NULL) != 0) {
        return readerFail(rd, "out of memory", NULL);
    }
    p = &s->procs[pi];
    if (created) {
        memset(p, 0, sizeof *p);
        p->worker = isWorker(proc_name);
    }
    if (strcmp(op, "send") == 0) {
        code = CHECK_SEND;
    } else if (strcmp(op, "receive") == 0) {
        code = CHECK_RECEIVE;
    } else if (strcmp(op, "delete") == 0) {
        code = CHECK_DELETE;
    }
    if (strcmp(type, "invoke") == 0) {
        abandon(s, p);
        p->outstanding = true;
        p->op_name = oi;
        p->op = code;
        p->invoke_us = t;
        p->line = rd->line;
        if (code == CHECK_SEND) {
            struct checkBody *b;
            if (readerBody(rd, value, strlen(value), &p->body) != 0) {
                return -1;
            }
            b = &s->bodies[p->body];
            if (!(b->flags & BODY_SENT) || t < b->first_invoke_us) {
                b->first_invoke_us = t;
            }
            b->flags |= BODY_SENT;
        }
        return 0;
    }
    if (!p->outstanding) {
        return readerFail(rd, "a completion with no invoke outstanding for ", proc_name);
    }
    if (p->op_name != oi) {
        return readerFail(rd, "a completion of another op than its invoke: ", op);
    }
    p->outstanding = false;
    outcome = strcmp(type, "ok") == 0     ? CHECK_OUT_OK
              : strcmp(type, "fail") == 0 ? CHECK_OUT_FAIL
                                          : CHECK_OUT_INFO;
    if (p->worker) {
        struct checkOpRec *o;
        if (growArray((void **)&s->ops, &s->ops_cap, s->n_ops + 1, sizeof *s->ops) != 0) {
            return readerFail(rd, "out of memory", NULL);
        }
        o = &s->ops[s->n_ops++];
        o->invoke_us = p->invoke_us;
        o->complete_us = t;
        o->op = code;
        o->outcome = outcome;
    }
    if (code == CHECK_SEND) {
        struct checkBody *b = &s->bodies[p->body];
        if (t > b->last_complete_us) {
            b->last_complete_us = t;
        }
        if (outcome == CHECK_OUT_OK) {
            if (!(b->flags & BODY_OK)) {
                b->ack_us = t;
                b->ack_proc = pi;
            }
            b->flags |= BODY_OK;
        } else if (outcome == CHECK_OUT_FAIL) {
            if (!(b->flags & BODY_FAIL)) {
                b->fail_us = t;
                b->fail_proc = pi;
            }
            b->flags |= BODY_FAIL;
        } else {
            b->flags |= BODY_INFO;
        }
    } else if (code == CHECK_RECEIVE && outcome == CHECK_OUT_OK) {
        return readerDeliveries(rd, t, pi, value);
    }
    return 0;
}

/* One event line (without its newline). Returns 0 or -1. */
static int readerLine(struct reader *rd, char *line)
{
    char *f[7];
    int n = 0;
    char *c = line;
    uint64_t t;

    for (;;) {
        f[n++] = c;
        c = strchr(c, '\t');
        if (c == NULL || n == 7) {
            break;
        }
        *c++ = '\0';
    }
    if (n < 5 || n > 6) {
        return readerFail(
            rd, n < 5 ? "too few fields (want 5 or 6)" : "too many fields (want 5 or 6)", NULL);
    }
    if (parseU64(f[0], &t) != 0) {
        return readerFail(rd, "time is not a number of microseconds: ", f[0]);
    }
    if (strcmp(f[2], "invoke") != 0 && strcmp(f[2], "ok") != 0 && strcmp(f[2], "fail") != 0 &&
        strcmp(f[2], "info") != 0) {
        return readerFail(rd, "unknown type: ", f[2]);
    }
    if (f[1][0] == '\0' || f[3][0] == '\0') {
        return readerFail(rd, "empty process or op", NULL);
    }
    rd->s->events++;
    if (t > rd->s->end_us) {
        rd->s->end_us = t;
    }
    if (strcmp(f[1], "nemesis") == 0) {
        return strcmp(f[2], "info") == 0 ? readerNemesis(rd, t, f[3], f[4]) : 0;
    }
    if (strcmp(f[1], "harness") == 0) {
        return readerHarness(rd, t, f[2], f[3], f[4]);
    }
    return readerOp(rd, t, f[1], f[2], f[3], f[4]);
}

int checkRead(const char *path, struct checkState *s, char *errmsg, size_t len)
{
    struct reader rd = {.s = s, .errmsg = errmsg, .len = len};
    FILE *f = NULL;
    char *line = NULL;
    size_t line_cap = 0;
    ssize_t n;
    int rv = -1;

    memset(s, 0, sizeof *s);
    f = fopen(path, "r");
    if (f == NULL) {
        snprintf(errmsg, len, "%s: %s", path, strerror(errno));
        goto out;
    }
    while ((n = getline(&line, &line_cap, f)) >= 0) {
        rd.line++;
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) {
            line[--n] = '\0';
        }
        if (n == 0) {
            continue;
        }
        if ((size_t)n != strlen(line)) {
            readerFail(&rd, "a NUL byte in the line", NULL);
            goto out;
        }
        if (line[0] == '#') {
            readerComment(&rd, line);
            continue;
        }
        if (readerLine(&rd, line) != 0) {
            goto out;
        }
    }
    if (ferror(f)) {
        snprintf(errmsg, len, "%s: read error", path);
        goto out;
    }
    for (size_t i = 0; i < s->proc_names.n; i++) {
        abandon(s, &s->procs[i]);
    }
    if (s->final_us == 0) {
        s->final_us = s->end_us;
    }
    closeWindows(s, s->end_us);
    rv = 0;
out:
    free(line);
    free(rd.key);
    if (f != NULL) {
        fclose(f);
    }
    if (rv != 0) {
        checkStateFree(s);
    }
    return rv;
}

int checkHistory(const char *path, struct checkResult *r, char *errmsg, size_t len)
{
    struct checkState s;
    int rv;

    memset(r, 0, sizeof *r);
    if (checkRead(path, &s, errmsg, len) != 0) {
        return -1;
    }
    rv = checkEvaluate(&s, r);
    if (rv != 0) {
        snprintf(errmsg, len, "%s: out of memory", path);
    }
    checkStateFree(&s);
    return rv == 0 ? 0 : -1;
}
