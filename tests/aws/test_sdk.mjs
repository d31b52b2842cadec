// The AWS SDK for JavaScript v3 suite: npm's @aws-sdk/client-sqs (JSON 1.0
// protocol, its MD5 middleware on by default) against the cluster that
// tests/aws/run started.
//
// The happy path is: each case is an async function run in order by the small
// runner at the bottom, which prints cmocka-style lines ("[ RUN      ]",
// "[       OK ]", "[  FAILED  ]" and the summary tests/run counts). Cases make
// their own queues, use SQSClient commands against one node's endpoint and
// check values, units and errors: the error's name (the __type the SDK
// decodes) and its Code (from the x-amzn-query-error header, which the SDK
// copies onto the error for query-compatible services). Failure modes: a
// failed assertion or an exception fails its case; each case has a 60 s
// limit; the SDK retries at most 3 times.
//
// Needs: QRAFT_AWS_ENDPOINTS, QRAFT_AWS_ACCOUNT, QRAFT_AWS_RUN, QRAFT,
// QRAFT_AWS_SERVERS, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY.

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import * as sqs from "@aws-sdk/client-sqs";

const ENDPOINTS = process.env.QRAFT_AWS_ENDPOINTS.split(/\s+/);
const ACCOUNT = process.env.QRAFT_AWS_ACCOUNT;
const RUN = process.env.QRAFT_AWS_RUN || "js";
const REGION = "us-east-1";
const CREDS = { accessKeyId: process.env.AWS_ACCESS_KEY_ID, secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY };

// An SQSClient on node n (1..3), optionally with other credentials.
function client(n = 1, credentials = CREDS) {
    return new sqs.SQSClient({ endpoint: ENDPOINTS[n - 1], region: REGION, credentials, maxAttempts: 3 });
}

const c = client(1);
const arnOf = (name) => `arn:aws:sqs:${REGION}:${ACCOUNT}:${name}`;
const queueName = (stem) => `js-${stem}-${RUN}-${randomBytes(3).toString("hex")}`;
const md5 = (data) => createHash("md5").update(data).digest("hex");
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// MD5OfMessageAttributes as AWS computes it (name order, length-prefixed
// name, type, transport byte 1 string / 2 binary, length-prefixed value).
function attributesDigest(attrs) {
    const parts = [];
    const put = (b) => {
        const buf = typeof b === "string" ? Buffer.from(b, "utf8") : Buffer.from(b);
        const len = Buffer.alloc(4);
        len.writeUInt32BE(buf.length);
        parts.push(len, buf);
    };
    for (const name of Object.keys(attrs).sort()) {
        const a = attrs[name];
        put(name);
        put(a.DataType);
        if (a.BinaryValue !== undefined) {
            parts.push(Buffer.from([2]));
            put(a.BinaryValue);
        } else {
            parts.push(Buffer.from([1]));
            put(a.StringValue);
        }
    }
    return md5(Buffer.concat(parts));
}

async function newQueue(stem, Attributes, tags, on = c) {
    const QueueName = queueName(stem);
    const r = await on.send(new sqs.CreateQueueCommand({ QueueName, Attributes, tags }));
    return { url: r.QueueUrl, name: QueueName };
}

async function attrs(url, names = ["All"]) {
    return (await c.send(new sqs.GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: names }))).Attributes || {};
}

// Receive (optionally deleting) until want messages or the deadline.
async function receiveN(url, want, { on = c, del = false, seconds = 10, ...extra } = {}) {
    const got = [];
    const deadline = Date.now() + seconds * 1000;
    while (got.length < want && Date.now() < deadline) {
        const r = await on.send(new sqs.ReceiveMessageCommand({
            QueueUrl: url, MaxNumberOfMessages: Math.min(10, want - got.length), WaitTimeSeconds: 1, ...extra,
        }));
        for (const m of r.Messages || []) {
            got.push(m);
            if (del) await on.send(new sqs.DeleteMessageCommand({ QueueUrl: url, ReceiptHandle: m.ReceiptHandle }));
        }
    }
    return got;
}

