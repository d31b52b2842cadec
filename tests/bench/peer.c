/* The peer broker's figures, read back from the file peer_rabbit wrote
 * (tests/bench/run runs it before qraft's cluster starts), so that the
 * table prints them beside ours with the ratio qraft/peer.
 *
 * The file, one record a line:
 *   info <JSON members: version, config>
 *   row <id> <msgs_s> <mb_s> <p50> <p90> <p99> <p999> <max> <n> <errors> <name>
 *   skipped <why the peer did not run>
 * The happy path: info, then one row per peer scenario. Failure modes: no
 * file or an unreadable line: the peer is left out (peerSkipped says
 * why), qraft's rows are unaffected. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/bench/bench.h"

#define PEER_ROWS_MAX 16

static struct row peer_rows[PEER_ROWS_MAX];
static unsigned n_peer_rows;
static char peer_info[1024];
static char peer_skipped[256];

int peerLoad(void)
{
    if (opt.peer == NULL) {
        snprintf(peer_skipped, sizeof peer_skipped, "PEER=0");
        return 0;
    }
    FILE *f = fopen(opt.peer, "r");
    if (f == NULL) {
        snprintf(peer_skipped, sizeof peer_skipped, "no peer results (%s)", opt.peer);
        return 0;
    }
    char line[2048];
    while (fgets(line, sizeof line, f) != NULL) {
        line[strcspn(line, "\n")] = '\0';
        if (strncmp(line, "info ", 5) == 0) {
            snprintf(peer_info, sizeof peer_info, "%s", line + 5);
        } else if (strncmp(line, "skipped ", 8) == 0) {
            snprintf(peer_skipped, sizeof peer_skipped, "%s", line + 8);
        } else if (strncmp(line, "row ", 4) == 0 && n_peer_rows < PEER_ROWS_MAX) {
            struct row *r = &peer_rows[n_peer_rows];
            unsigned long long n, errors;
            int used = 0;
            memset(r, 0, sizeof *r);
            if (sscanf(line + 4, "%7s %lf %lf %lf %lf %lf %lf %lf %llu %llu %n", r->id,
                       &r->msgs_s, &r->mb_s, &r->p50_ms, &r->p90_ms, &r->p99_ms, &r->p999_ms,
                       &r->max_ms, &n, &errors, &used) == 10) {
                snprintf(r->name, sizeof r->name, "%s", line + 4 + used);
                r->n = n;
                r->errors = errors;
                r->measured = n > 0;
                r->has_lat = r->p50_ms > 0;
                n_peer_rows++;
            }
        }
    }
    fclose(f);
    if (n_peer_rows == 0 && peer_skipped[0] == '\0') {
        snprintf(peer_skipped, sizeof peer_skipped, "the peer measured nothing");
    }
    return (int)n_peer_rows;
}

const struct row *peerRow(const char *id)
{
    for (unsigned i = 0; i < n_peer_rows; i++) {
        if (strcmp(peer_rows[i].id, id) == 0 && peer_rows[i].measured) {
            return &peer_rows[i];
        }
    }
    return NULL;
}

const char *peerInfo(void)
{
    return peer_info;
}

const char *peerSkipped(void)
{
    return peer_skipped;
}
