"""Shared helpers of the boto3-based suites (tests/aws/test_*.py).

The happy path is: tests/aws/run starts a 3-node cluster, exports where it is
(QRAFT_AWS_* and AWS_* variables) and runs each suite through runner.py; the
suites build boto3 clients with client(), sign hand-made requests with
signedRequest() and check every digest a response carries with the MD5
checker that client() installs. Failure modes: a missing variable raises
KeyError at import (the harness did not start us); an HTTP error comes back
as a (status, headers, body) tuple, never as an exception, so that tests can
assert on AWS's error shapes.

Debian's botocore (1.29) does not check SQS's MD5 digests itself (newer SDKs
do), so client() registers handlers that do what the SDKs do: compare
MD5OfMessageBody, MD5OfMessageAttributes and MD5OfMessageSystemAttributes of
SendMessage, SendMessageBatch and ReceiveMessage answers with digests
computed here, and fail the call on a mismatch.
"""

import datetime
import hashlib
import http.client
import json
import os
import struct
import time
import urllib.parse
import urllib.request
import uuid
import xml.etree.ElementTree as ET
from unittest import mock

import boto3
import botocore.auth
import botocore.config
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

# Where the harness put the cluster: one HTTP endpoint per node, node 1 first.
ENDPOINTS = os.environ["QRAFT_AWS_ENDPOINTS"].split()
# The access key the cluster was started with.
ACCESS_KEY = os.environ["AWS_ACCESS_KEY_ID"]
SECRET_KEY = os.environ["AWS_SECRET_ACCESS_KEY"]
ACCOUNT = os.environ["QRAFT_AWS_ACCOUNT"]
REGION = os.environ.get("AWS_DEFAULT_REGION", "us-east-1")
# A tag that makes this run's queue names unique.
RUN = os.environ.get("QRAFT_AWS_RUN", uuid.uuid4().hex[:6])
# The XML namespace of SQS query responses.
NS = "{http://queue.amazonaws.com/doc/2012-11-05/}"


class DigestMismatch(Exception):
    """An SQS answer carried an MD5 that is not the digest of its content."""


def md5Hex(data):
    """The lower-case hex MD5 of bytes or text (UTF-8)."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    return hashlib.md5(data).hexdigest()


def attributesDigest(attrs):
    """MD5OfMessageAttributes as AWS computes it: for each attribute in name
    order, length-prefixed name and data type, a transport byte (1 string or
    number, 2 binary) and the length-prefixed value."""
    out = bytearray()

    def put(b):
        if isinstance(b, str):
            b = b.encode("utf-8")
        out.extend(struct.pack(">I", len(b)))
        out.extend(b)

    for name in sorted(attrs):
        a = attrs[name]
        put(name)
        put(a["DataType"])
        if "BinaryValue" in a and a["BinaryValue"] is not None:
            out.append(2)
            put(a["BinaryValue"])
        else:
            out.append(1)
            put(a["StringValue"])
    return hashlib.md5(bytes(out)).hexdigest()


def _rememberParams(params, context, **kwargs):
    """before-parameter-build handler: keep the call's parameters for the
    after-call digest check."""
    context["qraft_params"] = dict(params)


def _checkSend(entry, result, where):
    """Compare one sent message's digests with the ones SQS returned."""
    if result.get("MD5OfMessageBody") != md5Hex(entry["MessageBody"]):
        raise DigestMismatch("%s: MD5OfMessageBody %r is not md5(body) %r" % (
            where, result.get("MD5OfMessageBody"), md5Hex(entry["MessageBody"])))
    if entry.get("MessageAttributes"):
        want = attributesDigest(entry["MessageAttributes"])
        if result.get("MD5OfMessageAttributes") != want:
            raise DigestMismatch("%s: MD5OfMessageAttributes %r, expected %r" % (
                where, result.get("MD5OfMessageAttributes"), want))
    if entry.get("MessageSystemAttributes"):
        want = attributesDigest(entry["MessageSystemAttributes"])
        if result.get("MD5OfMessageSystemAttributes") != want:
            raise DigestMismatch("%s: MD5OfMessageSystemAttributes %r, expected %r" % (
                where, result.get("MD5OfMessageSystemAttributes"), want))


