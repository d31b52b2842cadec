/* The SQS query protocol's request side: form decoding, and the flattened
 * list and map forms turned into the parameters as JSON 1.0 names them.
 *
 * The happy path: `Action=SendMessage&QueueUrl=...&MessageAttribute.1.Name=a
 * &MessageAttribute.1.Value.DataType=String&...` is percent-decoded into
 * flat keys, each key's dotted path is nested (a numeric part is a 1-based
 * list index), and the SQS-specific element names are renamed to the
 * JSON protocol's members (Attribute.N.Name/Value -> Attributes map, ...),
 * so that one mapping (action.c) serves both protocols. Values stay
 * strings: the state machine reads decimal strings as numbers, as SQS
 * does.
 *
 * Failure modes: a bad percent escape, a path that contradicts another
 * (`A.1=x` and `A.1.B=y`), an index of 0 or above HTTP_LIST_INDEX_MAX give
 * MalformedQueryString; a value that is not UTF-8 gives
 * InvalidMessageContents for a message body, InvalidParameterValue
 * elsewhere; a map entry without its Name (or Key) gives
 * InvalidParameterValue. Nothing is partially applied: the caller gets an
 * error and no parameters.
 */
#include "node/http/http.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int hexVal(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

/* Percent-decode @len bytes of @s into @out (at least @len bytes);
 * returns the decoded length, or -1 on a bad escape. */
static long percentDecode(const char *s, size_t len, char *out)
{
    size_t i, n = 0;

    for (i = 0; i < len; i++) {
        if (s[i] == '+') {
            out[n++] = ' ';
        } else if (s[i] == '%') {
            int hi, lo;
            if (i + 2 >= len) {
                return -1;
            }
            hi = hexVal(s[i + 1]);
            lo = hexVal(s[i + 2]);
            if (hi < 0 || lo < 0) {
                return -1;
            }
            out[n++] = (char)(hi * 16 + lo);
            i += 2;
        } else {
            out[n++] = s[i];
        }
    }
    return (long)n;
}

