#!/bin/sh
# Prepares the namespace the recovery worker uses: waits until the cluster answers, creates the
# namespace when it is missing, and registers the recovery search attributes (the worker refuses to
# start without them). Runs in temporalio/admin-tools once the server is up, at every
# `docker compose up`; every step is check-before-act, so a second run changes nothing.
#
# Environment: TEMPORAL_ADDRESS (host:port), TEMPORAL_NAMESPACE (default "default"),
# TEMPORAL_NAMESPACE_RETENTION (closed recoveries and drills stay visible this long; default 720h).
set -eu

ADDRESS=${TEMPORAL_ADDRESS:?TEMPORAL_ADDRESS is not set}
NAMESPACE=${TEMPORAL_NAMESPACE:-default}
RETENTION=${TEMPORAL_NAMESPACE_RETENTION:-720h}
# name=type, as in workflows/search-attributes.ts (test/deployment-files.test.ts keeps them equal).
SEARCH_ATTRIBUTES='RecoveryPlan=Keyword RecoveryScenario=Keyword RecoveryIncident=Keyword RecoveryStatus=Keyword'

# Polls a command for up to 2 minutes: a fresh cluster, or a namespace just created, takes seconds to answer.
retry() {
  what=$1
  shift
  attempt=1
  until "$@" >/dev/null 2>&1; do
    if [ "$attempt" -ge 60 ]; then
      echo "gave up after 2 minutes: $what" >&2
      "$@" # once more, so that its error is in the log
      exit 1
    fi
    attempt=$((attempt + 1))
    sleep 2
  done
}

# Temporal's own compose scripts dial the server's IPv4 address rather than its service name, after
# the CLI failed on the name in containers; do the same when the name resolves.
host=${ADDRESS%:*}
ip=$(getent ahostsv4 "$host" 2>/dev/null | awk 'NR == 1 { print $1 }') || ip=
[ -n "$ip" ] && ADDRESS="$ip:${ADDRESS##*:}"

serving() { temporal operator cluster health --address "$ADDRESS" | grep -qx SERVING; }
retry "Temporal at $ADDRESS does not report SERVING" serving

if temporal operator namespace describe --namespace "$NAMESPACE" --address "$ADDRESS" >/dev/null 2>&1; then
  echo "namespace $NAMESPACE exists"
else
  echo "namespace $NAMESPACE: creating, retention $RETENTION"
  # Another run may have created it in between: "already exists" is what we wanted.
  out=$(temporal operator namespace create --namespace "$NAMESPACE" --retention "$RETENTION" --address "$ADDRESS" 2>&1) ||
    case $out in
      *'already exists'*) ;;
      *) echo "$out" >&2 && exit 1 ;;
    esac
fi
retry "namespace $NAMESPACE is not visible yet" \
  temporal operator search-attribute list --namespace "$NAMESPACE" --address "$ADDRESS"

for attribute in $SEARCH_ATTRIBUTES; do
  name=${attribute%%=*}
  type=${attribute##*=}
  # The CLI accepts an attribute that exists with the same type, and refuses one of another type
  # ("already exists and has different type"): only that needs a person.
  if out=$(temporal operator search-attribute create --namespace "$NAMESPACE" --name "$name" --type "$type" \
    --address "$ADDRESS" 2>&1); then
    echo "search attribute $name ($type): registered"
  else
    case $out in
      *'different type'*)
        echo "search attribute $name exists in namespace $NAMESPACE with another type than $type; the recovery workflows need $type: $out" >&2
        exit 1
        ;;
      *'already exists'*) echo "search attribute $name ($type): registered" ;;
      *) echo "$out" >&2 && exit 1 ;;
    esac
  fi
done
echo "namespace $NAMESPACE is ready for the recovery worker"
