"""Signature Version 4: requests signed wrongly are refused with 403 and
AWS's error code, and change nothing.

The happy path is: each case builds a CreateQueue request for a fresh queue
name, signs it with botocore's SigV4Auth (or does not), tampers with it in one
way, sends it, checks the 403 and the code, then checks with a good client
that the queue does not exist. A control case shows that the same hand-signed
request, untampered, is accepted, so a refusal is the tampering's doing.
Failure modes: none beyond the assertions; sockets have timeouts.
"""

import json
import unittest
import urllib.parse

import awsutil
from awsutil import ENDPOINTS, queueName

FORM = "application/x-www-form-urlencoded; charset=utf-8"


def createBody(name):
    """A query-protocol CreateQueue body."""
    return urllib.parse.urlencode({"Action": "CreateQueue", "QueueName": name, "Version": "2012-11-05"})


class SigV4Tests(unittest.TestCase):
    """Wrong secret, changed body, old date, no signature, unknown key."""

    @classmethod
    def setUpClass(cls):
        cls.c = awsutil.client(ENDPOINTS[0])

    def assertRefused(self, answer, name, codes, what, json_=False):
        """A 403 with one of codes, and the queue was not created."""
        st, hdrs, body = answer
        self.assertEqual(st, 403, "%s: HTTP %d, expected 403; %r" % (what, st, body[:300]))
        if json_:
            doc = json.loads(body)
            code = doc.get("__type", "").split("#")[-1]
            qcode = (hdrs.get("x-amzn-query-error") or "").split(";")[0]
            self.assertTrue(code in codes or qcode in codes, "%s: __type %r / x-amzn-query-error %r, expected %s"
                            % (what, doc.get("__type"), hdrs.get("x-amzn-query-error"), "/".join(codes)))
        else:
            err = awsutil.xmlError(body)
            self.assertIsNotNone(err, "%s: no ErrorResponse: %r" % (what, body[:300]))
            self.assertIn(err[1], codes, "%s: Code %r (%s), expected %s" % (what, err[1], err[2], "/".join(codes)))
        names = [u.rsplit("/", 1)[1] for u in self.c.list_queues(QueueNamePrefix=name).get("QueueUrls", [])]
        self.assertNotIn(name, names, "%s: the refused CreateQueue created the queue" % what)

    def test_control_hand_signed_request_is_accepted(self):
        name = queueName("sigok")
        st, _, body = awsutil.signedRequest(ENDPOINTS[0], createBody(name), FORM)
        self.assertEqual(st, 200, body[:300])
        self.assertEqual(self.c.get_queue_url(QueueName=name)["QueueUrl"].rsplit("/", 1)[1], name)
        name = queueName("sigok5")
        st, _, body = awsutil.signedRequest(ENDPOINTS[1], createBody(name), FORM, ageSeconds=300)
        self.assertEqual(st, 200, "a request signed 5 minutes ago is within AWS's 15 minutes: %r" % body[:300])

    def test_wrong_secret(self):
        name = queueName("sigsecret")
        self.assertRefused(awsutil.signedRequest(ENDPOINTS[0], createBody(name), FORM, secret="wrong" * 8),
                           name, ("SignatureDoesNotMatch",), "signed with a wrong secret")

    def test_wrong_secret_json(self):
        name = queueName("sigsecretj")
        self.assertRefused(awsutil.jsonRequest(ENDPOINTS[1], "CreateQueue", {"QueueName": name}, secret="x" * 40),
                           name, ("SignatureDoesNotMatch",), "JSON request signed with a wrong secret", json_=True)

    def test_body_changed_after_signing(self):
        name = queueName("sigbody")
        other = queueName("sigbody2")

        def tamper(req):
            req.data = createBody(other).encode()
        answer = awsutil.signedRequest(ENDPOINTS[0], createBody(name), FORM, tamper=tamper)
        self.assertRefused(answer, other, ("SignatureDoesNotMatch",), "body changed after signing")
        self.assertRefused(answer, name, ("SignatureDoesNotMatch",), "body changed after signing")

    def test_header_changed_after_signing(self):
        name = queueName("sighdr")

        def tamper(req):
            req.headers["Content-Type"] = "application/x-www-form-urlencoded"
        self.assertRefused(awsutil.signedRequest(ENDPOINTS[2], createBody(name), FORM, tamper=tamper),
                           name, ("SignatureDoesNotMatch",), "a signed header changed after signing")

    def test_replay_with_old_date(self):
        name = queueName("sigold")
        self.assertRefused(awsutil.signedRequest(ENDPOINTS[0], createBody(name), FORM, ageSeconds=20 * 60),
                           name, ("SignatureDoesNotMatch", "RequestExpired", "InvalidSignatureException"),
                           "signed 20 minutes ago")

    def test_date_from_the_future(self):
        name = queueName("sigfuture")
        self.assertRefused(awsutil.signedRequest(ENDPOINTS[1], createBody(name), FORM, ageSeconds=-20 * 60),
                           name, ("SignatureDoesNotMatch", "RequestExpired", "InvalidSignatureException"),
                           "signed 20 minutes in the future")

    def scopedRequest(self, region, service, name):
        """CreateQueue signed correctly but for region/service."""
        req = awsutil.AWSRequest(method="POST", url=ENDPOINTS[0] + "/", data=createBody(name).encode(),
                                 headers={"Content-Type": FORM})
        awsutil.botocore.auth.SigV4Auth(awsutil.Credentials(awsutil.ACCESS_KEY, awsutil.SECRET_KEY),
                                        service, region).add_auth(req)
        return awsutil.send(ENDPOINTS[0], "POST", "/", req.body, dict(req.headers.items()))

    def test_wrong_region_in_scope(self):
        name = queueName("sigregion")
        self.assertRefused(self.scopedRequest("eu-west-1", "sqs", name), name,
                           ("SignatureDoesNotMatch", "IncompleteSignature"),
                           "signed for eu-west-1 (the cluster is %s)" % awsutil.REGION)

    def test_wrong_service_in_scope(self):
        name = queueName("sigservice")
        self.assertRefused(self.scopedRequest(awsutil.REGION, "sns", name), name,
                           ("SignatureDoesNotMatch", "IncompleteSignature"), "signed for service sns")

    def test_missing_authorization(self):
        name = queueName("signone")
        self.assertRefused(awsutil.signedRequest(ENDPOINTS[0], createBody(name), FORM, unsigned=True),
                           name, ("MissingAuthenticationToken",), "no Authorization header")

    def test_unknown_access_key(self):
        name = queueName("sigkey")
        self.assertRefused(awsutil.signedRequest(ENDPOINTS[0], createBody(name), FORM, key="AKIAUNKNOWNKEY000000"),
                           name, ("InvalidClientTokenId",), "an access key id the cluster does not know")

    def test_malformed_authorization(self):
        name = queueName("sigmal")

        def tamper(req):
            req.headers["Authorization"] = "AWS4-HMAC-SHA256 Credential=garbage"
        self.assertRefused(awsutil.signedRequest(ENDPOINTS[0], createBody(name), FORM, tamper=tamper), name,
                           ("IncompleteSignature", "InvalidClientTokenId", "SignatureDoesNotMatch",
                            "MissingAuthenticationToken"), "a malformed Authorization header")

    def test_boto3_with_wrong_secret(self):
        name = queueName("sigboto")
        bad = awsutil.client(ENDPOINTS[1], secret="not-the-secret" * 3)
        from botocore.exceptions import ClientError
        with self.assertRaises(ClientError) as cm:
            bad.create_queue(QueueName=name)
        self.assertEqual(cm.exception.response["Error"]["Code"], "SignatureDoesNotMatch")
        self.assertEqual(cm.exception.response["ResponseMetadata"]["HTTPStatusCode"], 403)


if __name__ == "__main__":
    unittest.main()
