/* The history file: every operation of every process, one line per event,
 * in the order the events happened (one mutex orders the lines and their
 * time stamps together, so that time never goes backwards in the file).
 * Each line is flushed as it is written: a harness that dies mid-run
 * still leaves a history the checker can read up to that point. */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jepsen/jepsen.h"

struct history
{
    FILE *f;
    pthread_mutex_t mu;
    uint64_t t0_ns;
};

static uint64_t monotonicNs(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int historyOpen(const char *path, const char *header, struct history **out, char *errmsg,
                size_t len)
{
    struct history *h = calloc(1, sizeof *h);

    *out = NULL;
    if (h == NULL) {
        snprintf(errmsg, len, "out of memory");
        return -1;
    }
    h->f = fopen(path, "w");
    if (h->f == NULL) {
        snprintf(errmsg, len, "%s: %s", path, strerror(errno));
        free(h);
        return -1;
    }
    pthread_mutex_init(&h->mu, NULL);
    h->t0_ns = monotonicNs();
    fprintf(h->f, "# %s\n", header);
    fflush(h->f);
    *out = h;
    return 0;
}

uint64_t historyNow(const struct history *h)
{
    return (monotonicNs() - h->t0_ns) / 1000u;
}

/* Fields are tab-separated: a tab or newline inside one would break the
 * line apart. */
static void writeField(FILE *f, const char *s)
{
    for (; *s != '\0'; s++) {
        fputc(*s == '\t' || *s == '\n' || *s == '\r' ? ' ' : *s, f);
    }
}

void historyAdd(struct history *h,
                const char *process,
                const char *type,
                const char *op,
                const char *value,
                const char *note)
{
    pthread_mutex_lock(&h->mu);
    fprintf(h->f, "%llu\t%s\t%s\t%s\t", (unsigned long long)historyNow(h), process, type, op);
    writeField(h->f, value != NULL && value[0] != '\0' ? value : "-");
    if (note != NULL && note[0] != '\0') {
        fputc('\t', h->f);
        writeField(h->f, note);
    }
    fputc('\n', h->f);
    fflush(h->f);
    pthread_mutex_unlock(&h->mu);
}

void historyAddf(struct history *h, const char *process, const char *type, const char *op,
                 const char *fmt, ...)
{
    char value[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(value, sizeof value, fmt, ap);
    va_end(ap);
    historyAdd(h, process, type, op, value, NULL);
}

uint64_t jepsenRandom(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

uint64_t jepsenNowMs(void)
{
    return monotonicNs() / 1000000u;
}

void jepsenSleepMs(unsigned ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

void historyClose(struct history *h)
{
    if (h == NULL) {
        return;
    }
    fclose(h->f);
    pthread_mutex_destroy(&h->mu);
    free(h);
}
