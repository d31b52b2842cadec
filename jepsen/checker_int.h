/* The checker's insides, shared by checker.c (reading a history),
 * checker_eval.c (the invariants), report.c and report_plot.c. Private to
 * jepsen/: nothing outside includes it.
 *
 * checkRead turns a history into a struct checkState: every logical
 * message (body) with its sends and deliveries, every (body, message id),
 * every completed client operation of a w<N> process, the fault windows and
 * the harness's failed checks. checkEvaluate turns that state into a
 * struct checkResult. */
#ifndef QRAFT_JEPSEN_CHECKER_INT_H
#define QRAFT_JEPSEN_CHECKER_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "jepsen/jepsen.h"

/* One key of a struct checkIntern. */
struct checkInternKey
{
    uint64_t hash;
    size_t off;   /* in the arena */
    uint32_t len; /* bytes, without the NUL */
};

/* Strings to dense indices 0, 1, ...: an open-addressing hash table (linear
 * probing, power-of-two capacity, at most half full) over an arena that
 * holds every key, each followed by a NUL. */
struct checkIntern
{
    uint32_t *slots;             /* 0 empty, else index + 1 */
    size_t cap;                  /* slots: a power of two */
    struct checkInternKey *keys; /* per index */
    size_t n;                    /* keys */
    size_t keys_cap;
    char *arena; /* every key, each NUL-terminated */
    size_t arena_len;
    size_t arena_cap;
};

/* Find @key (@len bytes) or, if absent, add it. Sets *index, and *created
 * (may be NULL) to whether it was added. Returns 0, or -1 out of memory. */
int checkInternPut(struct checkIntern *t, const char *key, size_t len, uint32_t *index,
                   bool *created);

/* Find @key. Returns its index, or -1 if absent. */
int64_t checkInternGet(const struct checkIntern *t, const char *key, size_t len);

/* The key of @index (NUL-terminated; valid until the next checkInternPut). */
const char *checkInternKey(const struct checkIntern *t, uint32_t index);

void checkInternFree(struct checkIntern *t);

/* Flags of a body: what its send attempts came to. */
enum {
    BODY_SENT = 1,       /* a send of it was invoked */
    BODY_OK = 2,         /* an attempt was acknowledged */
    BODY_INFO = 4,       /* an attempt timed out (outcome unknown) */
    BODY_FAIL = 8,       /* an attempt was refused */
    BODY_UNFINISHED = 16 /* an attempt never completed */
};

/* Where a message was first delivered: the receive's completion time, its
 * place in the file among receives, the item's place in its list. The
 * smallest (t_us, seq, idx) is the first delivery. */
struct checkPos
{
    uint64_t t_us;
    uint64_t seq;
    uint32_t idx;
};

/* One logical message, by body (index in checkState.bodies). */
struct checkBody
{
    uint64_t first_invoke_us;  /* first send invoke */
    uint64_t last_complete_us; /* last send completion (any outcome) */
    uint64_t ack_us;           /* first ok completion */
    uint64_t fail_us;          /* first fail completion */
    struct checkPos first;     /* first delivery (valid if deliveries) */
    uint32_t ack_proc;         /* process of the first ok */
    uint32_t fail_proc;        /* process of the first fail */
    uint32_t first_proc;       /* process of the first delivery */
    uint32_t first_pair;       /* (body, message id) of the first delivery */
    uint32_t deliveries;       /* times delivered */
    uint32_t msgids;           /* distinct message ids delivered under */
    uint8_t flags;             /* BODY_* */
};

/* A completed operation of a w<N> process. */
struct checkOpRec
{
    uint64_t invoke_us;
    uint64_t complete_us;
    uint8_t op;      /* enum checkOp; CHECK_OPS for another op */
    uint8_t outcome; /* CHECK_OUT_* */
};

/* How an operation completed. */
enum {
    CHECK_OUT_OK = 0,
    CHECK_OUT_FAIL = 1,
    CHECK_OUT_INFO = 2,
};

/* A fault window: "nemesis info start FAULT#K:..." to the matching stop. */
struct checkWindow
{
    uint64_t start_us;
    uint64_t stop_us; /* valid when !open */
    uint64_t k;       /* the #K of its events */
    bool open;
    char fault[48]; /* FAULT: the text before '#' */
};

/* A failed harness check: "harness fail check NAME:DETAIL". */
struct checkHarnessFail
{
    uint64_t t_us;
    char what[160];
};

/* The outstanding operation of one process (index in checkState.procs). */
struct checkProc
{
    bool outstanding; /* an invoke awaits its completion */
    bool worker;      /* named w<N> */
    uint32_t op_name; /* of the outstanding invoke: index in ops */
    uint8_t op;       /* enum checkOp, CHECK_OPS for another op */
    uint32_t body;    /* the outstanding send's body */
    uint64_t invoke_us;
    uint64_t line; /* of the outstanding invoke */
};

/* Everything checkRead gathers from one history. */
struct checkState
{
    char workload[16];
    bool fifo;
    uint64_t events;
    uint64_t end_us;     /* the largest time seen */
    uint64_t final_us;   /* "harness info phase final", or end_us */
    uint64_t receives;   /* ok receives seen: checkPos.seq */
    uint64_t unfinished; /* invokes never completed */
    struct checkIntern body_names;
    struct checkBody *bodies; /* per body_names index */
    size_t bodies_cap;
    struct checkIntern pairs; /* key: body index (4 bytes) + message id */
    uint64_t deliveries;
    uint64_t redeliveries;
    struct checkIntern proc_names;
    struct checkProc *procs; /* per proc_names index */
    size_t procs_cap;
    struct checkIntern op_names;
    struct checkOpRec *ops; /* completed w<N> operations, in file order */
    size_t n_ops, ops_cap;
    struct checkWindow *windows; /* in the order they opened */
    size_t n_windows, windows_cap;
    struct checkHarnessFail *harness; /* the first CHECK_PROBLEMS_MAX */
    size_t n_harness;
    uint64_t harness_failures;
};

/* Read the history at @path into @s (zeroed here). Returns 0, or -1 with
 * @errmsg "history:LINE: what is wrong" (or why the file cannot be read);
 * @s is then freed. */
int checkRead(const char *path, struct checkState *s, char *errmsg, size_t len);

/* Release what checkRead allocated. */
void checkStateFree(struct checkState *s);

/* The invariants and statistics of a read history, into @r (zeroed here).
 * Returns 0, or -1 out of memory. */
int checkEvaluate(const struct checkState *s, struct checkResult *r);

/* The message id of a pairs key (after its 4-byte body index). */
const char *checkPairMsgid(const struct checkState *s, uint32_t pair);

/* Latency in ms of a completed op (at least 0). */
double checkOpLatencyMs(const struct checkOpRec *o);

/* The name of op @op ("send", "receive", "delete"). */
const char *checkOpName(enum checkOp op);

/* Draw dir/latency.svg with gnuplot from @s (see report_plot.c). Sets
 * @note to what became of the picture ("latency.svg", "gnuplot missing",
 * or why it failed). Returns 0, or -1 with @errmsg filled. */
int reportPlot(const char *dir, const struct checkState *s, const struct checkResult *r, char *note,
               size_t note_len, char *errmsg, size_t len);

#endif /* QRAFT_JEPSEN_CHECKER_INT_H */
