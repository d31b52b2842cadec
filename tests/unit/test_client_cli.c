/* Unit tests of the pure parts of the qraft CLI (client/clitext.c, in
 * libqraft under hidden names, declared in client/cli.h): numbers, option
 * parsing into struct cliArgs, NAME=VALUE and --attr words with base64,
 * JSON strings (invalid UTF-8 as \u00XX), base64 output, RedrivePolicy,
 * and filling the rows of cluster status from member lists. Each helper is
 * tested at its limits and one past them. The commands themselves need a
 * cluster and are run by the integration tests and scripts/demo.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "client/cli.h"

/* ---------------------------------------------------------------------- */
/* Helpers                                                                 */

/* Most argv entries a test builds. */
#define ARGV_MAX (2 * CLI_ARGS_MAX + 8)

/* An argv under construction: argv[0] is "qraft". */
struct argvBuf
{
    int argc;
    char *argv[ARGV_MAX + 1];
};

/* Start an argv with "qraft" and the NULL-terminated words given. */
static void argvInit(struct argvBuf *b, ...)
{
    va_list ap;
    char *w;
    b->argc = 0;
    b->argv[b->argc++] = "qraft";
    va_start(ap, b);
    while ((w = va_arg(ap, char *)) != NULL) {
        assert_true(b->argc < ARGV_MAX);
        b->argv[b->argc++] = w;
    }
    va_end(ap);
    b->argv[b->argc] = NULL;
}

/* Append one word. */
static void argvAdd(struct argvBuf *b, char *w)
{
    assert_true(b->argc < ARGV_MAX);
    b->argv[b->argc++] = w;
    b->argv[b->argc] = NULL;
}

/* Parse @b into @a, expecting @want; the error text goes to @err. */
static void parseExpect(struct argvBuf *b, struct cliArgs *a, int want,
                        char *err)
{
    err[0] = '\0';
    assert_int_equal(cliParse(b->argc, b->argv, a, err, CLI_ERR_MAX), want);
}

/* What cliJsonStr writes for @len bytes of @data (static, overwritten). */
static const char *jsonOf(const void *data, size_t len)
{
    static char out[4096];
    char *p = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&p, &n);
    assert_non_null(f);
    cliJsonStr(f, data, len);
    assert_int_equal(fclose(f), 0);
    assert_true(n < sizeof out);
    memcpy(out, p, n + 1);
    free(p);
    return out;
}

/* jsonOf for a C string. */
static const char *jsonOfStr(const char *s)
{
    return jsonOf(s, strlen(s));
}

/* What cliJsonB64 writes for @len bytes (static, overwritten). */
static const char *b64Of(const void *data, size_t len)
{
    static char out[4096];
    char *p = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&p, &n);
    assert_non_null(f);
    cliJsonB64(f, data, len);
    assert_int_equal(fclose(f), 0);
    assert_true(n < sizeof out);
    memcpy(out, p, n + 1);
    free(p);
    return out;
}

/* Decode @s, expect success with @want (@wantLen bytes). */
static void b64Expect(const char *s, const void *want, size_t wantLen)
{
    unsigned char *out = NULL;
    size_t len = 12345;
    assert_int_equal(cliB64Decode(s, &out, &len), 0);
    assert_non_null(out);
    assert_int_equal(len, wantLen);
    if (wantLen > 0) {
        assert_memory_equal(out, want, wantLen);
    }
    free(out);
}

/* Decode @s, expect a refusal with the outputs untouched. */
static void b64Refused(const char *s)
{
    unsigned char *out = (unsigned char *)"untouched";
    size_t len = 7;
    assert_int_equal(cliB64Decode(s, &out, &len), -1);
    assert_string_equal((const char *)out, "untouched");
    assert_int_equal(len, 7);
}

/* ---------------------------------------------------------------------- */
/* Numbers and option names                                                */

static void numberBounds(void **state)
{
    long v = 99;
    (void)state;
    assert_int_equal(cliNumber("0", 0, 10, &v), 0);
    assert_int_equal(v, 0);
    assert_int_equal(cliNumber("10", 0, 10, &v), 0);
    assert_int_equal(v, 10);
    v = 99;
    assert_int_equal(cliNumber("-1", 0, 10, &v), -1);
    assert_int_equal(cliNumber("11", 0, 10, &v), -1);
    assert_int_equal(v, 99);
    assert_int_equal(cliNumber("-5", -5, -1, &v), 0);
    assert_int_equal(v, -5);
    /* Not whole numbers. */
    assert_int_equal(cliNumber("", 0, 10, &v), -1);
    assert_int_equal(cliNumber("5x", 0, 10, &v), -1);
    assert_int_equal(cliNumber("5 ", 0, 10, &v), -1);
    assert_int_equal(cliNumber("x5", 0, 10, &v), -1);
    assert_int_equal(cliNumber("1.5", 0, 10, &v), -1);
    assert_int_equal(cliNumber("0x5", 0, 10, &v), -1);
    assert_int_equal(v, -5);
    /* Past long: ERANGE, not a wrapped value. */
    assert_int_equal(cliNumber("9223372036854775807", 0, 9223372036854775807L,
                               &v),
                     0);
    assert_int_equal(v, 9223372036854775807L);
    assert_int_equal(cliNumber("9223372036854775808", 0,
                               9223372036854775807L, &v),
                     -1);
    assert_int_equal(cliNumber("-9223372036854775809",
                               -9223372036854775807L - 1, 0, &v),
                     -1);
}