static int fail(const char **code, const char *name, char *errmsg, size_t len,
                const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static int fail(const char **code, const char *name, char *errmsg, size_t len,
                const char *fmt, ...)
{
    va_list ap;

    *code = name;
    va_start(ap, fmt);
    vsnprintf(errmsg, len, fmt, ap);
    va_end(ap);
    return -1;
}

int httpFormDecode(const char *body, size_t len, json_t **out, const char **code,
                   char *errmsg, size_t errmsg_len)
{
    json_t *o = json_object();
    char *buf = malloc(len + 1);
    size_t pos = 0;
    int rv = -1;

    *out = NULL;
    if (o == NULL || buf == NULL) {
        fail(code, "InternalError", errmsg, errmsg_len, "%s", "out of memory");
        goto done;
    }
    while (pos < len) {
        const char *pair = body + pos;
        const char *amp = memchr(pair, '&', len - pos);
        size_t plen = amp != NULL ? (size_t)(amp - pair) : len - pos;
        const char *eq = memchr(pair, '=', plen);
        size_t klen = eq != NULL ? (size_t)(eq - pair) : plen;
        long kn, vn;
        json_t *v;

        pos += plen + 1;
        if (plen == 0) {
            continue;
        }
        kn = percentDecode(pair, klen, buf);
        if (kn <= 0) {
            fail(code, "MalformedQueryString", errmsg, errmsg_len,
                 "%s", "The query string is malformed: a bad percent escape or an empty key.");
            goto done;
        }
        buf[kn] = '\0';
        if (memchr(buf, '\0', (size_t)kn) != NULL) {
            fail(code, "MalformedQueryString", errmsg, errmsg_len, "%s",
                 "The query string is malformed: a key holds a NUL.");
            goto done;
        }
        {
            char key[256];
            snprintf(key, sizeof key, "%s", buf);
            vn = eq != NULL ? percentDecode(eq + 1, plen - klen - 1, buf) : 0;
            if (vn < 0) {
                fail(code, "MalformedQueryString", errmsg, errmsg_len,
                     "The query string is malformed: a bad percent escape in %s.", key);
                goto done;
            }
            v = json_stringn(buf, (size_t)vn);
            if (v == NULL) {
                size_t kl = strlen(key);
                bool body_key = kl >= 11 && strcmp(key + kl - 11, "MessageBody") == 0;
                fail(code, body_key ? "InvalidMessageContents" : "InvalidParameterValue", errmsg,
                     errmsg_len, "The value of %s is not valid UTF-8.", key);
                goto done;
            }
            json_object_set_new(o, key, v);
        }
    }
    *out = o;
    o = NULL;
    rv = 0;
done:
    json_decref(o);
    free(buf);
    return rv;
}

/* Whether @s is a list index (1..HTTP_LIST_INDEX_MAX); its value in *n. */
static bool isIndex(const char *s, size_t *n)
{
    size_t v = 0;

    if (*s < '1' || *s > '9') {
        return false;
    }
    for (; *s != '\0'; s++) {
        if (*s < '0' || *s > '9') {
            return false;
        }
        v = v * 10 + (size_t)(*s - '0');
        if (v > HTTP_LIST_INDEX_MAX) {
            return false;
        }
    }
    *n = v;
    return true;
}

/* Whether @s is all digits (an index, valid or not). */
static bool isDigits(const char *s)
{
    if (*s == '\0') {
        return false;
    }
    for (; *s != '\0'; s++) {
        if (*s < '0' || *s > '9') {
            return false;
        }
    }
    return true;
}

/* Whether the path component starting at @s (up to '.' or the end) is
 * all digits. */
static bool componentIsDigits(const char *s)
{
    const char *p = s;
    while (*p >= '0' && *p <= '9') {
        p++;
    }
    return p > s && (*p == '.' || *p == '\0');
}

/* Place @value at the dotted @path (modified) inside @root. */
static int nest(json_t *root, char *path, json_t *value)
{
    json_t *cur = root;
    char *part = path;

    for (;;) {
        char *dot = strchr(part, '.');
        char *next = dot != NULL ? dot + 1 : NULL;
        json_t *child;
        size_t idx = 0;

        if (dot != NULL) {
            *dot = '\0';
        }
        if (json_is_object(cur)) {
            if (isDigits(part) || *part == '\0') {
                return -1;
            }
            if (next == NULL) {
                if (json_object_get(cur, part) != NULL) {
                    return -1;
                }
                return json_object_set(cur, part, value);
            }
            child = json_object_get(cur, part);
            if (child == NULL) {
                child = componentIsDigits(next) ? json_array() : json_object();
                json_object_set_new(cur, part, child);
            }
        } else if (json_is_array(cur)) {
            if (!isIndex(part, &idx)) {
                return -1;
            }
            while (json_array_size(cur) < idx) {
                json_array_append_new(cur, json_null());
            }
            child = json_array_get(cur, idx - 1);
            if (next == NULL) {
                if (!json_is_null(child)) {
                    return -1;
                }
                return json_array_set(cur, idx - 1, value);
            }
            if (json_is_null(child)) {
                child = componentIsDigits(next) ? json_array() : json_object();
                json_array_set_new(cur, idx - 1, child);
            }
        } else {
            return -1;
        }
        cur = child;
        part = next;
    }
}

/* Keys of the form that are not parameters. */
static bool isEnvelopeKey(const char *k)
{
    return strcmp(k, "Action") == 0 || strcmp(k, "Version") == 0 ||
           strncmp(k, "X-Amz-", 6) == 0 || strcmp(k, "AWSAccessKeyId") == 0 ||
           strncmp(k, "Signature", 9) == 0 || strcmp(k, "Timestamp") == 0 ||
           strcmp(k, "Expires") == 0;
}

static int renameTree(json_t *o, const char **code, char *errmsg, size_t errmsg_len);

/* A flattened map (list of {KEY: k, VAL: v}) as an object. */
static int listToMap(const char *param, json_t *list, const char *kname, const char *vname,
                     json_t **out, const char **code, char *errmsg, size_t errmsg_len)
{
    json_t *m = json_object();
    size_t i;
    json_t *e;

    json_array_foreach(list, i, e)
    {
        json_t *k, *v;
        if (json_is_null(e)) {
            continue;
        }
        k = json_is_object(e) ? json_object_get(e, kname) : NULL;
        v = json_is_object(e) ? json_object_get(e, vname) : NULL;
        if (!json_is_string(k)) {
            char what[96];
            snprintf(what, sizeof what, "%s.%zu.%s", param, i + 1, kname);
            json_decref(m);
            return fail(code, "InvalidParameterValue", errmsg, errmsg_len,
                        "The request must contain the parameter %s.", what);
        }
        json_object_set_new(m, json_string_value(k),
                            v != NULL ? json_incref(v) : json_string(""));
    }
    *out = m;
    return 0;
}

/* Drop the holes a sparse numbering left in @list. */
static json_t *compact(json_t *list)
{
    json_t *c = json_array();
    size_t i;
    json_t *e;

    json_array_foreach(list, i, e)
    {
        if (!json_is_null(e)) {
            json_array_append(c, e);
        }
    }
    return c;
}

/* The renames: query element name -> JSON member, and how. */
enum { R_MAP_NAME_VALUE, R_MAP_KEY_VALUE, R_LIST };
static const struct
{
    const char *from;
    const char *to;
    int how;
} renames[] = {
    {"Attribute", "Attributes", R_MAP_NAME_VALUE},
    {"MessageAttribute", "MessageAttributes", R_MAP_NAME_VALUE},
    {"MessageSystemAttribute", "MessageSystemAttributes", R_MAP_NAME_VALUE},
    {"Tag", "Tags", R_MAP_KEY_VALUE},
    {"AttributeName", "AttributeNames", R_LIST},
    {"MessageAttributeName", "MessageAttributeNames", R_LIST},
    {"MessageSystemAttributeName", "MessageSystemAttributeNames", R_LIST},
    {"TagKey", "TagKeys", R_LIST},
};

static int renameTree(json_t *o, const char **code, char *errmsg, size_t errmsg_len)
{
    const char *key;
    json_t *v;
    void *tmp;
    json_t *add = json_object();
    int rv = 0;

    json_object_foreach_safe(o, tmp, key, v)
    {
        size_t klen = strlen(key);
        size_t r;
        bool done = false;

        if (json_is_string(v) && json_string_length(v) == 0) {
            /* botocore sends an empty list or map as "Member=" under its
             * JSON member name (Entries=, AttributeNames=, Attributes=). */
            for (r = 0; r < sizeof renames / sizeof renames[0]; r++) {
                if (strcmp(key, renames[r].to) == 0 || strcmp(key, renames[r].from) == 0) {
                    break;
                }
            }
            if (strcmp(key, "Entries") == 0 || (r < sizeof renames / sizeof renames[0] &&
                                                renames[r].how == R_LIST)) {
                json_object_set_new(o, strcmp(key, "Entries") == 0 ? key : renames[r].to,
                                    json_array());
            } else if (r < sizeof renames / sizeof renames[0]) {
                json_object_set_new(o, renames[r].to, json_object());
            }
            if (r < sizeof renames / sizeof renames[0] && strcmp(key, renames[r].to) != 0) {
                json_object_del(o, key);
            }
            continue;
        }
        if (!json_is_array(v)) {
            continue;
        }
        for (r = 0; r < sizeof renames / sizeof renames[0] && !done; r++) {
            json_t *out = NULL;
            if (strcmp(key, renames[r].from) != 0) {
                continue;
            }
            done = true;
            if (renames[r].how == R_LIST) {
                out = compact(v);
            } else if (listToMap(key, v, renames[r].how == R_MAP_KEY_VALUE ? "Key" : "Name",
                                 "Value", &out, code, errmsg, errmsg_len) != 0) {
                rv = -1;
                goto done;
            }
            json_object_set_new(add, renames[r].to, out);
            json_object_del(o, key);
        }
        if (!done && klen > 12 && strcmp(key + klen - 12, "RequestEntry") == 0) {
            json_t *entries = compact(v);
            size_t i;
            json_t *e;
            json_array_foreach(entries, i, e)
            {
                if (json_is_object(e) && renameTree(e, code, errmsg, errmsg_len) != 0) {
                    json_decref(entries);
                    rv = -1;
                    goto done;
                }
            }
            json_object_set_new(add, "Entries", entries);
            json_object_del(o, key);
        }
    }
    json_object_update(o, add);
done:
    json_decref(add);
    return rv;
}

int httpQueryParams(const json_t *form, json_t **params, const char **code, char *errmsg,
                    size_t errmsg_len)
{
    json_t *root = json_object();
    const char *key;
    json_t *v;

    *params = NULL;
    json_object_foreach((json_t *)form, key, v)
    {
        char path[256];

        if (isEnvelopeKey(key)) {
            continue;
        }
        if (strlen(key) >= sizeof path) {
            json_decref(root);
            return fail(code, "MalformedQueryString", errmsg, errmsg_len,
                        "The parameter name %.64s... is too long.", key);
        }
        strcpy(path, key);
        if (nest(root, path, v) != 0) {
            json_decref(root);
            return fail(code, "MalformedQueryString", errmsg, errmsg_len,
                        "The parameter %s is malformed or contradicts another.", key);
        }
    }
    if (renameTree(root, code, errmsg, errmsg_len) != 0) {
        json_decref(root);
        return -1;
    }
    *params = root;
    return 0;
}
