#!/usr/bin/env bash
# The benchmark demo (lecture notes B1 and B2): what IPC costs on this machine. ipc-bench measures
# the floor, the round-trip latency and the throughput of shared memory, pipes, queues and
# signals, on one CPU and on two; then ps shows what spinning on shared memory costs: two CPUs.
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
    cat <<EOF
Usage: $LAB_SCRIPT [--tmux [--detached]] [--pace SECS] [--step] [--bin-dir DIR]

The benchmark demo (lecture notes B1: shared memory is "very fast", the kernel is involved only
at set-up; B2: message passing is "inefficient", a system call for every send and receive).
ipc-bench measures both on this machine, with small counts (--quick: rough figures), in five
parts, each with a sentence on what to look at in its figures:
  1. the floor (ipc-bench floor --quick): a clock read, a null system call, a write and a read
     through a pipe inside one process, and memcpy: what no IPC can beat;
  2. latency (ipc-bench latency --quick): a $SIZE-byte round trip through a pipe, a POSIX queue,
     shared memory with spinning (shm-spin) and with semaphores (shm-sem), and a signal, with
     both processes on one CPU (--pin same) and on two (--pin cross); the same run draws the
     chart (--plot, an SVG file of the demo's own), which ls -l shows and rm removes;
  3. throughput (ipc-bench throughput --quick): a one-way stream of $BIG-byte messages, shm-spin
     against a pipe, on one CPU and on two; 4. one row as JSON (--format json);
  5. the price of spinning: a long ping-pong of $BUSY_SIZE-byte messages through shm-spin on
     two CPUs while ps looks at both processes $SAMPLES times and ipcs at their segment; then the
     same through pipes. Each run is ended with Ctrl-C. Skipped with one usable CPU.

Checks: every run exits 0 and prints its table (or its JSON object); the chart is written, and
gone after rm. In part 5 ps sees the parent and its child in every sample, on two CPUs, and with
shm-spin both running (STAT R) every time; their segment is marked for removal (mode 01600) and
attached twice; Ctrl-C ends the run with status 130 and ipc-bench's note that it cleaned up; the
child and the segment are gone. At the end no ipc-bench of the demo runs (tagged IPC_LAB_RUN in
its environment), no segment made by one is listed, no semaphore set or System V queue appeared
meanwhile (ipc-bench makes none), and the latency run's POSIX queues are gone. The figures are
this machine's, not checked (tests/lab/bench.rs checks the tables).

Options:
  (none)          Headless: the commands run here as processes; their output is labelled
                  [bench] and [watch]. Ctrl-C is SIGINT sent to both processes of the run, as a
                  terminal sends it to its foreground job; ps looks every 0.1 s.
  --tmux          Two tmux panes, the benchmark above and an observer below (the tables are
                  wide), the commands typed as a person would: ipc-bench above; below, ls and rm
                  for the chart, then, while the long runs go on, ps (again with Up and Enter
                  every 0.5 s) and ipcs -m -i for the segment; Ctrl-C is typed above.
$(lab_options_help)
EOF
}

SIZE=64                            # the latency runs' message size
BIG=4096                           # the throughput runs'
MECHS=(pipe mq shm-spin shm-sem signal)
BUSY_SIZE=65536                    # part 5: a ping-pong of big messages, far more round trips
BUSY_COUNT=1000000                 # than the demo waits for (Ctrl-C ends it)
SAMPLES=3                          # ps looks this many times
PS_FORMAT=pid,ppid,psr,pcpu,stat,wchan:16,comm
CROSS=1                            # 1 when two CPUs are usable (set below)
PIDS=()                            # every ipc-bench run's process
LAB_STEPS=(
    "the floor: a clock read, a system call, a write and a read through a pipe to itself, memcpy: one process, no IPC"
    "latency: a round trip, both processes on one CPU (same) and on two (cross); then the chart of the table"
    "throughput: a one-way stream of $BIG-byte messages, shm-spin against a pipe"
    "one row as JSON (--format json) on stdout, the header on stderr: for scripts"
    "the price of spinning: a long shm-spin ping-pong on two CPUs while ps looks at both processes; then Ctrl-C"
    "the same through pipes: the side waiting for the answer sleeps in read()"
)

