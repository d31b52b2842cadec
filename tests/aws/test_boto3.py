"""The boto3 conformance suite: Debian's boto3 (query protocol) against a real
3-node qraft cluster, checked against what AWS SQS documents and does.

The happy path is: each case creates its own queues (names unique to the run),
drives one behaviour through a stock boto3 client (MD5 checks on, see
awsutil.py) and asserts AWS's answer: element values, units, error codes
and HTTP statuses. Operations Debian's botocore 1.29 does not know
(StartMessageMoveTask, ReceiveMessage's MessageSystemAttributeNames) go out as
hand-signed query requests. Failure modes: an assertion names the request and
the expected and actual answers; every wait is bounded (long polls at most
10 s, polling loops by count and deadline).

The HTTP surface (health, metrics, bad input, keep-alive) is in
test_http.py, signatures in test_sigv4.py, the leader kill in test_failover.py.
"""

import base64
import json
import threading
import time
import unittest
import urllib.parse

from botocore.exceptions import ClientError

import awsutil
from awsutil import ACCOUNT, ENDPOINTS, REGION, md5Hex, queueName


def arnOf(name):
    """The QueueArn AWS gives queue name in this account and region."""
    return "arn:aws:sqs:%s:%s:%s" % (REGION, ACCOUNT, name)


class Base(unittest.TestCase):
    """A client on node 1 and the helpers every case uses."""

    @classmethod
    def setUpClass(cls):
        cls.c = awsutil.client(ENDPOINTS[0])

    def newQueue(self, stem, attributes=None, tags=None, client=None):
        """Create a queue; returns (url, name)."""
        name = queueName(stem)
        kw = {"QueueName": name}
        if attributes:
            kw["Attributes"] = attributes
        if tags:
            kw["tags"] = tags
        url = (client or self.c).create_queue(**kw)["QueueUrl"]
        return url, name

    def newFifo(self, stem, contentBased=False, extra=None):
        """Create a FIFO queue; returns (url, name)."""
        name = queueName(stem) + ".fifo"
        attrs = {"FifoQueue": "true", "ContentBasedDeduplication": "true" if contentBased else "false"}
        attrs.update(extra or {})
        url = self.c.create_queue(QueueName=name, Attributes=attrs)["QueueUrl"]
        return url, name

    def assertAwsError(self, fn, codes, status=400, what=""):
        """fn() must fail with one of codes (a str or a tuple) and status;
        returns the error dict."""
        if isinstance(codes, str):
            codes = (codes,)
        try:
            r = fn()
        except ClientError as e:
            err = e.response.get("Error", {})
            got = e.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            self.assertIn(err.get("Code"), codes, "%s: expected error %s, got %r (%s)" % (
                what, "/".join(codes), err.get("Code"), err.get("Message")))
            if status is None:
                self.assertIn(got, (400, 403), "%s: expected HTTP 400 or 403, got %r" % (what, got))
            else:
                self.assertEqual(got, status, "%s: expected HTTP %d for %s, got %r" % (
                    what, status, err.get("Code"), got))
            return err
        self.fail("%s: expected error %s, the call succeeded: %r" % (what, "/".join(codes), r))

    def receiveAll(self, url, want, client=None, seconds=10, **kw):
        """Receive (and not delete) until want messages are in hand or the
        deadline passes; returns the messages."""
        got = []
        deadline = time.time() + seconds
        while len(got) < want and time.time() < deadline:
            r = (client or self.c).receive_message(QueueUrl=url, MaxNumberOfMessages=min(10, want - len(got)),
                                                   WaitTimeSeconds=1, **kw)
            got.extend(r.get("Messages", []))
        return got

    def receiveDeleting(self, url, want, client=None, seconds=10):
        """Receive and delete (FIFO groups unblock) until want messages are
        in hand or the deadline passes; returns them in receive order."""
        got = []
        c = client or self.c
        deadline = time.time() + seconds
        while len(got) < want and time.time() < deadline:
            r = c.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
            for m in r.get("Messages", []):
                got.append(m)
                c.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        return got

    def attrs(self, url, *names):
        """GetQueueAttributes for names (default All)."""
        return self.c.get_queue_attributes(QueueUrl=url, AttributeNames=list(names) or ["All"]).get(
            "Attributes", {})


