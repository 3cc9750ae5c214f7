#!/bin/sh
# Drain a dead-letter queue into a JSON-lines file, one message a line. Each message is
# appended to the file before it is deleted from the queue, so a failure midway loses none.
# Usage: drain-dlq.sh QUEUE FILE   (AWS_ENDPOINT_URL, when set, is passed as --endpoint-url:
# the cockpit sets it from the profile's aws.endpoint_url, e.g. the lab's moto)
set -eu
queue=$1
dest=$2
set --
if [ -n "${AWS_ENDPOINT_URL:-}" ]; then set -- --endpoint-url "$AWS_ENDPOINT_URL"; fi
url=$(aws "$@" sqs get-queue-url --queue-name "$queue" --query QueueUrl --output text)
count=0
tab=$(printf '\t')
while :; do
    # The receipt handle and the whole message (compact JSON: no newline) on one line.
    line=$(aws "$@" sqs receive-message --queue-url "$url" --max-number-of-messages 1 \
        --visibility-timeout 60 --wait-time-seconds 0 \
        --query 'Messages[0].[ReceiptHandle, to_string(@)]' --output text)
    if [ -z "$line" ] || [ "$line" = "None" ]; then break; fi
    handle=${line%%"$tab"*}
    printf '%s\n' "${line#*"$tab"}" >>"$dest"
    aws "$@" sqs delete-message --queue-url "$url" --receipt-handle "$handle"
    count=$((count + 1))
done
echo "drained $count message(s) from $queue into $dest"