# ----------------------------------------------------------------------------------------------
# What to look at in the figures (the tables are ipc-bench's: tests/lab/bench.rs checks them)

# col FILE N KEY...: field N of FILE's first line that starts with the fields KEY... and is
# measured (nothing otherwise).
col() {
    local file=$1 n=$2
    shift 2
    awk -v k="$*" -v n="$n" '{ m = split(k, a, " "); for (i = 1; i <= m; i++) if ($i != a[i]) next }
        !/not measured/ { print $n; exit }' "$file"
}

# ratio A B: A / B, rounded as a student reads it (3.5, 12, 110). less A B: true when A < B.
ratio() {
    awk -v a="$1" -v b="$2" 'BEGIN { r = b > 0 ? a / b : 0; printf(r < 10 ? "%.1f" : "%.0f", r) }'
}
less() {
    awk -v a="$1" -v b="$2" 'BEGIN { exit !(a + 0 < b + 0) }'
}

observe_floor() {
    local pipe
    pipe=$(col "$1" 4 pipe-self "$SIZE")
    lab_say "Look at the medians: a clock read $(col "$1" 4 clock) ns (the vDSO: no system call), a" \
        "system call $(col "$1" 4 syscall) ns, a $SIZE-byte write and read through a pipe in one" \
        "process $pipe ns, a $SIZE-byte copy $(col "$1" 4 memcpy "$SIZE") ns. Every message passed" \
        "through the kernel pays system calls and two copies: a pipe round trip (a write and a read" \
        "each way) cannot cost less than twice $pipe ns."
}

observe_latency() {
    local file=$1 mech m same="" cross="" spin lo="" hi=""
    for mech in "${MECHS[@]}"; do
        same+="${same:+, }$mech $(col "$file" 5 "$mech" same)"
        m=$(col "$file" 5 "$mech" cross)
        [[ -n $m && $mech != shm-spin ]] || continue
        cross+="${cross:+, }$mech $m"
        if [[ -z $lo ]] || less "$m" "$lo"; then lo=$m; fi
        if [[ -z $hi ]] || less "$hi" "$m"; then hi=$m; fi
    done
    lab_say "Medians on one CPU (same): $same µs. The two processes take turns: every round trip is" \
        "two switches from one process to the other. shm-spin is no faster there: its waiting side" \
        "spins until it gives the CPU away (sched_yield), while the others sleep in the kernel at once."
    spin=$(col "$file" 5 shm-spin cross)
    if [[ -z $spin || -z $lo ]]; then
        lab_say "Only one CPU is usable here, so nothing ran on two: the cross rows say \"not measured\"."
        return 0
    fi
    lab_say "On two CPUs (cross): $cross µs, and shm-spin $spin µs. Waking the other CPU is the cost" \
        "of a cross-CPU round trip, not the mechanism: they spread from $lo to $hi µs, a factor of" \
        "$(ratio "$hi" "$lo") (far more when other programs keep these CPUs busy)."
    lab_say "shm-spin is $(ratio "$lo" "$spin") times as fast as the fastest of them: it never sleeps, so there is" \
        "no CPU to wake (notes B1: after set-up the kernel is not involved). The price: part 5." \
        "(Below 1, other programs kept these CPUs busy: --quick gives rough figures.)"
}

