/* AWS Signature Version 4: the credentials file, and the check of every
 * request's Authorization header (OpenSSL's HMAC-SHA-256).
 *
 * The happy path: `Authorization: AWS4-HMAC-SHA256 Credential=KEY/DATE/
 * REGION/SERVICE/aws4_request, SignedHeaders=a;b;c, Signature=HEX`. The
 * canonical request is the method, the URI-encoded path, the sorted
 * canonical query, each signed header (lower-cased name, trimmed value
 * with inner runs of spaces collapsed), the signed header list and the
 * payload's hash (x-amz-content-sha256 when given, else SHA-256 of the
 * body). The string to sign is the algorithm, X-Amz-Date, the credential
 * scope and the canonical request's hash; the key is derived from the
 * secret through the scope's date, region, service and "aws4_request";
 * the signature is compared in constant time.
 *
 * Failure modes, with AWS's codes: no Authorization header
 * (MissingAuthenticationToken), one that is not the above or lacks a date
 * (IncompleteSignature), a scope for another region or service
 * (SignatureDoesNotMatch), an access key not in the file
 * (InvalidClientTokenId), X-Amz-Date more than 15 minutes from now
 * (RequestExpired, "Signature expired"), a signature that differs
 * (SignatureDoesNotMatch). Presigned URLs (X-Amz-Signature in the query)
 * are not accepted.
 */
#include "node/http/http.h"

#include <ctype.h>
#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* ---------------------------------------------------------------------- */
/* credentials                                                             */

int httpKeysLoad(const char *path, struct httpKeys *k, char *errmsg, size_t errmsg_len)
{
    FILE *f = fopen(path, "r");
    char line[512];
    unsigned lineno = 0;

    memset(k, 0, sizeof *k);
    if (f == NULL) {
        snprintf(errmsg, errmsg_len, "--credentials %s: %s", path, strerror(errno));
        return -1;
    }
    while (fgets(line, sizeof line, f) != NULL) {
        char id[256], secret[256], account[64], extra[8];
        struct httpKey *grown;
        int n;
        size_t i;

        lineno++;
        n = sscanf(line, "%255s %255s %63s %7s", id, secret, account, extra);
        if (n <= 0 || id[0] == '#') {
            continue;
        }
        if (n != 3 || strlen(id) >= sizeof k->keys[0].id ||
            strlen(secret) >= sizeof k->keys[0].secret || strlen(account) != 12) {
            snprintf(errmsg, errmsg_len,
                     "%s:%u: expected ACCESS_KEY_ID SECRET_ACCESS_KEY ACCOUNT_ID (12 digits)",
                     path, lineno);
            goto err;
        }
        for (i = 0; i < 12; i++) {
            if (!isdigit((unsigned char)account[i])) {
                snprintf(errmsg, errmsg_len, "%s:%u: the account id must be 12 digits", path,
                         lineno);
                goto err;
            }
        }
        grown = realloc(k->keys, (k->n + 1) * sizeof *k->keys);
        if (grown == NULL) {
            snprintf(errmsg, errmsg_len, "out of memory");
            goto err;
        }
        k->keys = grown;
        snprintf(k->keys[k->n].id, sizeof k->keys[k->n].id, "%s", id);
        snprintf(k->keys[k->n].secret, sizeof k->keys[k->n].secret, "%s", secret);
        snprintf(k->keys[k->n].account, sizeof k->keys[k->n].account, "%s", account);
        k->n++;
    }
    fclose(f);
    return 0;
err:
    fclose(f);
    httpKeysFree(k);
    return -1;
}

void httpKeysFree(struct httpKeys *k)
{
    if (k->keys != NULL) {
        OPENSSL_cleanse(k->keys, k->n * sizeof *k->keys);
    }
    free(k->keys);
    memset(k, 0, sizeof *k);
}

/* ---------------------------------------------------------------------- */
/* canonical request                                                       */

static void hex(const unsigned char *p, size_t n, char *out)
{
    size_t i;
    for (i = 0; i < n; i++) {
        snprintf(out + 2 * i, 3, "%02x", p[i]);
    }
}

static void sha256Hex(const void *p, size_t n, char out[65])
{
    unsigned char md[32];
    unsigned len = 0;
    EVP_Digest(p, n, md, &len, EVP_sha256(), NULL);
    hex(md, 32, out);
}

static void hmac(const void *key, size_t key_len, const void *data, size_t len,
                 unsigned char out[32])
{
    unsigned n = 32;
    HMAC(EVP_sha256(), key, (int)key_len, data, len, out, &n);
}

static bool unreserved(unsigned char c)
{
    return isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~';
}