// fn() must fail with query Code `code` (from x-amzn-query-error), error
// name `name` and HTTP status (each if given); returns the error. The SDK
// (3.940) names a query-compatible service's error after the header's code
// when the header is there, so the name may be either the JSON shape name
// or the query code; the __type itself is checked by test_http.py.
async function expectError(fn, { name, code, status }, what) {
    let r;
    try {
        r = await fn();
    } catch (e) {
        const got = { name: e.name, code: e.Code, status: e.$metadata?.httpStatusCode, message: e.message };
        if (name) assert.ok(e.name === name || e.name === e.Code, `${what}: error name ${JSON.stringify(got)}, expected ${name}`);
        if (code) assert.equal(e.Code, code, `${what}: query Code ${JSON.stringify(got)}`);
        if (status) assert.equal(got.status, status, `${what}: HTTP status ${JSON.stringify(got)}`);
        return e;
    }
    assert.fail(`${what}: expected ${name || code}, the call succeeded: ${JSON.stringify(r).slice(0, 300)}`);
}

function leaderId() {
    for (let i = 0; i < 50; i++) {
        try {
            const out = execFileSync(process.env.QRAFT, ["-s", process.env.QRAFT_AWS_SERVERS, "--timeout", "1000",
                "--json", "cluster", "status"], { encoding: "utf8", timeout: 10000 });
            for (const line of out.split("\n")) {
                try {
                    const row = JSON.parse(line);
                    if (row.state === "leader") return row.id;
                } catch { /* not a JSON line */ }
            }
        } catch { /* retry */ }
        execFileSync("sleep", ["0.2"]);
    }
    return null;
}

const tests = [];
const test = (name, fn) => tests.push([name, fn]);

test("create_queue_attributes_tags_and_get_url", async () => {
    const { url, name } = await newQueue("attrs", { VisibilityTimeout: "45", DelaySeconds: "1" }, { team: "js" });
    assert.equal(url, `${ENDPOINTS[0]}/${ACCOUNT}/${name}`);
    const a = await attrs(url);
    assert.equal(a.VisibilityTimeout, "45");
    assert.equal(a.DelaySeconds, "1");
    assert.equal(a.QueueArn, arnOf(name));
    assert.ok(Math.abs(Number(a.CreatedTimestamp) - Date.now() / 1000) < 120, `CreatedTimestamp ${a.CreatedTimestamp} in seconds`);
    assert.deepEqual(await attrs(url, ["VisibilityTimeout"]), { VisibilityTimeout: "45" }, "GetQueueAttributes [VisibilityTimeout]");
    const u = await client(2).send(new sqs.GetQueueUrlCommand({ QueueName: name }));
    assert.deepEqual(u.QueueUrl.split("/").slice(-2), [ACCOUNT, name]);
    const t = await c.send(new sqs.ListQueueTagsCommand({ QueueUrl: url }));
    assert.deepEqual(t.Tags, { team: "js" }, "ListQueueTags after CreateQueue with tags {team: js}");
});

test("create_queue_errors", async () => {
    const { name } = await newQueue("exists", { DelaySeconds: "1" });
    await expectError(() => c.send(new sqs.CreateQueueCommand({ QueueName: name, Attributes: { DelaySeconds: "2" } })),
        { name: "QueueNameExists", code: "QueueAlreadyExists", status: 400 }, "CreateQueue existing, other attributes");
    await expectError(() => c.send(new sqs.CreateQueueCommand({ QueueName: "bad name!" })),
        { name: "InvalidParameterValueException", code: "InvalidParameterValue", status: 400 }, "CreateQueue 'bad name!'");
    await expectError(() => c.send(new sqs.CreateQueueCommand({ QueueName: queueName("unk"), Attributes: { Colour: "blue" } })),
        { name: "InvalidAttributeName", code: "InvalidAttributeName", status: 400 }, "CreateQueue Attribute Colour");
});

test("list_queues_prefix_and_paging", async () => {
    const prefix = queueName("page");
    const names = [0, 1, 2, 3, 4].map((i) => `${prefix}-${i}`);
    for (const n of names) await c.send(new sqs.CreateQueueCommand({ QueueName: n }));
    const seen = [];
    let token;
    for (let i = 0; i < 10; i++) {
        const r = await client(2).send(new sqs.ListQueuesCommand({ QueueNamePrefix: prefix, MaxResults: 2, NextToken: token }));
        assert.ok((r.QueueUrls || []).length <= 2);
        seen.push(...(r.QueueUrls || []));
        token = r.NextToken;
        if (!token) break;
    }
    assert.equal(token, undefined, "paging ended");
    assert.deepEqual(seen.map((u) => u.split("/").pop()).sort(), names);
});