static void optionNames(void **state)
{
    int k;
    (void)state;
    for (k = 0; k < CLI_O_COUNT; k++) {
        assert_int_equal(cliOptIndex(cliOptNames[k]), k);
        assert_true(strncmp(cliOptNames[k], "--", 2) == 0);
    }
    assert_int_equal(cliOptIndex("--fifo"), CLI_O_FIFO);
    assert_false(cliOptValue[CLI_O_FIFO]);
    assert_false(cliOptValue[CLI_O_CONTENT_DEDUP]);
    assert_true(cliOptValue[CLI_O_ATTR]);
    assert_int_equal(cliOptIndex("--fif"), -1);
    assert_int_equal(cliOptIndex("--fifo2"), -1);
    assert_int_equal(cliOptIndex("--FIFO"), -1);
    assert_int_equal(cliOptIndex("-s"), -1);
    assert_int_equal(cliOptIndex("--json"), -1);
    assert_int_equal(cliOptIndex(""), -1);
    /* The allowed sets of cli.c are bits of an unsigned. */
    assert_true(CLI_O_COUNT <= 32);
}

/* ---------------------------------------------------------------------- */
/* cliParse                                                                */

static void parseWordsAndOptionsAnywhere(void **state)
{
    struct argvBuf b;
    struct cliArgs a;
    char err[CLI_ERR_MAX];
    (void)state;
    argvInit(&b, "--delay", "5", "send", "--json", "q", "--attr", "a=1",
             "-", "--group", "g", "--attr", "b:Number=2", "--fifo", "--tag",
             "k=v", "--delay", "7", NULL);
    parseExpect(&b, &a, 0, err);
    assert_true(a.json);
    assert_int_equal(a.nWords, 3);
    assert_string_equal(a.words[0], "send");
    assert_string_equal(a.words[1], "q");
    assert_string_equal(a.words[2], "-"); /* '-' alone is a word */
    assert_string_equal(a.opt[CLI_O_DELAY], "7"); /* the last one wins */
    assert_string_equal(a.opt[CLI_O_GROUP], "g");
    assert_string_equal(a.opt[CLI_O_FIFO], ""); /* a flag */
    assert_string_equal(a.opt[CLI_O_ATTR], "b:Number=2");
    assert_null(a.opt[CLI_O_DLQ]);
    assert_int_equal(a.nAttrs, 2);
    assert_string_equal(a.attrs[0], "a=1");
    assert_string_equal(a.attrs[1], "b:Number=2");
    assert_int_equal(a.nTags, 1);
    assert_string_equal(a.tags[0], "k=v");
    assert_int_equal(a.timeoutMs, 0);

    /* A flag takes no value: the next word stays a word. */
    argvInit(&b, "queue", "create", "--fifo", "name.fifo", NULL);
    parseExpect(&b, &a, 0, err);
    assert_int_equal(a.nWords, 3);
    assert_string_equal(a.words[2], "name.fifo");
    assert_false(a.json);

    /* A value may look like an option. */
    argvInit(&b, "send", "q", "b", "--group", "--fifo", NULL);
    parseExpect(&b, &a, 0, err);
    assert_string_equal(a.opt[CLI_O_GROUP], "--fifo");
    assert_null(a.opt[CLI_O_FIFO]);

    /* Nothing at all. */
    argvInit(&b, NULL);
    parseExpect(&b, &a, 0, err);
    assert_int_equal(a.nWords, 0);
}

