/* The qraft CLI against a real 3-node cluster: every command once, its
 * output and its exit status (0 ok, 1 refused, 2 usage). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "tests/integration/cluster.h"

#define FLAGS "--election-timeout 1000 --heartbeat-timeout 100 --tick-interval 0"

static struct testCluster cluster;

static int setup(void **state)
{
    (void)state;
    if (testClusterStart(&cluster, 3, 18200, FLAGS, 30000) != 0) {
        return -1;
    }
    return setenv("QRAFT_SERVERS", cluster.servers, 1);
}

static int teardown(void **state)
{
    (void)state;
    testClusterStop(&cluster, true);
    return 0;
}

/* Run `bin/qraft ARGS` (a shell word list; stderr joins stdout), bounded by
 * timeout(1). Returns the exit status; the output goes to @out. */
static int qraft(char *out, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int qraft(char *out, size_t cap, const char *fmt, ...)
{
    char args[2048];
    char cmd[2200];
    size_t n = 0;
    va_list ap;
    FILE *p;
    int status;

    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    snprintf(cmd, sizeof cmd, "timeout 30 bin/qraft %s 2>&1", args);
    p = popen(cmd, "r");
    assert_non_null(p);
    while (n + 1 < cap) {
        size_t got = fread(out + n, 1, cap - 1 - n, p);
        if (got == 0) {
            break;
        }
        n += got;
    }
    out[n] = '\0';
    status = pclose(p);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* The first field (up to a tab or newline) of line @k of @text. */
static void field(const char *text, int k, int f, char *dst, size_t cap)
{
    const char *p = text;
    size_t i = 0;

    while (k-- > 0 && (p = strchr(p, '\n')) != NULL) {
        p++;
    }
    assert_non_null(p);
    while (f-- > 0 && (p = strpbrk(p, "\t\n")) != NULL && *p == '\t') {
        p++;
    }
    assert_non_null(p);
    while (p[i] != '\0' && p[i] != '\t' && p[i] != '\n' && i + 1 < cap) {
        dst[i] = p[i];
        i++;
    }
    dst[i] = '\0';
}

static void test_queue_commands(void **state)
{
    char out[8192];
    (void)state;

    assert_int_equal(qraft(out, sizeof out, "queue create cli-dlq"), 0);
    assert_int_equal(qraft(out, sizeof out,
                           "queue create cli-work --visibility-timeout 5 --retention 600 "
                           "--delay 0 --max-size 2048 --wait 0 --dlq cli-dlq --max-receives 3 "
                           "--tag team=ops"),
                     0);
    assert_int_equal(qraft(out, sizeof out, "queue attrs cli-work"), 0);
    assert_non_null(strstr(out, "VisibilityTimeout=5\n"));
    assert_non_null(strstr(out, "MessageRetentionPeriod=600\n"));
    assert_non_null(strstr(out, "MaximumMessageSize=2048\n"));
    assert_non_null(strstr(out, "\"maxReceiveCount\":3"));
    assert_int_equal(qraft(out, sizeof out, "queue set cli-work VisibilityTimeout=7"), 0);
    assert_int_equal(qraft(out, sizeof out, "--json queue attrs cli-work"), 0);
    assert_non_null(strstr(out, "\"VisibilityTimeout\":\"7\""));
    assert_int_equal(qraft(out, sizeof out, "queue tags cli-work"), 0);
    assert_string_equal(out, "team=ops\n");
    assert_int_equal(qraft(out, sizeof out, "queue tag cli-work env=test"), 0);
    assert_int_equal(qraft(out, sizeof out, "queue untag cli-work team"), 0);
    assert_int_equal(qraft(out, sizeof out, "queue tags cli-work"), 0);
    assert_string_equal(out, "env=test\n");
    assert_int_equal(qraft(out, sizeof out, "queue list --prefix cli-"), 0);
    assert_string_equal(out, "cli-dlq\ncli-work\n");
    /* refused by the cluster: exit 1 and one line naming the error */
    assert_int_equal(qraft(out, sizeof out, "queue create 'bad name'"), 1);
    assert_non_null(strstr(out, "qraft: InvalidParameterValue: "));
    assert_int_equal(qraft(out, sizeof out, "queue set cli-work VisibilityTimeout=43201"), 1);
    assert_non_null(strstr(out, "InvalidAttributeValue"));
    assert_int_equal(qraft(out, sizeof out, "queue attrs nosuchqueue"), 1);
    assert_non_null(strstr(out, "qraft: QueueDoesNotExist: "));
    /* usage errors: exit 2 */
    assert_int_equal(qraft(out, sizeof out, "queue frobnicate x"), 2);
    assert_int_equal(qraft(out, sizeof out, "recv"), 2);
}

static void test_message_commands(void **state)
{
    char out[8192];
    char receipt[256];
    char id[64];
    (void)state;

    assert_int_equal(qraft(out, sizeof out, "queue create cli-msg --visibility-timeout 30"), 0);
    assert_int_equal(qraft(out, sizeof out, "send cli-msg 'hello world' --attr color=blue "
                                            "--attr n:Number=3 --attr b:Binary=AAEC"),
                     0);
    field(out, 0, 0, id, sizeof id);
    assert_int_equal(strlen(id), 36);
    assert_int_equal(qraft(out, sizeof out, "--json recv cli-msg --max 10 --visibility 1"), 0);
    assert_non_null(strstr(out, "\"Body\":\"hello world\""));
    assert_non_null(strstr(out, "\"color\":{\"DataType\":\"String\",\"StringValue\":\"blue\"}"));
    assert_non_null(strstr(out, "\"BinaryValue\":\"AAEC\""));
    assert_non_null(strstr(out, "\"ApproximateReceiveCount\":\"1\""));
    /* visible again after 1 s; a long poll of 3 s gets it */
    assert_int_equal(qraft(out, sizeof out, "recv cli-msg --wait 3"), 0);
    field(out, 0, 0, id, sizeof id);
    field(out, 0, 1, receipt, sizeof receipt);
    field(out, 0, 2, id, sizeof id);
    assert_string_equal(id, "2");
    assert_int_equal(qraft(out, sizeof out, "visibility cli-msg %s 0", receipt), 0);
    assert_int_equal(qraft(out, sizeof out, "recv cli-msg"), 0);
    field(out, 0, 1, receipt, sizeof receipt);
    assert_int_equal(qraft(out, sizeof out, "delete cli-msg %s", receipt), 0);
    assert_int_equal(qraft(out, sizeof out, "recv cli-msg"), 0);
    assert_string_equal(out, "");
    /* a stale or malformed receipt: exit 1 */
    assert_int_equal(qraft(out, sizeof out, "delete cli-msg not-a-receipt"), 1);
    assert_non_null(strstr(out, "ReceiptHandleIsInvalid"));
    /* stdin body; then purge */
    {
        char path[] = "/tmp/qraft-cli-body-XXXXXX";
        int fd = mkstemp(path);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, "from stdin", 10), 10);
        close(fd);
        assert_int_equal(qraft(out, sizeof out, "send cli-msg - < %s", path), 0);
        unlink(path);
    }
    assert_int_equal(qraft(out, sizeof out, "queue purge cli-msg"), 0);
    assert_int_equal(qraft(out, sizeof out, "queue purge cli-msg"), 1);
    assert_non_null(strstr(out, "PurgeQueueInProgress"));
    assert_int_equal(qraft(out, sizeof out, "recv cli-msg"), 0);
    assert_string_equal(out, "");
}

