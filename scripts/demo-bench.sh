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
     both processes on one CPU (--pin same: they take turns) and on two (--pin cross: every
     message wakes the other CPU, unless the reader spins); the same run draws the chart
     (--plot, an SVG file of the demo's own, checked and removed);
  3. throughput (ipc-bench throughput --quick): a one-way stream of $BIG-byte messages, shm-spin
     against a pipe, on one CPU and on two;
  4. one row as JSON (--format json), as a script would read it;
  5. the price of spinning: a long ping-pong of $BUSY_SIZE-byte messages through shm-spin on
     two CPUs while ps looks at both processes $SAMPLES times (each on a CPU of its own, always
     running: the side that waits for the answer spins) and ipcs at their segment; then the
     same through pipes (the side that waits sleeps in the kernel). Each run is ended with
     Ctrl-C, and ipc-bench reaps its child and leaves nothing behind. Skipped with one usable
     CPU.

Options:
  (none)          Headless: the commands run here as processes; their output is labelled
                  [ipc-bench], [ps] and [ipcs] and checked. Ctrl-C is SIGINT sent to both
                  processes of the run, as a terminal sends it to its foreground job.
  --tmux          Two tmux panes, the benchmark above and an observer below (the tables are
                  wide), the commands typed as a person would: ipc-bench above; below, ls and rm
                  for the chart, then, while the long runs go on, ps (ps -t: the upper
                  terminal's processes; again with Up and Enter every 0.5 s) and ipcs -m -i for
                  the segment; Ctrl-C is typed above.
$(lab_options_help)

Checks: every run exits 0 and prints the machine line, its settings, its table's title and header;
the floor has rows for clock, syscall, and pipe-self and memcpy at 64, 4096 and 65536 bytes,
latency a row for each mechanism and placement, throughput for shm-spin and pipe on each placement;
in each measured row min <= median <= p99 and min <= mean (p99.9 is "-": 300 round trips are too
few for it), and a throughput row's MB/s is its msgs/s times $BIG bytes; with one usable CPU every
cross row says "not measured: needs two CPUs". The chart is an SVG file naming every mechanism, and
is gone after rm. The JSON run prints exactly one line on stdout: an object with the expected
fields and ordered figures. In part 5 ps sees the parent and its child in every sample, on two
different CPUs, and with shm-spin both running (STAT R) every time; their segment is marked for
removal (mode 01600) and attached twice; Ctrl-C ends the run with status 130 (128 + SIGINT) and
ipc-bench's note that it cleaned up, and both processes and the segment are gone. At the end no
ipc-bench started by the demo runs (found by a tag in their environment, IPC_LAB_RUN), no segment
created by one of them is listed (/proc/sysvipc/shm), no semaphore set or System V queue appeared
during the demo (ipc-bench makes none), and the latency run's POSIX queues are gone. The figures
themselves are not checked: they are this machine's (on a busy machine the demo says so). On an
error, Ctrl-C, SIGTERM or SIGHUP the programs it started are stopped (ipc-bench reaps its child on
the way). Exit status: 0 when every check passed, 1 when one failed, 2 for a usage error.

Examples:
  scripts/demo-bench.sh                   headless, builds first if needed
  scripts/demo-bench.sh --tmux --step     watch it typed into two panes, a key before each step
  scripts/demo-bench.sh --bin-dir target/release
EOF
}

SIZE=64                            # the latency runs' message size
BIG=4096                           # the throughput runs'
LAT_MECHS=(pipe mq shm-spin shm-sem signal)
THR_MECHS=(shm-spin pipe)
PINS=(same cross)
FLOOR_SIZES=(64 4096 65536)        # ipc-bench's default sizes
BUSY_SIZE=65536                    # part 5: a ping-pong of big messages, far more round trips
BUSY_COUNT=1000000                 # than the demo waits for (Ctrl-C ends it): 8 MB of samples
SAMPLES=3                          # ps looks this many times, 0.5 s apart
PS_FORMAT=pid,ppid,psr,pcpu,stat,wchan:16,comm
STOPPED_NOTE="ipc-bench: stopped: the child process is reaped, and nothing the run made is left"
CROSS=1                            # 1 when two CPUs are usable (set in main)
SVG=""                             # the chart, in the work directory (set in main)
JSON_PIN=cross
LAB_STEPS=(
    "the floor: a clock read, a system call, a write and a read through a pipe to itself, memcpy: one process, no IPC"
    "latency: a round trip, both processes on one CPU (same) and on two (cross); then the chart of the table"
    "throughput: a one-way stream of $BIG-byte messages, shm-spin against a pipe"
    "one row as JSON (--format json) on stdout, the header on stderr: for scripts"
    "the price of spinning: a long shm-spin ping-pong on two CPUs while ps looks at both processes; then Ctrl-C"
    "the same through pipes: the side waiting for the answer sleeps in read()"
)

# The commands are the same in both modes (set in main: they depend on CROSS and SVG).
FLOOR_ARGS=() LAT_ARGS=() THR_ARGS=() JSON_ARGS=() SPIN_ARGS=() PIPE_ARGS=()

setup_commands() {
    local IFS=,
    FLOOR_ARGS=(floor --quick)
    LAT_ARGS=(latency --quick --mech "${LAT_MECHS[*]}" --size "$SIZE" --pin "${PINS[*]}" --plot "$SVG")
    THR_ARGS=(throughput --quick --mech "${THR_MECHS[*]}" --size "$BIG" --pin "${PINS[*]}")
    JSON_ARGS=(latency --quick --mech shm-spin --size "$SIZE" --pin "$JSON_PIN" --format json)
    SPIN_ARGS=(latency --mech shm-spin --size "$BUSY_SIZE" --pin cross --count "$BUSY_COUNT")
    PIPE_ARGS=(latency --mech pipe --size "$BUSY_SIZE" --pin cross --count "$BUSY_COUNT")
}

# What ipc-bench prints whatever the figures (see its Output::header and Output::begin).
MACHINE_RE='^ipc-bench: .+, [0-9]+ CPUs? usable \([0-9]+ online\), .+$'
FLOOR_SETTINGS="settings: floor 4000 operations; --quick: rough figures"
FLOOR_TITLE="floor: what no IPC can beat, one process, in ns per operation (batches of many)"
FLOOR_HEAD=$(printf '%-9s %6s %8s %8s %8s %8s' what size min median p99 mean)
LAT_SETTINGS="settings: latency 300 round trips after 30 warm-up; pin same,cross; --quick: rough figures"
LAT_TITLE="latency: one round trip (there and back), in µs; cpu: CPU time of both processes per round trip"
LAT_HEAD=$(printf '%-9s %-5s %6s %8s %8s %8s %8s %8s %8s' mech pin size min median p99 p99.9 mean cpu)
THR_SETTINGS="settings: throughput 1000 messages after 100 warm-up; pin same,cross; --quick: rough figures"
THR_TITLE="throughput: a one-way stream, each message copied out; cpu: CPU time of both processes per message, in µs"
THR_HEAD=$(printf '%-9s %-5s %6s %11s %9s %8s' mech pin size msgs/s MB/s cpu)
BUSY_SETTINGS="settings: latency $BUSY_COUNT round trips after $((BUSY_COUNT / 10)) warm-up; pin cross"

# ----------------------------------------------------------------------------------------------
# The pids of the runs, in a file (the tmux driver may run in a background subshell)

# record_pid NAME PID: PID ran (or runs) the command NAME (floor, latency, ..., spin, pipe).
record_pid() {
    echo "$1 $2" >>"$LAB_WORK/pids"
}

# pids_of [NAME]: print the pids recorded for NAME (for every command without NAME).
pids_of() {
    [[ -s $LAB_WORK/pids ]] || return 0
    awk -v n="${1:-}" 'n == "" || $1 == n { print $2 }' "$LAB_WORK/pids"
}

# ----------------------------------------------------------------------------------------------
# Checks shared by both modes (on plain text: a pane's screen, or a file without colours)

NUM_RE='^[0-9]+(\.[0-9]+)?$'
ROW=()

# row FILE KEY...: the first line of FILE whose first fields are KEY..., split into ROW; false
# when there is none.
row() {
    local file=$1 line
    shift
    ROW=()
    line=$(awk -v k="$*" '{ n = split(k, a, " ")
        for (i = 1; i <= n; i++) if ($i != a[i]) next
        print; exit }' "$file")
    [[ -n $line ]] || return 1
    read -r -a ROW <<<"$line"
}

# numbers N...: true when every N is a number.
numbers() {
    local n
    for n in "$@"; do
        [[ $n =~ $NUM_RE ]] || return 1
    done
}

# ordered N...: true when the numbers never decrease.
ordered() {
    awk 'BEGIN { for (i = 2; i < ARGC; i++) if (ARGV[i] + 0 < ARGV[i - 1] + 0) exit 1 }' "$@"
}

# ratio A B: A / B, rounded, as a student reads it (3, 12, 110).
ratio() {
    awk -v a="$1" -v b="$2" 'BEGIN { r = b > 0 ? a / b : 0; printf(r < 10 ? "%.1f" : "%.0f", r) }'
}

# check_header WHAT FILE SETTINGS TITLE HEAD: the machine line, the settings, the table's title
# and header.
check_header() {
    lab_check_match "$1" "$2" "$MACHINE_RE" "naming the machine (ipc-bench: KERNEL, N CPUs usable ...)"
    lab_check_lines "$1" "$2" "$3" "$4" "$5" || true
}

# floor_keys / latency_keys / throughput_keys: the rows each table must have, one per line.
floor_keys() {
    local s
    # the clock and the system call move no bytes: their size is -
    printf '%s\n' "clock -" "syscall -"
    for s in "${FLOOR_SIZES[@]}"; do
        printf '%s\n' "pipe-self $s" "memcpy $s"
    done
}

latency_keys() {
    local pin mech
    for pin in "${PINS[@]}"; do
        for mech in "${LAT_MECHS[@]}"; do
            if [[ $mech == signal ]]; then echo "$mech $pin -"; else echo "$mech $pin $SIZE"; fi
        done
    done
}

throughput_keys() {
    local pin mech
    for pin in "${PINS[@]}"; do
        for mech in "${THR_MECHS[@]}"; do
            echo "$mech $pin $BIG"
        done
    done
}

# check_rows WHAT FILE MODE: every row MODE's table must have (floor, latency, throughput) is in
# FILE, with its figures in order; a row may say "not measured" only for a reason this machine
# gives (one usable CPU; a pipe too small for a 65536-byte message).
check_rows() {
    local what=$1 file=$2 mode=$3 key line measured=0 skipped=0 why=""
    local -a keys bad=() k n
    case $mode in
    floor) mapfile -t keys < <(floor_keys) ;;
    latency) mapfile -t keys < <(latency_keys) ;;
    throughput) mapfile -t keys < <(throughput_keys) ;;
    esac
    for key in "${keys[@]}"; do
        read -r -a k <<<"$key"
        if ! row "$file" "${k[@]}"; then
            bad+=("no row for $key")
            continue
        fi
        line="${ROW[*]}"
        if [[ $line == *" not measured: "* ]]; then
            if [[ $mode != floor && ${k[1]} == cross && $CROSS == 0 && $line == *"needs two CPUs"* ]] ||
                [[ $mode == floor && ${k[0]} == pipe-self && $line == *"cannot write"* ]]; then
                skipped=$((skipped + 1)) why=${line#*not measured: }
            else
                bad+=("$key is not measured: ${line#*not measured: }")
            fi
            continue
        fi
        case $mode in
        floor)
            n=("${ROW[@]:2:4}") # min median p99 mean
            if ! { numbers "${n[@]}" && ordered "${n[0]}" "${n[1]}" "${n[2]}" && ordered "${n[0]}" "${n[3]}"; }; then
                bad+=("$key: not min <= median <= p99 and min <= mean: ${n[*]}")
            fi
            ;;
        latency)
            # min median p99 p99.9 mean cpu: 300 round trips give no p99.9 (it takes 1000), "-"
            n=("${ROW[@]:3:6}")
            if ! { [[ ${n[3]} == - ]] && numbers "${n[@]:0:3}" "${n[@]:4:2}" &&
                ordered "${n[@]:0:3}" && ordered "${n[0]}" "${n[4]}"; }; then
                bad+=("$key: not min <= median <= p99, p99.9 -, and min <= mean: ${n[*]}")
            fi
            ;;
        throughput)
            n=("${ROW[@]:3:3}") # msgs/s MB/s cpu
            if ! { numbers "${n[@]}" && awk -v m="${n[0]}" -v mb="${n[1]}" -v s="$BIG" \
                'BEGIN { d = mb - m * s / 1e6; exit !(m > 0 && d <= 1 && d >= -1) }'; }; then
                bad+=("$key: msgs/s ${n[0]} and MB/s ${n[1]} do not agree (x $BIG bytes)")
            fi
            ;;
        esac
        measured=$((measured + 1))
    done
    if ((${#bad[@]} > 0)); then
        lab_fail "$what: $(printf '%s; ' "${bad[@]}" | sed 's/; $//')"
        return 0
    fi
    case $mode in
    floor) line="each with min <= median <= p99 and min <= mean" ;;
    latency) line="each with min <= median <= p99 and min <= mean (p99.9 -: too few round trips)" ;;
    throughput) line="each with MB/s = msgs/s x $BIG bytes" ;;
    esac
    if ((skipped > 0)); then
        line+="; $skipped not measured, as expected here ($why)"
    fi
    lab_pass "$what has its ${#keys[@]} rows, $measured measured, $line"
}