static void parseServers(void **state)
{
    struct argvBuf b;
    struct cliArgs a;
    char err[CLI_ERR_MAX];
    (void)state;
    assert_int_equal(unsetenv("QRAFT_SERVERS"), 0);
    argvInit(&b, "queue", "list", NULL);
    parseExpect(&b, &a, 0, err);
    assert_string_equal(a.servers, CLI_SERVERS_DEFAULT);

    assert_int_equal(setenv("QRAFT_SERVERS", "h:1,h:2", 1), 0);
    parseExpect(&b, &a, 0, err);
    assert_string_equal(a.servers, "h:1,h:2");

    /* -s wins over the environment; the last -s wins. */
    argvInit(&b, "-s", "a:1", "queue", "list", "--servers", "b:2", NULL);
    parseExpect(&b, &a, 0, err);
    assert_string_equal(a.servers, "b:2");

    /* Empty, from either, means the default. */
    argvInit(&b, "-s", "", "queue", "list", NULL);
    parseExpect(&b, &a, 0, err);
    assert_string_equal(a.servers, CLI_SERVERS_DEFAULT);
    assert_int_equal(setenv("QRAFT_SERVERS", "", 1), 0);
    argvInit(&b, "queue", "list", NULL);
    parseExpect(&b, &a, 0, err);
    assert_string_equal(a.servers, CLI_SERVERS_DEFAULT);
    assert_int_equal(unsetenv("QRAFT_SERVERS"), 0);

    argvInit(&b, "queue", "list", "-s", NULL);
    parseExpect(&b, &a, 2, err);
    assert_string_equal(err, "option -s needs a value");
}

static void parseTimeoutBounds(void **state)
{
    struct argvBuf b;
    struct cliArgs a;
    char err[CLI_ERR_MAX];
    (void)state;
    argvInit(&b, "--timeout", "1", NULL);
    parseExpect(&b, &a, 0, err);
    assert_int_equal(a.timeoutMs, 1);
    argvInit(&b, "--timeout", "86400000", NULL);
    parseExpect(&b, &a, 0, err);
    assert_int_equal(a.timeoutMs, 86400000);
    argvInit(&b, "--timeout", "0", NULL);
    parseExpect(&b, &a, 2, err);
    assert_string_equal(err, "bad --timeout '0' (ms, 1 or more)");
    argvInit(&b, "--timeout", "86400001", NULL);
    parseExpect(&b, &a, 2, err);
    assert_string_equal(err, "bad --timeout '86400001' (ms, 1 or more)");
    argvInit(&b, "--timeout", "10ms", NULL);
    parseExpect(&b, &a, 2, err);
    assert_string_equal(err, "bad --timeout '10ms' (ms, 1 or more)");
    argvInit(&b, "recv", "q", "--timeout", NULL);
    parseExpect(&b, &a, 2, err);
    assert_string_equal(err, "option --timeout needs a value");
}

static void parseErrors(void **state)
{
    struct argvBuf b;
    struct cliArgs a;
    char err[CLI_ERR_MAX];
    char small[8];
    (void)state;
    argvInit(&b, "recv", "q", "--bogus", NULL);
    parseExpect(&b, &a, 2, err);
    assert_string_equal(err, "unknown option --bogus");
    argvInit(&b, "-x", NULL);
    parseExpect(&b, &a, 2, err);
    assert_string_equal(err, "unknown option -x");
    argvInit(&b, "queue", "create", "q", "--dlq", NULL);
    parseExpect(&b, &a, 2, err);
    assert_string_equal(err, "option --dlq needs a value");
    /* A flag at the end is fine. */
    argvInit(&b, "queue", "create", "q", "--content-dedup", NULL);
    parseExpect(&b, &a, 0, err);
    assert_string_equal(a.opt[CLI_O_CONTENT_DEDUP], "");

    /* Help wins only if seen before an error. */
    argvInit(&b, "queue", "-h", "--bogus", NULL);
    parseExpect(&b, &a, -1, err);
    argvInit(&b, "--help", NULL);
    parseExpect(&b, &a, -1, err);
    argvInit(&b, "--bogus", "--help", NULL);
    parseExpect(&b, &a, 2, err);

    /* A small error buffer cuts the message, NUL-terminated. */
    argvInit(&b, "--bogus", NULL);
    assert_int_equal(cliParse(b.argc, b.argv, &a, small, sizeof small), 2);
    assert_string_equal(small, "unknown");
}

