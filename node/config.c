/* qraftd's flags and config file. Every key of the file is a long flag
 * without its dashes; flags given on the command line win. */
#include "node/node.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/qraft.h"

static const char usage[] =
    "usage: qraftd --id N --data DIR --raft-addr HOST:PORT --client-addr HOST:PORT\n"
    "              [--zone NAME] [--cluster ID@ZONE@RAFTADDR@CLIENTADDR,...]\n"
    "              [--raft-bind HOST:PORT] [--client-bind HOST:PORT]\n"
    "              [--config FILE] [--election-timeout MS] [--heartbeat-timeout MS]\n"
    "              [--snapshot-threshold N] [--snapshot-trailing N] [--snapshot-log-max MIB]\n"
    "              [--session-idle S] [--max-frame BYTES] [--map-size MIB]\n"
    "              [--log-level debug|info|warn|error]\n"
    "              [--http-addr HOST:PORT] [--http-advertise HOST:PORT]\n"
    "              [--region NAME] [--credentials FILE] [--http-auth sigv4|none]\n"
    "\n"
    "  --cluster lists the initial voters; it bootstraps an empty data directory\n"
    "  and is ignored for bootstrap once the directory holds state (it still\n"
    "  tells the node its peers' zones and client addresses).\n"
    "  Raft addresses must be IPv4 dotted quads (libraft's TCP transport).\n"
    "  --raft-addr and --client-addr are what peers and clients are told;\n"
    "  --raft-bind and --client-bind, when given, are where the node listens.\n";

static int fail(char *errmsg, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(char *errmsg, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(errmsg, len, fmt, ap);
    va_end(ap);
    return -1;
}

static int parseUnsigned(const char *s, unsigned long long max, unsigned long long *out)
{
    char *end;
    unsigned long long v;

    if (s[0] < '0' || s[0] > '9') {
        return -1;
    }
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0' || v > max) {
        return -1;
    }
    *out = v;
    return 0;
}

static int copyString(char *dst, size_t cap, const char *src)
{
    size_t n = strlen(src);
    if (n == 0 || n >= cap) {
        return -1;
    }
    memcpy(dst, src, n + 1);
    return 0;
}

static int validAddr(const char *addr)
{
    const char *colon = strrchr(addr, ':');
    unsigned long long port;
    return colon != NULL && colon != addr && parseUnsigned(colon + 1, 65535, &port) == 0 &&
           port > 0;
}

/* A region name as AWS spells them: lower-case letters, digits, '-'. */
static int validRegion(const char *s)
{
    if (*s == '\0') {
        return 0;
    }
    for (; *s != '\0'; s++) {
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '-')) {
            return 0;
        }
    }
    return 1;
}

/* "ID@ZONE@RAFTADDR@CLIENTADDR,..." */
static int parseCluster(struct nodeConfig *c, const char *value, char *errmsg, size_t len)
{
    char buf[4096];
    char *save = NULL;
    char *item;

    if (strlen(value) >= sizeof buf) {
        return fail(errmsg, len, "--cluster: too long");
    }
    strcpy(buf, value);
    c->n_peers = 0;
    for (item = strtok_r(buf, ",", &save); item != NULL; item = strtok_r(NULL, ",", &save)) {
        struct nodePeer *p;
        char *fields[4];
        char *s = item;
        unsigned long long id;
        int i;
        size_t j;

        if (c->n_peers == NODE_PEERS_MAX) {
            return fail(errmsg, len, "--cluster: more than %d members", NODE_PEERS_MAX);
        }
        for (i = 0; i < 4; i++) {
            fields[i] = s;
            s = strchr(s, '@');
            if (i < 3) {
                if (s == NULL) {
                    return fail(errmsg, len,
                                "--cluster: '%s' is not ID@ZONE@RAFTADDR@CLIENTADDR", item);
                }
                *s++ = '\0';
            } else if (s != NULL) {
                return fail(errmsg, len, "--cluster: '%s' has too many '@'", item);
            }
        }
        p = &c->peers[c->n_peers];
        if (parseUnsigned(fields[0], UINT64_MAX, &id) != 0 || id == 0) {
            return fail(errmsg, len, "--cluster: bad id '%s'", fields[0]);
        }
        p->id = id;
        if (copyString(p->zone, sizeof p->zone, fields[1]) != 0 ||
            copyString(p->raft_addr, sizeof p->raft_addr, fields[2]) != 0 ||
            copyString(p->client_addr, sizeof p->client_addr, fields[3]) != 0 ||
            !validAddr(p->raft_addr) || !validAddr(p->client_addr)) {
            return fail(errmsg, len, "--cluster: bad member %llu", id);
        }
        for (j = 0; j < c->n_peers; j++) {
            if (c->peers[j].id == p->id) {
                return fail(errmsg, len, "--cluster: id %llu twice", id);
            }
        }
        c->n_peers++;
    }
    if (c->n_peers == 0) {
        return fail(errmsg, len, "--cluster: no members");
    }
    return 0;
}

