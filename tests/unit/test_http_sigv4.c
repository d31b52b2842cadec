/* Unit tests of SigV4 (node/http/sigv4.c): AWS's published get-vanilla
 * vector, a request signed by botocore's SigV4Auth (Debian's
 * python3-botocore 1.29), and each refusal with AWS's code. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "node/http/http.h"

/* A request of up to 8 headers. */
struct req
{
    const char *names[8];
    size_t name_lens[8];
    const char *values[8];
    size_t value_lens[8];
    struct httpSigRequest r;
};

static void reqInit(struct req *q, const char *method, const char *path, const char *body)
{
    memset(q, 0, sizeof *q);
    q->r.method = method;
    q->r.method_len = strlen(method);
    q->r.path = path;
    q->r.path_len = strlen(path);
    q->r.body = body;
    q->r.body_len = strlen(body);
    q->r.names = q->names;
    q->r.name_lens = q->name_lens;
    q->r.values = q->values;
    q->r.value_lens = q->value_lens;
}

static void reqHeader(struct req *q, const char *name, const char *value)
{
    size_t i = q->r.n_headers++;
    q->names[i] = name;
    q->name_lens[i] = strlen(name);
    q->values[i] = value;
    q->value_lens[i] = strlen(value);
}

/* docs.aws.amazon.com SigV4 test suite, get-vanilla. */
static void getVanilla(void **state)
{
    struct req q;
    char sig[65];

    (void)state;
    reqInit(&q, "GET", "/", "");
    reqHeader(&q, "Host", "example.amazonaws.com");
    reqHeader(&q, "X-Amz-Date", "20150830T123600Z");
    assert_int_equal(httpSigv4Sign(&q.r, "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                                   "20150830T123600Z", "20150830/us-east-1/service/aws4_request",
                                   "host;x-amz-date", sig),
                     0);
    assert_string_equal(sig, "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
}

static const char botoBody[] =
    "Action=SendMessage&Version=2012-11-05&QueueUrl=http%3A%2F%2F127.0.0.1%3A22201%2F"
    "123456789012%2Fq1&MessageBody=hello+world";
static const char botoAuth[] =
    "AWS4-HMAC-SHA256 Credential=AKIDTEST000000000001/20261124/us-east-1/sqs/aws4_request, "
    "SignedHeaders=content-type;host;x-amz-date, "
    "Signature=15a4c64895c4379da6dc51f72f85dfb093650c00ebf0f39a982779bb099e2e12";
/* 2026-11-24T09:30:00Z */
#define BOTO_TIME 1795512600

static struct httpKey testKey = {"AKIDTEST000000000001", "secretsecretsecretsecretsecretsecret0001",
                                 "123456789012"};

/* botocore's request, with @auth, @date and @body swapped in. */
static void botoRequest(struct req *q, const char *auth, const char *date, const char *body)
{
    reqInit(q, "POST", "/", body);
    reqHeader(q, "host", "127.0.0.1:22201");
    reqHeader(q, "Content-Type", "application/x-www-form-urlencoded; charset=utf-8");
    reqHeader(q, "X-Amz-Date", date);
    if (auth != NULL) {
        reqHeader(q, "Authorization", auth);
    }
}

static const char *verify(struct req *q, int64_t now, char account[13])
{
    struct httpKeys keys = {&testKey, 1};
    const char *code = NULL;
    char errmsg[256];

    if (httpSigv4Verify(&q->r, &keys, "sqs", "us-east-1", now, account, &code, errmsg,
                        sizeof errmsg) == 0) {
        return NULL;
    }
    assert_non_null(code);
    return code;
}

static void botocoreSigned(void **state)
{
    struct req q;
    char account[13] = "";

    (void)state;
    botoRequest(&q, botoAuth, "20261124T093000Z", botoBody);
    assert_null(verify(&q, BOTO_TIME, account));
    assert_string_equal(account, "123456789012");
    /* Within 15 minutes either way. */
    assert_null(verify(&q, BOTO_TIME + 14 * 60, account));
    assert_null(verify(&q, BOTO_TIME - 14 * 60, account));
}

static void refusals(void **state)
{
    struct req q;
    char account[13];
    char auth[512];

    (void)state;
    botoRequest(&q, NULL, "20261124T093000Z", botoBody);
    assert_string_equal(verify(&q, BOTO_TIME, account), "MissingAuthenticationToken");

    botoRequest(&q, "AWS4-HMAC-SHA256 Credential=AKIDTEST000000000001/20261124/us-east-1/sqs/"
                    "aws4_request",
                "20261124T093000Z", botoBody);
    assert_string_equal(verify(&q, BOTO_TIME, account), "IncompleteSignature");
    botoRequest(&q, "Basic dXNlcjpwYXNz", "20261124T093000Z", botoBody);
    assert_string_equal(verify(&q, BOTO_TIME, account), "IncompleteSignature");

    snprintf(auth, sizeof auth, "%s", botoAuth);
    memcpy(strstr(auth, "AKIDTEST"), "AKIDXXXX", 8);
    botoRequest(&q, auth, "20261124T093000Z", botoBody);
    assert_string_equal(verify(&q, BOTO_TIME, account), "InvalidClientTokenId");

    /* A changed body. */
    botoRequest(&q, botoAuth, "20261124T093000Z",
                "Action=SendMessage&Version=2012-11-05&QueueUrl=x&MessageBody=changed");
    assert_string_equal(verify(&q, BOTO_TIME, account), "SignatureDoesNotMatch");
    /* A changed signature. */
    snprintf(auth, sizeof auth, "%s", botoAuth);
    auth[strlen(auth) - 1] = auth[strlen(auth) - 1] == '2' ? '3' : '2';
    botoRequest(&q, auth, "20261124T093000Z", botoBody);
    assert_string_equal(verify(&q, BOTO_TIME, account), "SignatureDoesNotMatch");
    /* A replay 16 minutes later, and a clock 16 minutes behind. */
    botoRequest(&q, botoAuth, "20261124T093000Z", botoBody);
    assert_string_equal(verify(&q, BOTO_TIME + 16 * 60, account), "RequestExpired");
    assert_string_equal(verify(&q, BOTO_TIME - 16 * 60, account), "RequestExpired");
    /* No date. */
    reqInit(&q, "POST", "/", botoBody);
    reqHeader(&q, "host", "127.0.0.1:22201");
    reqHeader(&q, "Authorization", botoAuth);
    assert_string_equal(verify(&q, BOTO_TIME, account), "IncompleteSignature");
    /* Another region in the scope. */
    {
        struct httpKeys keys = {&testKey, 1};
        const char *code = NULL;
        char errmsg[256];
        botoRequest(&q, botoAuth, "20261124T093000Z", botoBody);
        assert_int_equal(httpSigv4Verify(&q.r, &keys, "sqs", "eu-west-1", BOTO_TIME, account,
                                         &code, errmsg, sizeof errmsg),
                         -1);
        assert_string_equal(code, "SignatureDoesNotMatch");
        assert_non_null(strstr(errmsg, "us-east-1"));
    }
    /* Another service in the scope. */
    snprintf(auth, sizeof auth, "%s", botoAuth);
    memcpy(strstr(auth, "/sqs/"), "/sns/", 5);
    botoRequest(&q, auth, "20261124T093000Z", botoBody);
    assert_string_equal(verify(&q, BOTO_TIME, account), "SignatureDoesNotMatch");
}

static void credentialsFile(void **state)
{
    char path[] = "/tmp/qraft-test-keysXXXXXX";
    int fd = mkstemp(path);
    FILE *f;
    struct httpKeys keys;
    char errmsg[256];

    (void)state;
    assert_true(fd >= 0);
    f = fdopen(fd, "w");
    fputs("# comment\n\nAKID1 secret1 000000000000\nAKID2\tsecret2\t123456789012\n", f);
    fclose(f);
    assert_int_equal(httpKeysLoad(path, &keys, errmsg, sizeof errmsg), 0);
    assert_int_equal(keys.n, 2);
    assert_string_equal(keys.keys[1].id, "AKID2");
    assert_string_equal(keys.keys[1].secret, "secret2");
    assert_string_equal(keys.keys[1].account, "123456789012");
    httpKeysFree(&keys);
    f = fopen(path, "w");
    fputs("AKID1 secret1 12345\n", f);
    fclose(f);
    assert_int_equal(httpKeysLoad(path, &keys, errmsg, sizeof errmsg), -1);
    assert_non_null(strstr(errmsg, ":1:"));
    unlink(path);
    assert_int_equal(httpKeysLoad(path, &keys, errmsg, sizeof errmsg), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(getVanilla),
        cmocka_unit_test(botocoreSigned),
        cmocka_unit_test(refusals),
        cmocka_unit_test(credentialsFile),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
