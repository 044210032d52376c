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
     updates are lost, and the first terminal prints how many. The race is real, so once in a
     while the two do not overlap and nothing is lost: the race then runs again, up to $TRIES times;
  2. fixed: the same pair with --sync semaphore (a System V semaphore around each increment: two
     system calls each, so $SEM_INCREMENTS increments per process) and with --sync atomic (one
     atomic add instruction each): nothing is lost;
  3. torn reads: shm-race torn --sync all, a writer rewrites a record of 7 equal fields and their
     sum while a reader copies it $READS times: without synchronisation some copies mix two
     writes; with the semaphore none do.
The first terminal's commands and the torn race narrate their system calls (--explain), so the
ids of every segment (shmget) and semaphore set (semget) they make are known and checked.

Options:
  (none)          Headless: both terminals' programs run here as processes; their output is
                  labelled [terminal-1] and [terminal-2] ([torn] for the torn race) and checked.
  --tmux          Two tmux panes, the first terminal left, the second right, the commands typed
                  as a person would: the second joins with the id read from the left pane, and
                  the torn race runs in the right pane.
$(lab_options_help)

Checks: for each race, the first terminal prints the segment id, the title line, the table's
header and a row for its --sync whose got and lost add up to expected (2 x the increments); the
second prints "joined segment ID: process 2 of 2, sync HOW, N increments" and "done: the counter
read ..."; both exit 0. Without synchronisation lost is above 0 (in one of $TRIES races); with the
semaphore and with the atomic add got is expected and lost 0. The torn race prints a row for each
of none and semaphore, $READS reads each, 0 torn with the semaphore, and exits 0. Every segment
and semaphore set the runs made is gone afterwards (/proc/sysvipc/shm, /proc/sysvipc/sem). On an
error, Ctrl-C, SIGTERM or SIGHUP the programs it started are stopped (and remove what they made).
Exit status: 0 when every check passed, 1 when one failed, 2 for a usage error.

Examples:
  scripts/demo-sync.sh                    headless, builds first if needed
  scripts/demo-sync.sh --tmux --step      watch it typed into two panes, a key before each step
  scripts/demo-sync.sh --bin-dir target/release
EOF
}

# Each process's increments without synchronisation and with the atomic add: enough for the two to
# overlap even on a busy machine (on two CPUs, each shared with busy loops, 20000000 lost nothing
# in a third of the races, 100000000 in one of thirty); about 0.1 s and 1 s on an idle one. A
# contended semaphore costs 5 to 25 µs an increment (60 µs on a busy machine), so that race takes
# fewer, to end within a second or two; so do the torn race's copies, each under the semaphore.
INCREMENTS=100000000
SEM_INCREMENTS=20000
READS=50000
TRIES=3          # races without synchronisation before "nothing was ever lost" fails
# The two terminals: the labels of their output (headless), the titles and prompts of the panes.
FIRST=terminal-1
SECOND=terminal-2
LAB_STEPS=(
    "lost updates: the first terminal makes a segment, prints its id and waits; the second joins with that id; both add 1 to one counter, each time a load and a store"
    "fixed with a System V semaphore: each increment between semop P (wait, take) and V (give back)"
    "fixed with an atomic add: the load, the add and the store as one instruction (lock xadd)"
    "torn reads: a writer rewrites a record while a reader copies it, without synchronisation, then with the semaphore"
)

# The commands are the same in both modes. first_args SYNC N: the arguments of the first
# terminal's shm-race, one per line.
first_args() {
    printf '%s\n' counter --others 1 --sync "$1" --increments "$2" --explain
}
TORN_ARGS=(torn --sync all --reads "$READS" --explain)

# first_cmd SYNC N: the first terminal's command line, as typed.
first_cmd() {
    local -a args
    mapfile -t args < <(first_args "$1" "$2")
    echo "shm-race ${args[*]}"
}

# The lines shm-race counter prints whatever the numbers (see counter_head in shm-race).
COUNTER_HEAD=$(printf '%-9s %10s %11s %11s %7s %11s %14s' \
    sync expected got lost "lost %" time "per increment")