/* Apply one key (a long flag without dashes). */
static int applyKey(struct nodeConfig *c,
                    const char *key,
                    const char *value,
                    char *errmsg,
                    size_t len)
{
    unsigned long long v;

#define UNSIGNED(NAME, FIELD, MIN, MAX, SCALE)                                         \
    if (strcmp(key, NAME) == 0) {                                                      \
        if (parseUnsigned(value, MAX, &v) != 0 || v + 1 < (MIN) + 1ull) {               \
            return fail(errmsg, len, "--%s: '%s' is not a number in %llu..%llu", NAME,  \
                        value, (unsigned long long)(MIN), (unsigned long long)(MAX));   \
        }                                                                              \
        c->FIELD = (__typeof__(c->FIELD))(v * (SCALE));                                 \
        return 0;                                                                      \
    }
    UNSIGNED("id", id, 1, UINT64_MAX, 1)
    UNSIGNED("election-timeout", election_timeout_ms, 100, 600000, 1)
    UNSIGNED("heartbeat-timeout", heartbeat_timeout_ms, 10, 60000, 1)
    UNSIGNED("snapshot-threshold", snapshot_threshold, 1, 100000000, 1)
    UNSIGNED("snapshot-trailing", snapshot_trailing, 0, 100000000, 1)
    UNSIGNED("snapshot-log-max", snapshot_log_max, 0, 1u << 20, 1u << 20)
    UNSIGNED("tick-interval", tick_interval_ms, 0, 3600000, 1)
    UNSIGNED("session-idle", session_idle_ms, 1, 30 * 86400, 1000)
    UNSIGNED("max-frame", max_frame, 1024, 64u << 20, 1)
    UNSIGNED("map-size", map_size, 16, 1u << 24, 1u << 20)
    /* For tests: the Nth log append reports a disk error, to show that
     * the node stops (fail-stop) instead of going on. */
    UNSIGNED("fault-append-after", fault_append_after, 0, UINT32_MAX, 1)
#undef UNSIGNED

#define STRING(NAME, FIELD, CHECK)                                                       \
    if (strcmp(key, NAME) == 0) {                                                        \
        if (copyString(c->FIELD, sizeof c->FIELD, value) != 0 || !(CHECK)) {             \
            return fail(errmsg, len, "--%s: bad value '%s'", NAME, value);                \
        }                                                                                \
        return 0;                                                                        \
    }
    STRING("zone", zone, 1)
    STRING("data", data_dir, 1)
    STRING("raft-addr", raft_addr, validAddr(value))
    STRING("client-addr", client_addr, validAddr(value))
    STRING("raft-bind", raft_bind, validAddr(value))
    STRING("client-bind", client_bind, validAddr(value))
    STRING("http-addr", http_addr, validAddr(value))
    STRING("http-advertise", http_advertise, validAddr(value))
    STRING("region", region, validRegion(value))
    STRING("credentials", credentials, 1)
#undef STRING

    if (strcmp(key, "http-auth") == 0) {
        if (strcmp(value, "sigv4") != 0 && strcmp(value, "none") != 0) {
            return fail(errmsg, len, "--http-auth: '%s' is not sigv4 or none", value);
        }
        c->http_auth_none = strcmp(value, "none") == 0;
        return 0;
    }

    if (strcmp(key, "cluster") == 0) {
        return parseCluster(c, value, errmsg, len);
    }
    if (strcmp(key, "log-level") == 0) {
        int level = nodeLogLevel(value);
        if (level < 0) {
            return fail(errmsg, len, "--log-level: '%s' is not debug, info, warn or error",
                        value);
        }
        c->log_level = level;
        return 0;
    }
    return fail(errmsg, len, "unknown option '%s'", key);
}