static void parseLimits(void **state)
{
    static char tagWords[CLI_ARGS_MAX + 1][16];
    struct argvBuf b;
    struct cliArgs a;
    char err[CLI_ERR_MAX];
    int i;
    (void)state;
    /* CLI_ARGS_MAX --tag and --attr options, then one more of each. */
    argvInit(&b, "queue", "create", "q", NULL);
    for (i = 0; i < CLI_ARGS_MAX; i++) {
        snprintf(tagWords[i], sizeof tagWords[i], "k%d=v", i);
        argvAdd(&b, "--tag");
        argvAdd(&b, tagWords[i]);
    }
    parseExpect(&b, &a, 0, err);
    assert_int_equal(a.nTags, CLI_ARGS_MAX);
    assert_string_equal(a.tags[CLI_ARGS_MAX - 1], tagWords[CLI_ARGS_MAX - 1]);
    argvAdd(&b, "--tag");
    argvAdd(&b, "one=more");
    parseExpect(&b, &a, 2, err);
    assert_string_equal(err, "too many --tag options");

    argvInit(&b, "send", "q", "b", NULL);
    for (i = 0; i < CLI_ARGS_MAX; i++) {
        argvAdd(&b, "--attr");
        argvAdd(&b, tagWords[i]);
    }
    parseExpect(&b, &a, 0, err);
    assert_int_equal(a.nAttrs, CLI_ARGS_MAX);
    argvAdd(&b, "--attr");
    argvAdd(&b, "one=more");
    parseExpect(&b, &a, 2, err);
    assert_string_equal(err, "too many --attr options");

    /* CLI_ARGS_MAX words, then one more. */
    argvInit(&b, NULL);
    for (i = 0; i < CLI_ARGS_MAX; i++) {
        argvAdd(&b, "w");
    }
    parseExpect(&b, &a, 0, err);
    assert_int_equal(a.nWords, CLI_ARGS_MAX);
    argvAdd(&b, "w");
    parseExpect(&b, &a, 2, err);
    assert_string_equal(err, "too many arguments");
}

/* ---------------------------------------------------------------------- */
/* NAME=VALUE words                                                        */

static void pairsSplit(void **state)
{
    static char buf[4][CLI_PAIR_MAX];
    const char *words[] = {"a=1", "b==2", "c=", "D:Number=x=y"};
    struct qraft_attr out[4];
    char err[CLI_ERR_MAX] = "";
    (void)state;
    assert_int_equal(cliPairs(words, 4, out, buf, "tag", err, sizeof err),
                     0);
    assert_string_equal(out[0].name, "a");
    assert_string_equal(out[0].value, "1");
    assert_string_equal(out[1].name, "b");
    assert_string_equal(out[1].value, "=2"); /* split at the first '=' */
    assert_string_equal(out[2].name, "c");
    assert_string_equal(out[2].value, ""); /* an empty value is fine */
    assert_string_equal(out[3].name, "D:Number");
    assert_string_equal(out[3].value, "x=y");
    assert_string_equal(words[0], "a=1"); /* the words are not touched */
    assert_int_equal(cliPairs(words, 0, out, buf, "tag", err, sizeof err),
                     0);
}

static void pairsRefused(void **state)
{
    static char buf[2][CLI_PAIR_MAX];
    static char longest[CLI_PAIR_MAX];
    static char tooLong[CLI_PAIR_MAX + 1];
    const char *words[2];
    struct qraft_attr out[2];
    char err[CLI_ERR_MAX];
    char want[CLI_ERR_MAX];
    (void)state;
    words[0] = "ok=1";
    words[1] = "novalue";
    assert_int_equal(cliPairs(words, 2, out, buf, "tag", err, sizeof err),
                     -1);
    assert_string_equal(err, "bad tag 'novalue' (want NAME=VALUE)");
    words[1] = "=v";
    assert_int_equal(cliPairs(words, 2, out, buf, "--tag", err, sizeof err),
                     -1);
    assert_string_equal(err, "bad --tag '=v' (want NAME=VALUE)");
    words[1] = "";
    assert_int_equal(cliPairs(words, 2, out, buf, "x", err, sizeof err),
                     -1);
    assert_string_equal(err, "bad x '' (want NAME=VALUE)");

    /* CLI_PAIR_MAX - 1 bytes fit; one more does not. */
    memset(longest, 'v', sizeof longest - 1);
    longest[0] = 'k';
    longest[1] = '=';
    words[0] = longest;
    assert_int_equal(cliPairs(words, 1, out, buf, "tag", err, sizeof err),
                     0);
    assert_int_equal(strlen(out[0].value), CLI_PAIR_MAX - 3);
    memset(tooLong, 'k', sizeof tooLong - 1);
    tooLong[CLI_PAIR_MAX - 2] = '=';
    words[0] = tooLong;
    assert_int_equal(cliPairs(words, 1, out, buf, "tag", err, sizeof err),
                     -1);
    snprintf(want, sizeof want, "tag '%.40s...' is too long", tooLong);
    assert_string_equal(err, want);

    /* The longest "bad" message still fits the error buffer whole. */
    memset(longest, 'k', sizeof longest - 1);
    words[0] = longest;
    assert_int_equal(cliPairs(words, 1, out, buf, "--attr", err, sizeof err),
                     -1);
    assert_int_equal(strlen(err), strlen("bad --attr '' (want NAME=VALUE)") +
                                      CLI_PAIR_MAX - 1);
}

