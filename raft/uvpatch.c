/* Two functions of libraft's uv backend, replaced at link time.
 *
 * qraftd links libraft 0.15 statically with `-Wl,--wrap=...` (Makefile
 * RAFT_LIBS), so libraft's own calls of a wrapped function land in the
 * __wrap_ one below, which may call libraft's through __real_. Each wrapper
 * keeps what the function promises its callers; what changes is where the
 * time goes. (The third wrapped function, the log checksum, is in crc.c.)
 *
 * UvOsIoDestroy: off the loop thread.
 *   libraft gives every open segment a writer with its own kernel AIO
 *   context, and destroys the context when the segment is closed: once per
 *   8 MiB of log, and at every snapshot (a snapshot closes the open
 *   segment). io_destroy(2) waits for an RCU grace period: 28 ms seen on
 *   this VM (strace -T), on the loop thread, during which the node neither
 *   wrote its log nor answered anyone. Under pipelined sends that was
 *   several such stalls a second on every node, all three at the same log
 *   positions, and appends the disk finished in 1-3 ms were seen by raft
 *   40-90 ms later (README "Finding where time goes").
 *   The wrapper hands the context to one reaper thread, which destroys it,
 *   and returns 0 at once. libraft calls it when the writer is closed and
 *   nothing of it is in flight any more (uvWriterCleanUpAndFireCloseCb,
 *   after the segment's descriptor is closed), and ignores its result; the
 *   context is used by nobody afterwards. Should the reaper be unavailable
 *   (no thread, a full queue), the call is made in place, as before. A
 *   context still queued at exit is released by the kernel with the process.
 */
#include <linux/aio_abi.h>
#include <pthread.h>
#include <stdbool.h>

#include "raft/internal.h"

/* ------------------------------------------------------------------------ */
/* Deferred io_destroy */

/* Contexts waiting for the reaper. libraft closes at most a few segments a
 * second; a full ring means the reaper is stuck, and the caller then
 * destroys in place. */
#define REAP_RING 64

static struct
{
    pthread_mutex_t lock;
    pthread_cond_t more;
    aio_context_t ring[REAP_RING];
    unsigned head; /* next to destroy */
    unsigned n;    /* queued */
    bool running;  /* the reaper thread exists */
    bool held;     /* the reaper waits (uvPatchReapHold, tests) */
} reap = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, {0}, 0, 0, false, false};

static pthread_once_t reapOnce = PTHREAD_ONCE_INIT;

static void *reapMain(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&reap.lock);
    for (;;) {
        aio_context_t ctx;

        while (reap.n == 0 || reap.held) {
            pthread_cond_wait(&reap.more, &reap.lock);
        }
        ctx = reap.ring[reap.head];
        reap.head = (reap.head + 1) % REAP_RING;
        reap.n--;
        pthread_mutex_unlock(&reap.lock);
        /* Only an invalid context fails; nobody is left to tell. */
        (void)__real_UvOsIoDestroy(ctx);
        pthread_mutex_lock(&reap.lock);
    }
    return NULL;
}

static void reapStart(void)
{
    pthread_attr_t attr;
    pthread_t thread;

    if (pthread_attr_init(&attr) != 0) {
        return;
    }
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    reap.running = pthread_create(&thread, &attr, reapMain, NULL) == 0;
    pthread_attr_destroy(&attr);
}

int __wrap_UvOsIoDestroy(aio_context_t ctx)
{
    bool queued = false;

    pthread_once(&reapOnce, reapStart);
    pthread_mutex_lock(&reap.lock);
    if (reap.running && reap.n < REAP_RING) {
        reap.ring[(reap.head + reap.n) % REAP_RING] = ctx;
        reap.n++;
        queued = true;
        pthread_cond_signal(&reap.more);
    }
    pthread_mutex_unlock(&reap.lock);
    return queued ? 0 : __real_UvOsIoDestroy(ctx);
}

void uvPatchReapHold(bool hold)
{
    pthread_once(&reapOnce, reapStart);
    pthread_mutex_lock(&reap.lock);
    reap.held = hold;
    pthread_cond_signal(&reap.more);
    pthread_mutex_unlock(&reap.lock);
}

unsigned uvPatchReapPending(void)
{
    unsigned n;

    pthread_mutex_lock(&reap.lock);
    n = reap.n;
    pthread_mutex_unlock(&reap.lock);
    return n;
}
