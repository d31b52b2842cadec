#!/bin/bash
# The aws CLI suite: Debian's /usr/bin/aws (query protocol) against the
# cluster tests/aws/run started.
#
# The happy path is: each case is a shell function that runs `aws sqs ...`
# with --endpoint-url of one node, --region and --output json (the key comes
# from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY), reads the JSON with
# /usr/bin/python3 and checks it with expect(); the runner prints cmocka-style
# lines per case and the summary that tests/run counts. Failure modes: a
# failed check prints what was expected and what came back and fails the
# case; every aws call has a time limit (timeout 60) and CLI retries are
# capped by AWS_MAX_ATTEMPTS.
#
# Needs: QRAFT_AWS_ENDPOINTS (three URLs), QRAFT_AWS_ACCOUNT, QRAFT_AWS_RUN.
set -u

read -r -a EPS <<< "$QRAFT_AWS_ENDPOINTS"
ACCOUNT=$QRAFT_AWS_ACCOUNT
RUN=${QRAFT_AWS_RUN:-cli}
PY=/usr/bin/python3
work=$(mktemp -d /tmp/qraft-awscli.XXXXXX)
trap 'rm -rf "$work"' EXIT
failures=""

# aws on node N (1..3): awsOn N sqs ARGS...; stdout to $work/out, stderr to
# $work/err, the exit status returned.
awsOn() {
    local n=$1
    shift
    timeout 60 /usr/bin/aws --endpoint-url "${EPS[$((n - 1))]}" --region us-east-1 --output json "$@" \
        > "$work/out" 2> "$work/err"
}

# Evaluate a Python expression over the last output's JSON (bound to d).
jq_() {
    "$PY" -c 'import json,sys
d = json.load(open(sys.argv[2])) if open(sys.argv[2]).read().strip() else {}
r = eval(sys.argv[1])
print(r if not isinstance(r, (dict, list)) else json.dumps(r, sort_keys=True))' "$1" "$work/out"
}

# expect WHAT GOT WANT: fail the case with a message unless GOT == WANT.
expect() {
    if [ "$2" != "$3" ]; then
        echo "  $1: expected [$3], got [$2]"
        [ -s "$work/err" ] && sed 's/^/  stderr: /' "$work/err" | head -5
        return 1
    fi
}

# ok CMD...: run an aws call that must succeed.
ok() {
    if ! awsOn "$@"; then
        echo "  aws $* failed: $(head -c 400 "$work/err")"
        return 1
    fi
}

name() { echo "cli-$1-$RUN-$RANDOM$RANDOM"; }
md5() { printf '%s' "$1" | md5sum | cut -d' ' -f1; }

test_create_queue_with_attributes_and_tags() {
    local q; q=$(name attrs)
    ok 1 sqs create-queue --queue-name "$q" --attributes VisibilityTimeout=45,DelaySeconds=1 \
        --tags team=cli,env=test || return 1
    expect QueueUrl "$(jq_ 'd["QueueUrl"]')" "${EPS[0]}/$ACCOUNT/$q" || return 1
    local url="${EPS[0]}/$ACCOUNT/$q"
    ok 1 sqs get-queue-attributes --queue-url "$url" --attribute-names All || return 1
    expect VisibilityTimeout "$(jq_ 'd["Attributes"]["VisibilityTimeout"]')" 45 || return 1
    expect DelaySeconds "$(jq_ 'd["Attributes"]["DelaySeconds"]')" 1 || return 1
    expect QueueArn "$(jq_ 'd["Attributes"]["QueueArn"]')" "arn:aws:sqs:us-east-1:$ACCOUNT:$q" || return 1
    ok 2 sqs list-queue-tags --queue-url "$url" || return 1
    expect tags "$(jq_ 'd.get("Tags")')" '{"env": "test", "team": "cli"}'
}

test_list_queues_and_get_url() {
    local p; p=$(name list)
    ok 1 sqs create-queue --queue-name "$p-a" || return 1
    ok 1 sqs create-queue --queue-name "$p-b" || return 1
    ok 2 sqs list-queues --queue-name-prefix "$p" || return 1
    expect "list-queues names" "$(jq_ 'sorted(u.rsplit("/", 1)[1] for u in d.get("QueueUrls", []))')" \
        "[\"$p-a\", \"$p-b\"]" || return 1
    ok 3 sqs get-queue-url --queue-name "$p-b" || return 1
    expect get-queue-url "$(jq_ 'd["QueueUrl"].rsplit("/", 2)[1:]')" "[\"$ACCOUNT\", \"$p-b\"]"
}