static void msgAttrsTypes(void **state)
{
    static char buf[5][CLI_PAIR_MAX];
    const char *words[] = {"s=text", "n:Number=-1.5", "b:Binary=AAEC/w==",
                           "c:Binary.jpeg=QQ", "e:String="};
    struct qraft_message_attr out[5];
    unsigned char *bins[5] = {NULL};
    char err[CLI_ERR_MAX] = "";
    int i;
    (void)state;
    assert_int_equal(cliMsgAttrs(words, 5, out, buf, bins, err, sizeof err),
                     0);
    assert_string_equal(out[0].name, "s");
    assert_string_equal(out[0].type, "String");
    assert_int_equal(out[0].len, 4);
    assert_memory_equal(out[0].value, "text", 4);
    assert_null(bins[0]);
    assert_string_equal(out[1].name, "n");
    assert_string_equal(out[1].type, "Number");
    assert_int_equal(out[1].len, 4);
    assert_memory_equal(out[1].value, "-1.5", 4);
    assert_string_equal(out[2].name, "b");
    assert_string_equal(out[2].type, "Binary");
    assert_int_equal(out[2].len, 4);
    assert_memory_equal(out[2].value, "\x00\x01\x02\xff", 4);
    assert_ptr_equal(out[2].value, bins[2]);
    /* A custom Binary type is decoded too, padding optional. */
    assert_string_equal(out[3].type, "Binary.jpeg");
    assert_int_equal(out[3].len, 1);
    assert_memory_equal(out[3].value, "A", 1);
    assert_string_equal(out[4].type, "String");
    assert_int_equal(out[4].len, 0);
    for (i = 0; i < 5; i++) {
        free(bins[i]);
    }
}

static void msgAttrsRefused(void **state)
{
    static char buf[3][CLI_PAIR_MAX];
    const char *words[3];
    struct qraft_message_attr out[3];
    unsigned char *bins[3] = {NULL};
    char err[CLI_ERR_MAX];
    int i;
    (void)state;
    words[0] = "x:Binary=!!";
    assert_int_equal(cliMsgAttrs(words, 1, out, buf, bins, err, sizeof err),
                     -1);
    assert_string_equal(err, "--attr x: the value is not base64");
    assert_null(bins[0]);

    /* A word without '=' is reported before an earlier bad value. */
    words[0] = "x:Binary=!!";
    words[1] = "noeq";
    assert_int_equal(cliMsgAttrs(words, 2, out, buf, bins, err, sizeof err),
                     -1);
    assert_string_equal(err, "bad --attr 'noeq' (want NAME=VALUE)");

    /* A good Binary before a bad one: the caller frees what was made. */
    words[0] = "a:Binary=QUJD";
    words[1] = "b:Binary=QQ=A";
    words[2] = "c=1";
    assert_int_equal(cliMsgAttrs(words, 3, out, buf, bins, err, sizeof err),
                     -1);
    assert_string_equal(err, "--attr b: the value is not base64");
    assert_non_null(bins[0]);
    for (i = 0; i < 3; i++) {
        free(bins[i]);
    }
}

/* ---------------------------------------------------------------------- */
/* Base64                                                                  */

static void b64DecodeEdges(void **state)
{
    (void)state;
    b64Expect("", NULL, 0);
    b64Expect("QQ==", "A", 1);
    b64Expect("QUI=", "AB", 2);
    b64Expect("QUJD", "ABC", 3);
    b64Expect("QQ", "A", 1);   /* padding optional */
    b64Expect("QUI", "AB", 2);
    b64Expect("Q", NULL, 0);   /* bits of no whole byte are dropped */
    b64Expect("====", NULL, 0);
    b64Expect("QQ=======", "A", 1);
    b64Expect("+/+/", "\xfb\xff\xbf", 3);
    b64Refused("QQ=A");        /* nothing but '=' after '=' */
    b64Refused("Q Q=");
    b64Refused("QQ\n");
    b64Refused("QQ-_");        /* the URL alphabet is not taken */
    b64Refused("\xc3\xa9");
}