test("set_attributes_and_tags", async () => {
    const { url } = await newQueue("set");
    await c.send(new sqs.SetQueueAttributesCommand({ QueueUrl: url, Attributes: { VisibilityTimeout: "60", MaximumMessageSize: "2048" } }));
    assert.deepEqual(await attrs(url, ["VisibilityTimeout", "MaximumMessageSize"]), { VisibilityTimeout: "60", MaximumMessageSize: "2048" });
    await expectError(() => c.send(new sqs.SetQueueAttributesCommand({ QueueUrl: url, Attributes: { Colour: "x" } })),
        { name: "InvalidAttributeName", code: "InvalidAttributeName" }, "SetQueueAttributes Colour");
    await expectError(() => c.send(new sqs.GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ["Colour"] })),
        { name: "InvalidAttributeName" }, "GetQueueAttributes Colour");
    await c.send(new sqs.TagQueueCommand({ QueueUrl: url, Tags: { a: "1", b: "2" } }));
    await c.send(new sqs.UntagQueueCommand({ QueueUrl: url, TagKeys: ["a"] }));
    assert.deepEqual((await c.send(new sqs.ListQueueTagsCommand({ QueueUrl: url }))).Tags, { b: "2" });
});

test("send_receive_delete_with_attributes", async () => {
    assert.equal(typeof c.config.md5, "function", "the SDK's MD5 checks are on (config.md5 is its hash)");
    const { url } = await newQueue("srd");
    const body = "js body é 世界 😀 <&>";
    const MessageAttributes = {
        s: { DataType: "String", StringValue: "str" },
        n: { DataType: "Number", StringValue: "12.5" },
        b: { DataType: "Binary", BinaryValue: new Uint8Array([0, 1, 2, 253, 254, 255]) },
    };
    const sent = await c.send(new sqs.SendMessageCommand({ QueueUrl: url, MessageBody: body, MessageAttributes }));
    assert.equal(sent.MD5OfMessageBody, md5(body));
    assert.equal(sent.MD5OfMessageAttributes, attributesDigest(MessageAttributes));
    const before = Date.now();
    const [m] = await receiveN(url, 1, { on: client(3), MessageAttributeNames: ["All"], MessageSystemAttributeNames: ["All"] });
    assert.ok(m, "received");
    assert.equal(m.Body, body);
    assert.equal(m.MessageId, sent.MessageId);
    assert.equal(m.MD5OfMessageAttributes, attributesDigest(MessageAttributes));
    assert.equal(m.MessageAttributes.s.StringValue, "str");
    assert.equal(m.MessageAttributes.n.StringValue, "12.5");
    assert.deepEqual(Buffer.from(m.MessageAttributes.b.BinaryValue), Buffer.from([0, 1, 2, 253, 254, 255]));
    assert.ok(Math.abs(Number(m.Attributes.SentTimestamp) - before) < 120000, `SentTimestamp ${m.Attributes.SentTimestamp} in ms`);
    assert.equal(m.Attributes.ApproximateReceiveCount, "1");
    await client(2).send(new sqs.DeleteMessageCommand({ QueueUrl: url, ReceiptHandle: m.ReceiptHandle }));
    const a = await attrs(url, ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]);
    assert.deepEqual(a, { ApproximateNumberOfMessages: "0", ApproximateNumberOfMessagesNotVisible: "0" });
});

test("attribute_names_legacy_and_system", async () => {
    const { url } = await newQueue("names");
    await c.send(new sqs.SendMessageCommand({ QueueUrl: url, MessageBody: "n" }));
    let [m] = await receiveN(url, 1, { AttributeNames: ["SentTimestamp"], VisibilityTimeout: 0 });
    assert.deepEqual(Object.keys(m.Attributes || {}), ["SentTimestamp"]);
    [m] = await receiveN(url, 1, { MessageSystemAttributeNames: ["ApproximateReceiveCount", "SenderId"] });
    assert.deepEqual(Object.keys(m.Attributes || {}).sort(), ["ApproximateReceiveCount", "SenderId"]);
    assert.equal(m.Attributes.ApproximateReceiveCount, "2");
});