test_set_attributes() {
    local q url; q=$(name set)
    ok 1 sqs create-queue --queue-name "$q" || return 1
    url=$(jq_ 'd["QueueUrl"]')
    ok 2 sqs set-queue-attributes --queue-url "$url" --attributes VisibilityTimeout=50,MaximumMessageSize=4096 \
        || return 1
    ok 3 sqs get-queue-attributes --queue-url "$url" --attribute-names VisibilityTimeout MaximumMessageSize \
        || return 1
    expect attributes "$(jq_ 'd["Attributes"]')" '{"MaximumMessageSize": "4096", "VisibilityTimeout": "50"}'
}

test_tags() {
    local q url; q=$(name tags)
    ok 1 sqs create-queue --queue-name "$q" || return 1
    url=$(jq_ 'd["QueueUrl"]')
    ok 1 sqs tag-queue --queue-url "$url" --tags a=1,b=2 || return 1
    ok 1 sqs untag-queue --queue-url "$url" --tag-keys b || return 1
    ok 1 sqs list-queue-tags --queue-url "$url" || return 1
    expect tags "$(jq_ 'd.get("Tags")')" '{"a": "1"}'
}

test_send_receive_delete() {
    local q url body='hello from the aws cli <&> é' rh
    q=$(name srd)
    ok 1 sqs create-queue --queue-name "$q" || return 1
    url=$(jq_ 'd["QueueUrl"]')
    ok 2 sqs send-message --queue-url "$url" --message-body "$body" \
        --message-attributes '{"k":{"DataType":"String","StringValue":"v"},"n":{"DataType":"Number","StringValue":"42"}}' \
        || return 1
    expect MD5OfMessageBody "$(jq_ 'd["MD5OfMessageBody"]')" "$(md5 "$body")" || return 1
    expect "has MD5OfMessageAttributes" "$(jq_ 'len(d.get("MD5OfMessageAttributes", "")) == 32')" True || return 1
    ok 3 sqs receive-message --queue-url "$url" --wait-time-seconds 5 --attribute-names All \
        --message-attribute-names All || return 1
    expect Body "$(jq_ 'd["Messages"][0]["Body"]')" "$body" || return 1
    expect MD5OfBody "$(jq_ 'd["Messages"][0]["MD5OfBody"]')" "$(md5 "$body")" || return 1
    expect "attribute n" "$(jq_ 'd["Messages"][0]["MessageAttributes"]["n"]["StringValue"]')" 42 || return 1
    expect ApproximateReceiveCount "$(jq_ 'd["Messages"][0]["Attributes"]["ApproximateReceiveCount"]')" 1 || return 1
    rh=$(jq_ 'd["Messages"][0]["ReceiptHandle"]')
    ok 1 sqs delete-message --queue-url "$url" --receipt-handle "$rh" || return 1
    ok 1 sqs get-queue-attributes --queue-url "$url" --attribute-names ApproximateNumberOfMessages \
        ApproximateNumberOfMessagesNotVisible || return 1
    expect counts "$(jq_ 'd["Attributes"]')" \
        '{"ApproximateNumberOfMessages": "0", "ApproximateNumberOfMessagesNotVisible": "0"}'
}

test_change_message_visibility() {
    local q url rh
    q=$(name cmv)
    ok 1 sqs create-queue --queue-name "$q" || return 1
    url=$(jq_ 'd["QueueUrl"]')
    ok 1 sqs send-message --queue-url "$url" --message-body v || return 1
    ok 2 sqs receive-message --queue-url "$url" --wait-time-seconds 5 || return 1
    rh=$(jq_ 'd["Messages"][0]["ReceiptHandle"]')
    ok 3 sqs change-message-visibility --queue-url "$url" --receipt-handle "$rh" --visibility-timeout 0 || return 1
    ok 1 sqs receive-message --queue-url "$url" --wait-time-seconds 5 || return 1
    expect "visible again" "$(jq_ 'd["Messages"][0]["Body"]')" v
}

