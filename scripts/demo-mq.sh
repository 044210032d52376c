#!/usr/bin/env bash
# The message-queue demo (lecture notes B2): one receiver, two senders with different priorities.
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
    cat <<EOF
Usage: $LAB_SCRIPT [--tmux [--detached]] [--pace SECS] [--step] [--bin-dir DIR]

The message-passing demo (lecture notes B2): mq-recv creates a mailbox (a POSIX message queue
named /ipc-lab-demo-PID, this run's own) and holds: it receives nothing until Enter, so messages
pile up in the kernel. A sender at priority 1 sends low-1 low-2 low-3, then a sender at priority 5
sends high-1 high-2. After Enter the receiver takes all five: the highest priority first, and
within one priority the oldest first. It then removes the queue (--unlink).

Options:
  (none)          Headless: the receiver and the senders run here as processes; their output is
                  labelled [recv], [send p1] and [send p5] and checked. The senders narrate their
                  calls (--explain); Enter is written to the receiver's input.
  --tmux          Two tmux panes, receiver left, senders right, the commands typed as a person
                  would, then Enter pressed in the receiver's pane.
$(lab_options_help)

Checks: the receiver found 5 messages waiting and printed exactly these lines, in this order
  priority 5, 6 bytes: high-1
  priority 5, 6 bytes: high-2
  priority 1, 5 bytes: low-1
  priority 1, 5 bytes: low-2
  priority 1, 5 bytes: low-3
all three programs exit 0, and the queue is gone afterwards (mq-recv --attr finds no such queue).
On an error, Ctrl-C, SIGTERM or SIGHUP the programs it started are stopped and the queue removed.
Exit status: 0 when every check passed, 1 when one failed, 2 for a usage error.

Examples:
  scripts/demo-mq.sh                      headless, builds first if needed
  scripts/demo-mq.sh --tmux --step        watch it typed into two panes, a key before each step
  scripts/demo-mq.sh --bin-dir target/release
EOF
}

