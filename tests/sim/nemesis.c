/* The nemesis: faults drawn from the seed, each in force for a while.
 *
 * Network faults overlap freely; the desired state (cut links, saturated
 * links, paused servers) is recomputed from the faults in force after every
 * change and pushed into the fixture (simNetworkApply). Process faults are
 * bounded so that a majority of the initial voters can always come back:
 * paused + fail-stopped + armed disk faults stay below half.
 *
 * Faults:
 *   cut      a pair of servers disconnected both ways
 *   zone     every link between one zone (index % 3) and the rest cut
 *   isolate  the leader cut from everyone
 *   kill     a server paused (the fixture's kill), then revived
 *   saturate one direction of a link drops everything
 *   netlat   one server's messages take 20 to 400 ms
 *   (disk latency is drawn per server at start and never changes: the
 *   fixture completes requests by time, and appends must stay in order)
 *   iofault  raft_fixture_io_fault: one of the next I/O calls fails; a
 *            failed append/truncate/term/vote stops that server for good
 *   timeout  new election timeouts (the fixture's are fixed per server)
 *   grow     (once, if the seed says so) a new server, made a voter
 */
#include "tests/sim/sim.h"

#include <string.h>

enum {
    F_CUT = 1,
    F_ZONE,
    F_ISOLATE,
    F_KILL,
    F_SATURATE,
    F_NETLAT,
    F_IOFAULT
};

static const char *const faultNames[] = {"", "cut", "zone", "isolate", "kill",
                                         "saturate", "netlat", "iofault"};

/* How many servers may be down at once (paused, stopped, or armed). */
static unsigned maxDown(struct sim *sim)
{
    return (sim->p.n_servers - 1) / 2;
}

static unsigned countDown(struct sim *sim)
{
    unsigned i, n = 0;

    for (i = 0; i < sim->n; i++) {
        if (sim->servers[i].stopped) {
            n++;
        }
    }
    for (i = 0; i < sim->n_faults; i++) {
        if (sim->faults[i].kind == F_KILL || sim->faults[i].kind == F_IOFAULT) {
            n++;
        }
    }
    return n;
}

/* Recompute the network state from the faults in force. */
static void recompute(struct sim *sim)
{
    unsigned i, j, k;

    memset(sim->cut, 0, sizeof sim->cut);
    memset(sim->saturated, 0, sizeof sim->saturated);
    for (i = 0; i < sim->n; i++) {
        sim->servers[i].killed = false;
    }
    for (k = 0; k < sim->n_faults; k++) {
        struct simFault *f = &sim->faults[k];
        switch (f->kind) {
            case F_CUT:
                sim->cut[f->a][f->b] = sim->cut[f->b][f->a] = true;
                break;
            case F_ZONE:
                for (i = 0; i < sim->n; i++) {
                    for (j = 0; j < sim->n; j++) {
                        if ((sim->servers[i].zone == f->a) != (sim->servers[j].zone == f->a)) {
                            sim->cut[i][j] = true;
                        }
                    }
                }
                break;
            case F_ISOLATE:
                for (j = 0; j < sim->n; j++) {
                    sim->cut[f->a][j] = sim->cut[j][f->a] = true;
                }
                break;
            case F_KILL:
                sim->servers[f->a].killed = true;
                break;
            case F_SATURATE:
                sim->saturated[f->a][f->b] = true;
                break;
            default:
                break;
        }
    }
    simNetworkApply(sim);
}

/* Undo the side effects of fault @k that recompute() does not cover. */
static void undo(struct sim *sim, struct simFault *f)
{
    switch (f->kind) {
        case F_NETLAT:
            raft_fixture_set_network_latency(&sim->f, f->a, 15);
            break;
        case F_IOFAULT:
            raft_fixture_io_fault(&sim->f, f->a, -1, 0);
            break;
        default:
            break;
    }
    simEvent(sim, "nemesis: end %s %u %u", faultNames[f->kind], f->a, f->b);
}