# median FILE MECH PIN: print the median of a measured latency row (nothing if there is none).
median() {
    row "$1" "$2" "$3" || return 0
    [[ ${ROW[3]} != not ]] || return 0
    echo "${ROW[4]}"
}

# floor_median FILE WHAT SIZE: print the median of a floor row, ? if there is none.
floor_median() {
    if row "$1" "$2" "$3" && [[ ${ROW[2]} != not ]]; then
        echo "${ROW[3]}"
    else
        echo "?"
    fi
}

# observe_floor FILE: what to look at in the floor's figures.
observe_floor() {
    local file=$1 clock sys pipe copy
    clock=$(floor_median "$file" clock -)
    sys=$(floor_median "$file" syscall -)
    pipe=$(floor_median "$file" pipe-self "$SIZE")
    copy=$(floor_median "$file" memcpy "$SIZE")
    lab_say "Look at the medians: a clock read ${clock} ns (the vDSO: no system call), a system call" \
        "${sys} ns, a ${SIZE}-byte write and read through a pipe in one process ${pipe} ns, a ${SIZE}-byte" \
        "copy ${copy} ns. Every message passed through the kernel pays system calls and two copies:" \
        "a pipe round trip (a write and a read each way) cannot cost less than twice ${pipe} ns."
}

# observe_latency FILE: what to look at in the latency table; on a busy machine, says so.
observe_latency() {
    local file=$1 mech m spin others="" lo="" hi="" same=""
    for mech in "${LAT_MECHS[@]}"; do
        m=$(median "$file" "$mech" same)
        [[ -z $m ]] || same+="${same:+, }$mech $m"
    done
    lab_say "Medians on one CPU (same): $same µs." \
        "The two processes take turns: every round trip is two switches from one process to the" \
        "other. shm-spin is no faster there: its waiting side spins until it gives the CPU away" \
        "(sched_yield), while the others sleep in the kernel at once."
    ((CROSS)) || {
        lab_say "Only one CPU is usable here, so nothing ran on two: the cross rows say \"not measured\"."
        return 0
    }
    spin=$(median "$file" shm-spin cross)
    for mech in "${LAT_MECHS[@]}"; do
        [[ $mech != shm-spin ]] || continue
        m=$(median "$file" "$mech" cross)
        [[ -n $m ]] || continue
        others+="${others:+, }$mech $m"
        if [[ -z $lo ]] || ordered "$m" "$lo"; then lo=$m; fi
        if [[ -z $hi ]] || ordered "$hi" "$m"; then hi=$m; fi
    done
    [[ -n $spin && -n $lo ]] || return 0
    lab_say "On two CPUs (cross): $others µs, and shm-spin $spin µs."
    if ordered "$hi" "$(awk -v lo="$lo" 'BEGIN { print 2 * lo }')"; then
        lab_say "Cross-CPU round trips cost about the same for every system-call mechanism ($lo to $hi µs," \
            "a factor of $(ratio "$hi" "$lo")): waking the other CPU is the cost, not the mechanism."
    else
        lab_say "Cross-CPU round trips usually cost about the same for every system-call mechanism (waking" \
            "the other CPU is the cost, not the mechanism); here they spread from $lo to $hi µs: other" \
            "programs keep these CPUs busy (the figures are rough with --quick)."
    fi
    if ordered "$spin" "$lo"; then
        lab_say "shm-spin is $(ratio "$lo" "$spin") times faster than the fastest of them: it never sleeps, so there is" \
            "no CPU to wake (notes B1: after set-up the kernel is not involved). The price: part 5."
    else
        lab_say "This time shm-spin was not the fastest on two CPUs: other programs keep these CPUs busy" \
            "(the figures are rough with --quick); run ipc-bench latency --mech shm-spin,pipe again."
    fi
}

