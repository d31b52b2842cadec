/* qraft cluster status: one row per node, each asked alone.
 *
 * The nodes asked are every -s address, then every member of the first
 * answer's configuration not seen yet. A node that does not answer shows
 * "unavailable", with its id, zone and role as the answering nodes' member
 * lists give them (or "-" / null when none does).
 */
#include "client/cli.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Error of the last node that did not answer. */
static char cliStatusLastErr[256];

/* Index of the row of @addr, or -1. */
static int cliStatusFindAddr(struct cliNode *nodes, int n, const char *addr)
{
    int i;
    for (i = 0; i < n; i++) {
        if (strcmp(nodes[i].addr, addr) == 0) {
            return i;
        }
    }
    return -1;
}

/* Ask @addr and add a row, unless asked already. */
static void cliStatusAsk(struct cliNode *nodes, int *n, const char *addr,
                         int ms)
{
    struct cliNode *row;
    char err[256];
    if (*n >= CLI_NODES_MAX || cliStatusFindAddr(nodes, *n, addr) >= 0) {
        return;
    }
    row = &nodes[(*n)++];
    memset(row, 0, sizeof *row);
    snprintf(row->addr, sizeof row->addr, "%s", addr);
    if (qraft_node_status(addr, ms, &row->st, err, sizeof err) == 0) {
        row->up = true;
        row->known = true;
        row->id = row->st.id;
    } else {
        /* Nothing of a failed answer is kept: zone and role may come from
         * another node's member list (cliStatusFill). */
        memset(&row->st, 0, sizeof row->st);
        snprintf(cliStatusLastErr, sizeof cliStatusLastErr, "%s", err);
    }
}

/* Sort rows by id, unknown ids last (by address). */
static int cliStatusCmp(const void *x, const void *y)
{
    const struct cliNode *a = x;
    const struct cliNode *b = y;
    if (a->known != b->known) {
        return a->known ? -1 : 1;
    }
    if (a->known && a->id != b->id) {
        return a->id < b->id ? -1 : 1;
    }
    return strcmp(a->addr, b->addr);
}

/* A number or "-". */
static void cliStatusNum(char *buf, size_t len, bool up, uint64_t v)
{
    if (up) {
        snprintf(buf, len, "%" PRIu64, v);
    } else {
        snprintf(buf, len, "-");
    }
}

/* Print @s as a JSON string, or null if empty. */
static void cliStatusJsonOrNull(const char *s)
{
    if (s[0] == '\0') {
        fputs("null", stdout);
    } else {
        cliJsonStr(stdout, s, strlen(s));
    }
}

/* Print the rows as JSON lines. */
static void cliStatusJson(const struct cliNode *nodes, int n)
{
    int i;
    for (i = 0; i < n; i++) {
        const struct cliNode *r = &nodes[i];
        if (r->known) {
            printf("{\"id\":%" PRIu64 ",", r->id);
        } else {
            printf("{\"id\":null,");
        }
        if (r->up) {
            printf("\"zone\":");
            cliJsonStr(stdout, r->st.zone, strlen(r->st.zone));
            printf(",\"role\":");
            cliJsonStr(stdout, r->st.role, strlen(r->st.role));
            printf(",\"state\":");
            cliJsonStr(stdout, r->st.state, strlen(r->st.state));
            printf(",\"term\":%" PRIu64 ",\"last_index\":%" PRIu64
                   ",\"applied\":%" PRIu64 ",\"leader\":%" PRIu64
                   ",\"digest\":",
                   r->st.term, r->st.last_index, r->st.applied_index,
                   r->st.leader_id);
            cliJsonStr(stdout, r->st.digest, strlen(r->st.digest));
        } else {
            /* Zone and role as another node's member list gives them. */
            printf("\"zone\":");
            cliStatusJsonOrNull(r->st.zone);
            printf(",\"role\":");
            cliStatusJsonOrNull(r->st.role);
            printf(",\"state\":\"unavailable\","
                   "\"term\":null,\"last_index\":null,\"applied\":null,"
                   "\"leader\":null,\"digest\":null");
        }
        printf(",\"addr\":");
        cliJsonStr(stdout, r->addr, strlen(r->addr));
        printf("}\n");
    }
}

/* Number of columns of the status table. */
#define CLI_STATUS_COLS 9

