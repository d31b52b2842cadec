"""A leader SIGKILL (and a SIGSTOP) in the middle of a stream of boto3
SendMessage calls: every acknowledged message is received afterwards; FIFO
order and exactly-once hold through the kill; without a quorum /health is 503.

The happy path is: find the leader with the qraft CLI, start two senders (one
on a follower's endpoint, one that moves to the next node's endpoint when its
node stops answering), both with botocore's standard retries; after 1.5 s
SIGKILL the leader by the PID in the cluster directory; keep sending 6 s;
stop the senders, restart the killed node with scripts/cluster, wait for
/health on all three, then receive and delete until every acknowledged body
has been seen. Failure modes: a send that fails after its retries is not
acknowledged and not expected (at least once: a retried send may arrive
twice, which is allowed); the drain is bounded (60 s) and reports the missing
bodies; the killed node is restarted even when an assertion fails.

Runs last: the suites before it need all three nodes.
"""

import os
import signal
import subprocess
import threading
import time
import unittest

import awsutil
from awsutil import ENDPOINTS, queueName


class FailoverTests(unittest.TestCase):
    """Kill or stop nodes under a stream of sends."""

    def test_leader_sigkill_mid_stream(self):
        self.streamThroughFault("kill")

    def test_leader_sigstop_mid_stream(self):
        self.streamThroughFault("stop")

    def streamThroughFault(self, fault):
        """Two senders; after 1.5 s the leader is SIGKILLed ("kill", then
        restarted) or SIGSTOPped ("stop", SIGCONT after 6 s); every
        acknowledged message must be received afterwards."""
        leader = awsutil.leaderId()
        self.assertIsNotNone(leader, "no leader before the kill")
        followers = [i for i in (1, 2, 3) if i != leader]
        admin = awsutil.client(ENDPOINTS[followers[0] - 1])
        url = admin.create_queue(QueueName=queueName("failover"))["QueueUrl"]

        stop = threading.Event()
        acked = {}
        lock = threading.Lock()
        errors = []
        killedAt = [None]

        def note(body):
            with lock:
                acked[body] = time.time()

        def fixedSender():
            c = awsutil.client(ENDPOINTS[followers[1] - 1], retries=10, readTimeout=10, connectTimeout=2)
            for n in range(5000):
                if stop.is_set():
                    return
                body = "f-%d" % n
                try:
                    c.send_message(QueueUrl=url, MessageBody=body)
                    note(body)
                except Exception as e:
                    errors.append("fixed %s: %r" % (body, e))

        def rotatingSender():
            order = [leader] + followers
            cs = [awsutil.client(ENDPOINTS[i - 1], retries=2, readTimeout=3, connectTimeout=1) for i in order]
            at = 0
            for n in range(5000):
                if stop.is_set():
                    return
                body = "r-%d" % n
                for _ in range(6):
                    try:
                        cs[at].send_message(QueueUrl=url, MessageBody=body)
                        note(body)
                        break
                    except Exception as e:
                        errors.append("rotating %s via node %d: %r" % (body, order[at], e))
                        at = (at + 1) % len(cs)
                        if stop.is_set():
                            return

        threads = [threading.Thread(target=fixedSender), threading.Thread(target=rotatingSender)]
        for t in threads:
            t.start()
        killedPid = None
        try:
            time.sleep(1.5)
            with lock:
                before = len(acked)
            self.assertGreater(before, 0, "no send acknowledged before the kill: %s" % errors[:3])
            pidfile = os.path.join(os.environ["QRAFT_AWS_CLUSTER_DIR"], "node%d" % leader, "pid")
            with open(pidfile) as f:
                killedPid = int(f.read().strip())
            os.kill(killedPid, signal.SIGKILL if fault == "kill" else signal.SIGSTOP)
            killedAt[0] = time.time()
            print("%s leader node %d (pid %d) after %d acknowledged sends"
                  % ("killed" if fault == "kill" else "stopped", leader, killedPid, before))
            time.sleep(6.0)
        finally:
            if killedPid is not None and fault == "stop":
                os.kill(killedPid, signal.SIGCONT)
            stop.set()
            for t in threads:
                t.join(30)
            if killedPid is not None and fault == "kill":
                subprocess.run([os.path.join(os.environ["QRAFT_AWS_ROOT"], "scripts", "cluster"), "restart",
                                str(leader), "--dir", os.environ["QRAFT_AWS_CLUSTER_DIR"]],
                               timeout=60, check=False)
        self.assertFalse(any(t.is_alive() for t in threads), "a sender did not stop within 30 s")
        with lock:
            total = len(acked)
            after = sum(1 for t in acked.values() if t > killedAt[0])
            times = sorted(acked.values())
        gap = max((b - a for a, b in zip(times, times[1:])), default=0.0)
        print("acknowledged %d sends, %d after the kill; longest pause between acknowledgements %.2f s;"
              " %d failed attempts" % (total, after, gap, len(errors)))
        for e in errors[:5]:
            print("  failed attempt: %s" % e[:300])
        self.assertFalse([e for e in errors if "NotLeader" in e], "a client saw NotLeader: %s" % errors[:3])
        self.assertGreater(after, 0, "no send acknowledged in the 6 s after the kill: %s" % errors[-3:])
        pending = awsutil.waitHealthy(timeoutSeconds=30)
        self.assertEqual(pending, [], "/health not 200 after node %d came back" % leader)

        seen = set()
        drain = awsutil.client(ENDPOINTS[followers[0] - 1], retries=5)
        deadline = time.time() + 60
        while time.time() < deadline and not set(acked) <= seen:
            r = drain.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
            ms = r.get("Messages", [])
            for m in ms:
                seen.add(m["Body"])
            if ms:
                drain.delete_message_batch(QueueUrl=url, Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(ms)])
        missing = sorted(set(acked) - seen)
        self.assertEqual(missing, [], "%d of %d acknowledged messages never received: %s"
                         % (len(missing), total, missing[:20]))
        # the node that was killed or stopped serves again
        c = awsutil.client(ENDPOINTS[leader - 1], retries=5)
        c.send_message(QueueUrl=url, MessageBody="after restart")
        bodies = []
        deadline = time.time() + 10
        while "after restart" not in bodies and time.time() < deadline:
            for m in drain.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get(
                    "Messages", []):
                bodies.append(m["Body"])
                drain.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        self.assertIn("after restart", bodies, "a send through the restarted node arrives")

    def test_fifo_order_through_leader_kill(self):
        """One producer sends n = 0, 1, 2, ... to one FIFO group (its own
        deduplication ids, so botocore's retries cannot duplicate) through a
        follower while the leader is SIGKILLed: afterwards the group holds
        every acknowledged n, each once, in send order."""
        leader = awsutil.leaderId()
        self.assertIsNotNone(leader)
        follower = leader % 3 + 1
        c = awsutil.client(ENDPOINTS[follower - 1], retries=10, readTimeout=10, connectTimeout=2)
        url = c.create_queue(QueueName=queueName("ffifo") + ".fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
        stop = threading.Event()
        acked = []
        failed = []

        def producer():
            for n in range(5000):
                if stop.is_set():
                    return
                try:
                    c.send_message(QueueUrl=url, MessageBody=str(n), MessageGroupId="g",
                                   MessageDeduplicationId="n%d" % n)
                    acked.append(n)
                except Exception as e:
                    failed.append((n, repr(e)))
        th = threading.Thread(target=producer)
        th.start()
        killed = False
        try:
            time.sleep(1.0)
            with open(os.path.join(os.environ["QRAFT_AWS_CLUSTER_DIR"], "node%d" % leader, "pid")) as f:
                os.kill(int(f.read().strip()), signal.SIGKILL)
            killed = True
            time.sleep(3.0)
        finally:
            stop.set()
            th.join(30)
            if killed:
                subprocess.run([os.path.join(os.environ["QRAFT_AWS_ROOT"], "scripts", "cluster"), "restart",
                                str(leader), "--dir", os.environ["QRAFT_AWS_CLUSTER_DIR"]], timeout=60, check=False)
        self.assertFalse(th.is_alive())
        print("FIFO producer: %d acknowledged, %d failed after retries" % (len(acked), len(failed)))
        self.assertEqual(awsutil.waitHealthy(timeoutSeconds=30), [])
        got = []
        deadline = time.time() + 60
        want = set(acked)
        while time.time() < deadline and not want <= set(got):
            r = c.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
            ms = r.get("Messages", [])
            got.extend(int(m["Body"]) for m in ms)
            if ms:
                c.delete_message_batch(QueueUrl=url, Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(ms)])
        missing = sorted(want - set(got))
        self.assertEqual(missing, [], "acknowledged FIFO messages never received: %s" % missing[:20])
        self.assertEqual(len(got), len(set(got)), "a FIFO message was delivered twice: %s" %
                         sorted(n for n in set(got) if got.count(n) > 1)[:20])
        self.assertEqual(got, sorted(got), "FIFO order broken through the failover: %s" %
                         [(a, b) for a, b in zip(got, got[1:]) if b < a][:10])

    def test_health_without_quorum(self):
        """Two of three nodes SIGKILLed: the survivor's /health is 503 with a
        reason; both restarted: 200 everywhere again."""
        leader = awsutil.leaderId()
        self.assertIsNotNone(leader)
        survivor = leader % 3 + 1
        victims = [i for i in (1, 2, 3) if i != survivor]
        cdir = os.environ["QRAFT_AWS_CLUSTER_DIR"]
        script = os.path.join(os.environ["QRAFT_AWS_ROOT"], "scripts", "cluster")
        try:
            for v in victims:
                with open(os.path.join(cdir, "node%d" % v, "pid")) as f:
                    os.kill(int(f.read().strip()), signal.SIGKILL)
            status, body = None, ""
            deadline = time.time() + 15
            while time.time() < deadline:
                status, body, _ = awsutil.httpGet(ENDPOINTS[survivor - 1], "/health", timeout=5)
                if status == 503:
                    break
                time.sleep(0.3)
            self.assertEqual(status, 503, "/health on the only live node of three: %r %r" % (status, body))
            self.assertTrue(body.strip(), "a 503 from /health says why")
            print("survivor node %d /health: 503 %s" % (survivor, body.strip()[:100]))
        finally:
            for v in victims:
                subprocess.run([script, "restart", str(v), "--dir", cdir], timeout=60, check=False)
        self.assertEqual(awsutil.waitHealthy(timeoutSeconds=30), [], "/health 200 everywhere after the restarts")


if __name__ == "__main__":
    unittest.main()