observe_throughput() {
    local spin pipe
    spin=$(col "$1" 5 shm-spin same) pipe=$(col "$1" 5 pipe same)
    lab_say "On one CPU: shm-spin $spin MB/s, the pipe $pipe MB/s. The writer and the reader take" \
        "turns on the CPU; a spinning side wastes its turn until it yields."
    spin=$(col "$1" 5 shm-spin cross) pipe=$(col "$1" 5 pipe cross)
    [[ -n $spin && -n $pipe ]] || return 0
    lab_say "On two CPUs: shm-spin $spin MB/s, the pipe $pipe MB/s ($(ratio "$spin" "$pipe") x). Each pipe" \
        "message is a write and a read: two system calls, a copy into the kernel and one out;" \
        "shm-spin copies into the segment and out of it, and no system call is made while the" \
        "stream flows (below 1 x, other programs kept these CPUs busy: a spinning side that loses" \
        "its CPU holds up the stream)."
}

# ----------------------------------------------------------------------------------------------
# The parts

# bench ARGS...: ipc-bench ARGS above, to its end (status 0), its output in $LAB_WORK/bench.
bench() {
    lab_step L
    lab_run L ipc-bench "$@"
    PIDS+=("$LAB_PID")
    lab_end L 0 120
    lab_output L "$LAB_WORK/bench"
}

# wait_pinned PARENT CHILD SECS: wait up to SECS for the child to have placed itself on a CPU of
# its own (--pin cross: sched_setaffinity in each process), so that ps's PSR shows the placement.
wait_pinned() {
    local tries=$(($3 * 20)) cpus
    # each one's Cpus_allowed_list: a single CPU, and two different ones
    until cpus=$(awk '/^Cpus_allowed_list:/ { print $2 }' "/proc/$1/status" "/proc/$2/status" 2>/dev/null) &&
        [[ $cpus =~ ^([0-9]+)$'\n'([0-9]+)$ && ${BASH_REMATCH[1]} != "${BASH_REMATCH[2]}" ]]; do
        ((tries-- > 0)) || return 1
        lab_nap 0.05
    done
}

