/* msgpack helpers for the simulator, the event trace, and the printer of
 * the operation history that a failure report shows. */
#include "tests/sim/sim.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

const msgpack_object *mpGet(const msgpack_object *m, const char *key)
{
    size_t len = strlen(key);
    uint32_t i;

    if (m == NULL || m->type != MSGPACK_OBJECT_MAP) {
        return NULL;
    }
    for (i = 0; i < m->via.map.size; i++) {
        const msgpack_object *k = &m->via.map.ptr[i].key;
        if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == len &&
            memcmp(k->via.str.ptr, key, len) == 0) {
            return &m->via.map.ptr[i].val;
        }
    }
    return NULL;
}

bool mpStr(const msgpack_object *o, char *out, size_t size)
{
    size_t n;

    out[0] = '\0';
    if (o == NULL || o->type != MSGPACK_OBJECT_STR) {
        return false;
    }
    n = o->via.str.size < size - 1 ? o->via.str.size : size - 1;
    memcpy(out, o->via.str.ptr, n);
    out[n] = '\0';
    return true;
}

bool mpStrEq(const msgpack_object *o, const char *s)
{
    return o != NULL && o->type == MSGPACK_OBJECT_STR && o->via.str.size == strlen(s) &&
           memcmp(o->via.str.ptr, s, o->via.str.size) == 0;
}

bool mpU64(const msgpack_object *o, uint64_t *v)
{
    if (o == NULL || o->type != MSGPACK_OBJECT_POSITIVE_INTEGER) {
        return false;
    }
    *v = o->via.u64;
    return true;
}

void mpPackStr(msgpack_packer *pk, const char *s)
{
    size_t n = strlen(s);
    msgpack_pack_str(pk, n);
    msgpack_pack_str_body(pk, s, n);
}

void mpReplyCode(const void *reply, size_t len, char *code, size_t size)
{
    msgpack_unpacked u;
    size_t off = 0;

    code[0] = '\0';
    msgpack_unpacked_init(&u);
    if (msgpack_unpack_next(&u, reply, len, &off) == MSGPACK_UNPACK_SUCCESS) {
        const msgpack_object *ok = mpGet(&u.data, "ok");
        if (ok == NULL || ok->type != MSGPACK_OBJECT_BOOLEAN || !ok->via.boolean) {
            if (!mpStr(mpGet(&u.data, "code"), code, size)) {
                snprintf(code, size, "?");
            }
        }
    } else {
        snprintf(code, size, "?");
    }
    msgpack_unpacked_destroy(&u);
}

void simEvent(struct sim *sim, const char *fmt, ...)
{
    struct simEvent *e;
    va_list ap;

    if (sim->n_events == sim->events_cap) {
        sim->events_cap = sim->events_cap ? sim->events_cap * 2 : 256;
        sim->events = realloc(sim->events, sim->events_cap * sizeof *sim->events);
    }
    e = &sim->events[sim->n_events++];
    e->time = sim->f.time;
    va_start(ap, fmt);
    vsnprintf(e->text, sizeof e->text, fmt, ap);
    va_end(ap);
    if (sim->p.verbose) {
        fprintf(stderr, "%8.3f %s\n", (double)e->time / 1000.0, e->text);
    }
}

/* Print @o compactly, at most @max characters. */
static void printObject(FILE *out, const msgpack_object *o, size_t max)
{
    char buf[4096];
    int n;

    n = msgpack_object_print_buffer(buf, sizeof buf, *o);
    if (n < 0) {
        n = 0;
    }
    buf[sizeof buf - 1] = '\0';
    if (strlen(buf) > max) {
        buf[max] = '\0';
        fprintf(out, "%s...", buf);
    } else {
        fprintf(out, "%s", buf);
    }
}

/* The client number of a client id, or -1. */
static int clientOf(struct sim *sim, uint64_t cid)
{
    unsigned i;

    for (i = 0; i < SIM_CLIENTS_MAX; i++) {
        if (sim->clients[i].id == cid && cid != 0) {
            return (int)i;
        }
    }
    return -1;
}

/* Print one command of an applied entry: @pos is "#index" or
 * "#index.k" for command k of a batch. */
