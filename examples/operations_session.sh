#!/usr/bin/env bash
# The terminal session of docs/how-to/operations.md: run it from examples/ (so that the
# workflows module `operations` is importable) with `actors` on PATH, then compare with
# the session in docs/how-to/operations.md. Workers run in the background; their logs go to worker*.log.
# The sleeps give the background worker time to poll (once a second by default).
set -u
rm -f shop.db shop.db-wal shop.db-shm
export COLUMNS=118
export ACTORS_STORE=sqlite:///shop.db ACTORS_OPERATOR=alice
run() { echo "\$ $*"; eval "$@"; echo; }
actors worker --workflows operations --name worker-1 2>worker1.log &
W1=$!
sleep 1
run "actors enqueue order --workflows operations --id order-1 --data '{\"order\": 1, \"card\": \"expired\"}'"
run "actors enqueue order --workflows operations --id order-2 --data '{\"order\": 2, \"card\": \"valid\"}'"
sleep 2
run "actors jobs list --state faulted"
run "actors jobs show order-1 --tree --history"
kill -TERM $W1; wait $W1
echo "# (the payment bug is fixed and worker-1 restarted with the fix)"
echo
PAYMENTS_FIXED=1 actors worker --workflows operations --name worker-1 2>worker2.log &
W2=$!
sleep 1
run "actors jobs retry order-1"
sleep 2
run "actors jobs show order-1 --tree --workflows operations"
run "actors events send order-1/dispatch --data '{\"carrier\": \"DHL\"}'"
run "actors events send order-1/dispatch --data '{\"carrier\": \"UPS\"}'; echo \"exit status \$?\""
run "actors jobs cancel order-2"
sleep 2
run "actors jobs list --cases"
run "actors jobs show order-1 --history --json | jq -c '.history[] | [.kind, .step, .attempt, .worker, .action]'"
run "actors jobs retry order-2; echo \"exit status \$?\""
run "actors jobs prune --older-than 7d"
kill -TERM $W2; wait $W2