class QueueTests(Base):
    """CreateQueue, GetQueueUrl, ListQueues, attributes, tags, DeleteQueue."""

    def test_create_queue_with_attributes_and_tags(self):
        url, name = self.newQueue("attrs", attributes={"VisibilityTimeout": "45", "DelaySeconds": "2",
                                                         "MaximumMessageSize": "2048",
                                                         "MessageRetentionPeriod": "3600",
                                                         "ReceiveMessageWaitTimeSeconds": "1"},
                                  tags={"team": "core", "env": "test"})
        self.assertEqual(url, "%s/%s/%s" % (ENDPOINTS[0], ACCOUNT, name))
        a = self.attrs(url)
        self.assertEqual(a.get("VisibilityTimeout"), "45")
        self.assertEqual(a.get("DelaySeconds"), "2")
        self.assertEqual(a.get("MaximumMessageSize"), "2048")
        self.assertEqual(a.get("MessageRetentionPeriod"), "3600")
        self.assertEqual(a.get("ReceiveMessageWaitTimeSeconds"), "1")
        self.assertEqual(a.get("QueueArn"), arnOf(name))
        self.assertEqual(self.c.list_queue_tags(QueueUrl=url).get("Tags"), {"team": "core", "env": "test"})

    def test_create_queue_same_attributes_is_idempotent(self):
        url, name = self.newQueue("idem", attributes={"VisibilityTimeout": "40"})
        again = self.c.create_queue(QueueName=name, Attributes={"VisibilityTimeout": "40"})["QueueUrl"]
        self.assertEqual(again, url)

    def test_create_queue_different_attributes_is_queue_already_exists(self):
        url, name = self.newQueue("exists", attributes={"DelaySeconds": "1"})
        self.assertAwsError(lambda: self.c.create_queue(QueueName=name, Attributes={"DelaySeconds": "3"}),
                            "QueueAlreadyExists", what="CreateQueue %s DelaySeconds=3 (exists with 1)" % name)

    def test_create_queue_invalid_names(self):
        for bad in ("has space", "x" * 81, "bad!char", ""):
            self.assertAwsError(lambda: self.c.create_queue(QueueName=bad),
                                ("InvalidParameterValue", "MissingParameter") if bad == "" else "InvalidParameterValue",
                                what="CreateQueue QueueName=%r" % bad)

    def test_create_queue_invalid_attribute_value(self):
        name = queueName("badval")
        self.assertAwsError(lambda: self.c.create_queue(QueueName=name, Attributes={"VisibilityTimeout": "43201"}),
                            ("InvalidAttributeValue", "InvalidParameterValue"),
                            what="CreateQueue VisibilityTimeout=43201")
        self.assertAwsError(lambda: self.c.create_queue(QueueName=name, Attributes={"DelaySeconds": "901"}),
                            ("InvalidAttributeValue", "InvalidParameterValue"), what="CreateQueue DelaySeconds=901")
        self.assertAwsError(lambda: self.c.get_queue_url(QueueName=name), "AWS.SimpleQueueService.NonExistentQueue",
                            what="GetQueueUrl after refused CreateQueue")

    def test_create_queue_unknown_attribute_is_invalid_attribute_name(self):
        self.assertAwsError(lambda: self.c.create_queue(QueueName=queueName("unk"), Attributes={"Colour": "blue"}),
                            "InvalidAttributeName", what="CreateQueue Attribute Colour")
        # FIFO-only attributes on a standard queue are unknown there (AWS)
        self.assertAwsError(lambda: self.c.create_queue(QueueName=queueName("unk"),
                                                        Attributes={"ContentBasedDeduplication": "true"}),
                            "InvalidAttributeName", what="CreateQueue standard ContentBasedDeduplication")

    def test_queue_name_limits(self):
        stem = queueName("n")
        longest = (stem + "_" + "x" * 80)[:80]
        url = self.c.create_queue(QueueName=longest)["QueueUrl"]
        self.assertTrue(url.endswith("/" + longest), "an 80-character name is allowed")
        fifo = (stem + "-" + "y" * 80)[:75] + ".fifo"
        url = self.c.create_queue(QueueName=fifo, Attributes={"FifoQueue": "true"})["QueueUrl"]
        self.assertTrue(url.endswith("/" + fifo), "80 characters including .fifo")

    def test_queue_deleted_recently(self):
        url, name = self.newQueue("recent")
        self.c.delete_queue(QueueUrl=url)
        self.assertAwsError(lambda: self.c.create_queue(QueueName=name),
                            "AWS.SimpleQueueService.QueueDeletedRecently",
                            what="CreateQueue %s within 60 s of its DeleteQueue" % name)

    def test_get_queue_url(self):
        url, name = self.newQueue("url")
        self.assertEqual(self.c.get_queue_url(QueueName=name)["QueueUrl"], url)

    def test_get_queue_url_owner_account(self):
        url, name = self.newQueue("owner")
        self.assertEqual(self.c.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=ACCOUNT)["QueueUrl"], url)
        other = "999999999999" if ACCOUNT != "999999999999" else "111111111111"
        self.assertAwsError(lambda: self.c.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=other),
                            "AWS.SimpleQueueService.NonExistentQueue",
                            what="GetQueueUrl QueueName=%s QueueOwnerAWSAccountId=%s (no such queue there)"
                            % (name, other))

    def test_queue_url_of_another_account(self):
        url, name = self.newQueue("acct")
        other = "999999999999" if ACCOUNT != "999999999999" else "111111111111"
        foreign = url.replace("/%s/" % ACCOUNT, "/%s/" % other)
        self.assertAwsError(lambda: self.c.send_message(QueueUrl=foreign, MessageBody="x"),
                            ("AWS.SimpleQueueService.NonExistentQueue", "AccessDenied"),
                            status=None, what="SendMessage QueueUrl=%s (the queue is in account %s)" % (foreign, ACCOUNT))
        self.assertEqual(self.attrs(url, "ApproximateNumberOfMessages")["ApproximateNumberOfMessages"], "0")

    def test_get_queue_url_nonexistent(self):
        self.assertAwsError(lambda: self.c.get_queue_url(QueueName=queueName("nosuch")),
                            "AWS.SimpleQueueService.NonExistentQueue", what="GetQueueUrl of a missing queue")

    def test_operations_on_nonexistent_queue(self):
        url = "%s/%s/%s" % (ENDPOINTS[0], ACCOUNT, queueName("gone"))
        calls = {
            "SendMessage": lambda: self.c.send_message(QueueUrl=url, MessageBody="x"),
            "ReceiveMessage": lambda: self.c.receive_message(QueueUrl=url),
            "GetQueueAttributes": lambda: self.c.get_queue_attributes(QueueUrl=url, AttributeNames=["All"]),
            "PurgeQueue": lambda: self.c.purge_queue(QueueUrl=url),
            "DeleteQueue": lambda: self.c.delete_queue(QueueUrl=url),
        }
        for op, fn in calls.items():
            self.assertAwsError(fn, "AWS.SimpleQueueService.NonExistentQueue", what="%s on %s" % (op, url))

    def test_list_queues_prefix_and_paging(self):
        prefix = queueName("page")
        names = sorted("%s-%d" % (prefix, i) for i in range(5))
        for n in names:
            self.c.create_queue(QueueName=n)
        self.newQueue("other")
        whole = self.c.list_queues(QueueNamePrefix=prefix).get("QueueUrls", [])
        self.assertEqual(sorted(u.rsplit("/", 1)[1] for u in whole), names)
        seen = []
        token = None
        for _ in range(10):
            kw = {"QueueNamePrefix": prefix, "MaxResults": 2}
            if token:
                kw["NextToken"] = token
            r = self.c.list_queues(**kw)
            page = r.get("QueueUrls", [])
            self.assertLessEqual(len(page), 2, "ListQueues MaxResults=2 returned %d" % len(page))
            seen.extend(page)
            token = r.get("NextToken")
            if not token:
                break
        self.assertIsNone(token, "ListQueues paging did not end within 10 pages")
        self.assertEqual(sorted(u.rsplit("/", 1)[1] for u in seen), names, "pages together: each queue once")
        self.assertEqual(self.c.list_queues(QueueNamePrefix=queueName("nomatch")).get("QueueUrls", []), [])

    def test_list_queues_max_results_out_of_range(self):
        for bad in (0, 1001):
            self.assertAwsError(lambda: self.c.list_queues(MaxResults=bad), "InvalidParameterValue",
                                what="ListQueues MaxResults=%d" % bad)

    def test_get_queue_attributes_all_and_named(self):
        url, name = self.newQueue("ga")
        a = self.attrs(url)
        for key in ("QueueArn", "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
                    "ApproximateNumberOfMessagesDelayed", "CreatedTimestamp", "LastModifiedTimestamp",
                    "VisibilityTimeout", "MaximumMessageSize", "MessageRetentionPeriod", "DelaySeconds",
                    "ReceiveMessageWaitTimeSeconds"):
            self.assertIn(key, a, "GetQueueAttributes All lacks %s: %r" % (key, a))
        self.assertEqual(a["VisibilityTimeout"], "30")
        self.assertEqual(a["MessageRetentionPeriod"], "345600")
        self.assertEqual(a["DelaySeconds"], "0")
        self.assertEqual(a["ReceiveMessageWaitTimeSeconds"], "0")
        self.assertIn(a["MaximumMessageSize"], ("262144", "1048576"))
        self.assertEqual(a["ApproximateNumberOfMessages"], "0")
        self.assertNotIn("FifoQueue", a, "a standard queue has no FifoQueue attribute")
        named = self.attrs(url, "VisibilityTimeout", "QueueArn")
        self.assertEqual(named, {"VisibilityTimeout": "30", "QueueArn": arnOf(name)})
        none = self.c.get_queue_attributes(QueueUrl=url).get("Attributes", {})
        self.assertEqual(none, {}, "GetQueueAttributes without AttributeNames returns no attributes")

    def test_get_queue_attributes_unknown_name(self):
        url, _ = self.newQueue("gan")
        self.assertAwsError(lambda: self.c.get_queue_attributes(QueueUrl=url, AttributeNames=["Colour"]),
                            "InvalidAttributeName", what="GetQueueAttributes AttributeName.1=Colour")

    def test_created_timestamp_in_seconds(self):
        before = time.time()
        url, _ = self.newQueue("ts")
        a = self.attrs(url, "CreatedTimestamp", "LastModifiedTimestamp")
        for k in ("CreatedTimestamp", "LastModifiedTimestamp"):
            v = int(a[k])
            self.assertLess(abs(v - before), 120, "%s=%s is not in seconds near %d" % (k, a[k], before))

    def test_set_queue_attributes(self):
        url, _ = self.newQueue("sa")
        self.c.set_queue_attributes(QueueUrl=url, Attributes={"VisibilityTimeout": "60", "DelaySeconds": "5",
                                                                "ReceiveMessageWaitTimeSeconds": "3"})
        self.assertEqual(self.attrs(url, "VisibilityTimeout", "DelaySeconds", "ReceiveMessageWaitTimeSeconds"),
                         {"VisibilityTimeout": "60", "DelaySeconds": "5", "ReceiveMessageWaitTimeSeconds": "3"})

    def test_set_queue_attributes_errors(self):
        url, _ = self.newQueue("sae")
        self.assertAwsError(lambda: self.c.set_queue_attributes(QueueUrl=url, Attributes={"Colour": "blue"}),
                            "InvalidAttributeName", what="SetQueueAttributes Colour")
        self.assertAwsError(lambda: self.c.set_queue_attributes(QueueUrl=url,
                                                                Attributes={"VisibilityTimeout": "43201"}),
                            ("InvalidAttributeValue", "InvalidParameterValue"),
                            what="SetQueueAttributes VisibilityTimeout=43201")
        self.assertAwsError(lambda: self.c.set_queue_attributes(QueueUrl=url,
                                                                Attributes={"MaximumMessageSize": "1023"}),
                            ("InvalidAttributeValue", "InvalidParameterValue"),
                            what="SetQueueAttributes MaximumMessageSize=1023")
        self.assertEqual(self.attrs(url, "VisibilityTimeout"), {"VisibilityTimeout": "30"}, "refusal changed nothing")

    def test_tag_untag_list_tags(self):
        url, _ = self.newQueue("tags")
        self.assertEqual(self.c.list_queue_tags(QueueUrl=url).get("Tags", {}), {})
        self.c.tag_queue(QueueUrl=url, Tags={"a": "1", "b": "2", "c": "3"})
        self.assertEqual(self.c.list_queue_tags(QueueUrl=url).get("Tags"), {"a": "1", "b": "2", "c": "3"})
        self.c.tag_queue(QueueUrl=url, Tags={"a": "one"})
        self.c.untag_queue(QueueUrl=url, TagKeys=["b", "nope"])
        self.assertEqual(self.c.list_queue_tags(QueueUrl=url).get("Tags"), {"a": "one", "c": "3"})

    def test_delete_queue(self):
        url, name = self.newQueue("del")
        self.c.send_message(QueueUrl=url, MessageBody="bye")
        self.c.delete_queue(QueueUrl=url)
        self.assertAwsError(lambda: self.c.get_queue_url(QueueName=name), "AWS.SimpleQueueService.NonExistentQueue",
                            what="GetQueueUrl after DeleteQueue")
        self.assertNotIn(url, self.c.list_queues(QueueNamePrefix=name).get("QueueUrls", []))