# mb_per_s FILE MECH PIN: print the MB/s of a measured throughput row (nothing if there is none).
mb_per_s() {
    if row "$1" "$2" "$3" "$BIG" && [[ ${ROW[3]} != not ]]; then
        echo "${ROW[4]}"
    fi
}

# observe_throughput FILE: what to look at in the throughput table.
observe_throughput() {
    local file=$1 pin spin pipe
    for pin in "${PINS[@]}"; do
        spin=$(mb_per_s "$file" shm-spin "$pin")
        pipe=$(mb_per_s "$file" pipe "$pin")
        [[ -n $spin && -n $pipe ]] || continue
        if [[ $pin == same ]]; then
            lab_say "On one CPU: shm-spin $spin MB/s, the pipe $pipe MB/s. The writer and the reader take turns" \
                "on the CPU; a spinning side wastes its turn until it yields."
        else
            lab_say "On two CPUs: shm-spin $spin MB/s, the pipe $pipe MB/s ($(ratio "$spin" "$pipe") x)." \
                "Each pipe message is a write and a read: two system calls, a copy into the kernel and" \
                "one out; shm-spin copies into the segment and out of it, and no system call is made" \
                "while the stream flows."
            if ordered "$spin" "$pipe"; then
                lab_say "This time the pipe kept up: other programs keep these CPUs busy, and a spinning side" \
                    "that loses its CPU holds up the stream (the figures are rough with --quick)."
            fi
        fi
    done
}