/* AWS's URI encoding of @len bytes; '/' kept when @keep_slash. */
static void uriEncode(struct httpBuf *b, const char *s, size_t len, bool keep_slash)
{
    size_t i;
    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (unreserved(c) || (keep_slash && c == '/')) {
            httpBufAdd(b, &s[i], 1);
        } else {
            httpBufPrintf(b, "%%%02X", c);
        }
    }
}

static int hexDigit(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    c = (char)tolower((unsigned char)c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Percent-decode (no '+' rule: SigV4 query) into a malloc'd buffer. */
static char *pctDecode(const char *s, size_t len, size_t *out_len)
{
    char *o = malloc(len + 1);
    size_t i, n = 0;

    if (o == NULL) {
        return NULL;
    }
    for (i = 0; i < len; i++) {
        if (s[i] == '%' && i + 2 < len && hexDigit(s[i + 1]) >= 0 && hexDigit(s[i + 2]) >= 0) {
            o[n++] = (char)(hexDigit(s[i + 1]) * 16 + hexDigit(s[i + 2]));
            i += 2;
        } else {
            o[n++] = s[i];
        }
    }
    o[n] = '\0';
    *out_len = n;
    return o;
}

static int cmpStrp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The canonical query string of @q (@len bytes, without '?'). */
static int canonicalQuery(struct httpBuf *b, const char *q, size_t len)
{
    char **pairs = NULL;
    size_t n = 0, i, pos = 0;
    int rv = -1;

    while (pos < len) {
        const char *amp = memchr(q + pos, '&', len - pos);
        size_t plen = amp != NULL ? (size_t)(amp - (q + pos)) : len - pos;
        const char *eq = memchr(q + pos, '=', plen);
        size_t klen = eq != NULL ? (size_t)(eq - (q + pos)) : plen;
        size_t dk, dv;
        char *k, *v;
        struct httpBuf e;
        char **grown;

        if (plen > 0) {
            k = pctDecode(q + pos, klen, &dk);
            v = pctDecode(eq != NULL ? eq + 1 : "", eq != NULL ? plen - klen - 1 : 0, &dv);
            grown = realloc(pairs, (n + 1) * sizeof *pairs);
            if (k == NULL || v == NULL || grown == NULL) {
                free(k);
                free(v);
                free(grown != NULL ? grown : pairs);
                pairs = NULL;
                n = 0;
                goto done;
            }
            pairs = grown;
            httpBufInit(&e);
            uriEncode(&e, k, dk, false);
            httpBufStr(&e, "=");
            uriEncode(&e, v, dv, false);
            free(k);
            free(v);
            pairs[n++] = e.p != NULL ? e.p : strdup("=");
        }
        pos += plen + 1;
    }
    qsort(pairs, n, sizeof *pairs, cmpStrp);
    for (i = 0; i < n; i++) {
        if (i > 0) {
            httpBufStr(b, "&");
        }
        httpBufStr(b, pairs[i]);
    }
    rv = 0;
done:
    for (i = 0; i < n; i++) {
        free(pairs[i]);
    }
    free(pairs);
    return rv;
}

/* Append header @name's values (every occurrence, comma-joined), trimmed
 * and with inner runs of spaces collapsed. false if absent. */
static bool headerValue(const struct httpSigRequest *r, const char *name, size_t name_len,
                        struct httpBuf *b)
{
    size_t i, j;
    bool found = false;

    for (i = 0; i < r->n_headers; i++) {
        const char *v = r->values[i];
        size_t vl = r->value_lens[i];
        bool space = false;

        if (r->name_lens[i] != name_len || strncasecmp(r->names[i], name, name_len) != 0) {
            continue;
        }
        if (found) {
            httpBufStr(b, ",");
        }
        found = true;
        while (vl > 0 && (*v == ' ' || *v == '\t')) {
            v++;
            vl--;
        }
        while (vl > 0 && (v[vl - 1] == ' ' || v[vl - 1] == '\t')) {
            vl--;
        }
        for (j = 0; j < vl; j++) {
            if (v[j] == ' ' || v[j] == '\t') {
                space = true;
                continue;
            }
            if (space) {
                httpBufStr(b, " ");
                space = false;
            }
            httpBufAdd(b, &v[j], 1);
        }
    }
    return found;
}

int httpSigv4Sign(const struct httpSigRequest *r, const char *secret, const char *amz_date,
                  const char *scope, const char *signed_headers, char out[65])
{
    struct httpBuf cr, sts, hv;
    const char *qmark = memchr(r->path, '?', r->path_len);
    size_t plen = qmark != NULL ? (size_t)(qmark - r->path) : r->path_len;
    const char *h = signed_headers;
    char hash[65];
    char date[9], region[64], service[64];
    unsigned char k1[32], k2[32], k3[32], k4[32], sig[32];
    char key[160];
    int rv = -1;

    if (sscanf(scope, "%8[0-9]/%63[^/]/%63[^/]/aws4_request", date, region, service) != 3) {
        return -1;
    }
    httpBufInit(&cr);
    httpBufInit(&sts);
    httpBufInit(&hv);
    httpBufAdd(&cr, r->method, r->method_len);
    httpBufStr(&cr, "\n");
    if (plen == 0) {
        httpBufStr(&cr, "/");
    } else {
        uriEncode(&cr, r->path, plen, true);
    }
    httpBufStr(&cr, "\n");
    if (qmark != NULL && canonicalQuery(&cr, qmark + 1, r->path_len - plen - 1) != 0) {
        goto done;
    }
    httpBufStr(&cr, "\n");
    while (*h != '\0') {
        const char *semi = strchr(h, ';');
        size_t n = semi != NULL ? (size_t)(semi - h) : strlen(h);
        size_t i;
        for (i = 0; i < n; i++) {
            char c = (char)tolower((unsigned char)h[i]);
            httpBufAdd(&cr, &c, 1);
        }
        httpBufStr(&cr, ":");
        hv.len = 0;
        if (!headerValue(r, h, n, &hv)) {
            goto done; /* a signed header that is not there */
        }
        httpBufAdd(&cr, hv.p, hv.len);
        httpBufStr(&cr, "\n");
        h += n;
        if (*h == ';') {
            h++;
        }
    }
    httpBufStr(&cr, "\n");
    httpBufStr(&cr, signed_headers);
    httpBufStr(&cr, "\n");
    hv.len = 0;
    if (headerValue(r, "x-amz-content-sha256", 20, &hv) && hv.len == 64) {
        httpBufAdd(&cr, hv.p, hv.len);
    } else {
        sha256Hex(r->body != NULL ? r->body : "", r->body_len, hash);
        httpBufStr(&cr, hash);
    }
    if (cr.oom) {
        goto done;
    }
    sha256Hex(cr.p, cr.len, hash);
    httpBufPrintf(&sts, "AWS4-HMAC-SHA256\n%s\n%s\n%s", amz_date, scope, hash);
    snprintf(key, sizeof key, "AWS4%s", secret);
    hmac(key, strlen(key), date, strlen(date), k1);
    hmac(k1, 32, region, strlen(region), k2);
    hmac(k2, 32, service, strlen(service), k3);
    hmac(k3, 32, "aws4_request", 12, k4);
    if (sts.oom) {
        goto done;
    }
    hmac(k4, 32, sts.p, sts.len, sig);
    hex(sig, 32, out);
    rv = 0;
done:
    OPENSSL_cleanse(key, sizeof key);
    httpBufFree(&cr);
    httpBufFree(&sts);
    httpBufFree(&hv);
    return rv;
}

/* ---------------------------------------------------------------------- */
/* verification                                                            */

static int refuse(const char **code, const char *name, char *errmsg, size_t len,
                  const char *text)
{
    *code = name;
    snprintf(errmsg, len, "%s", text);
    return -1;
}

/* Copy the value of "NAME=" from the Authorization parameters (up to ','
 * or the end) into @out. */
static bool authParam(const char *auth, const char *name, char *out, size_t cap)
{
    size_t nl = strlen(name);
    const char *p = auth;

    while ((p = strstr(p, name)) != NULL) {
        if ((p == auth || p[-1] == ' ' || p[-1] == ',') && p[nl] == '=') {
            const char *v = p + nl + 1;
            size_t n = strcspn(v, ", ");
            if (n == 0 || n >= cap) {
                return false;
            }
            memcpy(out, v, n);
            out[n] = '\0';
            return true;
        }
        p += nl;
    }
    return false;
}

/* Seconds since the epoch of "YYYYMMDDTHHMMSSZ", or -1. */
static int64_t amzTime(const char *s)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    if (strlen(s) != 16 || s[8] != 'T' || s[15] != 'Z' ||
        sscanf(s, "%4d%2d%2dT%2d%2d%2dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
               &tm.tm_min, &tm.tm_sec) != 6) {
        return -1;
    }
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (int64_t)timegm(&tm);
}

int httpSigv4Verify(const struct httpSigRequest *r, const struct httpKeys *keys,
                    const char *service, const char *region, int64_t now, char account[13],
                    const char **code, char *errmsg, size_t errmsg_len)
{
    struct httpBuf auth, date;
    char credential[512], signed_headers[1024], signature[128];
    char key_id[129], scope[300], expected[65];
    const struct httpKey *key = NULL;
    const char *slash;
    int64_t t;
    size_t i;
    int rv = -1;

    httpBufInit(&auth);
    httpBufInit(&date);
    if (!headerValue(r, "authorization", 13, &auth) || auth.len == 0) {
        refuse(code, "MissingAuthenticationToken", errmsg, errmsg_len,
               "Request is missing Authentication Token");
        goto done;
    }
    if (auth.oom || strncmp(auth.p, "AWS4-HMAC-SHA256 ", 17) != 0 ||
        !authParam(auth.p + 17, "Credential", credential, sizeof credential) ||
        !authParam(auth.p + 17, "SignedHeaders", signed_headers, sizeof signed_headers) ||
        !authParam(auth.p + 17, "Signature", signature, sizeof signature)) {
        refuse(code, "IncompleteSignature", errmsg, errmsg_len,
               "Authorization header requires 'Credential', 'SignedHeaders' and 'Signature' "
               "parameters, with the AWS4-HMAC-SHA256 algorithm.");
        goto done;
    }
    slash = strchr(credential, '/');
    if (slash == NULL || (size_t)(slash - credential) >= sizeof key_id ||
        strlen(slash + 1) >= sizeof scope) {
        refuse(code, "IncompleteSignature", errmsg, errmsg_len,
               "Credential must be KEY/DATE/REGION/SERVICE/aws4_request.");
        goto done;
    }
    memcpy(key_id, credential, (size_t)(slash - credential));
    key_id[slash - credential] = '\0';
    snprintf(scope, sizeof scope, "%s", slash + 1);
    if (!headerValue(r, "x-amz-date", 10, &date) || date.oom ||
        (t = amzTime(date.p)) < 0) {
        refuse(code, "IncompleteSignature", errmsg, errmsg_len,
               "Authorization header requires existence of a valid 'X-Amz-Date' header.");
        goto done;
    }
    {
        char d[9], reg[64], svc[64];
        if (sscanf(scope, "%8[0-9]/%63[^/]/%63[^/]/aws4_request", d, reg, svc) != 3 ||
            strncmp(d, date.p, 8) != 0 || strcmp(svc, service) != 0 ||
            strcmp(scope + strlen(scope) - 13, "/aws4_request") != 0) {
            refuse(code, "SignatureDoesNotMatch", errmsg, errmsg_len,
                   "Credential should be scoped to a valid date, region and service 'sqs', "
                   "ending in aws4_request.");
            goto done;
        }
        if (region != NULL && strcmp(reg, region) != 0) {
            *code = "SignatureDoesNotMatch";
            snprintf(errmsg, errmsg_len, "Credential should be scoped to a valid region, not '%s'.",
                     reg);
            goto done;
        }
    }
    for (i = 0; i < keys->n; i++) {
        if (strcmp(keys->keys[i].id, key_id) == 0) {
            key = &keys->keys[i];
        }
    }
    if (key == NULL) {
        refuse(code, "InvalidClientTokenId", errmsg, errmsg_len,
               "The security token included in the request is invalid.");
        goto done;
    }
    if (t < now - HTTP_SIGV4_SKEW_S || t > now + HTTP_SIGV4_SKEW_S) {
        char nowtext[20];
        time_t tt = (time_t)now;
        struct tm tm;
        gmtime_r(&tt, &tm);
        strftime(nowtext, sizeof nowtext, "%Y%m%dT%H%M%SZ", &tm);
        *code = "RequestExpired";
        snprintf(errmsg, errmsg_len,
                 "Signature expired: %s is now earlier than %s (%s - 15 min.)", date.p,
                 nowtext, nowtext);
        if (t > now) {
            snprintf(errmsg, errmsg_len,
                     "Signature not yet current: %s is still later than %s (%s + 15 min.)",
                     date.p, nowtext, nowtext);
        }
        goto done;
    }
    if (strlen(signature) != 64 ||
        httpSigv4Sign(r, key->secret, date.p, scope, signed_headers, expected) != 0 ||
        CRYPTO_memcmp(expected, signature, 64) != 0) {
        refuse(code, "SignatureDoesNotMatch", errmsg, errmsg_len,
               "The request signature we calculated does not match the signature you "
               "provided. Check your AWS Secret Access Key and signing method. Consult the "
               "service documentation for details.");
        goto done;
    }
    memcpy(account, key->account, 13);
    rv = 0;
done:
    httpBufFree(&auth);
    httpBufFree(&date);
    return rv;
}