class MessageTests(Base):
    """SendMessage, ReceiveMessage, DeleteMessage, visibility, purge, limits."""

    def test_send_receive_delete(self):
        url, _ = self.newQueue("srd")
        body = "hello \u00e9\u4e16\U0001F600 <&> ]]>"
        sent = self.c.send_message(QueueUrl=url, MessageBody=body)
        self.assertEqual(sent["MD5OfMessageBody"], md5Hex(body))
        got = self.receiveAll(url, 1)
        self.assertEqual(len(got), 1)
        m = got[0]
        self.assertEqual(m["Body"], body)
        self.assertEqual(m["MessageId"], sent["MessageId"])
        self.assertEqual(m["MD5OfBody"], md5Hex(body))
        self.c.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        a = self.attrs(url, "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible")
        self.assertEqual(a, {"ApproximateNumberOfMessages": "0", "ApproximateNumberOfMessagesNotVisible": "0"})
        # deleting again with the same (well-formed, spent) handle succeeds on AWS
        self.c.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])

    def test_message_attributes_string_number_binary(self):
        url, _ = self.newQueue("mattr")
        ma = {"s": {"DataType": "String", "StringValue": "text \u00e9"},
              "n": {"DataType": "Number", "StringValue": "-12.5e3"},
              "b": {"DataType": "Binary", "BinaryValue": bytes(range(256))},
              "custom": {"DataType": "String.json", "StringValue": "{}"}}
        sent = self.c.send_message(QueueUrl=url, MessageBody="with attributes", MessageAttributes=ma)
        self.assertEqual(sent.get("MD5OfMessageAttributes"), awsutil.attributesDigest(ma))
        m = self.receiveAll(url, 1, MessageAttributeNames=["All"])[0]
        self.assertEqual(m.get("MessageAttributes"), ma)
        self.assertEqual(m.get("MD5OfMessageAttributes"), awsutil.attributesDigest(ma))

    def test_message_attribute_names_filter(self):
        url, _ = self.newQueue("mfilter")
        ma = {"order.id": {"DataType": "String", "StringValue": "7"},
              "order.kind": {"DataType": "String", "StringValue": "x"},
              "user": {"DataType": "Number", "StringValue": "3"}}
        self.c.send_message(QueueUrl=url, MessageBody="f", MessageAttributes=ma)
        m = self.receiveAll(url, 1, MessageAttributeNames=["user"], VisibilityTimeout=0)[0]
        self.assertEqual(m.get("MessageAttributes"), {"user": ma["user"]})
        m = self.receiveAll(url, 1, MessageAttributeNames=["order.*"], VisibilityTimeout=0)[0]
        self.assertEqual(m.get("MessageAttributes"), {"order.id": ma["order.id"], "order.kind": ma["order.kind"]})
        m = self.receiveAll(url, 1)[0]
        self.assertNotIn("MessageAttributes", m, "no MessageAttributeNames: no attributes")

    def test_message_attribute_invalid(self):
        url, _ = self.newQueue("mbad")
        self.assertAwsError(lambda: self.c.send_message(QueueUrl=url, MessageBody="x", MessageAttributes={
            "e": {"DataType": "String", "StringValue": ""}}), "InvalidParameterValue",
            what="SendMessage attribute with an empty String value")
        self.assertAwsError(lambda: self.c.send_message(QueueUrl=url, MessageBody="x", MessageAttributes={
            "n": {"DataType": "Number", "StringValue": "twelve"}}), "InvalidParameterValue",
            what="SendMessage Number attribute 'twelve'")
        self.assertEqual(self.attrs(url, "ApproximateNumberOfMessages")["ApproximateNumberOfMessages"], "0")

    def test_message_attribute_limits(self):
        url, _ = self.newQueue("mlim")
        eleven = {"a%d" % i: {"DataType": "String", "StringValue": "v"} for i in range(11)}
        self.assertAwsError(lambda: self.c.send_message(QueueUrl=url, MessageBody="x", MessageAttributes=eleven),
                            "InvalidParameterValue", what="SendMessage with 11 message attributes")
        for bad in ("AWS.reserved", "Amazon.reserved", "has space", ".leading", "double..dot"):
            self.assertAwsError(lambda: self.c.send_message(QueueUrl=url, MessageBody="x", MessageAttributes={
                bad: {"DataType": "String", "StringValue": "v"}}), "InvalidParameterValue",
                what="SendMessage attribute name %r" % bad)
        self.assertAwsError(lambda: self.c.send_message(QueueUrl=url, MessageBody="x", MessageAttributes={
            "t": {"DataType": "Text", "StringValue": "v"}}), "InvalidParameterValue",
            what="SendMessage attribute DataType Text")
        ten = {"a%d" % i: {"DataType": "String", "StringValue": "v"} for i in range(10)}
        self.c.send_message(QueueUrl=url, MessageBody="ten", MessageAttributes=ten)
        self.assertEqual(self.attrs(url, "ApproximateNumberOfMessages")["ApproximateNumberOfMessages"], "1")

    def test_message_system_attributes_trace_header(self):
        url, _ = self.newQueue("trace")
        trace = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
        sa = {"AWSTraceHeader": {"DataType": "String", "StringValue": trace}}
        sent = self.c.send_message(QueueUrl=url, MessageBody="traced", MessageSystemAttributes=sa)
        self.assertEqual(sent.get("MD5OfMessageSystemAttributes"), awsutil.attributesDigest(sa))
        m = self.receiveAll(url, 1, AttributeNames=["AWSTraceHeader"])[0]
        self.assertEqual(m.get("Attributes", {}).get("AWSTraceHeader"), trace)

    def test_receive_attribute_names_and_units(self):
        url, _ = self.newQueue("ra")
        before_ms = time.time() * 1000
        self.c.send_message(QueueUrl=url, MessageBody="units")
        m = self.receiveAll(url, 1, AttributeNames=["All"])[0]
        a = m.get("Attributes", {})
        for k in ("SentTimestamp", "ApproximateReceiveCount", "ApproximateFirstReceiveTimestamp"):
            self.assertIn(k, a, "ReceiveMessage AttributeNames=All lacks %s: %r" % (k, a))
        self.assertEqual(a["ApproximateReceiveCount"], "1")
        for k in ("SentTimestamp", "ApproximateFirstReceiveTimestamp"):
            self.assertLess(abs(int(a[k]) - before_ms), 120000, "%s=%s is not in milliseconds" % (k, a[k]))
        self.assertLessEqual(int(a["SentTimestamp"]), int(a["ApproximateFirstReceiveTimestamp"]))
        self.c.change_message_visibility(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"], VisibilityTimeout=0)
        m2 = self.receiveAll(url, 1, AttributeNames=["ApproximateReceiveCount"])[0]
        self.assertEqual(m2.get("Attributes"), {"ApproximateReceiveCount": "2"})
        self.assertIn("SenderId", a, "ReceiveMessage AttributeNames=All lacks SenderId: %r" % a)

    def test_receive_message_system_attribute_names(self):
        # MessageSystemAttributeNames (2024) is newer than Debian's botocore:
        # sent as a hand-signed query request.
        url, _ = self.newQueue("msan")
        self.c.send_message(QueueUrl=url, MessageBody="sys")
        status, _, body = awsutil.queryRequest(ENDPOINTS[0], [
            ("Action", "ReceiveMessage"), ("QueueUrl", url), ("WaitTimeSeconds", "2"),
            ("MessageSystemAttributeName.1", "SentTimestamp"),
            ("MessageSystemAttributeName.2", "ApproximateReceiveCount")])
        self.assertEqual(status, 200, body)
        names = awsutil.xmlFind(body, "Name")
        self.assertEqual(sorted(names), ["ApproximateReceiveCount", "SentTimestamp"],
                         "ReceiveMessage MessageSystemAttributeName.1/.2 -> %s" % body[:600])

    def test_delay_seconds(self):
        url, _ = self.newQueue("delay")
        self.c.send_message(QueueUrl=url, MessageBody="later", DelaySeconds=2)
        a = self.attrs(url, "ApproximateNumberOfMessagesDelayed")
        self.assertEqual(a.get("ApproximateNumberOfMessagesDelayed"), "1")
        r = self.c.receive_message(QueueUrl=url)
        self.assertEqual(r.get("Messages", []), [], "a delayed message is not received at once")
        t0 = time.time()
        got = self.receiveAll(url, 1, seconds=8)
        self.assertEqual(len(got), 1, "the delayed message arrives after its 2 s")
        self.assertLess(time.time() - t0, 8)
        self.assertAwsError(lambda: self.c.send_message(QueueUrl=url, MessageBody="x", DelaySeconds=901),
                            "InvalidParameterValue", what="SendMessage DelaySeconds=901")

    def test_queue_delay_seconds_default(self):
        url, _ = self.newQueue("qdelay", attributes={"DelaySeconds": "2"})
        self.c.send_message(QueueUrl=url, MessageBody="later")
        self.assertEqual(self.c.receive_message(QueueUrl=url).get("Messages", []), [])
        self.assertEqual(len(self.receiveAll(url, 1, seconds=8)), 1)

    def test_visibility_timeout_on_receive(self):
        url, _ = self.newQueue("vis")
        self.c.send_message(QueueUrl=url, MessageBody="v")
        m = self.receiveAll(url, 1, VisibilityTimeout=2)[0]
        self.assertEqual(self.c.receive_message(QueueUrl=url).get("Messages", []), [], "in flight: not visible")
        a = self.attrs(url, "ApproximateNumberOfMessagesNotVisible")
        self.assertEqual(a["ApproximateNumberOfMessagesNotVisible"], "1")
        again = self.receiveAll(url, 1, seconds=8)
        self.assertEqual(len(again), 1, "visible again after its 2 s timeout")
        self.assertEqual(again[0]["MessageId"], m["MessageId"])
        self.assertNotEqual(again[0]["ReceiptHandle"], m["ReceiptHandle"], "each receive has a new handle")

    def test_change_message_visibility(self):
        url, _ = self.newQueue("cmv")
        self.c.send_message(QueueUrl=url, MessageBody="c")
        m = self.receiveAll(url, 1)[0]
        self.c.change_message_visibility(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"], VisibilityTimeout=0)
        m2 = self.receiveAll(url, 1, seconds=5)
        self.assertEqual(len(m2), 1, "ChangeMessageVisibility 0 makes it visible at once")
        self.assertAwsError(lambda: self.c.change_message_visibility(
            QueueUrl=url, ReceiptHandle=m2[0]["ReceiptHandle"], VisibilityTimeout=43201),
            "InvalidParameterValue", what="ChangeMessageVisibility VisibilityTimeout=43201")
        self.c.delete_message(QueueUrl=url, ReceiptHandle=m2[0]["ReceiptHandle"])
        # AWS: a handle whose message is gone -> InvalidParameterValue
        self.assertAwsError(lambda: self.c.change_message_visibility(
            QueueUrl=url, ReceiptHandle=m2[0]["ReceiptHandle"], VisibilityTimeout=10),
            ("InvalidParameterValue", "AWS.SimpleQueueService.MessageNotInflight"),
            what="ChangeMessageVisibility on a deleted message's handle")

    def test_receipt_handle_is_invalid(self):
        url, _ = self.newQueue("rhi")
        self.assertAwsError(lambda: self.c.delete_message(QueueUrl=url, ReceiptHandle="garbage"),
                            "ReceiptHandleIsInvalid", what="DeleteMessage ReceiptHandle=garbage")
        self.assertAwsError(lambda: self.c.change_message_visibility(QueueUrl=url, ReceiptHandle="INVALID",
                                                                     VisibilityTimeout=60),
                            "ReceiptHandleIsInvalid", what="ChangeMessageVisibility ReceiptHandle=INVALID")

    def test_empty_message_body_is_missing_parameter(self):
        url, _ = self.newQueue("empty")
        self.assertAwsError(lambda: self.c.send_message(QueueUrl=url, MessageBody=""), "MissingParameter",
                            what="SendMessage MessageBody=''")

    def test_missing_parameters(self):
        url, _ = self.newQueue("miss")
        status, _, body = awsutil.queryRequest(ENDPOINTS[0], {"Action": "SendMessage", "QueueUrl": url})
        err = awsutil.xmlError(body)
        self.assertEqual((status, err and err[1]), (400, "MissingParameter"),
                         "SendMessage without MessageBody: %d %s" % (status, body[:300]))
        status, _, body = awsutil.queryRequest(ENDPOINTS[0], {"Action": "GetQueueUrl"})
        err = awsutil.xmlError(body)
        self.assertEqual((status, err and err[1]), (400, "MissingParameter"),
                         "GetQueueUrl without QueueName: %d %s" % (status, body[:300]))

    def test_message_too_long(self):
        url, _ = self.newQueue("long", attributes={"MaximumMessageSize": "1024"})
        self.c.send_message(QueueUrl=url, MessageBody="a" * 1024)
        self.assertAwsError(lambda: self.c.send_message(QueueUrl=url, MessageBody="a" * 1025),
                            "InvalidParameterValue", what="SendMessage 1025 bytes, MaximumMessageSize 1024")
        # body and attributes count together
        self.assertAwsError(lambda: self.c.send_message(QueueUrl=url, MessageBody="a" * 1000, MessageAttributes={
            "k": {"DataType": "String", "StringValue": "v" * 100}}),
            "InvalidParameterValue", what="SendMessage 1000 bytes + 100-byte attribute, MaximumMessageSize 1024")
        self.assertEqual(self.attrs(url, "ApproximateNumberOfMessages")["ApproximateNumberOfMessages"], "1")

    def test_largest_message_round_trip(self):
        url, _ = self.newQueue("big")
        limit = int(self.attrs(url, "MaximumMessageSize")["MaximumMessageSize"])
        body = "\u00e9" * (limit // 2)          # two bytes each: exactly the limit in UTF-8
        ma = {"k": {"DataType": "String", "StringValue": "v"}}
        self.assertAwsError(lambda: self.c.send_message(QueueUrl=url, MessageBody=body, MessageAttributes=ma),
                            "InvalidParameterValue", what="SendMessage of the limit plus an attribute")
        sent = self.c.send_message(QueueUrl=url, MessageBody=body)
        got = self.receiveAll(url, 1)
        self.assertEqual(len(got), 1)
        self.assertEqual(got[0]["Body"], body)
        self.assertEqual(got[0]["MessageId"], sent["MessageId"])

    def test_invalid_characters(self):
        url, _ = self.newQueue("chars")
        for bad in ("nul \x00", "bell \x07", "bs \x08", "unit \x1f", "fffe \ufffe"):
            self.assertAwsError(lambda: self.c.send_message(QueueUrl=url, MessageBody=bad), "InvalidMessageContents",
                                what="SendMessage MessageBody=%r" % bad)
        ok = "tab\t nl\n cr\r \ud7ff \ue000 \ufffd \U00010000 \U0010ffff"
        self.c.send_message(QueueUrl=url, MessageBody=ok)
        self.assertEqual(self.receiveAll(url, 1)[0]["Body"], ok)

    def test_receive_parameter_limits(self):
        url, _ = self.newQueue("lim")
        for kw, what in (({"MaxNumberOfMessages": 11}, "MaxNumberOfMessages=11"),
                         ({"MaxNumberOfMessages": 0}, "MaxNumberOfMessages=0"),
                         ({"WaitTimeSeconds": 21}, "WaitTimeSeconds=21"),
                         ({"WaitTimeSeconds": -1}, "WaitTimeSeconds=-1"),
                         ({"VisibilityTimeout": 43201}, "VisibilityTimeout=43201")):
            self.assertAwsError(lambda: self.c.receive_message(QueueUrl=url, **kw), "InvalidParameterValue",
                                what="ReceiveMessage " + what)

    def test_receive_max_number_of_messages(self):
        url, _ = self.newQueue("maxn")
        for i in range(15):
            self.c.send_message(QueueUrl=url, MessageBody="m%d" % i)
        got = []
        for _ in range(10):
            r = self.c.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
            ms = r.get("Messages", [])
            self.assertLessEqual(len(ms), 10)
            got.extend(ms)
            if len(got) >= 15:
                break
        self.assertEqual(sorted(m["Body"] for m in got), sorted("m%d" % i for i in range(15)))

    def test_purge_queue_in_progress(self):
        url, _ = self.newQueue("purge2")
        self.c.purge_queue(QueueUrl=url)
        self.assertAwsError(lambda: self.c.purge_queue(QueueUrl=url), "AWS.SimpleQueueService.PurgeQueueInProgress",
                            status=403, what="a second PurgeQueue within 60 s")

    def test_purge_queue(self):
        url, _ = self.newQueue("purge")
        for i in range(5):
            self.c.send_message(QueueUrl=url, MessageBody="p%d" % i)
        self.c.purge_queue(QueueUrl=url)
        deadline = time.time() + 10
        while time.time() < deadline:
            if self.attrs(url, "ApproximateNumberOfMessages")["ApproximateNumberOfMessages"] == "0":
                break
            time.sleep(0.2)
        self.assertEqual(self.c.receive_message(QueueUrl=url, WaitTimeSeconds=1).get("Messages", []), [])


class BatchTests(Base):
    """SendMessageBatch, DeleteMessageBatch, ChangeMessageVisibilityBatch."""

    def test_send_message_batch(self):
        url, _ = self.newQueue("sb")
        entries = [{"Id": "e%d" % i, "MessageBody": "body-%d" % i} for i in range(10)]
        entries[3]["MessageAttributes"] = {"k": {"DataType": "Number", "StringValue": "3"}}
        entries[4]["DelaySeconds"] = 1
        r = self.c.send_message_batch(QueueUrl=url, Entries=entries)
        self.assertEqual(r.get("Failed", []), [])
        self.assertEqual(sorted(e["Id"] for e in r["Successful"]), sorted(e["Id"] for e in entries))
        got = self.receiveAll(url, 10, seconds=10)
        self.assertEqual(sorted(m["Body"] for m in got), sorted(e["MessageBody"] for e in entries))

    def test_send_batch_partial_failure_invalid_characters(self):
        url, _ = self.newQueue("sbp")
        entries = [{"Id": str(i), "MessageBody": "ok%d" % i} for i in range(4)]
        entries.append({"Id": "bad", "MessageBody": "bad \x01"})
        r = self.c.send_message_batch(QueueUrl=url, Entries=entries)
        self.assertEqual(sorted(e["Id"] for e in r.get("Successful", [])), ["0", "1", "2", "3"])
        failed = r.get("Failed", [])
        self.assertEqual(len(failed), 1, "SendMessageBatch one entry with \\x01: %r" % r)
        self.assertEqual(failed[0]["Id"], "bad")
        self.assertEqual(failed[0]["Code"], "InvalidMessageContents")
        self.assertIs(failed[0]["SenderFault"], True)
        self.assertEqual(len(self.receiveAll(url, 4)), 4)

    def test_send_batch_partial_failure_too_long(self):
        url, _ = self.newQueue("sbl", attributes={"MaximumMessageSize": "1024"})
        r = self.c.send_message_batch(QueueUrl=url, Entries=[
            {"Id": "small", "MessageBody": "s"}, {"Id": "big", "MessageBody": "b" * 1025}])
        self.assertEqual([e["Id"] for e in r.get("Successful", [])], ["small"], repr(r))
        failed = r.get("Failed", [])
        self.assertEqual([(f["Id"], f["Code"], f["SenderFault"]) for f in failed],
                         [("big", "InvalidParameterValue", True)], repr(r))

    def test_empty_batch_request(self):
        url, _ = self.newQueue("sbe")
        self.assertAwsError(lambda: self.c.send_message_batch(QueueUrl=url, Entries=[]),
                            "AWS.SimpleQueueService.EmptyBatchRequest", what="SendMessageBatch no entries")
        self.assertAwsError(lambda: self.c.delete_message_batch(QueueUrl=url, Entries=[]),
                            "AWS.SimpleQueueService.EmptyBatchRequest", what="DeleteMessageBatch no entries")
        self.assertAwsError(lambda: self.c.change_message_visibility_batch(QueueUrl=url, Entries=[]),
                            "AWS.SimpleQueueService.EmptyBatchRequest", what="ChangeMessageVisibilityBatch no entries")

    def test_too_many_entries_in_batch_request(self):
        url, _ = self.newQueue("sbt")
        self.assertAwsError(lambda: self.c.send_message_batch(QueueUrl=url, Entries=[
            {"Id": str(i), "MessageBody": "x"} for i in range(11)]),
            "AWS.SimpleQueueService.TooManyEntriesInBatchRequest", what="SendMessageBatch 11 entries")
        self.assertAwsError(lambda: self.c.delete_message_batch(QueueUrl=url, Entries=[
            {"Id": str(i), "ReceiptHandle": "x"} for i in range(11)]),
            "AWS.SimpleQueueService.TooManyEntriesInBatchRequest", what="DeleteMessageBatch 11 entries")
        self.assertEqual(self.attrs(url, "ApproximateNumberOfMessages")["ApproximateNumberOfMessages"], "0",
                         "refused batches sent nothing")

    def test_batch_entry_ids_not_distinct(self):
        url, _ = self.newQueue("sbd")
        self.assertAwsError(lambda: self.c.send_message_batch(QueueUrl=url, Entries=[
            {"Id": "same", "MessageBody": "x"}, {"Id": "same", "MessageBody": "y"}]),
            "AWS.SimpleQueueService.BatchEntryIdsNotDistinct", what="SendMessageBatch Ids same, same")
        self.assertAwsError(lambda: self.c.change_message_visibility_batch(QueueUrl=url, Entries=[
            {"Id": "d", "ReceiptHandle": "x", "VisibilityTimeout": 1},
            {"Id": "d", "ReceiptHandle": "y", "VisibilityTimeout": 1}]),
            "AWS.SimpleQueueService.BatchEntryIdsNotDistinct", what="ChangeMessageVisibilityBatch Ids d, d")
        self.assertEqual(self.attrs(url, "ApproximateNumberOfMessages")["ApproximateNumberOfMessages"], "0",
                         "refused batches sent nothing")

    def test_invalid_batch_entry_id(self):
        url, _ = self.newQueue("sbi")
        for bad in ("bad:id", "x" * 81, "sp ace"):
            self.assertAwsError(lambda: self.c.send_message_batch(QueueUrl=url, Entries=[
                {"Id": bad, "MessageBody": "x"}]),
                "AWS.SimpleQueueService.InvalidBatchEntryId", what="SendMessageBatch Id %r" % bad)

    def test_batch_request_too_long(self):
        url, _ = self.newQueue("sbtl")
        a = self.attrs(url, "MaximumMessageSize")
        limit = int(a["MaximumMessageSize"])
        per = limit // 2 + 1
        n = 3 if per * 3 > limit else 10
        self.assertAwsError(lambda: self.c.send_message_batch(QueueUrl=url, Entries=[
            {"Id": str(i), "MessageBody": "z" * per} for i in range(n)]),
            "AWS.SimpleQueueService.BatchRequestTooLong",
            what="SendMessageBatch %d x %d bytes (queue MaximumMessageSize %d)" % (n, per, limit))

    def test_delete_message_batch_partial_failure(self):
        url, _ = self.newQueue("db")
        for i in range(3):
            self.c.send_message(QueueUrl=url, MessageBody="d%d" % i)
        got = self.receiveAll(url, 3)
        self.assertEqual(len(got), 3)
        entries = [{"Id": "m%d" % i, "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got)]
        entries.append({"Id": "junk", "ReceiptHandle": "not-a-handle"})
        r = self.c.delete_message_batch(QueueUrl=url, Entries=entries)
        self.assertEqual(sorted(e["Id"] for e in r.get("Successful", [])), ["m0", "m1", "m2"])
        self.assertEqual([(f["Id"], f["Code"], f["SenderFault"]) for f in r.get("Failed", [])],
                         [("junk", "ReceiptHandleIsInvalid", True)], repr(r))
        a = self.attrs(url, "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible")
        self.assertEqual(a, {"ApproximateNumberOfMessages": "0", "ApproximateNumberOfMessagesNotVisible": "0"})

    def test_change_message_visibility_batch_partial_failure(self):
        url, _ = self.newQueue("cb")
        for i in range(2):
            self.c.send_message(QueueUrl=url, MessageBody="c%d" % i)
        got = self.receiveAll(url, 2)
        self.assertEqual(len(got), 2)
        entries = [{"Id": "m%d" % i, "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0}
                   for i, m in enumerate(got)]
        entries.append({"Id": "junk", "ReceiptHandle": "not-a-handle", "VisibilityTimeout": 0})
        r = self.c.change_message_visibility_batch(QueueUrl=url, Entries=entries)
        self.assertEqual(sorted(e["Id"] for e in r.get("Successful", [])), ["m0", "m1"])
        self.assertEqual([(f["Id"], f["Code"], f["SenderFault"]) for f in r.get("Failed", [])],
                         [("junk", "ReceiptHandleIsInvalid", True)], repr(r))
        self.assertEqual(len(self.receiveAll(url, 2, seconds=5)), 2, "visibility 0: both visible again")


class FifoTests(Base):
    """FIFO queues: groups, ordering, deduplication, sequence numbers."""

    def test_fifo_name_and_attribute_must_agree(self):
        self.assertAwsError(lambda: self.c.create_queue(QueueName=queueName("nofifo"),
                                                        Attributes={"FifoQueue": "true"}),
                            "InvalidParameterValue", what="CreateQueue FifoQueue=true without .fifo")

    def test_fifo_attributes(self):
        url, name = self.newFifo("fattr", contentBased=True)
        a = self.attrs(url)
        self.assertEqual(a.get("FifoQueue"), "true")
        self.assertEqual(a.get("ContentBasedDeduplication"), "true")
        self.assertEqual(a.get("QueueArn"), arnOf(name))

    def test_fifo_message_group_id_required(self):
        url, _ = self.newFifo("fgid")
        self.assertAwsError(lambda: self.c.send_message(QueueUrl=url, MessageBody="x", MessageDeduplicationId="d"),
                            "MissingParameter", what="SendMessage FIFO without MessageGroupId")

    def test_fifo_deduplication_id_required(self):
        url, _ = self.newFifo("fdid")
        self.assertAwsError(lambda: self.c.send_message(QueueUrl=url, MessageBody="x", MessageGroupId="g"),
                            "InvalidParameterValue",
                            what="SendMessage FIFO, no MessageDeduplicationId, ContentBasedDeduplication false")

    def test_fifo_per_message_delay_refused(self):
        url, _ = self.newFifo("fdelay", contentBased=True)
        self.assertAwsError(lambda: self.c.send_message(QueueUrl=url, MessageBody="x", MessageGroupId="g",
                                                        DelaySeconds=2),
                            "InvalidParameterValue", what="SendMessage FIFO DelaySeconds=2")

    def test_fifo_order_within_group_and_sequence_numbers(self):
        url, _ = self.newFifo("forder")
        seqs = []
        for i in range(6):
            for g in ("A", "B"):
                r = self.c.send_message(QueueUrl=url, MessageBody="%s%d" % (g, i), MessageGroupId=g,
                                        MessageDeduplicationId="%s-%d" % (g, i))
                self.assertIn("SequenceNumber", r, "SendMessage to a FIFO queue returns SequenceNumber")
                seqs.append(int(r["SequenceNumber"]))
        self.assertEqual(seqs, sorted(seqs), "sequence numbers grow")
        self.assertEqual(len(set(seqs)), len(seqs))
        order = {"A": [], "B": []}
        deadline = time.time() + 15
        while sum(map(len, order.values())) < 12 and time.time() < deadline:
            r = self.c.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1,
                                       AttributeNames=["All"])
            for m in r.get("Messages", []):
                a = m["Attributes"]
                self.assertIn("SequenceNumber", a)
                self.assertEqual(a.get("MessageGroupId"), m["Body"][0])
                self.assertEqual(a.get("MessageDeduplicationId"), "%s-%s" % (m["Body"][0], m["Body"][1:]))
                order[m["Body"][0]].append(m["Body"])
                self.c.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        self.assertEqual(order["A"], ["A%d" % i for i in range(6)])
        self.assertEqual(order["B"], ["B%d" % i for i in range(6)])

    def test_fifo_group_blocked_while_in_flight(self):
        url, _ = self.newFifo("fblock", contentBased=True)
        for i in range(3):
            self.c.send_message(QueueUrl=url, MessageBody="g%d" % i, MessageGroupId="only")
        first = self.c.receive_message(QueueUrl=url, MaxNumberOfMessages=1, WaitTimeSeconds=2)["Messages"][0]
        self.assertEqual(first["Body"], "g0")
        r = self.c.receive_message(QueueUrl=url, MaxNumberOfMessages=10)
        self.assertEqual(r.get("Messages", []), [], "a group with a message in flight gives nothing more")
        self.c.delete_message(QueueUrl=url, ReceiptHandle=first["ReceiptHandle"])
        nxt = self.receiveDeleting(url, 2)
        self.assertEqual([m["Body"] for m in nxt], ["g1", "g2"])

    def test_fifo_deduplication_by_id(self):
        url, _ = self.newFifo("fdedup")
        a = self.c.send_message(QueueUrl=url, MessageBody="one", MessageGroupId="g", MessageDeduplicationId="same")
        b = self.c.send_message(QueueUrl=url, MessageBody="two", MessageGroupId="g", MessageDeduplicationId="same")
        self.assertIn("MessageId", b, "a duplicate send is acknowledged")
        self.assertIn("MessageId", a)
        got = self.receiveDeleting(url, 2, seconds=3)
        self.assertEqual([m["Body"] for m in got], ["one"])

    def test_fifo_content_based_deduplication(self):
        url, _ = self.newFifo("fcbd", contentBased=True)
        self.c.send_message(QueueUrl=url, MessageBody="same body", MessageGroupId="g")
        self.c.send_message(QueueUrl=url, MessageBody="same body", MessageGroupId="g")
        self.c.send_message(QueueUrl=url, MessageBody="other body", MessageGroupId="g")
        got = self.receiveDeleting(url, 3, seconds=3)
        self.assertEqual([m["Body"] for m in got], ["same body", "other body"])
        m = self.c.receive_message(QueueUrl=url).get("Messages", [])
        self.assertEqual(m, [])

    def test_fifo_dedup_survives_delete(self):
        url, _ = self.newFifo("fdel")
        self.c.send_message(QueueUrl=url, MessageBody="x", MessageGroupId="g", MessageDeduplicationId="d1")
        m = self.receiveAll(url, 1)[0]
        self.c.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        self.c.send_message(QueueUrl=url, MessageBody="x", MessageGroupId="g", MessageDeduplicationId="d1")
        self.assertEqual(self.c.receive_message(QueueUrl=url, WaitTimeSeconds=1).get("Messages", []), [],
                         "deduplication holds for 5 minutes even after the first copy was deleted")

    def test_fifo_batch_without_group_id(self):
        url, _ = self.newFifo("fbg", contentBased=True)
        self.assertAwsError(lambda: self.c.send_message_batch(QueueUrl=url, Entries=[
            {"Id": "1", "MessageBody": "x", "MessageGroupId": "g"}, {"Id": "2", "MessageBody": "y"}]),
            "InvalidParameterValue", what="SendMessageBatch FIFO, entry 2 without MessageGroupId")
        self.assertEqual(self.c.receive_message(QueueUrl=url).get("Messages", []), [], "nothing was sent")

    def test_fifo_batch_without_deduplication_id(self):
        url, _ = self.newFifo("fbd")
        self.assertAwsError(lambda: self.c.send_message_batch(QueueUrl=url, Entries=[
            {"Id": "1", "MessageBody": "x", "MessageGroupId": "g", "MessageDeduplicationId": "d1"},
            {"Id": "2", "MessageBody": "y", "MessageGroupId": "g"}]),
            "InvalidParameterValue",
            what="SendMessageBatch FIFO (no content-based dedup), entry 2 without MessageDeduplicationId")
        self.assertEqual(self.c.receive_message(QueueUrl=url).get("Messages", []), [], "nothing was sent")

    def test_fifo_receive_request_attempt_id(self):
        url, _ = self.newFifo("fattempt", contentBased=True)
        for i in range(3):
            self.c.send_message(QueueUrl=url, MessageBody="a%d" % i, MessageGroupId="g")
        first = self.c.receive_message(QueueUrl=url, MaxNumberOfMessages=2, WaitTimeSeconds=2,
                                       ReceiveRequestAttemptId="attempt-1").get("Messages", [])
        self.assertEqual([m["Body"] for m in first], ["a0", "a1"])
        again = self.c.receive_message(QueueUrl=url, MaxNumberOfMessages=2,
                                       ReceiveRequestAttemptId="attempt-1").get("Messages", [])
        self.assertEqual([(m["MessageId"], m["ReceiptHandle"]) for m in again],
                         [(m["MessageId"], m["ReceiptHandle"]) for m in first],
                         "a retried ReceiveMessage with the same ReceiveRequestAttemptId returns the same messages "
                         "and receipt handles (AWS, FIFO)")

    def test_fifo_receive_request_attempt_id_on_another_node(self):
        url, _ = self.newFifo("fattempt2", contentBased=True)
        for i in range(3):
            self.c.send_message(QueueUrl=url, MessageBody="b%d" % i, MessageGroupId="g")
        first = awsutil.client(ENDPOINTS[1]).receive_message(
            QueueUrl=url, MaxNumberOfMessages=2, WaitTimeSeconds=2,
            ReceiveRequestAttemptId="attempt-x").get("Messages", [])
        self.assertEqual([m["Body"] for m in first], ["b0", "b1"])
        again = awsutil.client(ENDPOINTS[2]).receive_message(
            QueueUrl=url, MaxNumberOfMessages=2, ReceiveRequestAttemptId="attempt-x").get("Messages", [])
        self.assertEqual([(m["MessageId"], m["ReceiptHandle"]) for m in again],
                         [(m["MessageId"], m["ReceiptHandle"]) for m in first],
                         "the retry of a ReceiveMessage (same ReceiveRequestAttemptId) sent to another node, as a "
                         "client behind a load balancer would, gets the same messages and receipt handles")

    def test_fifo_send_batch(self):
        url, _ = self.newFifo("fbatch", contentBased=True)
        r = self.c.send_message_batch(QueueUrl=url, Entries=[
            {"Id": str(i), "MessageBody": "b%d" % i, "MessageGroupId": "g"} for i in range(5)])
        self.assertEqual(len(r.get("Successful", [])), 5, repr(r))
        for e in r["Successful"]:
            self.assertIn("SequenceNumber", e)
        got = []
        deadline = time.time() + 10
        while len(got) < 5 and time.time() < deadline:
            for m in self.c.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get(
                    "Messages", []):
                got.append(m["Body"])
                self.c.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        self.assertEqual(got, ["b%d" % i for i in range(5)])


class DlqTests(Base):
    """Dead-letter queues: RedrivePolicy, RedriveAllowPolicy, move tasks."""

    def makePair(self, maxReceive=2):
        dlqUrl, dlqName = self.newQueue("dlq")
        srcUrl, srcName = self.newQueue("src", attributes={"RedrivePolicy": json.dumps(
            {"deadLetterTargetArn": arnOf(dlqName), "maxReceiveCount": maxReceive})})
        return srcUrl, srcName, dlqUrl, dlqName

    def redriveOne(self, srcUrl, dlqUrl, body):
        """Receive body from srcUrl until SQS moves it to dlqUrl; returns
        (times received from source, message from the DLQ or None)."""
        self.c.send_message(QueueUrl=srcUrl, MessageBody=body)
        received = 0
        deadline = time.time() + 15
        while time.time() < deadline and received < 10:
            r = self.c.receive_message(QueueUrl=srcUrl, WaitTimeSeconds=1)
            ms = r.get("Messages", [])
            if ms:
                received += 1
                self.c.change_message_visibility(QueueUrl=srcUrl, ReceiptHandle=ms[0]["ReceiptHandle"],
                                                 VisibilityTimeout=0)
                continue
            d = self.c.receive_message(QueueUrl=dlqUrl, WaitTimeSeconds=1, AttributeNames=["All"])
            if d.get("Messages"):
                return received, d["Messages"][0]
        return received, None

    def test_redrive_after_max_receive_count(self):
        srcUrl, srcName, dlqUrl, dlqName = self.makePair(2)
        policy = json.loads(self.attrs(srcUrl, "RedrivePolicy")["RedrivePolicy"])
        self.assertEqual(policy.get("deadLetterTargetArn"), arnOf(dlqName))
        self.assertEqual(int(policy.get("maxReceiveCount")), 2)
        received, moved = self.redriveOne(srcUrl, dlqUrl, "poison")
        self.assertEqual(received, 2, "received exactly maxReceiveCount times before the move")
        self.assertIsNotNone(moved, "the message reached the DLQ")
        self.assertEqual(moved["Body"], "poison")
        srcs = self.c.list_dead_letter_source_queues(QueueUrl=dlqUrl).get("queueUrls", [])
        self.assertEqual([u.rsplit("/", 1)[1] for u in srcs], [srcName])

    def test_redrive_policy_string_count_and_errors(self):
        dlqUrl, dlqName = self.newQueue("dlqs")
        url, _ = self.newQueue("srcs", attributes={"RedrivePolicy": json.dumps(
            {"deadLetterTargetArn": arnOf(dlqName), "maxReceiveCount": "5"})})
        self.assertEqual(int(json.loads(self.attrs(url, "RedrivePolicy")["RedrivePolicy"])["maxReceiveCount"]), 5)
        self.assertAwsError(lambda: self.c.set_queue_attributes(QueueUrl=url, Attributes={
            "RedrivePolicy": "{not json"}), ("InvalidAttributeValue", "InvalidParameterValue"),
            what="SetQueueAttributes RedrivePolicy={not json")
        self.assertAwsError(lambda: self.c.set_queue_attributes(QueueUrl=url, Attributes={
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": arnOf(dlqName), "maxReceiveCount": 0})}),
            ("InvalidAttributeValue", "InvalidParameterValue"), what="SetQueueAttributes maxReceiveCount 0")
        # clearing the policy with an empty string (AWS accepts it)
        self.c.set_queue_attributes(QueueUrl=url, Attributes={"RedrivePolicy": ""})
        self.assertNotIn("RedrivePolicy", self.attrs(url))

    def test_redrive_allow_policy(self):
        dlqUrl, dlqName = self.newQueue("dlqa")
        srcUrl, srcName = self.newQueue("srca")
        allow = {"redrivePermission": "byQueue", "sourceQueueArns": [arnOf(srcName)]}
        self.c.set_queue_attributes(QueueUrl=dlqUrl, Attributes={"RedriveAllowPolicy": json.dumps(allow)})
        got = json.loads(self.attrs(dlqUrl, "RedriveAllowPolicy")["RedriveAllowPolicy"])
        self.assertEqual(got, allow)
        self.c.set_queue_attributes(QueueUrl=srcUrl, Attributes={"RedrivePolicy": json.dumps(
            {"deadLetterTargetArn": arnOf(dlqName), "maxReceiveCount": 3})})
        self.c.set_queue_attributes(QueueUrl=dlqUrl, Attributes={
            "RedriveAllowPolicy": json.dumps({"redrivePermission": "denyAll"})})
        self.assertEqual(json.loads(self.attrs(dlqUrl, "RedriveAllowPolicy")["RedriveAllowPolicy"]),
                         {"redrivePermission": "denyAll"})
        self.assertAwsError(lambda: self.c.set_queue_attributes(QueueUrl=dlqUrl, Attributes={
            "RedriveAllowPolicy": json.dumps({"redrivePermission": "sometimes"})}),
            ("InvalidAttributeValue", "InvalidParameterValue"), what="RedriveAllowPolicy redrivePermission=sometimes")

    def test_start_message_move_task(self):
        # StartMessageMoveTask (2023) is newer than Debian's botocore.
        srcUrl, srcName, dlqUrl, dlqName = self.makePair(1)
        received, moved = self.redriveOne(srcUrl, dlqUrl, "come back")
        self.assertIsNotNone(moved, "setup: the message reached the DLQ")
        self.c.change_message_visibility(QueueUrl=dlqUrl, ReceiptHandle=moved["ReceiptHandle"], VisibilityTimeout=0)
        status, _, body = awsutil.queryRequest(ENDPOINTS[0], {"Action": "StartMessageMoveTask",
                                                             "SourceArn": arnOf(dlqName)})
        self.assertEqual(status, 200, "StartMessageMoveTask SourceArn=%s: %s" % (arnOf(dlqName), body[:400]))
        self.assertTrue(awsutil.xmlFind(body, "TaskHandle") and awsutil.xmlFind(body, "TaskHandle")[0],
                        "StartMessageMoveTask returns a TaskHandle: %s" % body[:400])
        back = self.receiveAll(srcUrl, 1, seconds=15)
        self.assertEqual([m["Body"] for m in back], ["come back"], "the move task put the message back")
        # a queue that is nobody's DLQ cannot be a move task's source (AWS)
        status, _, body = awsutil.queryRequest(ENDPOINTS[0], {"Action": "StartMessageMoveTask",
                                                             "SourceArn": arnOf(srcName)})
        err = awsutil.xmlError(body)
        self.assertEqual((status, err and err[1]), (400, "InvalidParameterValue"),
                         "StartMessageMoveTask from a queue that is no DLQ: %s" % body[:300])


class LongPollTests(Base):
    """ReceiveMessage WaitTimeSeconds over HTTP."""

    def test_long_poll_woken_by_send(self):
        url, _ = self.newQueue("lp")
        sender = awsutil.client(ENDPOINTS[1])
        result = {}

        def receive():
            t0 = time.time()
            try:
                result["r"] = awsutil.client(ENDPOINTS[2]).receive_message(QueueUrl=url, WaitTimeSeconds=10)
            except Exception as e:  # reported below
                result["e"] = e
            result["t"] = time.time() - t0
        th = threading.Thread(target=receive)
        th.start()
        time.sleep(1.0)
        sender.send_message(QueueUrl=url, MessageBody="wake up")
        th.join(15)
        self.assertFalse(th.is_alive(), "the long poll did not return within 15 s")
        self.assertNotIn("e", result, repr(result.get("e")))
        self.assertEqual([m["Body"] for m in result["r"].get("Messages", [])], ["wake up"])
        self.assertGreater(result["t"], 0.8, "the receive did wait for the send")
        self.assertLess(result["t"], 5.0, "the send woke the poll well before its 10 s")

    def test_long_poll_times_out_empty(self):
        url, _ = self.newQueue("lpe")
        t0 = time.time()
        r = self.c.receive_message(QueueUrl=url, WaitTimeSeconds=2)
        took = time.time() - t0
        self.assertEqual(r.get("Messages", []), [])
        self.assertGreater(took, 1.5, "WaitTimeSeconds=2 waited only %.2f s" % took)
        self.assertLess(took, 6.0)

    def test_queue_receive_wait_time_attribute(self):
        url, _ = self.newQueue("lpq", attributes={"ReceiveMessageWaitTimeSeconds": "2"})
        t0 = time.time()
        self.c.receive_message(QueueUrl=url)
        took = time.time() - t0
        self.assertGreater(took, 1.5, "ReceiveMessageWaitTimeSeconds=2 makes a plain receive wait; it took %.2f s"
                           % took)
        t0 = time.time()
        self.c.receive_message(QueueUrl=url, WaitTimeSeconds=0)
        self.assertLess(time.time() - t0, 1.8, "WaitTimeSeconds=0 overrides the queue's wait")

    def test_two_waiters_two_sends(self):
        url, _ = self.newQueue("lp2")
        out = []
        lock = threading.Lock()

        def receive(ep):
            r = awsutil.client(ep).receive_message(QueueUrl=url, WaitTimeSeconds=10)
            with lock:
                out.extend(m["Body"] for m in r.get("Messages", []))
        ths = [threading.Thread(target=receive, args=(ENDPOINTS[i],)) for i in (0, 1)]
        t0 = time.time()
        for th in ths:
            th.start()
        time.sleep(1.0)
        self.c.send_message_batch(QueueUrl=url, Entries=[{"Id": "a", "MessageBody": "a"},
                                                         {"Id": "b", "MessageBody": "b"}])
        for th in ths:
            th.join(15)
        self.assertEqual(sorted(out), ["a", "b"], "two waiting receives, two messages: both delivered once")
        self.assertLess(time.time() - t0, 9.5, "the waiters were woken, not timed out")

    def dropWaiter(self, endpoint):
        """Open a signed 15 s ReceiveMessage on endpoint, close the socket
        after 1 s, then send a message: a live receive must get it."""
        url, _ = self.newQueue("lpdrop")
        body = urllib.parse.urlencode({"Action": "ReceiveMessage", "QueueUrl": url, "WaitTimeSeconds": "15",
                                       "Version": "2012-11-05"})
        from botocore.awsrequest import AWSRequest
        req = AWSRequest(method="POST", url=endpoint + "/", data=body.encode(),
                         headers={"Content-Type": "application/x-www-form-urlencoded"})
        awsutil.sign(req)
        import socket
        host, port = endpoint.split("//")[1].split(":")
        s = socket.create_connection((host, int(port)), timeout=5)
        head = "POST / HTTP/1.1\r\nHost: %s:%s\r\nContent-Length: %d\r\n" % (host, port, len(req.body))
        for k, v in req.headers.items():
            if k.lower() not in ("host", "content-length"):
                head += "%s: %s\r\n" % (k, v)
        s.sendall(head.encode() + b"\r\n" + req.body)
        time.sleep(1.0)
        s.close()
        time.sleep(0.5)
        self.c.send_message(QueueUrl=url, MessageBody="for the live one")
        got = self.receiveAll(url, 1, seconds=4)
        self.assertEqual([m["Body"] for m in got], ["for the live one"],
                         "a long poll on %s whose connection closed must not take the message" % endpoint)

    def test_dropped_waiter_does_not_take_a_message(self):
        self.dropWaiter(ENDPOINTS[0])

    def test_dropped_waiter_on_a_follower(self):
        leader = awsutil.leaderId()
        self.assertIsNotNone(leader)
        self.dropWaiter(ENDPOINTS[leader % 3])


class AccountTests(Base):
    """Two accounts (two keys in the credentials file) do not see each
    other's queues."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        import os
        cls.account2 = os.environ["QRAFT_AWS_ACCOUNT2"]
        cls.b = awsutil.client(ENDPOINTS[1], key=os.environ["QRAFT_AWS_KEY2"],
                               secret=os.environ["QRAFT_AWS_SECRET2"])

    def test_second_account_does_not_list_first_accounts_queues(self):
        url, name = self.newQueue("tenantl")
        self.assertEqual(self.b.list_queues(QueueNamePrefix=name).get("QueueUrls", []), [],
                         "account B: ListQueues QueueNamePrefix=%s lists account A's queue" % name)

    def test_second_account_cannot_find_first_accounts_queue(self):
        url, name = self.newQueue("tenantg")
        self.assertAwsError(lambda: self.b.get_queue_url(QueueName=name), "AWS.SimpleQueueService.NonExistentQueue",
                            what="account B: GetQueueUrl of A's queue %s" % name)

    def test_second_account_has_its_own_queue_of_the_same_name(self):
        url, name = self.newQueue("tenantc")
        self.c.send_message(QueueUrl=url, MessageBody="A's")
        burl = self.b.create_queue(QueueName=name, Attributes={"VisibilityTimeout": "77"})["QueueUrl"]
        self.assertEqual(burl, "%s/%s/%s" % (ENDPOINTS[1], self.account2, name))
        a = self.b.get_queue_attributes(QueueUrl=burl, AttributeNames=["QueueArn", "ApproximateNumberOfMessages",
                                                                         "VisibilityTimeout"])
        self.assertEqual(a["Attributes"], {"QueueArn": "arn:aws:sqs:%s:%s:%s" % (REGION, self.account2, name),
                                           "ApproximateNumberOfMessages": "0", "VisibilityTimeout": "77"},
                         "account B's CreateQueue %s: B's own queue, empty, with B's attributes" % name)
        self.assertEqual(self.attrs(url, "ApproximateNumberOfMessages", "VisibilityTimeout"),
                         {"ApproximateNumberOfMessages": "1", "VisibilityTimeout": "30"}, "A's queue untouched")

    def test_second_account_cannot_use_first_accounts_queue_url(self):
        url, name = self.newQueue("tenant2")
        for what, fn in (("SendMessage", lambda: self.b.send_message(QueueUrl=url, MessageBody="from B")),
                         ("ReceiveMessage", lambda: self.b.receive_message(QueueUrl=url)),
                         ("PurgeQueue", lambda: self.b.purge_queue(QueueUrl=url)),
                         ("DeleteQueue", lambda: self.b.delete_queue(QueueUrl=url))):
            self.assertAwsError(fn, ("AWS.SimpleQueueService.NonExistentQueue", "AccessDenied"), status=None,
                                what="account B: %s on account A's QueueUrl %s" % (what, url))
        self.assertEqual(self.attrs(url, "ApproximateNumberOfMessages")["ApproximateNumberOfMessages"], "0")
        self.assertEqual(self.c.get_queue_url(QueueName=name)["QueueUrl"], url, "A's queue still exists")


class ClusterTests(Base):
    """Any node serves any request; QueueUrls work on every node."""

    def test_queue_url_names_the_serving_node(self):
        for i, ep in enumerate(ENDPOINTS):
            c = awsutil.client(ep)
            url, name = self.newQueue("node%d" % (i + 1), client=c)
            self.assertEqual(url, "%s/%s/%s" % (ep, ACCOUNT, name))

    def test_every_node_serves_every_operation(self):
        cs = [awsutil.client(ep) for ep in ENDPOINTS]
        url, name = self.newQueue("any", client=cs[1])
        for c in cs:
            self.assertEqual(c.get_queue_url(QueueName=name)["QueueUrl"].rsplit("/", 2)[1:], [ACCOUNT, name])
        cs[2].send_message(QueueUrl=url, MessageBody="via 3 with node 2's url")
        m = cs[0].receive_message(QueueUrl=url, WaitTimeSeconds=5, AttributeNames=["All"])["Messages"][0]
        self.assertEqual(m["Body"], "via 3 with node 2's url")
        cs[1].change_message_visibility(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"], VisibilityTimeout=0)
        m = cs[2].receive_message(QueueUrl=url, WaitTimeSeconds=5)["Messages"][0]
        cs[0].delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        for c in cs:
            a = c.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"]
            self.assertEqual(a["ApproximateNumberOfMessages"], "0")

    def test_followers_serve_requests(self):
        leader = awsutil.leaderId()
        self.assertIsNotNone(leader, "no leader found with the qraft CLI")
        followers = [ep for i, ep in enumerate(ENDPOINTS) if i + 1 != leader]
        self.assertEqual(len(followers), 2)
        f = awsutil.client(followers[0])
        url, name = self.newQueue("fol", client=f)
        r = f.send_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": str(i)} for i in range(3)])
        self.assertEqual(len(r["Successful"]), 3)
        g = awsutil.client(followers[1])
        got = self.receiveAll(url, 3, client=g)
        self.assertEqual(sorted(m["Body"] for m in got), ["0", "1", "2"])
        d = g.delete_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                                                          for i, m in enumerate(got)])
        self.assertEqual(len(d["Successful"]), 3)
        self.assertIn(url.rsplit("/", 1)[1], [u.rsplit("/", 1)[1] for u in
                                              g.list_queues(QueueNamePrefix=name).get("QueueUrls", [])])
        f.delete_queue(QueueUrl=url)
        self.assertAwsError(lambda: g.get_queue_url(QueueName=name), "AWS.SimpleQueueService.NonExistentQueue",
                            what="GetQueueUrl on a follower after DeleteQueue on the other")

    def test_long_poll_on_follower(self):
        leader = awsutil.leaderId()
        self.assertIsNotNone(leader)
        follower = ENDPOINTS[leader % 3]
        url, _ = self.newQueue("lpf")
        out = {}

        def receive():
            t0 = time.time()
            out["r"] = awsutil.client(follower).receive_message(QueueUrl=url, WaitTimeSeconds=10)
            out["t"] = time.time() - t0
        th = threading.Thread(target=receive)
        th.start()
        time.sleep(1.0)
        awsutil.client(ENDPOINTS[leader - 1]).send_message(QueueUrl=url, MessageBody="to the follower's waiter")
        th.join(15)
        self.assertFalse(th.is_alive())
        self.assertEqual([m["Body"] for m in out["r"].get("Messages", [])], ["to the follower's waiter"])
        self.assertLess(out["t"], 5.0)


if __name__ == "__main__":
    unittest.main()
