"""The endpoint's HTTP surface, below the SDKs: /health, /metrics, bad input,
both protocols' error shapes, keep-alive, pipelining, bounded sizes.

The happy path is: requests are built by hand (urllib, http.client, raw
sockets), signed with botocore's SigV4Auth where the endpoint would otherwise
refuse them for want of a signature, and each answer is checked for AWS's
shape: an XML ErrorResponse (Type, Code, Message, RequestId) for the query
protocol, a JSON body with __type for JSON 1.0. Every bad request must also
change nothing: the queue list (and a queue's message count) is the same
before and after. Failure modes: a connection the server closes without an
answer is a failure; every socket has a timeout.
"""

import json
import socket
import time
import unittest
import urllib.parse

import awsutil
from awsutil import ACCOUNT, ENDPOINTS, queueName

FORM = "application/x-www-form-urlencoded; charset=utf-8"
AMZJSON = "application/x-amz-json-1.0"


def sendWatching(sock, payload, chunk=65536):
    """Send payload in chunks, stopping early once the server has answered
    (it may refuse on the headers alone) or closed; never raises for a reset."""
    import select
    for i in range(0, len(payload), chunk):
        if select.select([sock], [], [], 0)[0]:
            return
        try:
            sock.sendall(payload[i:i + chunk])
        except (BrokenPipeError, ConnectionResetError):
            return


def readHead(sock, seconds=15):
    """Read until the end of a response's head, EOF, reset or the deadline."""
    data = b""
    deadline = time.time() + seconds
    while time.time() < deadline and b"\r\n\r\n" not in data:
        try:
            chunk = sock.recv(65536)
        except (ConnectionResetError, socket.timeout):
            break
        if not chunk:
            break
        data += chunk
    return data


