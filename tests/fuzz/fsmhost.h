/* One state machine for the fuzz targets that need a store: opened once in
 * a temporary directory, closed and removed at exit. */
#ifndef QRAFT_FUZZ_FSMHOST_H
#define QRAFT_FUZZ_FSMHOST_H

#include "fsm/fsm.h"

/* The shared state machine, opened on first use (aborts if it cannot be:
 * a fuzz run without its target is worthless). */
struct fsm *fuzzFsm(void);

#endif /* QRAFT_FUZZ_FSMHOST_H */