static void b64RoundTrip(void **state)
{
    unsigned char data[300];
    char text[512];
    unsigned char *out;
    size_t len;
    size_t n;
    size_t i;
    (void)state;
    for (i = 0; i < sizeof data; i++) {
        data[i] = (unsigned char)(i * 7 + 3);
    }
    assert_string_equal(b64Of("", 0), "\"\"");
    assert_string_equal(b64Of("A", 1), "\"QQ==\"");
    assert_string_equal(b64Of("AB", 2), "\"QUI=\"");
    assert_string_equal(b64Of("ABC", 3), "\"QUJD\"");
    assert_string_equal(b64Of("\xfb\xff\xbf", 3), "\"+/+/\"");
    for (n = 0; n <= sizeof data; n += n < 10 ? 1 : 29) {
        const char *q = b64Of(data, n);
        size_t tl = strlen(q);
        assert_int_equal(tl, 2 + (n + 2) / 3 * 4);
        memcpy(text, q + 1, tl - 2);
        text[tl - 2] = '\0';
        assert_int_equal(cliB64Decode(text, &out, &len), 0);
        assert_int_equal(len, n);
        if (n > 0) {
            assert_memory_equal(out, data, n);
        }
        free(out);
    }
}

/* ---------------------------------------------------------------------- */
/* JSON strings                                                            */

static void jsonEscapes(void **state)
{
    (void)state;
    assert_string_equal(jsonOfStr(""), "\"\"");
    assert_string_equal(jsonOfStr("plain text"), "\"plain text\"");
    assert_string_equal(jsonOfStr("a\"b\\c/d"), "\"a\\\"b\\\\c/d\"");
    assert_string_equal(jsonOfStr("\n\r\t"), "\"\\n\\r\\t\"");
    assert_string_equal(jsonOfStr("\x01\x08\x0c\x1f"),
                        "\"\\u0001\\u0008\\u000c\\u001f\"");
    assert_string_equal(jsonOfStr(" ~\x7f"), "\" ~\\u007f\"");
    /* A NUL inside the length is a byte like the others. */
    assert_string_equal(jsonOf("a\0b", 3), "\"a\\u0000b\"");
    assert_string_equal(jsonOf("abc", 1), "\"a\"");
}

static void jsonUtf8Boundaries(void **state)
{
    (void)state;
    /* The first and last code point of each length pass as they are. */
    assert_string_equal(jsonOfStr("\xc2\x80"), "\"\xc2\x80\"");
    assert_string_equal(jsonOfStr("\xdf\xbf"), "\"\xdf\xbf\"");
    assert_string_equal(jsonOfStr("\xe0\xa0\x80"), "\"\xe0\xa0\x80\"");
    assert_string_equal(jsonOfStr("\xed\x9f\xbf"), "\"\xed\x9f\xbf\"");
    assert_string_equal(jsonOfStr("\xee\x80\x80"), "\"\xee\x80\x80\"");
    assert_string_equal(jsonOfStr("\xef\xbf\xbf"), "\"\xef\xbf\xbf\"");
    assert_string_equal(jsonOfStr("\xf0\x90\x80\x80"),
                        "\"\xf0\x90\x80\x80\"");
    assert_string_equal(jsonOfStr("\xf4\x8f\xbf\xbf"),
                        "\"\xf4\x8f\xbf\xbf\"");
    assert_string_equal(jsonOfStr("caf\xc3\xa9 \xe2\x82\xac"),
                        "\"caf\xc3\xa9 \xe2\x82\xac\"");
}

static void jsonInvalidUtf8(void **state)
{
    (void)state;
    /* Overlong forms, one below each length's first code point. */
    assert_string_equal(jsonOfStr("\xc0\x80"), "\"\\u00c0\\u0080\"");
    assert_string_equal(jsonOfStr("\xc1\xbf"), "\"\\u00c1\\u00bf\"");
    assert_string_equal(jsonOfStr("\xe0\x9f\xbf"),
                        "\"\\u00e0\\u009f\\u00bf\"");
    assert_string_equal(jsonOfStr("\xf0\x8f\xbf\xbf"),
                        "\"\\u00f0\\u008f\\u00bf\\u00bf\"");
    /* Surrogates, first and last. */
    assert_string_equal(jsonOfStr("\xed\xa0\x80"),
                        "\"\\u00ed\\u00a0\\u0080\"");
    assert_string_equal(jsonOfStr("\xed\xbf\xbf"),
                        "\"\\u00ed\\u00bf\\u00bf\"");
    /* One past U+10FFFF, and lead bytes that never start anything. */
    assert_string_equal(jsonOfStr("\xf4\x90\x80\x80"),
                        "\"\\u00f4\\u0090\\u0080\\u0080\"");
    assert_string_equal(jsonOfStr("\xf5\xf8\xfe\xff"),
                        "\"\\u00f5\\u00f8\\u00fe\\u00ff\"");
    /* A lone continuation byte; a lead byte followed by ASCII. */
    assert_string_equal(jsonOfStr("\x80"), "\"\\u0080\"");
    assert_string_equal(jsonOfStr("\xc3" "A"), "\"\\u00c3A\"");
    /* Sequences cut by the end of the data (even if bytes follow it). */
    assert_string_equal(jsonOfStr("x\xe2\x82"), "\"x\\u00e2\\u0082\"");
    assert_string_equal(jsonOf("\xe2\x82\xac", 2), "\"\\u00e2\\u0082\"");
    assert_string_equal(jsonOf("\xf0\x9f\x98\x80", 3),
                        "\"\\u00f0\\u009f\\u0098\"");
    /* After a bad byte, the next good sequence is kept. */
    assert_string_equal(jsonOfStr("\xff\xc3\xa9"), "\"\\u00ff\xc3\xa9\"");
}

