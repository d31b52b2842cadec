/* libFuzzer entry points of qraft's decoders. Each fuzz_*.c defines
 * LLVMFuzzerTestOneInput (and may define LLVMFuzzerInitialize); `make fuzz`
 * links it with libFuzzer, and `make test` links it with replay.c, which
 * runs every file of its corpus and of its crash directory through it. */
#ifndef QRAFT_FUZZ_H
#define QRAFT_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#endif /* QRAFT_FUZZ_H */
