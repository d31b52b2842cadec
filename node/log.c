/* Structured log lines on stderr, one per event:
 *
 *   2026-11-24T06:30:00.123Z info node=1 msg="leader ready" term=3
 *
 * Written with one write(2) per line so that lines from a crash are whole. */
#include "node/node.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static uint64_t logNodeId;
static int logLevel = NODE_LOG_INFO;

static const char *levelNames[] = {"debug", "info", "warn", "error"};

void nodeLogSetup(uint64_t id, int level)
{
    logNodeId = id;
    logLevel = level;
}

int nodeLogLevel(const char *name)
{
    int i;
    for (i = 0; i < 4; i++) {
        if (strcmp(name, levelNames[i]) == 0) {
            return i;
        }
    }
    return -1;
}

void nodeLog(int level, const char *msg, const char *fmt, ...)
{
    char line[1024];
    struct timespec ts;
    struct tm tm;
    size_t n;
    va_list ap;
    int w;

    if (level < logLevel || level < 0 || level > NODE_LOG_ERROR) {
        return;
    }
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    n = strftime(line, sizeof line, "%Y-%m-%dT%H:%M:%S", &tm);
    w = snprintf(line + n, sizeof line - n, ".%03ldZ %s node=%llu msg=\"%s\"",
                 ts.tv_nsec / 1000000, levelNames[level], (unsigned long long)logNodeId, msg);
    if (w > 0) {
        n += (size_t)w < sizeof line - n ? (size_t)w : sizeof line - n - 1;
    }
    if (fmt != NULL && fmt[0] != '\0' && n < sizeof line - 2) {
        line[n++] = ' ';
        va_start(ap, fmt);
        w = vsnprintf(line + n, sizeof line - n, fmt, ap);
        va_end(ap);
        if (w > 0) {
            n += (size_t)w < sizeof line - n ? (size_t)w : sizeof line - n - 1;
        }
    }
    if (n >= sizeof line - 1) {
        n = sizeof line - 2;
    }
    line[n++] = '\n';
    if (write(STDERR_FILENO, line, n) < 0) {
        /* nowhere left to report it */
    }
}