test("delay_and_visibility", async () => {
    const { url } = await newQueue("delay");
    await c.send(new sqs.SendMessageCommand({ QueueUrl: url, MessageBody: "d", DelaySeconds: 2 }));
    assert.equal((await attrs(url, ["ApproximateNumberOfMessagesDelayed"])).ApproximateNumberOfMessagesDelayed, "1");
    assert.equal(((await c.send(new sqs.ReceiveMessageCommand({ QueueUrl: url }))).Messages || []).length, 0);
    const [m] = await receiveN(url, 1, { seconds: 8, VisibilityTimeout: 30 });
    assert.ok(m, "delayed message arrives");
    assert.equal(((await c.send(new sqs.ReceiveMessageCommand({ QueueUrl: url }))).Messages || []).length, 0, "in flight");
    await c.send(new sqs.ChangeMessageVisibilityCommand({ QueueUrl: url, ReceiptHandle: m.ReceiptHandle, VisibilityTimeout: 0 }));
    const [again] = await receiveN(url, 1, { seconds: 5 });
    assert.equal(again?.Body, "d");
    const r = await c.send(new sqs.ChangeMessageVisibilityBatchCommand({ QueueUrl: url, Entries: [
        { Id: "good", ReceiptHandle: again.ReceiptHandle, VisibilityTimeout: 0 },
        { Id: "bad", ReceiptHandle: "garbage", VisibilityTimeout: 0 }] }));
    assert.deepEqual((r.Successful || []).map((e) => e.Id), ["good"]);
    assert.deepEqual((r.Failed || []).map((e) => [e.Id, e.Code, e.SenderFault]), [["bad", "ReceiptHandleIsInvalid", true]]);
});

test("message_errors", async () => {
    const { url } = await newQueue("merr", { MaximumMessageSize: "1024" });
    await expectError(() => c.send(new sqs.SendMessageCommand({ QueueUrl: url, MessageBody: "x".repeat(1025) })),
        { name: "InvalidParameterValueException", code: "InvalidParameterValue", status: 400 }, "SendMessage 1025 bytes > 1024");
    await expectError(() => c.send(new sqs.SendMessageCommand({ QueueUrl: url, MessageBody: "bad \u0001" })),
        { name: "InvalidMessageContents", code: "InvalidMessageContents", status: 400 }, "SendMessage body with U+0001");
    await expectError(() => c.send(new sqs.ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 11 })),
        { name: "InvalidParameterValueException", code: "InvalidParameterValue", status: 400 }, "ReceiveMessage MaxNumberOfMessages 11");
    await expectError(() => c.send(new sqs.DeleteMessageCommand({ QueueUrl: url, ReceiptHandle: "garbage" })),
        { name: "ReceiptHandleIsInvalid", code: "ReceiptHandleIsInvalid" }, "DeleteMessage garbage handle");
    await expectError(() => c.send(new sqs.SendMessageCommand({ QueueUrl: url, MessageBody: "" })),
        { code: "MissingParameter", status: 400 }, "SendMessage empty body");
    const gone = `${ENDPOINTS[0]}/${ACCOUNT}/${queueName("gone")}`;
    await expectError(() => c.send(new sqs.SendMessageCommand({ QueueUrl: gone, MessageBody: "x" })),
        { name: "QueueDoesNotExist", code: "AWS.SimpleQueueService.NonExistentQueue", status: 400 }, "SendMessage to a missing queue");
    await expectError(() => c.send(new sqs.GetQueueUrlCommand({ QueueName: queueName("gone") })),
        { name: "QueueDoesNotExist", code: "AWS.SimpleQueueService.NonExistentQueue", status: 400 }, "GetQueueUrl missing");
    assert.equal((await attrs(url, ["ApproximateNumberOfMessages"])).ApproximateNumberOfMessages, "0");
    await expectError(() => c.send(new sqs.SendMessageCommand({ QueueUrl: url, MessageBody: "nul \u0000" })),
        { name: "InvalidMessageContents", code: "InvalidMessageContents", status: 400 }, "SendMessage body with U+0000 (JSON \\u0000)");
});