test_batches() {
    local q url
    q=$(name batch)
    ok 1 sqs create-queue --queue-name "$q" || return 1
    url=$(jq_ 'd["QueueUrl"]')
    ok 2 sqs send-message-batch --queue-url "$url" --entries \
        '[{"Id":"a","MessageBody":"one"},{"Id":"b","MessageBody":"two"},{"Id":"c","MessageBody":"three"}]' || return 1
    expect "send-message-batch Successful" "$(jq_ 'sorted(e["Id"] for e in d["Successful"])')" '["a", "b", "c"]' \
        || return 1
    local got="" n
    for n in 1 2 3 4 5; do
        ok 3 sqs receive-message --queue-url "$url" --max-number-of-messages 10 --wait-time-seconds 1 || return 1
        jq_ 'json.dumps([{"Id": "m%d" % i, "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(d.get("Messages", []))])' \
            > "$work/entries"
        got="$got $(jq_ '" ".join(m["Body"] for m in d.get("Messages", []))')"
        if [ "$(cat "$work/entries")" != "[]" ]; then
            ok 1 sqs delete-message-batch --queue-url "$url" --entries "file://$work/entries" || return 1
            expect "delete-message-batch Failed" "$(jq_ 'd.get("Failed", [])')" '[]' || return 1
        fi
        [ "$(echo $got | wc -w)" -ge 3 ] && break
    done
    expect bodies "$(echo $got | tr ' ' '\n' | sort | tr '\n' ' ')" "one three two "
}

test_batch_partial_failure() {
    local q url
    q=$(name bpf)
    ok 1 sqs create-queue --queue-name "$q" || return 1
    url=$(jq_ 'd["QueueUrl"]')
    ok 1 sqs send-message --queue-url "$url" --message-body x || return 1
    ok 1 sqs receive-message --queue-url "$url" --wait-time-seconds 5 || return 1
    jq_ 'json.dumps([{"Id": "good", "ReceiptHandle": d["Messages"][0]["ReceiptHandle"]}, {"Id": "bad", "ReceiptHandle": "garbage"}])' \
        > "$work/entries"
    ok 2 sqs delete-message-batch --queue-url "$url" --entries "file://$work/entries" || return 1
    expect Successful "$(jq_ '[e["Id"] for e in d.get("Successful", [])]')" '["good"]' || return 1
    expect Failed "$(jq_ '[(e["Id"], e["Code"], e["SenderFault"]) for e in d.get("Failed", [])]')" \
        '[["bad", "ReceiptHandleIsInvalid", true]]'
}

test_purge_and_delete_queue() {
    local q url
    q=$(name purge)
    ok 1 sqs create-queue --queue-name "$q" || return 1
    url=$(jq_ 'd["QueueUrl"]')
    ok 1 sqs send-message --queue-url "$url" --message-body p1 || return 1
    ok 1 sqs send-message --queue-url "$url" --message-body p2 || return 1
    ok 2 sqs purge-queue --queue-url "$url" || return 1
    ok 3 sqs receive-message --queue-url "$url" --wait-time-seconds 1 || return 1
    expect "after purge" "$(jq_ 'd.get("Messages", [])')" '[]' || return 1
    ok 2 sqs delete-queue --queue-url "$url" || return 1
    awsOn 1 sqs get-queue-url --queue-name "$q"
    expect "get-queue-url after delete-queue: exit status" "$?" 254 || return 1
    expect "error" "$(grep -o 'AWS.SimpleQueueService.NonExistentQueue' "$work/err" | head -1)" \
        AWS.SimpleQueueService.NonExistentQueue
}

test_fifo_send_receive() {
    local q url i
    q=$(name fifo).fifo
    ok 1 sqs create-queue --queue-name "$q" --attributes FifoQueue=true,ContentBasedDeduplication=true || return 1
    url=$(jq_ 'd["QueueUrl"]')
    for i in 1 2 3; do
        ok $(( (i % 3) + 1 )) sqs send-message --queue-url "$url" --message-body "f$i" --message-group-id g \
            || return 1
        expect "SequenceNumber" "$(jq_ 'd.get("SequenceNumber", "").isdigit()')" True || return 1
    done
    ok 1 sqs send-message --queue-url "$url" --message-body f1 --message-group-id g || return 1
    local got="" n rh
    for n in 1 2 3 4 5 6; do
        ok 2 sqs receive-message --queue-url "$url" --max-number-of-messages 10 --wait-time-seconds 1 \
            --attribute-names All || return 1
        got="$got$(jq_ '"".join(m["Body"] + " " for m in d.get("Messages", []))')"
        jq_ 'json.dumps([{"Id": "m%d" % i, "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(d.get("Messages", []))])' \
            > "$work/entries"
        if [ "$(cat "$work/entries")" != "[]" ]; then
            ok 2 sqs delete-message-batch --queue-url "$url" --entries "file://$work/entries" || return 1
        fi
        [ "$(echo $got | wc -w)" -ge 3 ] && break
    done
    ok 3 sqs receive-message --queue-url "$url" --wait-time-seconds 1 || return 1
    got="$got$(jq_ '"".join(m["Body"] + " " for m in d.get("Messages", []))')"
    expect "order, deduplicated" "$got" "f1 f2 f3 "
}

