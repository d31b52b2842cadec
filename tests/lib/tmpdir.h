/* Temporary directories for tests: one per test, removed with everything in
 * it at the end. */
#ifndef QRAFT_TESTS_TMPDIR_H
#define QRAFT_TESTS_TMPDIR_H

/* Create a fresh directory /tmp/qraft-test-XXXXXX. Returns its path
 * (malloc'd, released by tmpdirRemove) or NULL on failure. */
char *tmpdirMake(void);

/* Remove @dir and everything under it, then free the path. NULL is a
 * no-op. */
void tmpdirRemove(char *dir);

#endif /* QRAFT_TESTS_TMPDIR_H */