class HttpTests(unittest.TestCase):
    """Health, metrics, malformed requests, connection handling."""

    @classmethod
    def setUpClass(cls):
        cls.c = awsutil.client(ENDPOINTS[0])
        cls.url = cls.c.create_queue(QueueName=queueName("http"))["QueueUrl"]

    def queues(self):
        """Every queue URL (the state bad input must not change)."""
        return sorted(self.c.list_queues(MaxResults=1000).get("QueueUrls", []))

    def depth(self):
        """The test queue's visible + in-flight + delayed count."""
        a = self.c.get_queue_attributes(QueueUrl=self.url, AttributeNames=["All"])["Attributes"]
        return sum(int(a[k]) for k in ("ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
                                       "ApproximateNumberOfMessagesDelayed"))

    def assertXmlError(self, answer, codes=None, status=400, what=""):
        """answer is an AWS query-protocol error (any code if codes is None)."""
        st, hdrs, body = answer
        self.assertEqual(st, status, "%s: HTTP %d, expected %d; body %r" % (what, st, status, body[:300]))
        err = awsutil.xmlError(body)
        self.assertIsNotNone(err, "%s: not an XML ErrorResponse: %r" % (what, body[:300]))
        self.assertIn(err[0], ("Sender", "Receiver"), "%s: Type %r" % (what, err[0]))
        self.assertTrue(err[1], "%s: empty Code" % what)
        if codes:
            self.assertIn(err[1], codes, "%s: Code %r (%s), expected %s" % (what, err[1], err[2], "/".join(codes)))
        self.assertTrue(awsutil.xmlFind(body, "RequestId"), "%s: no RequestId in %r" % (what, body[:300]))
        return err

    def assertJsonError(self, answer, suffixes=None, status=400, what=""):
        """answer is an AWS JSON 1.0 error whose __type ends with one of
        suffixes (any if None)."""
        st, hdrs, body = answer
        self.assertEqual(st, status, "%s: HTTP %d, expected %d; body %r" % (what, st, status, body[:300]))
        try:
            doc = json.loads(body)
        except ValueError:
            self.fail("%s: body is not JSON: %r" % (what, body[:300]))
        t = doc.get("__type", "")
        self.assertTrue(t, "%s: no __type in %r" % (what, doc))
        if suffixes:
            self.assertTrue(any(t.split("#")[-1] == s for s in suffixes),
                            "%s: __type %r, expected one of %s" % (what, t, "/".join(suffixes)))
        return doc, hdrs

    # health and metrics

    def test_health_on_every_node(self):
        for ep in ENDPOINTS:
            st, body, _ = awsutil.httpGet(ep, "/health")
            self.assertEqual(st, 200, "GET %s/health: %d %r" % (ep, st, body))
            self.assertEqual(body.strip(), "ok")

    def test_metrics(self):
        self.c.list_queues()
        for ep in ENDPOINTS:
            st, body, hdrs = awsutil.httpGet(ep, "/metrics")
            self.assertEqual(st, 200, "GET %s/metrics: %d" % (ep, st))
            ctype = {k.lower(): v for k, v in hdrs.items()}.get("content-type", "")
            self.assertTrue(ctype.startswith("text/plain"), "metrics Content-Type %r" % ctype)
            samples = 0
            for line in body.splitlines():
                if not line or line.startswith("#"):
                    continue
                name_labels, _, value = line.rpartition(" ")
                self.assertTrue(name_labels, "bad metrics line %r" % line)
                float(value)
                samples += 1
            self.assertGreater(samples, 5, "metrics with hardly any samples")
            self.assertIn("# TYPE", body)
            low = body.lower()
            for word in ("term", "commit", "applied", "request", "connection", "error", "poll"):
                self.assertIn(word, low, "/metrics on %s says nothing about %s" % (ep, word))
            self.assertRegex(body, r"(?m)^# TYPE \S+ histogram$", "/metrics on %s has no latency histogram" % ep)

    def test_metrics_count_operations(self):
        def count():
            total = 0.0
            for line in awsutil.httpGet(ENDPOINTS[0], "/metrics")[1].splitlines():
                metric = line.split("{")[0].split(" ")[0]
                if not line.startswith("#") and "ListQueueTags" in line and "request" in metric and \
                        metric.endswith("_total"):
                    total += float(line.rsplit(" ", 1)[1])
            return total
        before = count()
        self.c.list_queue_tags(QueueUrl=self.url)
        self.c.list_queue_tags(QueueUrl=self.url)
        self.assertGreaterEqual(count() - before, 2, "per-operation request counter for ListQueueTags on node 1")

    def test_metrics_long_poll_waiters(self):
        name = queueName("metw")
        url = self.c.create_queue(QueueName=name)["QueueUrl"]
        import threading
        th = threading.Thread(target=lambda: awsutil.client(ENDPOINTS[1]).receive_message(QueueUrl=url,
                                                                                          WaitTimeSeconds=8))
        th.start()
        try:
            waiting = 0.0
            deadline = time.time() + 5
            while waiting < 1 and time.time() < deadline:
                time.sleep(0.3)
                waiting = 0.0
                for ep in ENDPOINTS:
                    for line in awsutil.httpGet(ep, "/metrics")[1].splitlines():
                        if line and not line.startswith("#") and "waiter" in line.split("{")[0].split(" ")[0]:
                            waiting += float(line.rsplit(" ", 1)[1])
            self.assertGreaterEqual(waiting, 1, "a long poll in progress, yet no waiter gauge above 0")
        finally:
            self.c.send_message(QueueUrl=url, MessageBody="release")
            th.join(15)

    def test_metrics_per_queue(self):
        name = queueName("metq")
        url = self.c.create_queue(QueueName=name)["QueueUrl"]
        self.c.send_message(QueueUrl=url, MessageBody="m")
        deadline = time.time() + 10
        found = []
        while not found and time.time() < deadline:
            found = [ep for ep in ENDPOINTS if name in awsutil.httpGet(ep, "/metrics")[1]]
            if not found:
                time.sleep(0.5)
        self.assertTrue(found, "no node's /metrics mentions queue %s (per-queue visible/in-flight/delayed)" % name)

    # both protocols' error shapes

    def test_query_error_shape(self):
        answer = awsutil.queryRequest(ENDPOINTS[1], {"Action": "GetQueueUrl", "QueueName": queueName("none")})
        err = self.assertXmlError(answer, ("AWS.SimpleQueueService.NonExistentQueue",), what="GetQueueUrl missing")
        self.assertEqual(err[0], "Sender")
        self.assertTrue(answer[1].get("content-type", "").startswith("text/xml"),
                        "query error Content-Type %r" % answer[1].get("content-type"))

    def test_json_error_shape(self):
        answer = awsutil.jsonRequest(ENDPOINTS[1], "GetQueueUrl", {"QueueName": queueName("none")})
        doc, hdrs = self.assertJsonError(answer, ("QueueDoesNotExist",), what="JSON GetQueueUrl missing")
        self.assertEqual(doc["__type"], "com.amazonaws.sqs#QueueDoesNotExist")
        self.assertTrue(doc.get("message"), "JSON error without message: %r" % doc)
        self.assertEqual(hdrs.get("x-amzn-query-error"), "AWS.SimpleQueueService.NonExistentQueue;Sender")

    def test_json_validation_error_shape(self):
        answer = awsutil.jsonRequest(ENDPOINTS[0], "ReceiveMessage", {"QueueUrl": self.url, "MaxNumberOfMessages": 11})
        doc, hdrs = self.assertJsonError(answer, ("InvalidParameterValueException",),
                                         what="JSON ReceiveMessage MaxNumberOfMessages 11")
        self.assertEqual(hdrs.get("x-amzn-query-error"), "InvalidParameterValue;Sender")

    def test_json_missing_parameter_shape(self):
        answer = awsutil.jsonRequest(ENDPOINTS[0], "SendMessage", {"QueueUrl": self.url})
        doc, hdrs = self.assertJsonError(answer, what="JSON SendMessage without MessageBody")
        self.assertEqual(hdrs.get("x-amzn-query-error"), "MissingParameter;Sender",
                         "JSON SendMessage without MessageBody: %r" % doc)

    def test_json_batch_error_shape(self):
        answer = awsutil.jsonRequest(ENDPOINTS[0], "SendMessageBatch", {"QueueUrl": self.url, "Entries": []})
        doc, hdrs = self.assertJsonError(answer, ("EmptyBatchRequest",), what="JSON SendMessageBatch Entries []")
        self.assertEqual(doc["__type"], "com.amazonaws.sqs#EmptyBatchRequest")
        self.assertEqual(hdrs.get("x-amzn-query-error"), "AWS.SimpleQueueService.EmptyBatchRequest;Sender")

    def test_json_protocol_round_trip(self):
        name = queueName("json")
        st, _, body = awsutil.jsonRequest(ENDPOINTS[2], "CreateQueue", {"QueueName": name})
        self.assertEqual(st, 200, body)
        url = json.loads(body)["QueueUrl"]
        self.assertEqual(url, "%s/%s/%s" % (ENDPOINTS[2], ACCOUNT, name))
        st, _, body = awsutil.jsonRequest(ENDPOINTS[0], "SendMessage", {"QueueUrl": url, "MessageBody": "j"})
        self.assertEqual(st, 200, body)
        self.assertEqual(json.loads(body)["MD5OfMessageBody"], awsutil.md5Hex("j"))
        st, _, body = awsutil.jsonRequest(ENDPOINTS[1], "ReceiveMessage", {"QueueUrl": url, "WaitTimeSeconds": 2})
        self.assertEqual(st, 200, body)
        self.assertEqual([m["Body"] for m in json.loads(body)["Messages"]], ["j"])

    def test_request_to_queue_url_path(self):
        path = urllib.parse.urlsplit(self.url).path
        st, _, body = awsutil.queryRequest(ENDPOINTS[1], {"Action": "GetQueueAttributes", "QueueUrl": self.url,
                                                          "AttributeName.1": "QueueArn"}, path=path)
        self.assertEqual(st, 200, "POST %s GetQueueAttributes: %r" % (path, body[:300]))
        st, _, body = awsutil.queryRequest(ENDPOINTS[1], {"Action": "GetQueueAttributes",
                                                          "AttributeName.1": "QueueArn"}, path=path)
        self.assertEqual(st, 200, "POST %s GetQueueAttributes without QueueUrl (the path names the queue): %r"
                         % (path, body[:300]))

    def test_query_protocol_over_get(self):
        from botocore.awsrequest import AWSRequest
        q = urllib.parse.urlencode({"Action": "GetQueueAttributes", "QueueUrl": self.url,
                                    "AttributeName.1": "QueueArn", "Version": "2012-11-05"})
        req = AWSRequest(method="GET", url=ENDPOINTS[2] + "/?" + q)
        awsutil.sign(req)
        prepared = req.prepare()
        st, _, body = awsutil.send(ENDPOINTS[2], "GET", prepared.url[len(ENDPOINTS[2]):], None,
                                   dict(prepared.headers.items()))
        self.assertEqual(st, 200, "signed GET /?Action=GetQueueAttributes: %r" % body[:300])
        self.assertEqual(awsutil.xmlFind(body, "Name"), ["QueueArn"])

    # bad input: each refused in AWS's shape, nothing changed

    def test_unknown_action(self):
        before = self.queues()
        err = self.assertXmlError(awsutil.queryRequest(ENDPOINTS[0], {"Action": "FrobnicateQueue",
                                                                      "QueueName": queueName("frob")}),
                                  ("InvalidAction",), what="Action=FrobnicateQueue")
        self.assertEqual(err[0], "Sender")
        self.assertEqual(self.queues(), before)

    def test_missing_action(self):
        before = self.queues()
        self.assertXmlError(awsutil.queryRequest(ENDPOINTS[0], {"QueueName": queueName("noact")}),
                            ("MissingAction", "InvalidAction", "MissingParameter"), what="no Action")
        self.assertEqual(self.queues(), before)

    def test_unknown_target(self):
        before = self.queues()
        self.assertJsonError(awsutil.jsonRequest(ENDPOINTS[0], "FrobnicateQueue", {"QueueName": queueName("f")}),
                             ("UnknownOperationException",), what="X-Amz-Target AmazonSQS.FrobnicateQueue")
        self.assertJsonError(awsutil.signedRequest(ENDPOINTS[0], json.dumps({"QueueName": queueName("f")}), AMZJSON,
                                                   target="AmazonSNS.CreateTopic"),
                             ("UnknownOperationException",), what="X-Amz-Target AmazonSNS.CreateTopic")
        self.assertEqual(self.queues(), before)

    def test_malformed_form(self):
        before = self.queues()
        for body in ("Action=CreateQueue&QueueName=bad%ZZname&Version=2012-11-05",
                     "Action=CreateQueue&QueueName=a%2&Version=2012-11-05",
                     "Action=CreateQueue&&=&==&QueueName&Version=2012-11-05"):
            self.assertXmlError(awsutil.signedRequest(ENDPOINTS[0], body, FORM), what="form body %r" % body)
        self.assertEqual(self.queues(), before)

    def test_invalid_json(self):
        before = self.queues()
        name = queueName("badjson")
        for body in ('{"QueueName": "%s"' % name, '["QueueName"]', '{"QueueName": 5}', "", "null"):
            self.assertJsonError(awsutil.jsonRequest(ENDPOINTS[0], "CreateQueue", body),
                                 what="JSON CreateQueue body %r" % body)
        self.assertEqual(self.queues(), before)

    def test_invalid_utf8(self):
        before, depth = self.queues(), self.depth()
        q = urllib.parse.quote(self.url, safe="")
        form = ("Action=SendMessage&QueueUrl=%s&MessageBody=bad%%FF%%FEutf8&Version=2012-11-05" % q)
        self.assertXmlError(awsutil.signedRequest(ENDPOINTS[0], form, FORM), what="SendMessage body %FF%FE")
        name = b"Action=CreateQueue&QueueName=u\xff\xfe&Version=2012-11-05"
        self.assertXmlError(awsutil.signedRequest(ENDPOINTS[0], name, FORM), what="CreateQueue raw bytes FF FE")
        raw = b'{"QueueUrl": "' + self.url.encode() + b'", "MessageBody": "bad \xff\xfe utf8"}'
        self.assertJsonError(awsutil.jsonRequest(ENDPOINTS[0], "SendMessage", raw), what="JSON body with FF FE")
        self.assertEqual(self.queues(), before)
        self.assertEqual(self.depth(), depth)

    def test_oversized_body(self):
        before, depth = self.queues(), self.depth()
        q = urllib.parse.quote(self.url, safe="")
        body = (("Action=SendMessage&QueueUrl=%s&Version=2012-11-05&MessageBody=" % q) + "x" * (3 << 20)).encode()
        from botocore.awsrequest import AWSRequest
        req = AWSRequest(method="POST", url=ENDPOINTS[0] + "/", data=body, headers={"Content-Type": FORM})
        awsutil.sign(req)
        u = urllib.parse.urlsplit(ENDPOINTS[0])
        head = "POST / HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n" % (u.netloc, len(body))
        head += "".join("%s: %s\r\n" % (k, v) for k, v in req.headers.items()) + "\r\n"
        s = socket.create_connection((u.hostname, u.port), timeout=10)
        try:
            s.sendall(head.encode())
            # a server may answer on Content-Length alone: give it 2 s
            import select
            if not select.select([s], [], [], 2.0)[0]:
                sendWatching(s, body)
            data = readHead(s)
        finally:
            s.close()
        status = data.split(b" ", 2)[1] if data.startswith(b"HTTP/1.1 ") else b""
        self.assertIn(status, (b"413", b"400"), "a 3 MiB signed SendMessage body: expected 413 or an AWS 400, got %r"
                      % data[:200])
        if status == b"400":
            self.assertIn(b"<ErrorResponse", data, "3 MiB body: 400 without ErrorResponse: %r" % data[:300])
        self.assertEqual(self.queues(), before)
        self.assertEqual(self.depth(), depth)
        st, _, _ = awsutil.httpGet(ENDPOINTS[0], "/health")
        self.assertEqual(st, 200, "the node still serves after an oversized body")

    def test_oversized_headers(self):
        u = urllib.parse.urlsplit(ENDPOINTS[0])
        s = socket.create_connection((u.hostname, u.port), timeout=10)
        try:
            req = ("GET /health HTTP/1.1\r\nHost: %s\r\nX-Big: %s\r\n\r\n" % (u.netloc, "a" * (1 << 20))).encode()
            sendWatching(s, req)
            data = readHead(s)
        finally:
            s.close()
        self.assertTrue(data.startswith(b"HTTP/1.1 4"), "1 MiB of headers: expected a 4xx, got %r" % data[:100])

    def test_unsupported_method_and_path(self):
        st, body, _ = awsutil.httpGet(ENDPOINTS[0], "/no/such/thing/here")
        self.assertGreaterEqual(st, 400, "GET /no/such/thing/here: %d" % st)
        self.assertLess(st, 500)

    # connections

    def test_keep_alive_and_pipelining(self):
        u = urllib.parse.urlsplit(ENDPOINTS[1])
        s = socket.create_connection((u.hostname, u.port), timeout=10)
        try:
            one = ("GET /health HTTP/1.1\r\nHost: %s\r\n\r\n" % u.netloc).encode()
            s.sendall(one * 3)
            data = b""
            deadline = time.time() + 10
            while data.count(b"HTTP/1.1 200") < 3 and time.time() < deadline:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
            self.assertEqual(data.count(b"HTTP/1.1 200"), 3, "3 pipelined GET /health: %r" % data[:400])
            s.sendall(one)
            more = s.recv(65536)
            self.assertTrue(more.startswith(b"HTTP/1.1 200"), "keep-alive: a 4th request on the same connection")
        finally:
            s.close()

    def test_pipelined_sqs_requests_answered_in_order(self):
        leader = awsutil.leaderId()
        self.assertIsNotNone(leader)
        ep = ENDPOINTS[leader % 3]                    # a follower: its answers come back from the leader
        u = urllib.parse.urlsplit(ep)
        from botocore.awsrequest import AWSRequest
        bodies = ["pipelined-%d-%s" % (i, "x" * (i * 37)) for i in range(6)]
        wire = b""
        for i, b in enumerate(bodies):
            if i == 3:                                 # one JSON request among the query ones
                payload = json.dumps({"QueueUrl": self.url, "MessageBody": b}).encode()
                req = AWSRequest(method="POST", url=ep + "/", data=payload,
                                 headers={"Content-Type": AMZJSON, "X-Amz-Target": "AmazonSQS.SendMessage"})
            else:
                payload = urllib.parse.urlencode({"Action": "SendMessage", "QueueUrl": self.url, "MessageBody": b,
                                                  "Version": "2012-11-05"}).encode()
                req = AWSRequest(method="POST", url=ep + "/", data=payload, headers={"Content-Type": FORM})
            awsutil.sign(req)
            head = "POST / HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n" % (u.netloc, len(payload))
            head += "".join("%s: %s\r\n" % (k, v) for k, v in req.headers.items()) + "\r\n"
            wire += head.encode() + payload
        s = socket.create_connection((u.hostname, u.port), timeout=10)
        answers = []
        try:
            s.sendall(wire)
            buf = b""
            deadline = time.time() + 15
            while len(answers) < len(bodies) and time.time() < deadline:
                chunk = s.recv(65536)
                if not chunk:
                    break
                buf += chunk
                while b"\r\n\r\n" in buf:
                    head, rest = buf.split(b"\r\n\r\n", 1)
                    length = 0
                    for line in head.split(b"\r\n")[1:]:
                        k, _, v = line.partition(b":")
                        if k.strip().lower() == b"content-length":
                            length = int(v.strip())
                    if len(rest) < length:
                        break
                    answers.append((head.split(b" ", 2)[1], rest[:length]))
                    buf = rest[length:]
        finally:
            s.close()
        self.assertEqual(len(answers), len(bodies), "6 pipelined SendMessage, %d answers" % len(answers))
        for i, ((status, body), sent) in enumerate(zip(answers, bodies)):
            self.assertEqual(status, b"200", "pipelined request %d: %r" % (i, body[:200]))
            want = awsutil.md5Hex(sent).encode()
            self.assertIn(want, body, "answer %d is not the answer to request %d (MD5OfMessageBody)" % (i, i))

    def test_many_connections(self):
        u = urllib.parse.urlsplit(ENDPOINTS[2])
        socks = []
        try:
            for _ in range(64):
                socks.append(socket.create_connection((u.hostname, u.port), timeout=10))
            for s in socks:
                s.sendall(("GET /health HTTP/1.1\r\nHost: %s\r\n\r\n" % u.netloc).encode())
            ok = 0
            for s in socks:
                if s.recv(4096).startswith(b"HTTP/1.1 200"):
                    ok += 1
            self.assertEqual(ok, 64, "64 connections at once, %d answered 200" % ok)
        finally:
            for s in socks:
                s.close()


if __name__ == "__main__":
    unittest.main()