/* Print the rows as an aligned table with a header. */
static void cliStatusTable(const struct cliNode *nodes, int n)
{
    static const char *const head[CLI_STATUS_COLS] = {
        "ID",         "ZONE",    "ROLE",   "STATE", "TERM",
        "LAST_INDEX", "APPLIED", "LEADER", "DIGEST"};
    char cells[CLI_NODES_MAX][CLI_STATUS_COLS][72];
    size_t width[CLI_STATUS_COLS];
    int i;
    int j;
    for (j = 0; j < CLI_STATUS_COLS; j++) {
        width[j] = strlen(head[j]);
    }
    for (i = 0; i < n; i++) {
        const struct cliNode *r = &nodes[i];
        bool up = r->up;
        cliStatusNum(cells[i][0], sizeof cells[i][0], r->known, r->id);
        /* Zone and role of a down node come from a member list. */
        snprintf(cells[i][1], sizeof cells[i][1], "%s",
                 r->st.zone[0] ? r->st.zone : "-");
        snprintf(cells[i][2], sizeof cells[i][2], "%s",
                 r->st.role[0] ? r->st.role : "-");
        snprintf(cells[i][3], sizeof cells[i][3], "%s",
                 up ? r->st.state : "unavailable");
        cliStatusNum(cells[i][4], sizeof cells[i][4], up, r->st.term);
        cliStatusNum(cells[i][5], sizeof cells[i][5], up, r->st.last_index);
        cliStatusNum(cells[i][6], sizeof cells[i][6], up,
                     r->st.applied_index);
        cliStatusNum(cells[i][7], sizeof cells[i][7],
                     up && r->st.leader_id != 0, r->st.leader_id);
        snprintf(cells[i][8], sizeof cells[i][8], "%s",
                 up && r->st.digest[0] ? r->st.digest : "-");
        for (j = 0; j < CLI_STATUS_COLS; j++) {
            size_t w = strlen(cells[i][j]);
            width[j] = w > width[j] ? w : width[j];
        }
    }
    for (i = -1; i < n; i++) {
        for (j = 0; j < CLI_STATUS_COLS; j++) {
            const char *cell = i < 0 ? head[j] : cells[i][j];
            if (j + 1 < CLI_STATUS_COLS) {
                printf("%-*s  ", (int)width[j], cell);
            } else {
                printf("%s\n", cell);
            }
        }
    }
}

/* qraft cluster status. */
int cliClusterStatus(const struct cliArgs *a)
{
    static struct cliNode nodes[CLI_NODES_MAX];
    struct qraft_node_status members;
    char addr[128];
    const char *p = a->servers;
    const char *comma;
    size_t len;
    bool haveMembers = false;
    int ms = a->timeoutMs > 0 ? a->timeoutMs : CLI_STATUS_TIMEOUT;
    int n = 0;
    int up = 0;
    int i;
    size_t m;

    /* Every -s address, in order; the first answer gives the members. */
    for (;; p = comma + 1) {
        comma = strchr(p, ',');
        len = comma != NULL ? (size_t)(comma - p) : strlen(p);
        if (len > 0 && len < sizeof addr) {
            memcpy(addr, p, len);
            addr[len] = '\0';
            cliStatusAsk(nodes, &n, addr, ms);
            i = cliStatusFindAddr(nodes, n, addr);
            if (!haveMembers && i >= 0 && nodes[i].up) {
                members = nodes[i].st;
                haveMembers = true;
            }
        }
        if (comma == NULL) {
            break;
        }
    }
    /* Every member's client address. */
    for (m = 0; haveMembers && m < members.n_members; m++) {
        const struct qraft_member *mem = &members.members[m];
        bool seen = false;
        for (i = 0; i < n; i++) {
            seen = seen || (nodes[i].known && nodes[i].id == mem->id);
        }
        if (seen) {
            continue;
        }
        if (mem->client_addr[0] != '\0') {
            cliStatusAsk(nodes, &n, mem->client_addr, ms);
            i = cliStatusFindAddr(nodes, n, mem->client_addr);
        } else {
            i = -1;
        }
        if (i >= 0 && !nodes[i].known) {
            nodes[i].known = true; /* unreachable: id from the config */
            nodes[i].id = mem->id;
        } else if (i < 0 && n < CLI_NODES_MAX) {
            memset(&nodes[n], 0, sizeof nodes[n]);
            nodes[n].known = true;
            nodes[n].id = mem->id;
            n++;
        }
    }
    /* Rows that did not answer: an unreachable -s address that is a
     * member's gets that id, and every such row with a known id gets the
     * zone and role that the members lists give. */
    cliStatusFill(nodes, n);
    for (i = 0; i < n; i++) {
        up += nodes[i].up;
    }
    qsort(nodes, (size_t)n, sizeof nodes[0], cliStatusCmp);
    if (a->json) {
        cliStatusJson(nodes, n);
    } else {
        cliStatusTable(nodes, n);
    }
    if (up == 0) {
        fprintf(stderr, "qraft: Unavailable: no node answered (last: %s)\n",
                cliStatusLastErr);
        return 1;
    }
    return 0;
}