static void printCommand(struct sim *sim, FILE *out, const char *pos, unsigned server,
                         const void *buf, size_t len, const void *reply, size_t reply_len)
{
    struct fsmCommand cmd;
    msgpack_unpacked u;
    size_t off = 0;

    if (fsmCommandDecode(buf, len, &cmd) != 0) {
        fprintf(out, "  %s undecodable command (%zu bytes)\n", pos, len);
        return;
    }
    fprintf(out, "  %s t=%.3fs s%u", pos, (double)(cmd.now_ms - SIM_EPOCH_MS) / 1000.0, server);
    if (cmd.client_id != 0) {
        fprintf(out, " c%d seq=%llu ack=%llu", clientOf(sim, cmd.client_id),
                (unsigned long long)cmd.seq, (unsigned long long)cmd.ack);
    }
    fprintf(out, " %s ", fsmOpName(cmd.op) ? fsmOpName(cmd.op) : "?");
    msgpack_unpacked_init(&u);
    if (cmd.args_len > 0 &&
        msgpack_unpack_next(&u, cmd.args, cmd.args_len, &off) == MSGPACK_UNPACK_SUCCESS) {
        printObject(out, &u.data, 300);
    }
    off = 0;
    fprintf(out, "\n      -> ");
    if (reply == NULL) {
        fprintf(out, "(no reply)");
    } else if (msgpack_unpack_next(&u, reply, reply_len, &off) == MSGPACK_UNPACK_SUCCESS) {
        printObject(out, &u.data, 2000);
    }
    fprintf(out, "\n");
    msgpack_unpacked_destroy(&u);
}

/* Print one applied entry, command by command. */
static void printEntry(struct sim *sim, FILE *out, raft_index index)
{
    struct simEntry *e = &sim->log[index];
    struct simCommands r;
    const void *cmd, *reply;
    size_t len, reply_len;
    char pos[48];

    simCommandsInit(&r, e->buf, e->len, e->reply, e->reply_len);
    if (r.is_batch) {
        fprintf(out, "  #%llu batch of %u commands\n", (unsigned long long)index, r.batch.left);
    }
    while (simCommandsNext(&r, &cmd, &len, &reply, &reply_len)) {
        if (r.is_batch) {
            snprintf(pos, sizeof pos, "#%llu.%u", (unsigned long long)index, r.k);
        } else {
            snprintf(pos, sizeof pos, "#%llu", (unsigned long long)index);
        }
        printCommand(sim, out, pos, e->server, cmd, len, reply, reply_len);
    }
}

void simPrintHistory(struct sim *sim, FILE *out, raft_index from, raft_index to)
{
    raft_time t0 = (raft_time)-1, t1 = 0;
    raft_index i;
    size_t k;

    if (to > sim->log_max) {
        to = sim->log_max;
    }
    for (i = from; i <= to; i++) {
        if (i < sim->log_cap && sim->log[i].set) {
            if (sim->log[i].time < t0) {
                t0 = sim->log[i].time;
            }
            if (sim->log[i].time > t1) {
                t1 = sim->log[i].time;
            }
        }
    }
    fprintf(out, "applied log #%llu..#%llu (t = state machine clock - epoch; "
            "sN = first server to apply; cN = client):\n",
            (unsigned long long)from, (unsigned long long)to);
    for (i = from; i <= to; i++) {
        if (i < sim->log_cap && sim->log[i].set) {
            printEntry(sim, out, i);
        }
    }
    if (t0 == (raft_time)-1) {
        t0 = t1 = sim->f.time;
    }
    t0 = t0 > 3000 ? t0 - 3000 : 0;
    t1 += 1000;
    fprintf(out, "cluster events %.3fs..%.3fs:\n", (double)t0 / 1000.0, (double)t1 / 1000.0);
    for (k = 0; k < sim->n_events; k++) {
        if (sim->events[k].time >= t0 && sim->events[k].time <= t1) {
            fprintf(out, "  %8.3fs %s\n", (double)sim->events[k].time / 1000.0,
                    sim->events[k].text);
        }
    }
}