test("batches_and_partial_failures", async () => {
    const { url } = await newQueue("batch");
    const r = await c.send(new sqs.SendMessageBatchCommand({ QueueUrl: url, Entries: [
        { Id: "a", MessageBody: "one" }, { Id: "b", MessageBody: "two" },
        { Id: "bad", MessageBody: "three \u0001" }, { Id: "c", MessageBody: "four", DelaySeconds: 1 }] }));
    assert.deepEqual((r.Successful || []).map((e) => e.Id).sort(), ["a", "b", "c"]);
    assert.deepEqual((r.Failed || []).map((e) => [e.Id, e.Code, e.SenderFault]), [["bad", "InvalidMessageContents", true]]);
    const got = await receiveN(url, 3, { seconds: 10 });
    assert.deepEqual(got.map((m) => m.Body).sort(), ["four", "one", "two"]);
    const d = await client(2).send(new sqs.DeleteMessageBatchCommand({ QueueUrl: url, Entries: [
        ...got.map((m, i) => ({ Id: `m${i}`, ReceiptHandle: m.ReceiptHandle })), { Id: "junk", ReceiptHandle: "junk" }] }));
    assert.equal((d.Successful || []).length, 3);
    assert.deepEqual((d.Failed || []).map((e) => [e.Id, e.Code, e.SenderFault]), [["junk", "ReceiptHandleIsInvalid", true]]);
    await expectError(() => c.send(new sqs.SendMessageBatchCommand({ QueueUrl: url, Entries: [] })),
        { name: "EmptyBatchRequest", code: "AWS.SimpleQueueService.EmptyBatchRequest", status: 400 }, "SendMessageBatch []");
    await expectError(() => c.send(new sqs.SendMessageBatchCommand({ QueueUrl: url,
        Entries: Array.from({ length: 11 }, (_, i) => ({ Id: `e${i}`, MessageBody: "x" })) })),
    { name: "TooManyEntriesInBatchRequest", code: "AWS.SimpleQueueService.TooManyEntriesInBatchRequest", status: 400 }, "11 entries");
    await expectError(() => c.send(new sqs.DeleteMessageBatchCommand({ QueueUrl: url,
        Entries: [{ Id: "x", ReceiptHandle: "a" }, { Id: "x", ReceiptHandle: "b" }] })),
    { name: "BatchEntryIdsNotDistinct", code: "AWS.SimpleQueueService.BatchEntryIdsNotDistinct", status: 400 }, "Ids x, x");
    await expectError(() => c.send(new sqs.SendMessageBatchCommand({ QueueUrl: url,
        Entries: [{ Id: "bad:id", MessageBody: "x" }] })),
    { name: "InvalidBatchEntryId", code: "AWS.SimpleQueueService.InvalidBatchEntryId", status: 400 }, "Id bad:id");
});

test("fifo_order_dedup_sequence", async () => {
    const name = `${queueName("fifo")}.fifo`;
    const url = (await c.send(new sqs.CreateQueueCommand({ QueueName: name, Attributes: { FifoQueue: "true" } }))).QueueUrl;
    await expectError(() => c.send(new sqs.SendMessageCommand({ QueueUrl: url, MessageBody: "x", MessageDeduplicationId: "d" })),
        { code: "MissingParameter", status: 400 }, "FIFO SendMessage without MessageGroupId");
    await expectError(() => c.send(new sqs.SendMessageCommand({ QueueUrl: url, MessageBody: "x", MessageGroupId: "g" })),
        { name: "InvalidParameterValueException", code: "InvalidParameterValue", status: 400 }, "FIFO SendMessage without deduplication id");
    const seqs = [];
    for (let i = 0; i < 5; i++) {
        const r = await client(1 + (i % 3)).send(new sqs.SendMessageCommand({
            QueueUrl: url, MessageBody: `m${i}`, MessageGroupId: "g", MessageDeduplicationId: `d${i}` }));
        assert.match(r.SequenceNumber || "", /^[0-9]+$/, "SendMessage to FIFO returns a SequenceNumber");
        seqs.push(r.SequenceNumber);
    }
    await c.send(new sqs.SendMessageCommand({ QueueUrl: url, MessageBody: "dup", MessageGroupId: "g", MessageDeduplicationId: "d0" }));
    for (let i = 1; i < seqs.length; i++) assert.ok(BigInt(seqs[i]) > BigInt(seqs[i - 1]), "SequenceNumber grows");
    const got = await receiveN(url, 6, { del: true, seconds: 6, MessageSystemAttributeNames: ["All"] });
    assert.deepEqual(got.map((m) => m.Body), ["m0", "m1", "m2", "m3", "m4"]);
    assert.equal(got[0].Attributes.MessageGroupId, "g");
    assert.equal(got[0].Attributes.MessageDeduplicationId, "d0");
    assert.equal(got[0].Attributes.SequenceNumber, seqs[0], "the received SequenceNumber is the one SendMessage returned");
});