def _checkDigests(http_response, parsed, model, context, **kwargs):
    """after-call handler: the SDKs' MD5 validation of SQS answers."""
    if http_response.status_code != 200 or parsed is None:
        return
    params = context.get("qraft_params", {})
    if model.name == "SendMessage":
        _checkSend(params, parsed, "SendMessage")
    elif model.name == "SendMessageBatch":
        byId = {e["Id"]: e for e in params.get("Entries", [])}
        for ok in parsed.get("Successful", []):
            _checkSend(byId[ok["Id"]], ok, "SendMessageBatch entry " + ok["Id"])
    elif model.name == "ReceiveMessage":
        wantAll = "All" in params.get("MessageAttributeNames", []) or \
            ".*" in params.get("MessageAttributeNames", [])
        for m in parsed.get("Messages", []):
            if m.get("MD5OfBody") != md5Hex(m["Body"]):
                raise DigestMismatch("ReceiveMessage: MD5OfBody %r is not md5(body) %r" % (
                    m.get("MD5OfBody"), md5Hex(m["Body"])))
            if wantAll and m.get("MessageAttributes"):
                want = attributesDigest(m["MessageAttributes"])
                if m.get("MD5OfMessageAttributes") != want:
                    raise DigestMismatch("ReceiveMessage: MD5OfMessageAttributes %r, expected %r" % (
                        m.get("MD5OfMessageAttributes"), want))


def client(endpoint=None, secret=None, key=None, retries=2, readTimeout=30, connectTimeout=5):
    """A boto3 SQS client (query protocol) for one node, digest checks on."""
    cfg = botocore.config.Config(
        region_name=REGION,
        retries={"max_attempts": retries, "mode": "standard"},
        read_timeout=readTimeout,
        connect_timeout=connectTimeout,
    )
    c = boto3.session.Session().client(
        "sqs",
        endpoint_url=endpoint or ENDPOINTS[0],
        aws_access_key_id=key or ACCESS_KEY,
        aws_secret_access_key=secret or SECRET_KEY,
        region_name=REGION,
        config=cfg,
    )
    for op in ("SendMessage", "SendMessageBatch", "ReceiveMessage"):
        c.meta.events.register("before-parameter-build.sqs." + op, _rememberParams)
        c.meta.events.register("after-call.sqs." + op, _checkDigests)
    return c


def queueName(stem):
    """A queue name unique to this run."""
    return "%s-%s-%s" % (stem, RUN, uuid.uuid4().hex[:6])


class _OldClock(datetime.datetime):
    """A datetime whose utcnow() is behind by _OldClock.lag."""
    lag = datetime.timedelta(0)

    @classmethod
    def utcnow(cls):
        return datetime.datetime.utcnow() - cls.lag


def sign(req, key=None, secret=None, ageSeconds=0):
    """Sign an AWSRequest with SigV4 for service sqs; ageSeconds > 0 signs
    it as if it were made that long ago."""
    signer = botocore.auth.SigV4Auth(Credentials(key or ACCESS_KEY, secret or SECRET_KEY), "sqs", REGION)
    if ageSeconds:
        _OldClock.lag = datetime.timedelta(seconds=ageSeconds)
        shim = type("datetimeShim", (), {"datetime": _OldClock, "timedelta": datetime.timedelta})
        with mock.patch.object(botocore.auth, "datetime", shim):
            signer.add_auth(req)
    else:
        signer.add_auth(req)
    return req


def send(endpoint, method, path, body, headers, timeout=30):
    """One HTTP exchange on a fresh connection: (status, headers dict with
    lower-case names, body bytes). A connection error raises OSError."""
    u = urllib.parse.urlsplit(endpoint)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers)
        r = conn.getresponse()
        data = r.read()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, data
    finally:
        conn.close()


