//! What `--explain` says of a mode before it is measured: the placements and what they do to
//! the figures, and for each mechanism the calls of its set-up and of one message.

#![forbid(unsafe_code)]

use super::ring::lay;
use super::shm_sem::SEM_RING;
use super::shm_spin::{SPIN_RING, SPINS_PER_YIELD};
use super::{Mech, Mode, Pin, Settings, floor};
use crate::ui::Ui;

/// `--explain`: how a mode's rows are measured, before they are.
pub(super) fn plan(ui: &Ui, mode: Mode, s: &Settings, step: u32) {
    if !ui.explaining() {
        return;
    }
    match mode {
        Mode::Floor => {
            ui.step(
                step,
                "floor: one process, no IPC: what no mechanism can beat",
            );
            for line in floor::recipe() {
                ui.meaning(&line);
            }
        }
        Mode::Latency | Mode::Throughput => {
            let what = if mode == Mode::Latency {
                "round trips, each timed"
            } else {
                "messages streamed one way, timed as a whole"
            };
            ui.step(
                step,
                &format!(
                    "{mode}: {} {what}, after {} warm-up, for each placement, mechanism and size",
                    s.count, s.warmup
                ),
            );
            for &pin in &s.pins {
                ui.meaning(&placement(pin));
            }
            let size = s.sizes.first().copied().unwrap_or(64);
            for &mech in &s.mechs {
                if mode == Mode::Throughput && !mech.carries_data() {
                    continue;
                }
                ui.meaning(&format!(
                    "{mech} ({} bytes here):",
                    if mech.carries_data() { size } else { 0 }
                ));
                for line in recipe(mech, mode, size) {
                    match line.strip_prefix("- ") {
                        Some(sentence) => ui.meaning(&format!("  {sentence}")),
                        None => ui.act(&format!("  {line}")),
                    }
                }
            }
        }
    }
}

/// What a measurement does, for `--explain`: the set-up's calls, then the calls of one
/// message (latency: one round trip; throughput: one message of the stream). Each line is a
/// call or an action, or (starting with "- ") a sentence.
fn recipe(mech: Mech, mode: Mode, size: usize) -> Vec<String> {
    let mut lines = match mech {
        Mech::ShmSpin | Mech::ShmSem => {
            let ring = if mech == Mech::ShmSpin {
                SPIN_RING
            } else {
                SEM_RING
            };
            let (stride, slots) = ring.slots(size, mode);
            let ring = if slots == 1 {
                format!("one slot of {stride} bytes each way (a ping-pong has one message in flight)")
            } else {
                format!("a ring of {slots} slots of {stride} bytes each way")
            };
            let mut l = vec![
                format!(
                    "shmget(IPC_PRIVATE, {}, 0600); shmat; shmctl(IPC_RMID)",
                    lay::DATA + 2 * slots * stride
                ),
                format!(
                    "- {ring}; marked for removal at once, so it goes with the last detach, whatever happens"
                ),
            ];
            if mech == Mech::ShmSem {
                l.push(
                    "sem_init(full, pshared 1, 0) and sem_init(empty, pshared 1, slots), each way"
                        .into(),
                );
            }
            l
        }
        Mech::Pipe => vec![
            "pipe(down); pipe(up)".into(),
            "- after fork each process closes the two ends it does not use".into(),
        ],
        Mech::Socket => vec!["socketpair(AF_UNIX, SOCK_STREAM)".into()],
        Mech::Mq => vec![
            format!(
                "mq_open(down and up, O_CREAT | O_EXCL, mq_maxmsg 8, mq_msgsize {}); mq_unlink both",
                size.max(1)
            ),
            "- unlinked at once: both processes hold them open, and the kernel frees them with the last close".into(),
        ],
        Mech::Signal => vec![
            "sigprocmask(SIG_BLOCK, {SIGUSR1})".into(),
            "- blocked, so that a SIGUSR1 waits, pending, for sigwaitinfo instead of running a handler".into(),
        ],
    };
    lines.push(
        "fork(); sched_setaffinity(parent), and in the child sched_setaffinity(child)".into(),
    );
    let n = size.max(1);
    let (send, recv) = match mech {
        Mech::ShmSpin => (
            format!("copy {n} bytes into a slot; store seq (release)"),
            format!(
                "spin on seq (acquire, pause hint; sched_yield every {SPINS_PER_YIELD} spins); copy {n} bytes out; store done"
            ),
        ),
        Mech::ShmSem => (
            format!("sem_wait(empty); copy {n} bytes into a slot; sem_post(full)"),
            format!("sem_wait(full); copy {n} bytes out; sem_post(empty)"),
        ),
        Mech::Pipe | Mech::Socket => (format!("write(fd, {n})"), format!("read(fd, {n})")),
        Mech::Mq => (
            format!("mq_send(down, {n} bytes, prio 0)"),
            "mq_receive(up, buffer of mq_msgsize)".into(),
        ),
        Mech::Signal => (
            "kill(peer, SIGUSR1)".into(),
            "sigwaitinfo({SIGUSR1})".into(),
        ),
    };
    match mode {
        Mode::Latency => {
            lines.push(format!(
                "parent: t0 = clock; {send}; {recv}; sample = clock - t0"
            ));
            lines.push(format!("child: {recv}; {send}"));
        }
        _ => {
            lines.push(format!(
                "parent: {send}, for every message; then wait for one acknowledgement"
            ));
            lines.push(format!(
                "child: {recv}, for every message; then acknowledge"
            ));
        }
    }
    lines
}

/// Where `--pin` puts the two processes, and what that does to the figures, for `--explain`.
fn placement(pin: Pin) -> String {
    let cpu = |c: Option<usize>| c.map_or("any CPU".to_string(), |c| format!("CPU {c}"));
    match pin.cpus() {
        Err(why) => format!("pin {pin}: not measured: {why}"),
        Ok((parent, child)) => {
            let what = match pin {
                Pin::Same => {
                    "they take turns: every wait puts one to sleep and switches to the other; a spinning reader cannot see an answer the other has no CPU to write: it spins, yields, and spins again until the scheduler runs the other"
                }
                Pin::Cross => {
                    "every wait puts a process to sleep, and every reply must wake the other CPU; spinning avoids that, and keeps both CPUs busy"
                }
                Pin::None => {
                    "the scheduler decides, message by message, where the other process runs"
                }
            };
            format!(
                "pin {pin}: the parent on {}, the child on {}: {what}",
                cpu(parent),
                cpu(child)
            )
        }
    }
}