static void jsonKv(void **state)
{
    char *p = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&p, &n);
    (void)state;
    assert_non_null(f);
    cliJsonKv(f, true, "MessageId", "m-1");
    cliJsonKv(f, false, "Body", "a\"b\n");
    cliJsonKv(f, false, "", "");
    assert_int_equal(fclose(f), 0);
    assert_string_equal(p, "\"MessageId\":\"m-1\",\"Body\":\"a\\\"b\\n\","
                           "\"\":\"\"");
    free(p);
}

/* ---------------------------------------------------------------------- */
/* RedrivePolicy                                                           */

static void redrivePolicy(void **state)
{
    static char name[CLI_DLQ_MAX + 2];
    char buf[600];
    char small[47]; /* the fixed text and "1", with the NUL */
    (void)state;
    assert_int_equal(cliRedrivePolicy(buf, sizeof buf, "dead", 3), 0);
    assert_string_equal(buf, "{\"deadLetterTargetArn\":\"dead\","
                             "\"maxReceiveCount\":3}");
    assert_int_equal(cliRedrivePolicy(buf, sizeof buf, "d.fifo", 1000000), 0);
    assert_string_equal(buf, "{\"deadLetterTargetArn\":\"d.fifo\","
                             "\"maxReceiveCount\":1000000}");
    /* Names: CLI_DLQ_MAX bytes fit, one more does not; no '"' or '\'. */
    memset(name, 'd', CLI_DLQ_MAX);
    assert_int_equal(cliRedrivePolicy(buf, sizeof buf, name, 1), 0);
    assert_int_equal(strlen(buf), CLI_DLQ_MAX + 46);
    name[CLI_DLQ_MAX] = 'd';
    assert_int_equal(cliRedrivePolicy(buf, sizeof buf, name, 1), -1);
    assert_int_equal(cliRedrivePolicy(buf, sizeof buf, "a\"b", 1), -1);
    assert_int_equal(cliRedrivePolicy(buf, sizeof buf, "a\\b", 1), -1);
    /* The empty name is left to the cluster to refuse. */
    assert_int_equal(cliRedrivePolicy(buf, sizeof buf, "", 1), 0);
    /* The buffer: exactly enough, one byte short. */
    assert_int_equal(cliRedrivePolicy(small, sizeof small, "", 1), 0);
    assert_int_equal(strlen(small), sizeof small - 1);
    assert_int_equal(cliRedrivePolicy(small, sizeof small - 1, "", 1), -1);
}

/* ---------------------------------------------------------------------- */
/* Cluster status rows                                                     */

/* Make @r an answering row of node @id listing @n members 1..n, member i
 * in zone "zI" with role "voter" (or "spare" for i > 3) and client
 * address "h:I". */
static void upRow(struct cliNode *r, uint64_t id, size_t n)
{
    size_t i;
    memset(r, 0, sizeof *r);
    r->up = r->known = true;
    r->id = r->st.id = id;
    snprintf(r->addr, sizeof r->addr, "h:%u", (unsigned)id);
    snprintf(r->st.zone, sizeof r->st.zone, "z%u", (unsigned)id);
    snprintf(r->st.role, sizeof r->st.role, "voter");
    r->st.n_members = n;
    for (i = 0; i < n && i < 16; i++) {
        struct qraft_member *m = &r->st.members[i];
        m->id = i + 1;
        snprintf(m->zone, sizeof m->zone, "z%u", (unsigned)(i + 1));
        snprintf(m->role, sizeof m->role, "%s",
                 i + 1 > 3 ? "spare" : "voter");
        snprintf(m->client_addr, sizeof m->client_addr, "h:%u",
                 (unsigned)(i + 1));
    }
}

/* Make @r a row that did not answer, at @addr (may be ""), id @id (0:
 * unknown). */
static void downRow(struct cliNode *r, const char *addr, uint64_t id)
{
    memset(r, 0, sizeof *r);
    snprintf(r->addr, sizeof r->addr, "%s", addr);
    r->known = id != 0;
    r->id = id;
}