TORN_TITLE="a writer rewrites a record of 7 equal fields and their sum; a reader copies it $READS times"
TORN_HEAD=$(printf '%-9s %10s %10s %7s %11s %11s' sync reads torn "torn %" writes time)
DONE_RE='^done: the counter read [0-9]+ as this process finished; the first terminal prints the total$'

counter_title() {
    printf '2 processes x %s increments of one counter in shared memory' "$1"
}

joined_line() {
    printf 'joined segment %s: process 2 of 2, sync %s, %s increments' "$1" "$2" "$3"
}

# ----------------------------------------------------------------------------------------------
# Checks shared by both modes (on plain text: a pane's screen, or a file without colours)

ROW_EXPECTED="" ROW_GOT="" ROW_LOST="" ROW_PER=""

# counter_row FILE SYNC: the numbers of SYNC's row in shm-race counter's table in FILE, in
# ROW_EXPECTED, ROW_GOT, ROW_LOST and ROW_PER (the time per increment); false when there is none.
counter_row() {
    local line rest
    ROW_EXPECTED="" ROW_GOT="" ROW_LOST="" ROW_PER=""
    line=$(grep -E -m 1 "^$2 +[0-9]+ +[0-9]+ +[0-9]+ " "$1") || return 1
    read -r _ ROW_EXPECTED ROW_GOT ROW_LOST rest <<<"$line"
    ROW_PER=$(awk '{ print $(NF - 1), $NF }' <<<"$rest")
}