# check_svg FILE: the chart of the latency run.
check_svg() {
    local file=$1 mech missing=()
    if [[ ! -s $file ]]; then
        lab_fail "the chart $SVG was not written (or is empty)"
        return 0
    fi
    # plotters writes each label on a line of its own, between <text ...> and </text>
    for mech in "${LAT_MECHS[@]}"; do
        tr '\n' ' ' <"$file" | grep -qE ">[[:space:]]*${mech}[[:space:]]*</text>" || missing+=("$mech")
    done
    if [[ $(head -c 4 "$file") == "<svg" ]] && grep -qF "Round-trip latency, $SIZE-byte messages" "$file" &&
        ((${#missing[@]} == 0)); then
        lab_pass "the chart is an SVG file ($(wc -c <"$file") bytes), its title and a bar for each of ${LAT_MECHS[*]}"
    else
        lab_fail "the chart is not the SVG expected (<svg, the title, the mechanisms; missing: ${missing[*]:-none})"
    fi
}

# check_json OUT HEADER: OUT, the run's stdout, must be exactly one JSON object with the expected
# fields, in order; HEADER (its stderr) must carry the settings.
check_json() {
    local out=$1 lines fig
    local re='^\{"mech":"shm-spin","mode":"latency","size":'$SIZE',"count":300,"pin":"'$JSON_PIN'",'
    re+='"min_ns":([0-9.]+),"median_ns":([0-9.]+),"p99_ns":([0-9.]+),'
    re+='"mean_ns":([0-9.]+),"cpu_ns_per_msg":[0-9.]+\}$'
    lab_check_match "the JSON run's header (stderr)" "$2" \
        "settings: latency 300 round trips after 30 warm-up; pin $JSON_PIN; --quick: rough figures\$" \
        "with the settings"
    lines=$(grep -c . "$out" || true)
    fig=$(grep -m 1 . "$out" || true)
    if [[ $lines == 1 && $fig =~ $re ]]; then
        local m=("${BASH_REMATCH[@]:1:4}")
        if ordered "${m[@]:0:3}" && ordered "${m[0]}" "${m[3]}"; then
            lab_pass "the JSON run printed one object on stdout, its fields as expected (no p999_ns from 300 round trips), min_ns <= median_ns <= p99_ns"
        else
            lab_fail "the JSON object's figures are out of order: ${m[*]}"
        fi
    else
        lab_fail "the JSON run should print one object with the expected fields; $lines line(s), the first: ${fig:-(nothing)}"
    fi
}

# check_busy WHAT FILE MECH PARENT CHILD: FILE holds what ps printed ($SAMPLES times) while the
# long MECH run went on: PARENT and its CHILD in every sample, on two CPUs; with shm-spin both
# running every time. What the pipe's sides did is told, not checked: it varies.
check_busy() {
    local what=$1 file=$2 mech=$3 parent=$4 child=$5 n both diff run asleep pc cc pp cp wchan
    read -r n both diff run asleep pc cc pp cp wchan < <(awk -v p="$parent" -v c="$child" '
        $1 == "PID" { n++; next }
        $1 == p { pcpu[n] = $3; pst[n] = $5; ppc[n] = $4; if ($5 ~ /^S/) { sl++; w = $6 } }
        $1 == c { ccpu[n] = $3; cst[n] = $5; cpc[n] = $4; if ($5 ~ /^S/) { sl++; w = $6 } }
        END {
            for (i = 1; i <= n; i++) {
                if (!(i in pcpu) || !(i in ccpu)) continue
                both++
                if (pcpu[i] != ccpu[i]) diff++
                if (pst[i] ~ /^R/ && cst[i] ~ /^R/) run++
            }
            print n + 0, both + 0, diff + 0, run + 0, sl + 0, ppc[n] "", cpc[n] "", pcpu[n] "", ccpu[n] "", (w == "" ? "-" : w)
        }' "$file")
    if ((n == SAMPLES && both == n)); then
        lab_pass "$what: ps saw the parent (PID $parent) and its child (PID $child) in all $n samples"
    else
        lab_fail "$what: $n of $SAMPLES samples, $both with both the parent (PID $parent) and its child (PID $child)"
        return 0
    fi
    if ((diff == both)); then
        lab_pass "$what: each on a CPU of its own every time (PSR): the parent on CPU $pp, the child on CPU $cp"
    else
        lab_fail "$what: the two shared a CPU in $((both - diff)) of $both samples (--pin cross should keep them apart)"
    fi
    if [[ $mech == shm-spin ]]; then
        if ((run == both)); then
            lab_pass "$what: both running (STAT R) in every sample, neither ever sleeps; %CPU $pc and $cc"
            lab_say "The side waiting for the answer spins instead of sleeping: two CPUs busy for one" \
                "conversation, messages or not (%CPU near 100 each when nothing else wants the CPUs)."
        else
            lab_fail "$what: both should be running (STAT R) in every sample, only $run of $both were"
        fi
    else
        lab_say "Through pipes the sides were seen asleep (STAT S) $asleep time(s) in $both samples (in the" \
            "kernel at $wchan), and %CPU is $pc and $cc: a side waiting for the answer sleeps," \
            "and its CPU is free for others meanwhile."
    fi
}

# check_segment WHAT LINE PARENT: LINE is the segment's line of /proc/sysvipc/shm while the run
# went on: created by PARENT, marked for removal at once (mode 01600: SHM_DEST and 0600), attached
# by both processes.
check_segment() {
    local what=$1 key id perms size cpid nattch
    if [[ -z $2 ]]; then
        lab_fail "$what: no segment created by the parent (PID $3) was listed while it ran"
        return 0
    fi
    read -r key id perms size cpid _ nattch _ <<<"$2"
    if [[ $cpid == "$3" && $perms == 1600 && $nattch == 2 ]]; then
        lab_pass "$what: segment $id ($size bytes) made by the parent, mode 01600 (marked for removal), attached twice"
    else
        lab_fail "$what: segment $id: creator $cpid (expected $3), mode $perms (expected 1600), nattch $nattch (expected 2)"
    fi
}

# check_stopped WHAT FILE RC: the run, ended by Ctrl-C: status 130 and ipc-bench's note.
check_stopped() {
    lab_check_status "$1 (Ctrl-C)" "$3" 130 || true
    lab_check_match "$1" "$2" "$(printf '%s' "$STOPPED_NOTE" | sed 's/[][\.*^$+?(){}|/]/\\&/g')\$" \
        "\"$STOPPED_NOTE\""
}

# check_left: nothing of the demo's runs is left (both modes, at the end).
check_left() {
    local pid n
    local -a pids names=()
    mapfile -t pids < <(pids_of)
    lab_check_tagged_gone ipc-bench || true
    lab_check_segments_of_gone "this demo's ipc-bench runs" "${pids[@]}" || true
    lab_check_sysv_new_gone sem msg || true
    for pid in $(pids_of latency); do
        # ipc-bench names its queues /ipc-bench-PID-N-down and -up, N counting from 0; each mq row
        # opens two
        for ((n = 0; n < 2 * ${#PINS[@]}; n++)); do
            names+=("/ipc-bench-$pid-$n-down" "/ipc-bench-$pid-$n-up")
        done
    done
    if ((${#names[@]} > 0)); then
        lab_check_queues_gone "the latency run's POSIX queues (/ipc-bench-PID-N-down, -up)" "${names[@]}" || true
    else
        lab_fail "the latency run's pid was not seen: its POSIX queues could not be looked for"
    fi
}

say_left() {
    lab_say "ipc-bench marks its segment for removal as soon as it is attached and unlinks its queues" \
        "as soon as both are open: the kernel frees them with the last detach and the last close," \
        "however the processes end. shm-sem's semaphores are POSIX ones inside the segment" \
        "(sem_init, pshared): they go with it, and no System V semaphore set is ever made."
}

# ----------------------------------------------------------------------------------------------
# Headless

# bench NAME OUT ARGS...: run ipc-bench ARGS to its end, its output shown labelled as it comes
# (stdout and stderr in one file); its status in LAB_RC.
bench() {
    local name=$1 out=$2
    shift 2
    lab_step
    lab_cmd "ipc-bench $*"
    lab_spawn "$out" /dev/null "$LAB_BIN/ipc-bench" "$@"
    record_pid "$name" "$LAB_PID"
    lab_follow ipc-bench "$out" "$LAB_PID" 120 "ipc-bench $name" || true
    lab_plain <"$out" >"$out.plain"
}

# wait_pinned PARENT CHILD SECS: wait up to SECS for the child to have placed itself on a CPU of
# its own (--pin cross: sched_setaffinity in each process, the child's just after the fork), so
# that ps's PSR, the CPU each ran on last, shows the placement. False when the time runs out.
wait_pinned() {
    local tries=$(($3 * 20)) p c
    while :; do
        p=$(sed -n 's/^Cpus_allowed_list:[[:space:]]*//p' "/proc/$1/status" 2>/dev/null) || p=""
        c=$(sed -n 's/^Cpus_allowed_list:[[:space:]]*//p' "/proc/$2/status" 2>/dev/null) || c=""
        [[ $p =~ ^[0-9]+$ && $c =~ ^[0-9]+$ && $p != "$c" ]] && return 0
        ((tries-- > 0)) || return 1
        sleep 0.05
    done
}

# busy NAME MECH ARGS...: part 5 for one mechanism: the long run, ps $SAMPLES times, ipcs for a
# segment, then Ctrl-C; then the checks.
busy() {
    local name=$1 mech=$2 out=$LAB_WORK/$1.out err=$LAB_WORK/$1.err ps=$LAB_WORK/$1.ps
    local parent child i id="" seg="" rc
    shift 2
    lab_step
    lab_cmd "ipc-bench $* &"
    lab_spawn_split "$out" "$err" /dev/null "$LAB_BIN/ipc-bench" "$@"
    parent=$LAB_PID
    record_pid "$name" "$parent"
    if ! lab_wait_child "$parent" ipc-bench 10; then
        lab_show_new ipc-bench "$out" --all
        lab_show ipc-bench "$err"
        lab_fail "ipc-bench $* started no child process"
        lab_stop "$parent"
        return 0
    fi
    child=$LAB_CHILD
    wait_pinned "$parent" "$child" 10 || lab_warn "the two processes did not get a CPU each within 10 s"
    lab_show_new ipc-bench "$out"
    : >"$ps"
    # ps's %CPU is the CPU time since the start over the time since the start: rough at first
    sleep 0.5
    for ((i = 1; i <= SAMPLES; i++)); do
        sleep 0.5
        lab_cmd "ps -o $PS_FORMAT -p $parent,$child"
        ps -o "$PS_FORMAT" -p "$parent,$child" >"$ps.$i" 2>&1 || true
        lab_show ps "$ps.$i"
        cat "$ps.$i" >>"$ps"
    done
    if [[ $mech == shm-spin ]]; then
        lab_segments_of "$parent"
        id=${LAB_FOUND[0]:-}
        if [[ -n $id ]]; then
            lab_track_segment "$id" "$parent"
            seg=$(awk -v id="$id" 'NR > 1 && $2 == id' /proc/sysvipc/shm)
            if command -v ipcs >/dev/null; then
                lab_cmd "ipcs -m -i $id"
                ipcs -m -i "$id" 2>&1 | grep . | lab_label ipcs || true
            fi
        fi
    fi
    lab_cmd "kill -INT $parent $child        # Ctrl-C: SIGINT to the foreground job, both processes"
    kill -INT "$parent" "$child" 2>/dev/null || true
    lab_wait_exit "$parent" 10 "ipc-bench $name" || true
    rc=$LAB_RC
    lab_show_new ipc-bench "$out" --all
    lab_show ipc-bench "$err"
    echo
    lab_plain <"$out" >"$out.plain"
    lab_plain <"$err" >>"$out.plain"
    check_header "ipc-bench ($name)" "$out.plain" "$BUSY_SETTINGS" "$LAT_TITLE" "$LAT_HEAD"
    check_busy "ps during the $mech run" "$ps" "$mech" "$parent" "$child"
    [[ $mech != shm-spin ]] || check_segment "the $mech run" "$seg" "$parent"
    check_stopped "ipc-bench ($name)" "$out.plain" "$rc"
    lab_check_process_gone "$child" "the benchmark's child" || true
    [[ -z $id ]] || lab_check_segment_gone "$id" || true
}

headless() {
    local out err rc
    lab_heading "The floor (notes B1, B2): what no IPC can beat"
    lab_say "One process, no IPC: a clock read, the cheapest system call (getppid), a write and a read" \
        "through a pipe to itself, and memcpy; each timed in batches, in ns per operation."
    out=$LAB_WORK/floor.out
    bench floor "$out" "${FLOOR_ARGS[@]}"
    rc=$LAB_RC
    echo
    check_header "ipc-bench floor" "$out.plain" "$FLOOR_SETTINGS" "$FLOOR_TITLE" "$FLOOR_HEAD"
    check_rows "the floor" "$out.plain" floor
    lab_check_status "ipc-bench floor" "$rc" || true
    observe_floor "$out.plain"

    lab_heading "Latency: a round trip, with both processes on one CPU and on two"
    lab_say "A parent and its forked child pass a $SIZE-byte message there and back, 300 times, each" \
        "timed: through two pipes, two POSIX queues, a segment with spinning (shm-spin) or with" \
        "semaphores (shm-sem), and as a bare signal (SIGUSR1, no data). --plot draws the chart."
    out=$LAB_WORK/latency.out
    bench latency "$out" "${LAT_ARGS[@]}"
    rc=$LAB_RC
    echo
    check_header "ipc-bench latency" "$out.plain" "$LAT_SETTINGS" "$LAT_TITLE" "$LAT_HEAD"
    check_rows "the latency table" "$out.plain" latency
    lab_check_status "ipc-bench latency" "$rc" || true
    lab_check_match "ipc-bench latency" "$out.plain" "^ipc-bench: latency chart written to $SVG\$" \
        "saying where the chart went"
    check_svg "$SVG"
    lab_cmd "rm $SVG        # open it in a browser first, if you like"
    rm -f "$SVG"
    lab_check_path_gone "$SVG" "the chart" || true
    observe_latency "$out.plain"

    lab_heading "Throughput: a one-way stream of $BIG-byte messages"
    lab_say "The parent sends 1000 messages (after 100 to warm up), the child copies each out and" \
        "acknowledges the last: shared memory with spinning against a pipe."
    out=$LAB_WORK/throughput.out
    bench throughput "$out" "${THR_ARGS[@]}"
    rc=$LAB_RC
    echo
    check_header "ipc-bench throughput" "$out.plain" "$THR_SETTINGS" "$THR_TITLE" "$THR_HEAD"
    check_rows "the throughput table" "$out.plain" throughput
    lab_check_status "ipc-bench throughput" "$rc" || true
    observe_throughput "$out.plain"

    lab_heading "One row as JSON, for scripts (--format json)"
    lab_say "One JSON object per line on stdout, times in ns; the header goes to stderr, so that a" \
        "script can read stdout as it is (ipc-bench ... --format json | jq .median_ns)."
    out=$LAB_WORK/json.out err=$LAB_WORK/json.err
    lab_step
    lab_cmd "ipc-bench ${JSON_ARGS[*]}"
    lab_spawn_split "$out" "$err" /dev/null "$LAB_BIN/ipc-bench" "${JSON_ARGS[@]}"
    record_pid json "$LAB_PID"
    lab_wait_exit "$LAB_PID" 60 "ipc-bench json" || true
    rc=$LAB_RC
    lab_show ipc-bench "$err"
    lab_show ipc-bench "$out"
    echo
    lab_plain <"$err" >"$err.plain"
    check_json "$out" "$err.plain"
    lab_check_status "ipc-bench --format json" "$rc" || true

    lab_heading "The price of spinning: two CPUs kept busy"
    if ((CROSS == 0)); then
        lab_say "Skipped: this process may use only one CPU, and the point is two of them."
        lab_step_skip 2
    else
        lab_say "A ping-pong of $BUSY_SIZE-byte messages through shm-spin, on two CPUs, far longer than the" \
            "demo waits: ps looks at both processes every 0.5 s. PSR is the CPU each ran on last, STAT" \
            "R running (S asleep), %CPU its CPU time since it started, WCHAN where it sleeps."
        busy spin shm-spin "${SPIN_ARGS[@]}"
        echo
        lab_say "The same ping-pong through two pipes: the side that waits for the answer sleeps in read()."
        busy pipe pipe "${PIPE_ARGS[@]}"
    fi

    lab_heading "Nothing left behind"
    say_left
    check_left
}

# ----------------------------------------------------------------------------------------------
# tmux

BENCH=bench      # the panes' titles and prompts: the benchmark above, the observer below
WATCH=watch
PS_CMD=""        # with --tmux: ps for the upper pane's processes (set in with_tmux)

# bench_lines SCREEN: the upper pane's SCREEN with its command lines apart from their output.
bench_lines() {
    lab_screen_unjoin "$1" "$BENCH\$" "ipc-bench ${FLOOR_ARGS[*]}" "ipc-bench ${LAT_ARGS[*]}" \
        "ipc-bench ${THR_ARGS[*]}" "ipc-bench ${JSON_ARGS[*]}" "ipc-bench ${SPIN_ARGS[*]}" \
        "ipc-bench ${PIPE_ARGS[*]}"
}

watch_lines() {
    lab_screen_unjoin "$1" "$WATCH\$" "ls -l $SVG" "rm $SVG" "$PS_CMD" \
        "ipcs -m -i $(cat "$LAB_WORK/tmux.spin.id" 2>/dev/null || true)"
}

# tmux_bench NAME ARGS...: type ipc-bench ARGS in the upper pane and wait for it to finish; its
# status is kept (lab_tmux_save_rc NAME) and its pid recorded.
# shellcheck disable=SC2317
tmux_bench() {
    local name=$1 pid
    shift
    lab_step "$LAB_TMUX_LEFT"
    lab_tmux_run_watch "$LAB_TMUX_LEFT" "ipc-bench $*" 120 || return 1
    lab_tmux_save_rc "$name"
    for pid in "${LAB_FOUND[@]}"; do
        record_pid "$name" "$pid"
    done
}

# tmux_busy NAME MECH ARGS...: part 5 for one mechanism: the long run above; below, ps $SAMPLES
# times (typed once, then Up and Enter every 0.5 s) and, for a segment, ipcs -m -i; then Ctrl-C
# above. The pids, the segment's id and line of /proc/sysvipc/shm and the statuses are kept in
# files.
# shellcheck disable=SC2317
tmux_busy() {
    local name=$1 mech=$2 bench=$LAB_TMUX_LEFT watch=$LAB_TMUX_RIGHT shell parent child id i
    shift 2
    shell=$(lab_tmux display-message -p -t "$bench" '#{pane_pid}') || return 1
    lab_step "$bench"
    lab_tmux_prepare "$watch" "$PS_CMD"
    lab_tmux_run "$bench" "ipc-bench $*"
    lab_wait_child "$shell" ipc-bench 10 || {
        lab_error "no ipc-bench started in the upper pane"
        return 1
    }
    parent=$LAB_CHILD
    record_pid "$name" "$parent"
    echo "$parent" >"$LAB_WORK/tmux.$name.parent"
    lab_wait_child "$parent" ipc-bench 10 || {
        lab_error "ipc-bench $* started no child process"
        return 1
    }
    child=$LAB_CHILD
    echo "$child" >"$LAB_WORK/tmux.$name.child"
    wait_pinned "$parent" "$child" 10 || lab_warn "the two processes did not get a CPU each within 10 s"
    # ps's %CPU is the CPU time since the start over the time since the start: rough at first
    sleep 1
    for ((i = 1; i <= SAMPLES; i++)); do
        if ((i > 1)); then
            sleep 0.5
            lab_tmux_mark "$watch"
            lab_tmux_key "$watch" Up
        fi
        lab_tmux_enter "$watch"
        lab_tmux_wait_done "$watch" 10 || return 1
        echo "$LAB_RC" >>"$LAB_WORK/tmux.$name.ps-rcs"
    done
    if [[ $mech == shm-spin ]]; then
        lab_segments_of "$parent"
        id=${LAB_FOUND[0]:-}
        if [[ -n $id ]]; then
            lab_track_segment "$id" "$parent"
            echo "$id" >"$LAB_WORK/tmux.$name.id"
            awk -v id="$id" 'NR > 1 && $2 == id' /proc/sysvipc/shm >"$LAB_WORK/tmux.$name.segment"
            if command -v ipcs >/dev/null; then
                lab_tmux_run "$watch" "ipcs -m -i $id"
                lab_tmux_wait_done "$watch" 10 || return 1
                lab_tmux_save_rc "$name-ipcs"
            fi
        fi
    fi
    lab_look
    # at the shell's prompt Ctrl-C would only give a new prompt, but the run should still go on
    lab_tmux_running "$bench" || {
        lab_error "ipc-bench $* ended before Ctrl-C"
        return 1
    }
    lab_tmux_key "$bench" C-c
    lab_tmux_wait_done "$bench" 10 || return 1
    lab_tmux_save_rc "$name"
}

# Types the five parts into the panes; keeps statuses, pids and ids in files, since it may run in
# a background subshell. Called through lab_tmux_play.
# shellcheck disable=SC2317
tmux_driver() {
    local bench=$LAB_TMUX_LEFT watch=$LAB_TMUX_RIGHT
    tmux_bench floor "${FLOOR_ARGS[@]}" || return 1
    tmux_bench latency "${LAT_ARGS[@]}" || return 1
    lab_look
    lab_tmux_run "$watch" "ls -l $SVG"
    lab_tmux_wait_done "$watch" 10 || return 1
    lab_tmux_save_rc ls
    # a copy for the checks, before it goes
    cp "$SVG" "$LAB_WORK/chart.svg" 2>/dev/null || true
    lab_look
    lab_tmux_run "$watch" "rm $SVG"
    lab_tmux_wait_done "$watch" 10 || return 1
    lab_tmux_save_rc rm
    tmux_bench throughput "${THR_ARGS[@]}" || return 1
    tmux_bench json "${JSON_ARGS[@]}" || return 1
    if ((CROSS)); then
        tmux_busy spin shm-spin "${SPIN_ARGS[@]}" || return 1
        tmux_busy pipe pipe "${PIPE_ARGS[@]}" || return 1
    else
        lab_step_skip 2
    fi
    # the screens now, in case the panes are closed before the session ends
    lab_tmux_capture "$bench" "$LAB_WORK/bench.screen" || true
    lab_tmux_capture "$watch" "$LAB_WORK/watch.screen" || true
}

# output_of NAME LINES ARGS...: the upper pane's output of ipc-bench ARGS, in the file
# NAME.screen.out of the work directory, whose name is printed.
output_of() {
    local file=$LAB_WORK/$1.screen.out lines=$2
    shift 2
    lab_screen_output "$lines" "$BENCH\$" "ipc-bench $*" >"$file"
    echo "$file"
}

with_tmux() {
    local screen_b=$LAB_WORK/bench.screen screen_w=$LAB_WORK/watch.screen tty
    local blines=$LAB_WORK/bench.lines wlines=$LAB_WORK/watch.lines file name mech parent child
    local i first=0 rcs
    lab_heading "The benchmark (notes B1, B2) in tmux: ipc-bench above, an observer below"
    # one above the other: the tables are wider than half a window
    lab_tmux_start bench "$BENCH" "$WATCH" vertical
    # ps -t: only the processes of the upper pane's terminal (its shell and what runs there)
    tty=$(lab_tmux display-message -p -t "$LAB_TMUX_LEFT" '#{pane_tty}') ||
        lab_die "tmux did not tell the upper pane's terminal"
    PS_CMD="ps -o $PS_FORMAT -t ${tty#/dev/}"
    lab_tmux_play tmux_driver
    local driver_rc=$LAB_RC

    # a run still going gets SIGHUP from its shell here: ipc-bench then stops and reaps its child
    lab_tmux_end "$screen_b" "$screen_w" "The benchmark's pane (above)" "The observer's pane (below)"

    echo
    if lab_tmux_left_early "$driver_rc"; then
        check_left
        return 0
    fi
    if ((driver_rc != 0)); then
        lab_fail "the tmux demo did not run to its end"
    fi
    bench_lines "$screen_b" >"$blines"
    watch_lines "$screen_w" >"$wlines"

    file=$(output_of floor "$blines" "${FLOOR_ARGS[@]}")
    check_header "ipc-bench floor's output" "$file" "$FLOOR_SETTINGS" "$FLOOR_TITLE" "$FLOOR_HEAD"
    check_rows "the floor" "$file" floor
    lab_check_status "ipc-bench floor" "$(lab_tmux_rc floor)" || true
    observe_floor "$file"

    file=$(output_of latency "$blines" "${LAT_ARGS[@]}")
    check_header "ipc-bench latency's output" "$file" "$LAT_SETTINGS" "$LAT_TITLE" "$LAT_HEAD"
    check_rows "the latency table" "$file" latency
    lab_check_status "ipc-bench latency" "$(lab_tmux_rc latency)" || true
    check_svg "$LAB_WORK/chart.svg"
    lab_check_status "ls -l (the chart)" "$(lab_tmux_rc ls)" || true
    lab_check_status "rm (the chart)" "$(lab_tmux_rc rm)" || true
    lab_check_path_gone "$SVG" "the chart" || true
    observe_latency "$file"

    file=$(output_of throughput "$blines" "${THR_ARGS[@]}")
    check_header "ipc-bench throughput's output" "$file" "$THR_SETTINGS" "$THR_TITLE" "$THR_HEAD"
    check_rows "the throughput table" "$file" throughput
    lab_check_status "ipc-bench throughput" "$(lab_tmux_rc throughput)" || true
    observe_throughput "$file"

    # stdout and stderr share the pane: the object is the line that starts with {
    file=$(output_of json "$blines" "${JSON_ARGS[@]}")
    grep '^{' "$file" >"$file.json" || true
    check_json "$file.json" "$file"
    lab_check_status "ipc-bench --format json" "$(lab_tmux_rc json)" || true

    if ((CROSS)); then
        for name in spin pipe; do
            mech=shm-spin
            [[ $name == spin ]] || mech=pipe
            parent=$(cat "$LAB_WORK/tmux.$name.parent" 2>/dev/null || true)
            child=$(cat "$LAB_WORK/tmux.$name.child" 2>/dev/null || true)
            if [[ -z $parent || -z $child ]]; then
                lab_fail "the long $mech run's processes were not seen"
                continue
            fi
            if [[ $name == spin ]]; then
                file=$(output_of spin "$blines" "${SPIN_ARGS[@]}")
            else
                file=$(output_of pipe "$blines" "${PIPE_ARGS[@]}")
            fi
            check_header "ipc-bench ($name)" "$file" "$BUSY_SETTINGS" "$LAT_TITLE" "$LAT_HEAD"
            # ps ran SAMPLES times for the shm-spin run, then as often for the pipe's
            : >"$LAB_WORK/$name.ps"
            for ((i = 1; i <= SAMPLES; i++)); do
                lab_screen_output "$wlines" "$WATCH\$" "$PS_CMD" "$((i + first))" >>"$LAB_WORK/$name.ps"
            done
            first=$((first + SAMPLES))
            rcs=$(paste -sd ' ' "$LAB_WORK/tmux.$name.ps-rcs" 2>/dev/null || true)
            if [[ $rcs == "$(printf '0 %.0s' $(seq "$SAMPLES") | sed 's/ $//')" ]]; then
                lab_pass "ps ran $SAMPLES times, each exited with status 0"
            else
                lab_fail "ps should have run $SAMPLES times, each with status 0; statuses: ${rcs:-none}"
            fi
            check_busy "ps during the $mech run" "$LAB_WORK/$name.ps" "$mech" "$parent" "$child"
            if [[ $name == spin ]]; then
                check_segment "the $mech run" "$(cat "$LAB_WORK/tmux.spin.segment" 2>/dev/null || true)" "$parent"
                if [[ -s $LAB_WORK/tmux.spin.id ]] && command -v ipcs >/dev/null; then
                    lab_check_status "ipcs -m -i" "$(lab_tmux_rc spin-ipcs)" || true
                fi
            fi
            check_stopped "ipc-bench ($name)" "$file" "$(lab_tmux_rc "$name")"
            lab_check_process_gone "$child" "the benchmark's child" || true
            [[ ! -s $LAB_WORK/tmux.$name.id ]] || lab_check_segment_gone "$(<"$LAB_WORK/tmux.$name.id")" || true
        done
    else
        lab_say "Part 5 was skipped: this process may use only one CPU."
    fi

    echo
    say_left
    check_left
}

# usable_cpus: how many CPUs this process may run on (its affinity, as ipc-bench counts them).
usable_cpus() {
    sed -n 's/^Cpus_allowed_list:[[:space:]]*//p' /proc/self/status | tr ',' '\n' |
        awk -F- '$0 != "" { n += NF == 2 ? $2 - $1 + 1 : 1 } END { print n + 0 }'
}

# ----------------------------------------------------------------------------------------------

main() {
    lab_demo_start ipc-bench mq-recv -- "$@"
    # every process started from here on carries the tag; the System V tables as they are now
    lab_tag_run
    lab_sysv_snapshot
    if (($(usable_cpus) < 2)); then
        CROSS=0 JSON_PIN=same
    fi
    # a path of this run's own: the work directory goes on exit, with the chart if it is left
    SVG=$LAB_WORK/latency.svg
    setup_commands
    if ((LAB_DEMO_TMUX)); then
        with_tmux
    else
        headless
    fi
    lab_finish
}

main "$@"