LOW_PRIO=1
LOW=(low-1 low-2 low-3)
HIGH_PRIO=5
HIGH=(high-1 high-2)
COUNT=$((${#LOW[@]} + ${#HIGH[@]}))

QUEUE=""         # this run's queue (lab_queue_name, in main)
RECV_ARGS=()     # the three commands, set in main once the queue is named
LOW_ARGS=()
HIGH_ARGS=()
EXPECTED=()      # the receiver's whole stdout: highest priority first, FIFO within one
WAITING="mq-recv: receiving: $COUNT waiting"
LAB_STEPS=(
    "the receiver creates the mailbox and holds it: it receives nothing until Enter, so what is sent meanwhile waits in the kernel"
    "a sender at priority $LOW_PRIO sends ${LOW[*]} (--explain shows each mq_send call)"
    "a sender at priority $HIGH_PRIO sends ${HIGH[*]}"
    "Enter in the receiver's terminal: it takes priority $HIGH_PRIO first, then priority $LOW_PRIO, and within one priority the oldest first (FIFO)"
)

# verbose_line PRIO BODY: the line mq-recv --verbose prints for a message (the bodies are ASCII).
verbose_line() {
    local n=${#2} unit=bytes
    ((n != 1)) || unit=byte
    printf 'priority %s, %d %s: %s' "$1" "$n" "$unit" "$2"
}

setup_commands() {
    local m
    RECV_ARGS=(--verbose --hold --unlink --count "$COUNT" "$QUEUE")
    LOW_ARGS=(--explain -p "$LOW_PRIO" "$QUEUE" "${LOW[@]}")
    HIGH_ARGS=(--explain -p "$HIGH_PRIO" "$QUEUE" "${HIGH[@]}")
    EXPECTED=()
    for m in "${HIGH[@]}"; do EXPECTED+=("$(verbose_line "$HIGH_PRIO" "$m")"); done
    for m in "${LOW[@]}"; do EXPECTED+=("$(verbose_line "$LOW_PRIO" "$m")"); done
}

# ----------------------------------------------------------------------------------------------
# Headless

# send LABEL ARGS...: one sender, run to its end; its output shown labelled; its status in LAB_RC.
send() {
    local label=$1 out
    shift
    out=$LAB_WORK/${label// /-}.out
    lab_cmd "mq-send $*"
    lab_spawn "$out" /dev/null "$LAB_BIN/mq-send" "$@"
    lab_wait_exit "$LAB_PID" 10 "mq-send ($label)" || true
    lab_show "$label" "$out"
}

headless() {
    local rout=$LAB_WORK/recv.out rerr=$LAB_WORK/recv.err rpid rrc lrc hrc
    lab_heading "Message queues (notes B2): a receiver, and two senders with different priorities"
    lab_say "mq-recv creates the mailbox $QUEUE, then holds: it receives nothing until Enter, so" \
        "what is sent meanwhile waits in the kernel. -v shows each message's priority and size."
    lab_step
    lab_cmd "mq-recv ${RECV_ARGS[*]} &"
    lab_spawn_fed "$rout" "$rerr" "$LAB_BIN/mq-recv" "${RECV_ARGS[@]}"
    rpid=$LAB_PID
    if ! lab_wait_line "$rerr" 'holding: press Enter' 10 "$rpid"; then
        lab_show_new recv "$rerr" --all
        lab_show recv "$rout"
        lab_fail "mq-recv did not get to hold its mailbox $QUEUE"
        return 0
    fi
    lab_show_new recv "$rerr"

    echo
    lab_step
    send "send p$LOW_PRIO" "${LOW_ARGS[@]}"
    lrc=$LAB_RC
    lab_step
    send "send p$HIGH_PRIO" "${HIGH_ARGS[@]}"
    hrc=$LAB_RC

    echo
    lab_say "Sent in this order: ${LOW[*]} ${HIGH[*]}."
    lab_step
    lab_feed "" || true
    lab_feed_close
    lab_wait_exit "$rpid" 10 mq-recv || true
    rrc=$LAB_RC
    lab_show_new recv "$rerr" --all
    lab_show recv "$rout"

    echo
    lab_plain <"$rerr" >"$rerr.plain"
    lab_check_lines "mq-recv's stderr (all $COUNT waiting at Enter)" "$rerr.plain" "$WAITING" || true
    lab_check_output "mq-recv's stdout" "$rout" "${EXPECTED[@]}" || true
    lab_check_status "mq-send -p $LOW_PRIO" "$lrc" || true
    lab_check_status "mq-send -p $HIGH_PRIO" "$hrc" || true
    lab_check_status mq-recv "$rrc" || true
    lab_check_queue_gone "$QUEUE" || true
}

# ----------------------------------------------------------------------------------------------
# tmux

# Types the commands into the panes, and Enter into the receiver's once both senders are done;
# writes the exit statuses to files, since it may run in a background subshell. Called through
# lab_tmux_play.
# shellcheck disable=SC2317
tmux_driver() {
    local left=$LAB_TMUX_LEFT right=$LAB_TMUX_RIGHT
    lab_step "$left"
    lab_tmux_run "$left" "mq-recv ${RECV_ARGS[*]}"
    lab_tmux_wait_text "$left" 'holding: press Enter' 15 || return 1
    lab_step "$right"
    lab_tmux_run "$right" "mq-send ${LOW_ARGS[*]}"
    lab_tmux_wait_done "$right" 10 || return 1
    lab_tmux_save_rc low
    lab_step "$right"
    lab_tmux_run "$right" "mq-send ${HIGH_ARGS[*]}"
    lab_tmux_wait_done "$right" 10 || return 1
    lab_tmux_save_rc high
    lab_step "$right"
    lab_tmux_enter "$left"
    lab_tmux_wait_done "$left" 10 || return 1
    lab_tmux_save_rc recv
    # the screens now, in case the panes are closed before the session ends
    lab_tmux_capture "$left" "$LAB_WORK/recv.screen" || true
    lab_tmux_capture "$right" "$LAB_WORK/send.screen" || true
}

# received SCREEN OUT: the receiver's lines on its pane after "receiving: N waiting" up to the
# next prompt, i.e. its stdout (nothing else prints there without --explain).
received() {
    awk '/receiving: [0-9]+ waiting$/ { on = 1; next } on && /^recv\$/ { exit } on { print }' \
        "$1" >"$2"
}

with_tmux() {
    local lrc hrc rrc
    lab_heading "Message queues (notes B2) in tmux: receiver left, senders right"
    lab_tmux_start mq recv send
    lab_tmux_play tmux_driver
    local driver_rc=$LAB_RC
    lrc=$(lab_tmux_rc low)
    hrc=$(lab_tmux_rc high)
    rrc=$(lab_tmux_rc recv)

    lab_tmux_end "$LAB_WORK/recv.screen" "$LAB_WORK/send.screen" \
        "The receiver's pane (left)" "The senders' pane (right)"

    echo
    if lab_tmux_left_early "$driver_rc"; then
        lab_check_queue_gone "$QUEUE" || true
        return 0
    fi
    if ((driver_rc != 0)); then
        lab_fail "the tmux demo did not run to its end"
    fi
    received "$LAB_WORK/recv.screen" "$LAB_WORK/recv.lines"
    lab_check_lines "the receiver's pane (all $COUNT waiting at Enter)" "$LAB_WORK/recv.screen" "$WAITING" || true
    lab_check_output "the receiver's output in its pane" "$LAB_WORK/recv.lines" "${EXPECTED[@]}" || true
    lab_check_status "mq-send -p $LOW_PRIO" "$lrc" || true
    lab_check_status "mq-send -p $HIGH_PRIO" "$hrc" || true
    lab_check_status mq-recv "$rrc" || true
    lab_check_queue_gone "$QUEUE" || true
}

# ----------------------------------------------------------------------------------------------

main() {
    lab_demo_start mq-send mq-recv -- "$@"
    # a name of this run's own; the trap removes the queue should the receiver not get to
    lab_queue_name /ipc-lab-demo
    QUEUE=$LAB_QUEUE
    setup_commands
    if ((LAB_DEMO_TMUX)); then
        with_tmux
    else
        headless
    fi
    lab_finish
}

main "$@"