test("fifo_content_based_dedup_batch", async () => {
    const name = `${queueName("fcbd")}.fifo`;
    const url = (await c.send(new sqs.CreateQueueCommand({ QueueName: name,
        Attributes: { FifoQueue: "true", ContentBasedDeduplication: "true" } }))).QueueUrl;
    const r = await c.send(new sqs.SendMessageBatchCommand({ QueueUrl: url, Entries: [
        { Id: "1", MessageBody: "same", MessageGroupId: "g" }, { Id: "2", MessageBody: "same", MessageGroupId: "g" },
        { Id: "3", MessageBody: "other", MessageGroupId: "g" }] }));
    assert.equal((r.Successful || []).length, 3);
    const got = await receiveN(url, 3, { del: true, seconds: 4 });
    assert.deepEqual(got.map((m) => m.Body), ["same", "other"]);
});

test("dlq_redrive_sources_and_move_task", async () => {
    const dlq = await newQueue("dlq");
    const src = await newQueue("src", { RedrivePolicy: JSON.stringify({ deadLetterTargetArn: arnOf(dlq.name), maxReceiveCount: 1 }) });
    await c.send(new sqs.SetQueueAttributesCommand({ QueueUrl: dlq.url,
        Attributes: { RedriveAllowPolicy: JSON.stringify({ redrivePermission: "allowAll" }) } }));
    assert.deepEqual(JSON.parse((await attrs(dlq.url, ["RedriveAllowPolicy"])).RedriveAllowPolicy), { redrivePermission: "allowAll" });
    await c.send(new sqs.SendMessageCommand({ QueueUrl: src.url, MessageBody: "poison" }));
    let inDlq;
    let received = 0;
    const deadline = Date.now() + 15000;
    while (!inDlq && Date.now() < deadline && received < 10) {
        const r = await c.send(new sqs.ReceiveMessageCommand({ QueueUrl: src.url, WaitTimeSeconds: 1 }));
        if (r.Messages?.length) {
            received++;
            await c.send(new sqs.ChangeMessageVisibilityCommand({ QueueUrl: src.url, ReceiptHandle: r.Messages[0].ReceiptHandle, VisibilityTimeout: 0 }));
            continue;
        }
        inDlq = (await c.send(new sqs.ReceiveMessageCommand({ QueueUrl: dlq.url, WaitTimeSeconds: 1, VisibilityTimeout: 0 }))).Messages?.[0];
    }
    assert.equal(received, 1, "received maxReceiveCount (1) times");
    assert.equal(inDlq?.Body, "poison", "moved to the DLQ");
    const t = await c.send(new sqs.StartMessageMoveTaskCommand({ SourceArn: arnOf(dlq.name) }));
    assert.ok(t.TaskHandle, "StartMessageMoveTask returns a TaskHandle");
    const back = await receiveN(src.url, 1, { seconds: 15 });
    assert.equal(back[0]?.Body, "poison", "the move task returned the message to its source");
    const s = await client(2).send(new sqs.ListDeadLetterSourceQueuesCommand({ QueueUrl: dlq.url }));
    assert.deepEqual((s.queueUrls || []).map((u) => u.split("/").pop()), [src.name],
        `ListDeadLetterSourceQueues: ${JSON.stringify({ queueUrls: s.queueUrls, QueueUrls: s.QueueUrls })}`);
});

test("long_poll_woken_by_send", async () => {
    const { url } = await newQueue("lp");
    const t0 = Date.now();
    const pending = client(3).send(new sqs.ReceiveMessageCommand({ QueueUrl: url, WaitTimeSeconds: 10 }));
    await sleep(1000);
    await client(2).send(new sqs.SendMessageCommand({ QueueUrl: url, MessageBody: "wake" }));
    const r = await pending;
    const took = Date.now() - t0;
    assert.deepEqual((r.Messages || []).map((m) => m.Body), ["wake"]);
    assert.ok(took > 800 && took < 5000, `woken after ${took} ms`);
});

