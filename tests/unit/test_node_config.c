/* qraftd's flags (node/config.c), the memory ones: --snapshot-log-max.
 *
 * Each case parses a full command line (the required flags plus the one
 * under test) and checks the value that reaches struct nodeConfig, or that
 * a bad value is refused with a sentence that names the flag and its
 * range. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "node/node.h"

/* Parse the required flags plus @flag @value (both may be NULL). */
static int parseWith(struct nodeConfig *c, const char *flag, const char *value, char *errmsg)
{
    char *argv[16] = {"qraftd", "--id", "1", "--data", "/tmp/qraft-config-test",
                      "--raft-addr", "127.0.0.1:1", "--client-addr", "127.0.0.1:2"};
    int argc = 9;

    if (flag != NULL) {
        argv[argc++] = (char *)flag;
        argv[argc++] = (char *)value;
    }
    errmsg[0] = '\0';
    return nodeConfigParse(c, argc, argv, errmsg, 256);
}

/* 512 MiB unless told otherwise. */
static void test_snapshot_log_max_default(void **state)
{
    struct nodeConfig c;
    char errmsg[256];
    (void)state;

    assert_int_equal(parseWith(&c, NULL, NULL, errmsg), 0);
    assert_true(c.snapshot_log_max == (size_t)512 << 20);
}

/* In MiB, from 0 (no bound) to 1,048,576 (1 TiB), both ends included. */
static void test_snapshot_log_max_limits(void **state)
{
    struct nodeConfig c;
    char errmsg[256];
    (void)state;

    assert_int_equal(parseWith(&c, "--snapshot-log-max", "0", errmsg), 0);
    assert_true(c.snapshot_log_max == 0);
    assert_int_equal(parseWith(&c, "--snapshot-log-max", "1", errmsg), 0);
    assert_true(c.snapshot_log_max == (size_t)1 << 20);
    assert_int_equal(parseWith(&c, "--snapshot-log-max", "1048576", errmsg), 0);
    assert_true(c.snapshot_log_max == (size_t)1 << 40);
}

/* Past the top, negative, not a number, empty, trailing junk: refused,
 * and the message names the flag and its range. */
static void test_snapshot_log_max_refused(void **state)
{
    static const char *const bad[] = {"1048577", "-1", "lots", "", "64M", "99999999999999999999"};
    struct nodeConfig c;
    char errmsg[256];
    size_t i;
    (void)state;

    for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(parseWith(&c, "--snapshot-log-max", bad[i], errmsg), -1);
        assert_non_null(strstr(errmsg, "--snapshot-log-max"));
        assert_non_null(strstr(errmsg, "0..1048576"));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_snapshot_log_max_default),
        cmocka_unit_test(test_snapshot_log_max_limits),
        cmocka_unit_test(test_snapshot_log_max_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
