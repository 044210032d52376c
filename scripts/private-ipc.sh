#!/usr/bin/env bash
# Run a command (the test suite) in a private IPC namespace, then account for every IPC object:
# the namespace starts empty, so whatever is in it at the end was left by the command.
set -euo pipefail

PROG=private-ipc.sh

usage() {
    cat <<EOF
Usage: scripts/$PROG COMMAND [ARG...]

Runs COMMAND in an IPC namespace of its own (unshare --ipc): its System V segments, semaphore
sets and message queues, and its POSIX message queues, are seen by it alone, and the namespace
starts with none. When COMMAND ends, the namespace must hold none still: every one left is
listed (/proc/sysvipc/shm, sem and msg; the namespace's mqueue file system, mounted privately).
Other programs on the machine cannot disturb the count, nor be disturbed by it.

As root the namespace is made directly; otherwise in a user namespace of its own, when the
kernel allows unprivileged ones (programs that switch to another user, such as setpriv to
nobody, cannot work there). When neither is possible, COMMAND runs as it is and the leak
check is skipped, saying so.

Exit status: COMMAND's, when it failed; 1 when it passed but left something; 0 otherwise.

Example:
  scripts/$PROG cargo test      the test suite, then: nothing left
EOF
}

case ${1:-} in
-h | --help)
    usage
    exit 0
    ;;
"")
    usage >&2
    exit 2
    ;;
esac

UNSHARE=(unshare --ipc --mount --propagation private)

if [[ ${IPC_LAB_PRIVATE_IPC:-} != inside ]]; then
    if [[ $(id -u) == 0 ]] && "${UNSHARE[@]}" true 2>/dev/null; then
        exec "${UNSHARE[@]}" env IPC_LAB_PRIVATE_IPC=inside "$0" "$@"
    elif "${UNSHARE[@]}" --user --map-root-user true 2>/dev/null; then
        exec "${UNSHARE[@]}" --user --map-root-user env IPC_LAB_PRIVATE_IPC=inside "$0" "$@"
    fi
    echo "$PROG: leak check skipped: cannot make a private IPC namespace here (it takes root, or unprivileged user namespaces); running the command as it is" >&2
    exec "$@"
fi

# Inside the namespace. Its POSIX queues are listed by a mqueue file system mounted in this
# mount namespace only (at a directory of our own, so that /dev is left as it is).
queues=$(mktemp -d "${TMPDIR:-/tmp}/private-ipc.XXXXXX")
if ! mount -t mqueue none "$queues"; then
    echo "$PROG: cannot mount the namespace's mqueue file system on $queues" >&2
    rmdir "$queues"
    exit 1
fi
trap 'umount "$queues" 2>/dev/null || true; rmdir "$queues" 2>/dev/null || true' EXIT

echo "$PROG: running in a private IPC namespace: $*" >&2
status=0
"$@" || status=$?

left=()
for table in shm sem msg; do
    # The first line of each table is its header.
    while read -r line; do
        left+=("System V $table: $line")
    done < <(tail -n +2 "/proc/sysvipc/$table")
done
while read -r name; do
    left+=("POSIX queue: /$name")
done < <(ls -A "$queues")

if ((status != 0)); then
    echo "$PROG: the command failed (exit $status)" >&2
fi
if ((${#left[@]} > 0)); then
    echo "$PROG: ${#left[@]} IPC object(s) left in the namespace:" >&2
    printf '  %s\n' "${left[@]}" >&2
    ((status != 0)) || status=1
else
    echo "$PROG: nothing left in the namespace: no segment, semaphore set, System V queue or POSIX queue" >&2
fi
exit "$status"