test("aborted_long_poll_takes_nothing", async () => {
    const { url } = await newQueue("abort");
    const ac = new AbortController();
    const pending = client(2).send(new sqs.ReceiveMessageCommand({ QueueUrl: url, WaitTimeSeconds: 15 }), { abortSignal: ac.signal });
    await sleep(1000);
    ac.abort();
    await assert.rejects(pending, (e) => e.name === "AbortError" || /abort/i.test(e.message), "the aborted receive rejects");
    await sleep(500);
    await c.send(new sqs.SendMessageCommand({ QueueUrl: url, MessageBody: "for the live one" }));
    const got = await receiveN(url, 1, { seconds: 4 });
    assert.deepEqual(got.map((m) => m.Body), ["for the live one"], "a JSON long poll whose client aborted must not take the message");
});

test("follower_endpoints_and_foreign_queue_urls", async () => {
    const leader = leaderId();
    assert.ok(leader, "a leader");
    const followers = [1, 2, 3].filter((i) => i !== leader);
    const f1 = client(followers[0]);
    const f2 = client(followers[1]);
    const { url, name } = await newQueue("fol", undefined, undefined, f1);
    assert.equal(url, `${ENDPOINTS[followers[0] - 1]}/${ACCOUNT}/${name}`);
    await f2.send(new sqs.SendMessageCommand({ QueueUrl: url, MessageBody: "via follower" }));
    const got = await receiveN(url, 1, { on: client(leader) });
    assert.equal(got[0]?.Body, "via follower");
    await f1.send(new sqs.DeleteMessageCommand({ QueueUrl: url, ReceiptHandle: got[0].ReceiptHandle }));
    await f2.send(new sqs.PurgeQueueCommand({ QueueUrl: url }));
    await f2.send(new sqs.DeleteQueueCommand({ QueueUrl: url }));
    await expectError(() => f1.send(new sqs.GetQueueUrlCommand({ QueueName: name })),
        { name: "QueueDoesNotExist", code: "AWS.SimpleQueueService.NonExistentQueue" }, "GetQueueUrl after DeleteQueue");
});

test("purge_queue", async () => {
    const { url } = await newQueue("purge");
    for (let i = 0; i < 3; i++) await c.send(new sqs.SendMessageCommand({ QueueUrl: url, MessageBody: `p${i}` }));
    await c.send(new sqs.PurgeQueueCommand({ QueueUrl: url }));
    const r = await c.send(new sqs.ReceiveMessageCommand({ QueueUrl: url, WaitTimeSeconds: 1 }));
    assert.equal((r.Messages || []).length, 0);
});

test("signature_refused", async () => {
    const name = queueName("sig");
    await expectError(() => client(1, { ...CREDS, secretAccessKey: "w".repeat(40) }).send(new sqs.CreateQueueCommand({ QueueName: name })),
        { code: "SignatureDoesNotMatch", status: 403 }, "JSON CreateQueue with a wrong secret");
    await expectError(() => client(2, { accessKeyId: "AKIAUNKNOWNKEY000000", secretAccessKey: "x".repeat(40) }).send(
        new sqs.ListQueuesCommand({})), { code: "InvalidClientTokenId", status: 403 }, "unknown access key");
    await expectError(() => c.send(new sqs.GetQueueUrlCommand({ QueueName: name })),
        { name: "QueueDoesNotExist" }, "the refused CreateQueue created nothing");
});

// The runner: cases in order, each under a 60 s limit, cmocka's words.
let passed = 0;
const failed = [];
console.log(`[==========] Running ${tests.length} test(s).`);
for (const [name, fn] of tests) {
    console.log(`[ RUN      ] ${name}`);
    const t0 = Date.now();
    let timer;
    try {
        await Promise.race([fn(), new Promise((_, reject) => { timer = setTimeout(() => reject(new Error("timed out after 60 s")), 60000); })]);
        console.log(`[       OK ] ${name} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
        passed++;
    } catch (e) {
        console.log(`  ${e && e.name}: ${e && e.message ? e.message.slice(0, 2000) : e}`);
        const frame = (e && e.stack ? e.stack.split("\n") : []).find((l) => l.includes("test_sdk.mjs"));
        if (frame) console.log(`  ${frame.trim()}`);
        console.log(`[  FAILED  ] ${name} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
        failed.push(name);
    } finally {
        clearTimeout(timer);
    }
}
console.log(`[==========] ${tests.length} test(s) run.`);
console.log(`[  PASSED  ] ${passed} test(s).`);
if (failed.length) {
    console.log(`[  FAILED  ] ${failed.length} test(s), listed below:`);
    for (const n of failed) console.log(`[  FAILED  ] ${n}`);
}
process.exit(failed.length ? 1 : 0);