static void addFault(struct sim *sim, int kind, unsigned a, unsigned b, unsigned ms)
{
    struct simFault *f;

    if (sim->n_faults == SIM_NEMESIS_MAX) {
        return;
    }
    f = &sim->faults[sim->n_faults++];
    f->kind = kind;
    f->a = a;
    f->b = b;
    f->until = sim->f.time + ms;
    simEvent(sim, "nemesis: %s %u %u for %u ms", faultNames[kind], a, b, ms);
}

/* A server index other than @not (sim->n means any). */
static unsigned pickOther(struct sim *sim, unsigned not)
{
    unsigned i = simRandN(&sim->rng, sim->n - 1);
    return i >= not ? i + 1 : i;
}

static void startFault(struct sim *sim)
{
    unsigned n = sim->n;
    unsigned a = simRandN(&sim->rng, n);
    unsigned b = pickOther(sim, a);
    unsigned ms = 300 + simRandN(&sim->rng, 5700);
    unsigned roll = simRandN(&sim->rng, 100);
    unsigned leader;

    if (roll < 18) {
        addFault(sim, F_CUT, a, b, ms);
    } else if (roll < 28) {
        addFault(sim, F_ZONE, simRandN(&sim->rng, 3), 0, ms);
    } else if (roll < 40) {
        leader = simReadyLeader(sim);
        if (leader < n) {
            addFault(sim, F_ISOLATE, leader, 0, ms);
        }
    } else if (roll < 54) {
        if (countDown(sim) < maxDown(sim) && !sim->servers[a].stopped) {
            addFault(sim, F_KILL, a, 0, ms);
        }
    } else if (roll < 64) {
        addFault(sim, F_SATURATE, a, b, ms);
    } else if (roll < 72) {
        unsigned lat = 20 + simRandN(&sim->rng, 380);
        raft_fixture_set_network_latency(&sim->f, a, lat);
        addFault(sim, F_NETLAT, a, lat, ms);
    } else if (roll < 83) {
        if (countDown(sim) < maxDown(sim) && !sim->servers[a].stopped) {
            unsigned delay = simRandN(&sim->rng, 30);
            raft_fixture_io_fault(&sim->f, a, (int)delay, 1);
            addFault(sim, F_IOFAULT, a, delay, ms);
        }
    } else if (roll < 94) {
        raft_fixture_set_randomized_election_timeout(&sim->f, a,
                                                     1000 + simRandN(&sim->rng, 1500));
    } else if (sim->p.grow && sim->grow_index == 0 && sim->n_faults == 0) {
        if (simGrow(sim) != 0) {
            sim->p.grow = false;
        }
    }
    recompute(sim);
}

void simNemesisTick(struct sim *sim)
{
    unsigned k = 0;
    bool changed = false;

    while (k < sim->n_faults) {
        if (sim->faults[k].until <= sim->f.time) {
            undo(sim, &sim->faults[k]);
            sim->faults[k] = sim->faults[--sim->n_faults];
            changed = true;
        } else {
            k++;
        }
    }
    if (changed) {
        recompute(sim);
    }
    /* DESIGN.md: no membership change while partitioned (canonical/raft
     * #250, #386, #429): while the grown server is being added, no new
     * fault starts. */
    if (sim->grow_index != 0 && !sim->grow_done) {
        return;
    }
    if (simChance(&sim->rng, sim->p.nemesis_rate)) {
        startFault(sim);
    }
}

void simNemesisHeal(struct sim *sim)
{
    unsigned i;

    while (sim->n_faults > 0) {
        undo(sim, &sim->faults[--sim->n_faults]);
    }
    for (i = 0; i < sim->n; i++) {
        raft_fixture_set_network_latency(&sim->f, i, 15);
        raft_fixture_io_fault(&sim->f, i, -1, 0);
    }
    recompute(sim);
    simEvent(sim, "nemesis: healed");
}
