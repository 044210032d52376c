#!/usr/bin/env bash
# The synchronisation demo (lecture notes B1, "no two processes performing a write at once"): two
# processes race on one counter in shared memory and lose updates, then a semaphore and an atomic
# add fix it; last, torn reads of a record and the semaphore that prevents them.
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
    cat <<EOF
Usage: $LAB_SCRIPT [--tmux [--detached]] [--pace SECS] [--step] [--bin-dir DIR]

The synchronisation demo (lecture notes B1: shared memory needs "no two processes performing a
write at once, or data corruption"), in three parts, each a race between two processes started in
two terminals:
  1. lost updates: the first terminal runs shm-race counter --others 1 --sync none, which makes a
     segment, prints its id and waits; the second joins with shm-race counter --join ID. Both add
     1 to one counter $INCREMENTS times, each time a load and a store, as C compiles shm[0]++:
     updates are lost, and the first terminal prints how many (the race is real: should the two
     not overlap, it runs again, up to $TRIES times);
  2. fixed: the same pair with --sync semaphore (a System V semaphore around each increment: two
     system calls each, so $SEM_INCREMENTS increments per process) and with --sync atomic (one
     atomic add instruction each, $ATOMIC_INCREMENTS per process): nothing is lost;
  3. torn reads: shm-race torn --sync all, a writer rewrites a record of 7 equal fields and their
     sum while a reader copies it $READS times: without synchronisation some copies mix two
     writes; with the semaphore none do.
Checks: every program exits 0; without synchronisation updates are lost (in one of $TRIES races);
with the semaphore and with the atomic add the count is exact (got = expected, lost 0); with the
semaphore no copy is torn. Every segment and semaphore set the runs made, as their narration
(--explain: shmget, semget) names them, is gone afterwards (/proc/sysvipc/shm, /proc/sysvipc/sem).

Options:
  (none)          Headless: both terminals' programs run here as processes; their output is
                  labelled [terminal-1] and [terminal-2] (the torn race is the second's).
  --tmux          Two tmux panes, the first terminal left, the second right, the commands typed
                  as a person would: the second joins with the id read from the left pane, and
                  the torn race runs in the right pane.
$(lab_options_help)
EOF
}

# Each process's increments without synchronisation: enough for the two to overlap even on a busy
# machine (on two CPUs, each shared with busy loops, 20000000 lost nothing in a third of the races,
# 100000000 in one of thirty); about 0.1 s on an idle one. The fixes only have to be exact, and a
# contended semaphore costs 5 to 25 us an increment (60 on a busy machine): they take fewer, and
# so do the torn race's copies, each under the semaphore.
INCREMENTS=100000000
ATOMIC_INCREMENTS=20000000
SEM_INCREMENTS=5000
READS=5000
TRIES=3
LAB_STEPS=(
    "lost updates: the first terminal makes a segment, prints its id and waits; the second joins with that id; both add 1 to one counter, each time a load and a store"
    "fixed with a System V semaphore: each increment between semop P (wait, take) and V (give back)"
    "fixed with an atomic add: the load, the add and the store as one instruction (lock xadd)"
    "torn reads: a writer rewrites a record while a reader copies it, without synchronisation, then with the semaphore"
)

# race SYNC N: the first terminal's shm-race counter left, the join right with the id it printed;
# its table's row in GOT, LOST, EXPECTED and PER (the time per increment).
GOT="" LOST="" EXPECTED="" PER=""
race() {
    local sync=$1 id sem=""
    lab_run L shm-race counter --others 1 --sync "$sync" --increments "$2" --explain
    if [[ $sync == semaphore ]]; then
        lab_await L '^ *semget\(.*\) = ([0-9]+)$'
        sem=${LAB_MATCH[1]}
        lab_track sem "$sem"
    fi
    lab_await L '^Shared Memory Id = ([0-9]+)$'
    id=${LAB_MATCH[1]}
    lab_track shm "$id" "$LAB_PID"
    lab_run R shm-race counter --join "$id"
    lab_end R 0 30
    lab_end L 0 30
    lab_await L "^$sync +([0-9]+) +([0-9]+) +([0-9]+) "
    EXPECTED=${LAB_MATCH[1]} GOT=${LAB_MATCH[2]} LOST=${LAB_MATCH[3]}
    PER="${LAB_LINE% *}" PER="${PER##* } ${LAB_LINE##* }"
    lab_gone shm "$id"
    [[ -z $sem ]] || lab_gone sem "$sem"
}

# exact SYNC: the check that the race just run lost nothing.
exact() {
    if ((LOST == 0 && GOT == EXPECTED)); then
        lab_pass "with --sync $1 the count is exact: got $GOT of $EXPECTED, lost 0 ($PER per increment)"
    else
        lab_fail "with --sync $1 the count should be exact: got $GOT of $EXPECTED, lost $LOST"
    fi
}

play() {
    local try per_none per_sem out=$LAB_WORK/torn kind id
    lab_heading "Lost updates (notes B1): two terminals add 1 to one counter in shared memory"
    lab_say "The first terminal makes the segment, prints its id and waits at a start gate; the second" \
        "joins with that id. Both then add 1 to the counter $INCREMENTS times, each increment a load" \
        "and a store: when both load the same value, one store overwrites the other. --explain" \
        "narrates the first terminal's system calls on stderr."
    lab_step L
    for ((try = 1; ; try++)); do
        race none "$INCREMENTS"
        per_none=$PER
        if ((LOST > 0)); then
            lab_pass "without synchronisation $LOST of $EXPECTED increments were lost (race $try of at most $TRIES)"
            break
        elif ((try == TRIES)); then
            lab_fail "without synchronisation no update was lost in $TRIES races: the processes never overlapped"
            break
        fi
        lab_caption L "nothing was lost: the two did not overlap (the scheduler ran them in turn); the race is real, not staged, so it runs again (race $((try + 1)) of at most $TRIES)"
    done

    lab_heading "Fixed with a System V semaphore: one process at a time between P and V"
    lab_say "The first terminal also makes a set of one semaphore, set to 1 (free). Each increment is" \
        "semop -1 (P: wait, take), load, add, store, semop +1 (V: give back): two system calls," \
        "so each process adds 1 only $SEM_INCREMENTS times."
    lab_step L
    race semaphore "$SEM_INCREMENTS"
    per_sem=$PER
    exact semaphore

    lab_heading "Fixed with an atomic add: the load, the add and the store as one instruction"
    lab_say "$ATOMIC_INCREMENTS increments per process, each one atomic add instruction (lock xadd on" \
        "x86-64): no system call, and nothing lost."
    lab_step L
    race atomic "$ATOMIC_INCREMENTS"
    exact atomic
    lab_say "Time per increment: $per_none without synchronisation (and wrong), $per_sem with the" \
        "semaphore (two system calls), $PER with the atomic add (one instruction)."

    lab_heading "Torn reads: a writer rewrites a record while a reader copies it"
    lab_say "The record is 7 equal fields and their sum. Each word is written atomically, the record" \
        "is not: a copy made half way through a write mixes two writes. The semaphore makes the" \
        "writer's rewrite and the reader's copy each a critical section. An atomic add cannot help:" \
        "one instruction writes one word. The same program runs the writer and the reader (forked)."
    lab_step R
    lab_run R shm-race torn --sync all --reads "$READS" --explain
    lab_end R 0 30
    lab_await R "^none +$READS +([0-9]+) "
    if ((LAB_MATCH[1] > 0)); then
        lab_pass "without synchronisation ${LAB_MATCH[1]} of $READS copies were torn"
    else
        # the race is real: on a busy machine the reader may never meet the writer mid-way
        lab_say "Without synchronisation no copy was torn this time: the writer and the reader did not overlap."
    fi
    lab_await R "^semaphore +$READS +([0-9]+) "
    if ((LAB_MATCH[1] == 0)); then
        lab_pass "with the semaphore 0 of $READS copies were torn"
    else
        lab_fail "with the semaphore ${LAB_MATCH[1]} of $READS copies were torn, expected 0"
    fi
    # what its narration says it made (shmget, semget) must be gone
    lab_output R "$out"
    sed -nE 's/^ *(shm|sem)get\(.*\) = ([0-9]+)$/\1 \2/p' "$out" >"$out.made"
    while read -r kind id; do lab_gone "$kind" "$id"; done <"$out.made"
}

lab_demo_start shm-race -- "$@"
lab_panes sync terminal-1 terminal-2
play
lab_finish