def signedRequest(endpoint, body, contentType, target=None, path="/", key=None, secret=None,
                  ageSeconds=0, tamper=None, unsigned=False, timeout=30):
    """POST body (bytes or str) to endpoint+path, signed with SigV4 unless
    unsigned; tamper(req) may change the request after signing. Returns
    (status, headers, body bytes)."""
    if isinstance(body, str):
        body = body.encode("utf-8")
    headers = {"Content-Type": contentType}
    if target:
        headers["X-Amz-Target"] = target
    req = AWSRequest(method="POST", url=endpoint + path, data=body, headers=headers)
    if not unsigned:
        sign(req, key, secret, ageSeconds)
    if tamper:
        tamper(req)
    hdrs = {k: v for k, v in req.headers.items()}
    return send(endpoint, "POST", path, req.body, hdrs, timeout)


def queryRequest(endpoint, params, **kw):
    """A signed query-protocol request: params is a dict or list of pairs;
    Version is added. Returns (status, headers, body)."""
    pairs = list(params.items()) if isinstance(params, dict) else list(params)
    if not any(k == "Version" for k, _ in pairs):
        pairs.append(("Version", "2012-11-05"))
    body = urllib.parse.urlencode(pairs)
    return signedRequest(endpoint, body, "application/x-www-form-urlencoded; charset=utf-8", **kw)


def jsonRequest(endpoint, operation, payload, **kw):
    """A signed JSON 1.0 request (payload: dict or raw str/bytes)."""
    body = payload if isinstance(payload, (str, bytes)) else json.dumps(payload)
    return signedRequest(endpoint, body, "application/x-amz-json-1.0",
                         target="AmazonSQS." + operation, **kw)


def xmlError(body):
    """(Type, Code, Message) of a query-protocol ErrorResponse, or None if
    body is not one."""
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        return None
    if not root.tag.endswith("ErrorResponse"):
        return None
    err = None
    for child in root.iter():
        if child.tag.endswith("Error") and not child.tag.endswith("ErrorResponse"):
            err = child
            break
    if err is None:
        return None

    def text(name):
        for c in err:
            if c.tag.endswith(name):
                return c.text or ""
        return None
    return text("Type"), text("Code"), text("Message")


def xmlFind(body, name):
    """Texts of every element called name (any namespace) in an XML body."""
    root = ET.fromstring(body)
    return [e.text or "" for e in root.iter() if e.tag.split("}")[-1] == name]


def httpGet(endpoint, path, timeout=10):
    """GET with urllib; (status, body text) for 2xx and HTTP errors alike."""
    try:
        with urllib.request.urlopen(endpoint + path, timeout=timeout) as r:
            return r.status, r.read().decode("utf-8", "replace"), dict(r.headers)
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode("utf-8", "replace"), dict(e.headers)


def leaderId(timeoutSeconds=20):
    """The id of the node that the qraft CLI reports as leader, or None."""
    import subprocess
    servers = os.environ["QRAFT_AWS_SERVERS"]
    deadline = time.time() + timeoutSeconds
    while time.time() < deadline:
        try:
            out = subprocess.run([os.environ["QRAFT"], "-s", servers, "--timeout", "1000", "--json",
                                  "cluster", "status"], capture_output=True, text=True, timeout=10).stdout
        except subprocess.TimeoutExpired:
            out = ""
        for line in out.splitlines():
            try:
                row = json.loads(line)
            except ValueError:
                continue
            if row.get("state") == "leader":
                return int(row["id"])
        time.sleep(0.2)
    return None


def waitHealthy(endpoints=None, timeoutSeconds=30):
    """Wait (bounded) until GET /health answers 200 on every endpoint;
    returns the endpoints that never did."""
    pending = list(endpoints or ENDPOINTS)
    deadline = time.time() + timeoutSeconds
    while pending and time.time() < deadline:
        for e in list(pending):
            try:
                if httpGet(e, "/health", timeout=2)[0] == 200:
                    pending.remove(e)
            except OSError:
                pass
        if pending:
            time.sleep(0.2)
    return pending