static void statusFillFromMembers(void **state)
{
    struct cliNode nodes[6];
    (void)state;
    downRow(&nodes[0], "h:2", 0);     /* an -s address that is member 2 */
    upRow(&nodes[1], 1, 3);
    downRow(&nodes[2], "", 3);        /* a member with no client address */
    downRow(&nodes[3], "other:9", 0); /* not a member */
    downRow(&nodes[4], "h:5", 5);     /* not in node 1's list, in 6's */
    upRow(&nodes[5], 6, 5);
    snprintf(nodes[5].st.members[1].zone, sizeof nodes[5].st.members[1].zone,
             "later");
    cliStatusFill(nodes, 6);
    /* The id from the address, zone and role from the first answer. */
    assert_true(nodes[0].known);
    assert_int_equal(nodes[0].id, 2);
    assert_string_equal(nodes[0].st.zone, "z2");
    assert_string_equal(nodes[0].st.role, "voter");
    assert_false(nodes[0].up);
    assert_string_equal(nodes[2].st.zone, "z3");
    assert_string_equal(nodes[2].st.role, "voter");
    assert_false(nodes[3].known);
    assert_string_equal(nodes[3].st.zone, "");
    assert_string_equal(nodes[3].st.role, "");
    /* What the first answer does not know, a later one tells. */
    assert_string_equal(nodes[4].st.zone, "z5");
    assert_string_equal(nodes[4].st.role, "spare");
    /* Answering rows are left alone. */
    assert_string_equal(nodes[1].st.zone, "z1");
    assert_string_equal(nodes[5].st.zone, "z6");
    assert_int_equal(nodes[5].id, 6);
}

static void statusFillEdges(void **state)
{
    struct cliNode nodes[3];
    (void)state;
    /* Nobody answered: nothing to fill from. */
    downRow(&nodes[0], "h:1", 0);
    downRow(&nodes[1], "h:2", 2);
    cliStatusFill(nodes, 2);
    assert_false(nodes[0].known);
    assert_string_equal(nodes[1].st.zone, "");
    cliStatusFill(nodes, 0);

    /* An empty row address never matches an empty client address. */
    upRow(&nodes[0], 1, 2);
    nodes[0].st.members[1].client_addr[0] = '\0';
    downRow(&nodes[1], "", 0);
    cliStatusFill(nodes, 2);
    assert_false(nodes[1].known);

    /* A member list claiming more than 16 entries is read to 16 only
     * (member 17 would be past the array). */
    upRow(&nodes[0], 1, 16);
    nodes[0].st.n_members = 1000;
    downRow(&nodes[1], "", 16);
    downRow(&nodes[2], "", 17);
    cliStatusFill(nodes, 3);
    assert_string_equal(nodes[1].st.zone, "z16");
    assert_string_equal(nodes[1].st.role, "spare");
    assert_string_equal(nodes[2].st.zone, "");

    /* A zone or role already known is kept; a missing one is filled. */
    upRow(&nodes[0], 1, 3);
    downRow(&nodes[1], "h:2", 2);
    snprintf(nodes[1].st.zone, sizeof nodes[1].st.zone, "mine");
    cliStatusFill(nodes, 2);
    assert_string_equal(nodes[1].st.zone, "mine");
    assert_string_equal(nodes[1].st.role, "voter");

    /* A member's zone of the longest length fits the row's field. */
    upRow(&nodes[0], 1, 2);
    memset(nodes[0].st.members[1].zone, 'z',
           sizeof nodes[0].st.members[1].zone - 1);
    downRow(&nodes[1], "h:2", 0);
    cliStatusFill(nodes, 2);
    assert_int_equal(strlen(nodes[1].st.zone),
                     sizeof nodes[1].st.zone - 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(numberBounds),
        cmocka_unit_test(optionNames),
        cmocka_unit_test(parseWordsAndOptionsAnywhere),
        cmocka_unit_test(parseServers),
        cmocka_unit_test(parseTimeoutBounds),
        cmocka_unit_test(parseErrors),
        cmocka_unit_test(parseLimits),
        cmocka_unit_test(pairsSplit),
        cmocka_unit_test(pairsRefused),
        cmocka_unit_test(msgAttrsTypes),
        cmocka_unit_test(msgAttrsRefused),
        cmocka_unit_test(b64DecodeEdges),
        cmocka_unit_test(b64RoundTrip),
        cmocka_unit_test(jsonEscapes),
        cmocka_unit_test(jsonUtf8Boundaries),
        cmocka_unit_test(jsonInvalidUtf8),
        cmocka_unit_test(jsonKv),
        cmocka_unit_test(redrivePolicy),
        cmocka_unit_test(statusFillFromMembers),
        cmocka_unit_test(statusFillEdges),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
