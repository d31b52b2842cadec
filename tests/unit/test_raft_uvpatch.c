/* raft/uvpatch.c: libraft's UvOsIoDestroy is wrapped so that the
 * io_destroy of a closed segment's AIO context happens on a reaper thread,
 * not on the loop. The context must be destroyed all the same (or every
 * segment would leak one, up to fs.aio-max-nr), in order, and when the
 * reaper cannot take it the call must be made in place. This binary is
 * linked as qraftd is (Makefile RAFT_LIBS): a call to UvOsIoDestroy binds
 * to the wrapper, __real_UvOsIoDestroy to libraft's. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "raft/internal.h"

int UvOsIoDestroy(aio_context_t ctx);

/* The reaper's ring (uvpatch.c REAP_RING). */
#define RING 64

static aio_context_t ioSetup(void)
{
    aio_context_t ctx = 0;
    assert_int_equal(syscall(SYS_io_setup, 1, &ctx), 0);
    return ctx;
}

/* Whether @ctx is still a live AIO context: io_destroy of a destroyed one
 * fails with EINVAL. Destroys it if it was. */
static bool destroyIfLive(aio_context_t ctx)
{
    if (syscall(SYS_io_destroy, ctx) == 0) {
        return true;
    }
    assert_int_equal(errno, EINVAL);
    return false;
}

/* Wait (at most 5 s) until the reaper has nothing queued. */
static void waitReaped(void)
{
    struct timespec pause = {0, 2 * 1000 * 1000};

    for (int i = 0; i < 2500 && uvPatchReapPending() > 0; i++) {
        nanosleep(&pause, NULL);
    }
    assert_int_equal(uvPatchReapPending(), 0);
}

/* A call of UvOsIoDestroy is the wrapper, and the context it is given ends
 * up destroyed. */
static void destroyedByTheReaper(void **state)
{
    aio_context_t ctx = ioSetup();

    (void)state;
    assert_true((void *)UvOsIoDestroy == (void *)__wrap_UvOsIoDestroy);
    assert_int_equal(UvOsIoDestroy(ctx), 0);
    waitReaped();
    assert_false(destroyIfLive(ctx));
}

/* While the reaper is held, contexts queue up (destroyed by nobody yet);
 * past its ring, the call destroys in place. Released, it destroys every
 * queued one. */
static void fullRingDestroysInPlace(void **state)
{
    aio_context_t ctx[RING + 1];

    (void)state;
    waitReaped();
    uvPatchReapHold(true);
    for (unsigned i = 0; i < RING; i++) {
        ctx[i] = ioSetup();
        assert_int_equal(UvOsIoDestroy(ctx[i]), 0);
    }
    assert_int_equal(uvPatchReapPending(), RING);
    ctx[RING] = ioSetup();
    assert_int_equal(UvOsIoDestroy(ctx[RING]), 0);
    assert_int_equal(uvPatchReapPending(), RING);
    assert_false(destroyIfLive(ctx[RING])); /* destroyed in place */
    assert_true(destroyIfLive(ctx[0]));     /* queued, still live */
    uvPatchReapHold(false);
    waitReaped();
    for (unsigned i = 1; i < RING; i++) {
        assert_false(destroyIfLive(ctx[i]));
    }
}

/* libraft's own function still reports a bad context. */
static void realReportsBadContext(void **state)
{
    (void)state;
    assert_int_equal(__real_UvOsIoDestroy((aio_context_t)1), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(destroyedByTheReaper),
        cmocka_unit_test(fullRingDestroysInPlace),
        cmocka_unit_test(realReportsBadContext),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