test_fifo_missing_group_id_error() {
    local q url
    q=$(name fifoerr).fifo
    ok 1 sqs create-queue --queue-name "$q" --attributes FifoQueue=true,ContentBasedDeduplication=true || return 1
    url=$(jq_ 'd["QueueUrl"]')
    awsOn 2 sqs send-message --queue-url "$url" --message-body x
    expect "exit status" "$?" 254 || return 1
    expect "error line" "$(grep -o 'An error occurred (MissingParameter) when calling the SendMessage operation' \
        "$work/err")" "An error occurred (MissingParameter) when calling the SendMessage operation"
}

test_error_nonexistent_queue() {
    awsOn 2 sqs get-queue-url --queue-name "cli-nosuch-$RUN"
    expect "exit status" "$?" 254 || return 1
    expect "error line" "$(grep -o 'An error occurred (AWS.SimpleQueueService.NonExistentQueue) when calling the GetQueueUrl operation' "$work/err")" \
        "An error occurred (AWS.SimpleQueueService.NonExistentQueue) when calling the GetQueueUrl operation"
}

test_error_wrong_secret() {
    AWS_SECRET_ACCESS_KEY=wrongwrongwrongwrongwrongwrongwrongwrong awsOn 1 sqs list-queues
    expect "exit status" "$?" 254 || return 1
    expect "error" "$(grep -o 'SignatureDoesNotMatch' "$work/err" | head -1)" SignatureDoesNotMatch
}

test_follower_and_foreign_queue_url() {
    local q url
    q=$(name fol)
    ok 1 sqs create-queue --queue-name "$q" || return 1
    url=$(jq_ 'd["QueueUrl"]')
    ok 2 sqs send-message --queue-url "$url" --message-body "node 1's url via node 2" || return 1
    ok 3 sqs receive-message --queue-url "$url" --wait-time-seconds 5 || return 1
    expect Body "$(jq_ 'd["Messages"][0]["Body"]')" "node 1's url via node 2"
}

test_dead_letter_source_queues() {
    local dlq src
    dlq=$(name dlq)
    src=$(name src)
    ok 1 sqs create-queue --queue-name "$dlq" || return 1
    local policy="{\"deadLetterTargetArn\":\"arn:aws:sqs:us-east-1:$ACCOUNT:$dlq\",\"maxReceiveCount\":\"3\"}"
    "$PY" -c 'import json,sys; print(json.dumps({"RedrivePolicy": sys.argv[1]}))' "$policy" > "$work/attrs.json"
    ok 2 sqs create-queue --queue-name "$src" --attributes "file://$work/attrs.json" || return 1
    ok 3 sqs list-dead-letter-source-queues --queue-url "${EPS[0]}/$ACCOUNT/$dlq" || return 1
    expect sources "$(jq_ '[u.rsplit("/", 1)[1] for u in d.get("queueUrls", [])]')" "[\"$src\"]"
}

tests=$(declare -F | awk '{print $3}' | grep '^test_')
count=$(echo "$tests" | wc -l)
passed=0
failed=0
echo "[==========] Running $count test(s)."
for t in $tests; do
    echo "[ RUN      ] $t"
    t0=$SECONDS
    if "$t"; then
        echo "[       OK ] $t ($((SECONDS - t0)) s)"
        passed=$((passed + 1))
    else
        echo "[  FAILED  ] $t ($((SECONDS - t0)) s)"
        failed=$((failed + 1))
        failures="$failures $t"
    fi
done
echo "[==========] $count test(s) run."
echo "[  PASSED  ] $passed test(s)."
if [ "$failed" != 0 ]; then
    echo "[  FAILED  ] $failed test(s), listed below:"
    for t in $failures; do echo "[  FAILED  ] $t"; done
    exit 1
fi
exit 0