# check_gone WHAT FILE [SEGMENTS SETS]: every segment (shmget(...) = ID) and semaphore set
# (semget(...) = ID) FILE's --explain narration says was made must be gone now; with SEGMENTS and
# SETS, there must be that many of each.
check_gone() {
    local what=$1 file=$2 id
    local -a shm sem
    mapfile -t shm < <(sed -nE 's/^ *shmget\(.*\) = ([0-9]+)$/\1/p' "$file")
    mapfile -t sem < <(sed -nE 's/^ *semget\(.*\) = ([0-9]+)$/\1/p' "$file")
    if (($# < 4)); then
        :
    elif ((${#shm[@]} == $3 && ${#sem[@]} == $4)); then
        lab_pass "$what narrates making $3 segment(s) and $4 semaphore set(s) (shmget, semget)"
    else
        lab_fail "$what narrates making ${#shm[@]} segment(s) and ${#sem[@]} semaphore set(s), expected $3 and $4"
    fi
    for id in "${shm[@]}"; do
        lab_check_segment_gone "$id" || true
    done
    for id in "${sem[@]}"; do
        lab_check_semaphore_gone "$id" || true
    done
}

# check_pair FIRST SECOND SYNC N ID FIRST_RC SECOND_RC: one race, the first terminal's output in
# FIRST (shm-race counter --others 1 --sync SYNC --increments N, segment ID) and the second's in
# SECOND (--join ID), but for the row's lost count, which the caller judges (check_lost,
# check_exact). The row's numbers are left in ROW_*.
check_pair() {
    local first=$1 second=$2 sync=$3 n=$4 id=$5 sets=0
    [[ $sync != semaphore ]] || sets=1
    lab_check_lines "the first terminal's output" "$first" \
        "Shared Memory Id = $id" "$(counter_title "$n")" "$COUNTER_HEAD" || true
    if ! counter_row "$first" "$sync"; then
        lab_fail "the first terminal's output has no table row for --sync $sync"
    elif ((ROW_EXPECTED == 2 * n && ROW_GOT + ROW_LOST == ROW_EXPECTED)); then
        lab_pass "the $sync row: expected $ROW_EXPECTED (2 x $n), got $ROW_GOT + lost $ROW_LOST = expected"
    else
        lab_fail "the $sync row does not add up: expected $ROW_EXPECTED (should be $((2 * n))), got $ROW_GOT, lost $ROW_LOST"
    fi
    lab_check_lines "the second terminal's output" "$second" "$(joined_line "$id" "$sync" "$n")" || true
    lab_check_match "the second terminal's output" "$second" "$DONE_RE" \
        "\"done: the counter read N as this process finished; ...\""
    lab_check_status "shm-race counter --others 1 --sync $sync (first terminal)" "$6" || true
    lab_check_status "shm-race counter --join $id (second terminal)" "$7" || true
    check_gone "the first terminal's shm-race" "$first" 1 "$sets"
}

# lost_some: true when the row just read (counter_row) lost updates.
lost_some() {
    [[ -n $ROW_LOST ]] && ((ROW_LOST > 0))
}

# check_lost TRY: the verdict on a race without synchronisation (its row in ROW_*): updates lost,
# or, on the last try, a failure. False when it should run again.
check_lost() {
    if [[ -z $ROW_LOST ]]; then
        return 0 # no row: check_pair said so
    elif lost_some; then
        lab_pass "without synchronisation $ROW_LOST of $ROW_EXPECTED increments were lost (race $1 of at most $TRIES)"
    elif (($1 < TRIES)); then
        lab_say "Nothing was lost in race $1: the two did not overlap (the scheduler ran them in turn)." \
        "The race is real, not staged, so it runs again (race $(($1 + 1)) of at most $TRIES)."
        return 1
    else
        lab_fail "without synchronisation no update was lost in $TRIES races: the processes never overlapped"
    fi
}

# check_exact SYNC: the verdict on a synchronised race (its row in ROW_*): nothing lost.
check_exact() {
    [[ -n $ROW_LOST ]] || return 0
    if ((ROW_LOST == 0 && ROW_GOT == ROW_EXPECTED)); then
        lab_pass "with --sync $1 the count is exact: got $ROW_GOT of $ROW_EXPECTED, lost 0 ($ROW_PER per increment)"
    else
        lab_fail "with --sync $1 the count should be exact: got $ROW_GOT of $ROW_EXPECTED, lost $ROW_LOST"
    fi
}

# check_torn FILE RC: shm-race torn --sync all's output (with its narration) and its status.
check_torn() {
    local file=$1 line torn copy
    lab_check_lines "shm-race torn's output" "$file" "$TORN_TITLE" "$TORN_HEAD" || true
    if line=$(grep -E -m 1 "^none +$READS +[0-9]+ " "$file"); then
        read -r _ _ torn _ <<<"$line"
        copy=$(sed -n 's/^first torn copy (none): //p' "$file" | head -n 1)
        if ((torn > 0)) && [[ -n $copy ]]; then
            lab_pass "without synchronisation $torn of $READS copies were torn, the first: $copy"
        elif ((torn > 0)); then
            lab_fail "shm-race torn counts $torn torn copies without synchronisation but shows none"
        else
            # the race is real: on a busy machine the reader may never meet the writer mid-way
            lab_say "Without synchronisation no copy was torn this time: the writer and the reader did not overlap."
        fi
    else
        lab_fail "shm-race torn's output has no row for none with $READS reads"
    fi
    if line=$(grep -E -m 1 "^semaphore +$READS +[0-9]+ " "$file"); then
        read -r _ _ torn _ <<<"$line"
        if ((torn == 0)); then
            lab_pass "with the semaphore 0 of $READS copies were torn"
        else
            lab_fail "with the semaphore $torn of $READS copies were torn, expected 0"
        fi
    else
        lab_fail "shm-race torn's output has no row for semaphore with $READS reads"
    fi
    lab_check_status "shm-race ${TORN_ARGS[*]}" "$2" || true
    check_gone "shm-race torn" "$file" 2 1
}

# ----------------------------------------------------------------------------------------------
# Headless

# pair NAME SYNC N: one race between a first terminal's shm-race counter --others 1 and a second
# terminal's --join; their output shown labelled, then checked (check_pair). The row is in ROW_*.
pair() {
    local name=$1 sync=$2 n=$3 first second id frc src fpid spid
    local -a args
    first=$LAB_WORK/$name-first.out
    second=$LAB_WORK/$name-second.out
    mapfile -t args < <(first_args "$sync" "$n")
    ROW_EXPECTED="" ROW_GOT="" ROW_LOST="" ROW_PER=""

    lab_cmd "shm-race ${args[*]} &"
    lab_spawn "$first" /dev/null "$LAB_BIN/shm-race" "${args[@]}"
    fpid=$LAB_PID
    if ! lab_wait_line "$first" '^Shared Memory Id = [0-9]+$' 10 "$fpid"; then
        lab_show_new "$FIRST" "$first" --all
        lab_fail "shm-race counter --others 1 --sync $sync printed no segment id"
        return 0
    fi
    id=${LAB_LINE##* }
    lab_track_segment "$id" "$fpid"
    # its waiting note comes just after the id
    lab_wait_line "$first" 'waiting for 1 more process' 5 "$fpid" >/dev/null 2>&1 || true
    lab_show_new "$FIRST" "$first"

    lab_cmd "shm-race counter --join $id        # in a second terminal"
    lab_spawn "$second" /dev/null "$LAB_BIN/shm-race" counter --join "$id"
    spid=$LAB_PID
    lab_wait_exit "$spid" 30 "shm-race counter --join" || true
    src=$LAB_RC
    lab_show "$SECOND" "$second"
    lab_wait_exit "$fpid" 30 "shm-race counter --others 1" || true
    frc=$LAB_RC
    lab_show_new "$FIRST" "$first" --all

    echo
    lab_plain <"$first" >"$first.plain"
    lab_plain <"$second" >"$second.plain"
    check_pair "$first.plain" "$second.plain" "$sync" "$n" "$id" "$frc" "$src"
}

headless() {
    local try out=$LAB_WORK/torn.out rc per_none per_sem
    lab_heading "Lost updates (notes B1): two terminals add 1 to one counter in shared memory"
    lab_say "The first terminal makes the segment, prints its id and waits at a start gate; the second" \
        "joins with that id. Both then add 1 to the counter $INCREMENTS times, each increment a load" \
        "and a store: when both load the same value, one store overwrites the other. --explain" \
        "narrates the first terminal's system calls on stderr."
    lab_step
    for ((try = 1; try <= TRIES; try++)); do
        ((try == 1)) || echo
        pair "none-$try" none "$INCREMENTS"
        per_none=$ROW_PER
        check_lost "$try" && break
    done

    lab_heading "Fixed with a System V semaphore: one process at a time between P and V"
    lab_say "The first terminal also makes a set of one semaphore, set to 1 (free). Each increment is" \
        "semop -1 (P: wait, take), load, add, store, semop +1 (V: give back): two system calls," \
        "so each process adds 1 only $SEM_INCREMENTS times."
    lab_step
    pair semaphore semaphore "$SEM_INCREMENTS"
    per_sem=$ROW_PER
    check_exact semaphore

    lab_heading "Fixed with an atomic add: the load, the add and the store as one instruction"
    lab_say "The same $INCREMENTS increments per process as without synchronisation, each one atomic" \
        "add instruction (lock xadd on x86-64): no system call, and nothing lost."
    lab_step
    pair atomic atomic "$INCREMENTS"
    check_exact atomic
    lab_say "Time per increment: ${per_none:-?} without synchronisation (and wrong), ${per_sem:-?} with" \
        "the semaphore (two system calls), ${ROW_PER:-?} with the atomic add (one instruction)."

    lab_heading "Torn reads: a writer rewrites a record while a reader copies it"
    lab_say "The record is 7 equal fields and their sum. Each word is written atomically, the record" \
        "is not: a copy made half way through a write mixes two writes. The semaphore makes the" \
        "writer's rewrite and the reader's copy each a critical section. An atomic add cannot help:" \
        "one instruction writes one word. The same program runs the writer and the reader (forked)."
    lab_step
    lab_cmd "shm-race ${TORN_ARGS[*]}"
    lab_spawn "$out" /dev/null "$LAB_BIN/shm-race" "${TORN_ARGS[@]}"
    lab_follow torn "$out" "$LAB_PID" 30 "shm-race torn" || true
    rc=$LAB_RC
    echo
    lab_plain <"$out" >"$out.plain"
    check_torn "$out.plain" "$rc"
}

# ----------------------------------------------------------------------------------------------
# tmux

# pane_lines SCREEN left|right: SCREEN, the screen of that pane, with the command lines apart from
# their output (lab_screen_unjoin): every command typed there so far.
# shellcheck disable=SC2317
pane_lines() {
    local -a typed=()
    local file
    if [[ $2 == left ]]; then
        typed=("$(first_cmd none "$INCREMENTS")" "$(first_cmd semaphore "$SEM_INCREMENTS")"
            "$(first_cmd atomic "$INCREMENTS")")
        lab_screen_unjoin "$1" "$FIRST\$" "${typed[@]}"
    else
        for file in "$LAB_WORK"/tmux.*.id; do
            [[ ! -s $file ]] || typed+=("shm-race counter --join $(<"$file")")
        done
        typed+=("shm-race ${TORN_ARGS[*]}")
        lab_screen_unjoin "$1" "$SECOND\$" "${typed[@]}"
    fi
}

LEFT_RUNS=0      # with --tmux: the races typed into the left pane so far (tmux_pair)

# tmux_pair NAME SYNC N TRY: type one race: the first terminal's command left (its TRYth run
# there), then, with the id it prints, the join right. The id and both statuses are kept in files
# (tmux.NAME.id, and lab_tmux_save_rc NAME-first, NAME-second); the row is left in ROW_*.
# shellcheck disable=SC2317
tmux_pair() {
    local name=$1 sync=$2 n=$3 try=$4 left=$LAB_TMUX_LEFT right=$LAB_TMUX_RIGHT id="" cmd
    local out=$LAB_WORK/tmux.$name.first tries=150
    cmd=$(first_cmd "$sync" "$n")
    ROW_EXPECTED="" ROW_GOT="" ROW_LOST="" ROW_PER=""
    LEFT_RUNS=$((LEFT_RUNS + 1))
    lab_tmux_run "$left" "$cmd"
    # this race's id: the pane's LEFT_RUNSth (each race prints one)
    while :; do
        id=$(lab_tmux_screen "$left" | sed -nE 's/^Shared Memory Id = ([0-9]+)$/\1/p' |
            sed -n "${LEFT_RUNS}p")
        [[ -z $id ]] || break
        if ((tries-- <= 0)) || ! lab_tmux_running "$left"; then
            lab_error "no segment id in the left pane for the race with --sync $sync"
            return 1
        fi
        sleep 0.1
    done
    echo "$id" >"$LAB_WORK/tmux.$name.id"
    lab_track_segment "$id"
    lab_pause 5
    lab_tmux_run "$right" "shm-race counter --join $id"
    lab_tmux_wait_done "$right" 30 || return 1
    lab_tmux_save_rc "$name-second"
    lab_tmux_wait_done "$left" 30 || return 1
    lab_tmux_save_rc "$name-first"
    lab_tmux_screen "$left" >"$out.screen"
    pane_lines "$out.screen" left >"$out.lines"
    lab_screen_output "$out.lines" "$FIRST\$" "$cmd" "$try" >"$out"
    counter_row "$out" "$sync" || true
}

# Types the three parts into the panes; writes ids, statuses and how many races ran without
# synchronisation to files, since it may run in a background subshell. Called through
# lab_tmux_play.
# shellcheck disable=SC2317
tmux_driver() {
    local left=$LAB_TMUX_LEFT right=$LAB_TMUX_RIGHT try
    lab_step "$left"
    for ((try = 1; try <= TRIES; try++)); do
        ((try == 1)) || lab_caption "nothing was lost: the two did not overlap; the race runs again (race $try of at most $TRIES)" "$left"
        echo "$try" >"$LAB_WORK/tmux.tries"
        tmux_pair "none-$try" none "$INCREMENTS" "$try" || return 1
        lost_some && break
    done
    lab_step "$left"
    tmux_pair semaphore semaphore "$SEM_INCREMENTS" 1 || return 1
    lab_step "$left"
    tmux_pair atomic atomic "$INCREMENTS" 1 || return 1
    lab_step "$right"
    lab_tmux_run "$right" "shm-race ${TORN_ARGS[*]}"
    lab_tmux_wait_done "$right" 30 || return 1
    lab_tmux_save_rc torn
    # the screens now, in case the panes are closed before the session ends
    lab_tmux_capture "$left" "$LAB_WORK/first.screen" || true
    lab_tmux_capture "$right" "$LAB_WORK/second.screen" || true
}

# tmux_check_pair NAME SYNC N TRY: check_pair on the saved screens, for the race tmux_pair typed
# (the TRYth run of its command in the left pane). False when it has no id.
tmux_check_pair() {
    local name=$1 sync=$2 n=$3 try=$4 id first=$LAB_WORK/$1-first.lines second=$LAB_WORK/$1-second.lines
    if [[ ! -s $LAB_WORK/tmux.$name.id ]]; then
        lab_fail "no segment id appeared in the left pane for the race with --sync $sync"
        return 1
    fi
    id=$(<"$LAB_WORK/tmux.$name.id")
    lab_screen_output "$LAB_WORK/first.lines" "$FIRST\$" "$(first_cmd "$sync" "$n")" "$try" >"$first"
    lab_screen_output "$LAB_WORK/second.lines" "$SECOND\$" "shm-race counter --join $id" >"$second"
    check_pair "$first" "$second" "$sync" "$n" "$id" \
        "$(lab_tmux_rc "$name-first")" "$(lab_tmux_rc "$name-second")"
}

with_tmux() {
    local screen_l=$LAB_WORK/first.screen screen_r=$LAB_WORK/second.screen tries=0 try
    local torn=$LAB_WORK/torn.lines
    lab_heading "Synchronisation (notes B1) in tmux: the first terminal left, the second right"
    lab_tmux_start sync "$FIRST" "$SECOND"
    lab_tmux_play tmux_driver
    local driver_rc=$LAB_RC
    [[ ! -s $LAB_WORK/tmux.tries ]] || tries=$(<"$LAB_WORK/tmux.tries")

    # a race still running gets SIGHUP from its shell here, and removes what it made
    lab_tmux_end "$screen_l" "$screen_r" \
        "The first terminal's pane (left)" "The second terminal's pane (right)"

    echo
    if lab_tmux_left_early "$driver_rc"; then
        cat "$screen_l" "$screen_r" >"$LAB_WORK/screens"
        check_gone "the panes' shm-race runs" "$LAB_WORK/screens"
        return 0
    fi
    if ((driver_rc != 0)); then
        lab_fail "the tmux demo did not run to its end"
    fi
    pane_lines "$screen_l" left >"$LAB_WORK/first.lines"
    pane_lines "$screen_r" right >"$LAB_WORK/second.lines"
    for ((try = 1; try <= tries; try++)); do
        tmux_check_pair "none-$try" none "$INCREMENTS" "$try" || break
        check_lost "$try" || true
    done
    if tmux_check_pair semaphore semaphore "$SEM_INCREMENTS" 1; then
        check_exact semaphore
    fi
    if tmux_check_pair atomic atomic "$INCREMENTS" 1; then
        check_exact atomic
    fi
    lab_screen_output "$LAB_WORK/second.lines" "$SECOND\$" "shm-race ${TORN_ARGS[*]}" >"$torn"
    check_torn "$torn" "$(lab_tmux_rc torn)"
}

# ----------------------------------------------------------------------------------------------

main() {
    lab_demo_start shm-race -- "$@"
    if ((LAB_DEMO_TMUX)); then
        with_tmux
    else
        headless
    fi
    lab_finish
}

main "$@"