# busy MECH: part 5 for one mechanism: the long run above; below, ps $SAMPLES times and, for a
# segment, ipcs -m -i; then Ctrl-C above; the checks.
busy() {
    local mech=$1 ps=$LAB_WORK/$1.ps parent child i id="" gap=0.1 line pcpu n both apart running
    ((LAB_DEMO_TMUX == 0)) || gap=0.5
    lab_step L
    lab_run L ipc-bench latency --mech "$mech" --size "$BUSY_SIZE" --pin cross --count "$BUSY_COUNT"
    parent=$LAB_PID
    PIDS+=("$parent")
    if [[ -z $parent ]] || ! lab_wait_child "$parent" ipc-bench 10; then
        lab_abort "ipc-bench $mech started no child process"
    fi
    child=$LAB_CHILD
    wait_pinned "$parent" "$child" 10 || lab_warn "the two processes did not get a CPU each within 10 s"
    : >"$ps"
    for ((i = 1; i <= SAMPLES; i++)); do
        # ps's %CPU is the CPU time since the start over the time since the start: rough at first
        lab_nap "$gap"
        if ((i == 1)); then lab_run R ps -o "$PS_FORMAT" -p "$parent,$child"; else lab_again R ps -o "$PS_FORMAT" -p "$parent,$child"; fi
        lab_end R
        lab_output R "$ps.$i"
        cat "$ps.$i" >>"$ps"
    done
    if [[ $mech == shm-spin ]]; then
        id=$(awk -v p="$parent" 'NR > 1 && $5 == p { print $2; exit }' /proc/sysvipc/shm)
        line=$(awk -v id="$id" 'NR > 1 && $2 == id { print $3, $7 }' /proc/sysvipc/shm)
        if [[ -z $id ]]; then
            lab_fail "no segment created by the parent (PID $parent) is listed while it runs"
        else
            lab_track shm "$id" "$parent"
            lab_run R ipcs -m -i "$id"
            lab_end R
            if [[ $line == "1600 2" ]]; then
                lab_pass "segment $id, made by the parent: mode 01600 (marked for removal), attached twice"
            else
                lab_fail "segment $id: mode and attachments $line, expected 1600 (marked for removal) and 2"
            fi
        fi
    fi
    lab_pause 10
    lab_key L C-c
    lab_end L 130
    lab_expect L "ipc-bench: stopped: the child process is reaped, and nothing the run made is left"
    lab_gone pid "$child" "the benchmark's child, PID"
    [[ -z $id ]] || lab_gone shm "$id"
    # columns: PID PPID PSR %CPU STAT WCHAN COMMAND; a sample starts with the header
    read -r n both apart running pcpu < <(awk -v p="$parent" -v c="$child" '
        $1 == "PID" { n++ } $1 == p || $1 == c { seen[n]++; cpu[n, $1 == p] = $3; run[n] += $5 ~ /^R/; pc[$1 == p] = $4 }
        END { for (i = 1; i <= n; i++) { b += seen[i] == 2; a += seen[i] == 2 && cpu[i, 0] != cpu[i, 1]; r += run[i] == 2 }
            print n + 0, b + 0, a + 0, r + 0, pc[1] "," pc[0] }' "$ps")
    if ((n == SAMPLES && both == n && apart == n)); then
        lab_pass "ps saw the parent (PID $parent) and its child (PID $child) in all $n samples, each on a CPU of its own (PSR)"
    else
        lab_fail "ps should see the parent and its child on two CPUs in all $SAMPLES samples: $both of $n had both, $apart apart"
    fi
    if [[ $mech == pipe ]]; then
        lab_say "Through pipes the side that waits for the answer sleeps (STAT S, WCHAN: where in the" \
            "kernel), and its CPU is free for others meanwhile: %CPU ${pcpu/,/ and }."
    elif ((running == n)); then
        lab_pass "both running (STAT R) in every sample: neither ever sleeps; %CPU ${pcpu/,/ and }"
        lab_say "The side waiting for the answer spins instead of sleeping: two CPUs busy for one" \
            "conversation, messages or not (%CPU near 100 each when nothing else wants the CPUs)."
    else
        lab_fail "with shm-spin both should be running (STAT R) in every sample, only $running of $n were"
    fi
}

# left: nothing of the demo's runs is left: processes (by their tag), segments (by their creator),
# System V semaphore sets and queues (ipc-bench makes none), the latency run's POSIX queues
# (/ipc-bench-PID-N-down and -up, N counting from 0: two for each mq row, one row per placement).
left() {
    local pid n kind q left=""
    local -A col=([sem]=7 [msg]=10) # the owner's uid
    for ((n = 40; n > 0; n--)); do
        left=""
        for pid in $(pgrep -x ipc-bench); do
            ! grep -qzxF -- "IPC_LAB_RUN=$IPC_LAB_RUN" "/proc/$pid/environ" 2>/dev/null || left+=" process $pid"
        done
        left+=$(awk -v pids=" ${PIDS[*]} " 'NR > 1 && index(pids, " " $5 " ") { printf " segment %s", $2 }' /proc/sysvipc/shm)
        for kind in sem msg; do
            left+=$(awk -v uid="$UID" -v col="${col[$kind]}" -v kind="$kind" '
                FILENAME == ARGV[1] { old[$1] = 1; next }
                FNR > 1 && $col == uid && !($2 in old) { printf " %s %s", kind, $2 }' \
                "$LAB_WORK/sysv.$kind" "/proc/sysvipc/$kind")
        done
        for q in /ipc-bench-"$LATENCY_PID"-{0,1,2,3}-{down,up}; do
            ! lab__exists mq "$q" || left+=" queue $q"
        done
        [[ -n $left ]] || break
        lab_nap 0.05
    done
    if [[ -z $left ]]; then
        lab_pass "nothing of this run is left: no ipc-bench process (tagged IPC_LAB_RUN), no segment made by one (PID ${PIDS[*]}), no semaphore set or System V queue made meanwhile, none of the latency run's 8 POSIX queues (/ipc-bench-$LATENCY_PID-N-down, -up)"
    else
        lab_fail "left behind:$left"
    fi
}

LATENCY_PID=""
play() {
    local svg=$LAB_WORK/latency.svg mechs
    mechs=$(printf '%s,' "${MECHS[@]}")
    lab_heading "The floor (notes B1, B2): what no IPC can beat"
    lab_say "One process, no IPC: a clock read, the cheapest system call (getppid), a write and a read" \
        "through a pipe to itself, and memcpy; each timed in batches, in ns per operation."
    bench floor --quick
    lab_expect L "floor: what no IPC can beat"
    observe_floor "$LAB_WORK/bench"

    lab_heading "Latency: a round trip, with both processes on one CPU and on two"
    lab_say "A parent and its forked child pass a $SIZE-byte message there and back, 300 times, each" \
        "timed: through two pipes, two POSIX queues, a segment with spinning (shm-spin) or with" \
        "semaphores (shm-sem), and as a bare signal (SIGUSR1, no data). --plot draws the chart."
    bench latency --quick --mech "${mechs%,}" --size "$SIZE" --pin same,cross --plot "$svg"
    LATENCY_PID=${PIDS[-1]}
    lab_expect L "latency: one round trip" "latency chart written to $svg"
    lab_run R ls -l "$svg"
    lab_end R
    lab_run R rm "$svg"
    lab_end R
    lab_gone path "$svg" "the chart"
    observe_latency "$LAB_WORK/bench"

    lab_heading "Throughput: a one-way stream of $BIG-byte messages"
    lab_say "The parent sends 1000 messages (after 100 to warm up), the child copies each out and" \
        "acknowledges the last: shared memory with spinning against a pipe."
    bench throughput --quick --mech shm-spin,pipe --size "$BIG" --pin same,cross
    lab_expect L "throughput: a one-way stream"
    observe_throughput "$LAB_WORK/bench"

    lab_heading "One row as JSON, for scripts (--format json)"
    lab_say "One JSON object per line on stdout, times in ns; the header goes to stderr, so that a" \
        "script can read stdout as it is (ipc-bench ... --format json | jq .median_ns)."
    bench latency --quick --mech shm-spin --size "$SIZE" --pin "$([[ $CROSS == 1 ]] && echo cross || echo same)" --format json
    lab_expect L '{"mech":"shm-spin","mode":"latency",'

    lab_heading "The price of spinning: two CPUs kept busy"
    if ((CROSS == 0)); then
        lab_say "Skipped: this process may use only one CPU, and the point is two of them."
        lab_step_skip 2
    else
        lab_say "A ping-pong of $BUSY_SIZE-byte messages through shm-spin, on two CPUs, far longer than the" \
            "demo waits: ps looks at both processes. PSR is the CPU each ran on last, STAT R running" \
            "(S asleep), %CPU its CPU time since it started, WCHAN where it sleeps."
        busy shm-spin
        lab_say "The same ping-pong through two pipes: the side that waits for the answer sleeps in read()."
        busy pipe
    fi

    lab_heading "Nothing left behind"
    lab_say "ipc-bench marks its segment for removal as soon as it is attached and unlinks its queues" \
        "as soon as both are open: the kernel frees them with the last detach and the last close," \
        "however the processes end. shm-sem's semaphores are POSIX ones inside the segment" \
        "(sem_init, pshared): they go with it, and no System V semaphore set is ever made."
    left
}

lab_demo_start ipc-bench mq-recv -- "$@"
# every process started from here on carries the tag (the tmux server and its panes too)
export IPC_LAB_RUN=$$-$EPOCHSECONDS-$RANDOM
# the System V tables as they are now
for kind in sem msg; do
    awk 'NR > 1 { print $2 }' "/proc/sysvipc/$kind" >"$LAB_WORK/sysv.$kind"
done
# how many CPUs this process may run on (its affinity, as ipc-bench counts them)
if (($(nproc) < 2)); then
    CROSS=0
fi
lab_panes bench bench watch vertical
play
lab_finish