static void test_fifo_and_redrive(void **state)
{
    char out[8192];
    char first[128];
    char again[128];
    char receipt[256];
    int i;
    (void)state;

    assert_int_equal(qraft(out, sizeof out, "queue create cli.fifo --fifo --content-dedup"), 0);
    assert_int_equal(qraft(out, sizeof out, "send cli.fifo one --group g"), 0);
    field(out, 0, 0, first, sizeof first);
    assert_int_equal(qraft(out, sizeof out, "send cli.fifo one --group g"), 0);
    field(out, 0, 0, again, sizeof again);
    assert_string_equal(first, again); /* deduplicated */
    assert_int_equal(qraft(out, sizeof out, "send cli.fifo two --group g"), 0);
    assert_int_equal(qraft(out, sizeof out, "send cli.fifo three"), 1);
    assert_non_null(strstr(out, "MissingParameter"));
    assert_int_equal(qraft(out, sizeof out, "send cli.fifo late --group g --delay 5"), 1);
    assert_int_equal(qraft(out, sizeof out, "recv cli.fifo --max 1"), 0);
    field(out, 0, 3, first, sizeof first);
    assert_string_equal(first, "one");
    /* the group is locked while "one" is in flight */
    assert_int_equal(qraft(out, sizeof out, "recv cli.fifo --max 10"), 0);
    assert_string_equal(out, "");

    /* DLQ: three receives, then the message moves; redrive brings it back */
    assert_int_equal(qraft(out, sizeof out, "queue create cli-rd-dlq"), 0);
    assert_int_equal(qraft(out, sizeof out,
                           "queue create cli-rd --dlq cli-rd-dlq --max-receives 2"),
                     0);
    assert_int_equal(qraft(out, sizeof out, "send cli-rd poison"), 0);
    for (i = 0; i < 2; i++) {
        assert_int_equal(qraft(out, sizeof out, "recv cli-rd --visibility 1"), 0);
        field(out, 0, 1, receipt, sizeof receipt);
        assert_int_equal(qraft(out, sizeof out, "visibility cli-rd %s 0", receipt), 0);
    }
    assert_int_equal(qraft(out, sizeof out, "recv cli-rd"), 0);
    assert_string_equal(out, ""); /* moved instead of delivered a third time */
    assert_int_equal(qraft(out, sizeof out, "queue redrive cli-rd-dlq"), 0);
    assert_string_equal(out, "1\n");
    assert_int_equal(qraft(out, sizeof out, "recv cli-rd"), 0);
    field(out, 0, 3, first, sizeof first);
    assert_string_equal(first, "poison");
}

static void test_cluster_status(void **state)
{
    char out[8192];
    (void)state;

    assert_int_equal(qraft(out, sizeof out, "cluster status"), 0);
    assert_non_null(strstr(out, "ID"));
    assert_non_null(strstr(out, "leader"));
    assert_int_equal(qraft(out, sizeof out, "--json cluster status"), 0);
    assert_non_null(strstr(out, "\"state\":\"leader\""));
    assert_non_null(strstr(out, "\"zone\":\"az2\""));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_queue_commands),
        cmocka_unit_test(test_message_commands),
        cmocka_unit_test(test_fifo_and_redrive),
        cmocka_unit_test(test_cluster_status),
    };
    setvbuf(stdout, NULL, _IOLBF, 0);
    return cmocka_run_group_tests_name("integration/cli", tests, setup, teardown);
}