static char *trim(char *s)
{
    char *end;
    while (*s == ' ' || *s == '\t') {
        s++;
    }
    end = s + strlen(s);
    while (end > s && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\n' ||
                       end[-1] == '\r')) {
        *--end = '\0';
    }
    return s;
}

static int loadFile(struct nodeConfig *c, const char *path, char *errmsg, size_t len)
{
    char line[4200];
    unsigned lineno = 0;
    FILE *f = fopen(path, "r");

    if (f == NULL) {
        return fail(errmsg, len, "--config %s: %s", path, strerror(errno));
    }
    while (fgets(line, sizeof line, f) != NULL) {
        char *key;
        char *value;
        char *eq;
        char sub[256];

        lineno++;
        key = trim(line);
        if (key[0] == '\0' || key[0] == '#') {
            continue;
        }
        eq = strchr(key, '=');
        if (eq == NULL) {
            fclose(f);
            return fail(errmsg, len, "%s:%u: expected 'key = value'", path, lineno);
        }
        *eq = '\0';
        value = trim(eq + 1);
        key = trim(key);
        if (applyKey(c, key, value, sub, sizeof sub) != 0) {
            fclose(f);
            return fail(errmsg, len, "%s:%u: %s", path, lineno, sub);
        }
    }
    fclose(f);
    return 0;
}

static void defaults(struct nodeConfig *c)
{
    memset(c, 0, sizeof *c);
    strcpy(c->zone, "default");
    c->election_timeout_ms = 1000;
    c->heartbeat_timeout_ms = 100;
    c->snapshot_threshold = 8192;
    c->snapshot_trailing = 8192;
    c->snapshot_log_max = (size_t)512 << 20;
    c->tick_interval_ms = 10000;
    c->session_idle_ms = 3600u * 1000u;
    c->max_frame = QRAFT_FRAME_MAX_DEFAULT;
    c->map_size = (size_t)8 << 30;
    c->log_level = NODE_LOG_INFO;
    strcpy(c->region, "us-east-1");
}

int nodeConfigParse(struct nodeConfig *c,
                    int argc,
                    char **argv,
                    char *errmsg,
                    size_t len)
{
    int i;

    defaults(c);
    /* The file first, so that flags override it. */
    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--config") == 0) {
            if (i + 1 >= argc) {
                return fail(errmsg, len, "--config needs a value");
            }
            if (loadFile(c, argv[i + 1], errmsg, len) != 0) {
                return -1;
            }
        }
    }
    for (i = 1; i < argc; i++) {
        const char *arg = argv[i];
        const char *value;
        char key[64];
        const char *eq;

        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            fputs(usage, stdout);
            return 1;
        }
        if (strncmp(arg, "--", 2) != 0) {
            return fail(errmsg, len, "unexpected argument '%s'\n%s", arg, usage);
        }
        eq = strchr(arg, '=');
        if (eq != NULL) {
            snprintf(key, sizeof key, "%.*s", (int)(eq - arg - 2), arg + 2);
            value = eq + 1;
        } else {
            snprintf(key, sizeof key, "%s", arg + 2);
            if (i + 1 >= argc) {
                return fail(errmsg, len, "--%s needs a value", key);
            }
            value = argv[++i];
        }
        if (strcmp(key, "config") == 0) {
            continue;
        }
        if (applyKey(c, key, value, errmsg, len) != 0) {
            return -1;
        }
    }
    if (c->id == 0 || c->data_dir[0] == '\0' || c->raft_addr[0] == '\0' ||
        c->client_addr[0] == '\0') {
        return fail(errmsg, len, "--id, --data, --raft-addr and --client-addr are required\n%s",
                    usage);
    }
    if (c->http_advertise[0] == '\0') {
        memcpy(c->http_advertise, c->http_addr, sizeof c->http_advertise);
    }
    if (c->heartbeat_timeout_ms * 2 > c->election_timeout_ms) {
        return fail(errmsg, len,
                    "--heartbeat-timeout (%u) must be at most half of --election-timeout (%u)",
                    c->heartbeat_timeout_ms, c->election_timeout_ms);
    }
    return 0;
}
