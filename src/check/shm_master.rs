//! Exercise `shm-master`: the notes' master (B1). It creates a 40-byte segment with
//! `shmget(IPC_PRIVATE, 40, IPC_CREAT | 0600)`, prints `Shared Memory Id = N`, attaches it,
//! clears the flag shm[0], sleeps until a slave sets it, prints the three values, detaches and
//! destroys the segment. lab-check runs ipc-lab's `shm-slave ID 11 22 33` as the slave, once
//! the master has attached and cleared the flag.

#![forbid(unsafe_code)]

use std::cell::Cell;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use super::ipc::Object;
use super::run::{End, Ended};
use super::shm_slave::{Peer, id_line, in_syscall, mode, nattch, parse_id_line, read_lines};
use super::{Check, Exercise, Failure, Lab};
use crate::shm::ShmId;

/// The values the reference slave writes.
const VALUES: [i32; 3] = [11, 22, 33];

/// How long a master that has attached may take to start sleeping before the slave writes
/// anyway (a master that busy-waits never sleeps).
const BUSY_WAIT_GRACE: Duration = Duration::from_secs(2);

pub static EXERCISE: Exercise = Exercise {
    name: "shm-master",
    section: "B1 Shared memory: the notes' master",
    task: "the notes' master: create a private segment, print its id, wait for the flag, print \
           the three values, destroy it",
    usage: "PROGRAM",
    // The notes' master looks at the flag every 3 s.
    timeout: Duration::from_secs(15),
    checks: &[
        Check {
            name: "id-line",
            points: 2,
            asks: "first prints exactly \"Shared Memory Id = N\" and a newline, N its segment",
            see: "docs/01-shared-memory.md#walk-through-the-notes-dialogue",
        },
        Check {
            name: "private",
            points: 2,
            asks: "the segment's mode is 0600: read and write for its owner only",
            see: "docs/01-shared-memory.md#ipc_private-is-not-private",
        },
        Check {
            name: "read-lines",
            points: 3,
            asks: "prints \"Read V from shared memory.\" for each value shm-slave wrote, in order",
            see: "docs/01-shared-memory.md#values-first-flag-last",
        },
        Check {
            name: "removed",
            points: 2,
            asks: "destroys its segment before it ends (shmctl(shmid, IPC_RMID, 0))",
            see: "docs/01-shared-memory.md#steps-4-and-5-cannot-be-forgotten",
        },
        Check {
            name: "exit-status",
            points: 1,
            asks: "exits with status 0",
            see: "exercises/shm-master/README.md#the-contract",
        },
    ],
    run,
};

/// Whether process `pid` sleeps now (sleep(3) calls clock_nanosleep or nanosleep).
fn sleeping(pid: i32) -> bool {
    in_syscall(pid, &[libc::SYS_nanosleep, libc::SYS_clock_nanosleep])
}

fn run(lab: &mut Lab) -> anyhow::Result<()> {
    let before = lab.objects();
    let timeout = lab.timeout;
    lab.explain(
        "id-line",
        "run the master on a terminal; its first line must name a segment that exists",
    );
    let mut master = lab.start(&[])?;
    let pid = master.pid();
    let printed = master.wait_output(|out| out.contains('\n'))?;
    let out = master.output();
    let first = out.split_inclusive('\n').next().unwrap_or("").to_string();
    let expected_line = "\"Shared Memory Id = N\\n\", N the id shmget returned";
    let id = match parse_id_line(&first).filter(|_| first.ends_with('\n')) {
        Some(id) if ShmId::from_raw(id).exists() => {
            lab.pass("id-line");
            id
        }
        named => {
            // No segment to work with: the run is over for this program.
            let ended = master.finish()?;
            let end = ended.end.describe(timeout);
            let (happened, hint) = match named {
                Some(id) => (
                    format!("its first line names segment {id}, which does not exist; {end}"),
                    "print the id shmget returned: printf(\"Shared Memory Id = %d\\n\", shmid)",
                ),
                None if !printed => (
                    format!("it printed no whole line: {end}; {}", ended.shown()),
                    match ended.end {
                        End::Killed(_) => {
                            "a crash before the id line: check shmget's result against -1 \
                             before printing it"
                        }
                        _ => {
                            "the first thing the master prints, right after shmget: \
                             printf(\"Shared Memory Id = %d\\n\", shmid)"
                        }
                    },
                ),
                None => (
                    format!("its first line was {first:?}; {end}; {}", ended.shown()),
                    "print the notes' line exactly, first: printf(\"Shared Memory Id = %d\\n\", \
                     shmid)",
                ),
            };
            lab.fail(
                "id-line",
                Failure::new(expected_line, happened.clone(), hint),
            );
            for check in ["private", "read-lines"] {
                lab.fail(
                    check,
                    Failure::new(
                        "a segment to look at",
                        format!("no segment to look at: {happened}"),
                        "fix id-line first: the master prints the id shmget returned",
                    ),
                );
            }
            conclude(lab, &ended, named, &before);
            return Ok(());
        }
    };

    lab.explain(
        "private",
        &format!("segment {id}'s mode, from /proc/sysvipc/shm"),
    );
    match mode(id) {
        Some(0o600) => lab.pass("private"),
        found => {
            let (happened, hint) = match found {
                Some(m) if m & 0o066 != 0 => (
                    format!("segment {id} has mode {m:04o}"),
                    "shmget(IPC_PRIVATE, 40, IPC_CREAT | 0600): 0666 lets every user on the \
                     machine read and forge the values",
                ),
                Some(m) => (
                    format!("segment {id} has mode {m:04o}"),
                    "shmget(IPC_PRIVATE, 40, IPC_CREAT | 0600): read and write for the owner, \
                     who attaches it read-write",
                ),
                None => (
                    format!("segment {id} was gone when lab-check looked"),
                    "destroy the segment at the end (step 5), not before the values are read",
                ),
            };
            lab.fail("private", Failure::new("mode 0600", happened, hint));
        }
    }

    // read-lines: the slave writes once the master has attached and cleared the flag.
    lab.explain(
        "read-lines",
        &format!(
            "once segment {id} is attached and the master sleeps (or has been attached {} s \
             without sleeping), run shm-slave {id} {} {} {}; the master must print the three \
             values",
            BUSY_WAIT_GRACE.as_secs(),
            VALUES[0],
            VALUES[1],
            VALUES[2]
        ),
    );
    let attached_at: Cell<Option<Instant>> = Cell::new(None);
    let ready = master.wait_until(|| {
        if nattch(id).is_none_or(|n| n == 0) {
            return false;
        }
        let since = attached_at.get().unwrap_or_else(Instant::now);
        attached_at.set(Some(since));
        sleeping(pid) || since.elapsed() >= BUSY_WAIT_GRACE
    })?;
    let mut trouble = None;
    if ready {
        let mut args = vec![id.to_string()];
        args.extend(VALUES.iter().map(i32::to_string));
        let mut slave = Peer::start(lab, "shm-slave", &args)?;
        slave.wait_end(Instant::now() + timeout, || false)?;
        slave.stop();
        if slave.status().is_none_or(|s| !s.success()) {
            trouble = Some((
                format!("the reference slave could not write: {}", slave.describe()),
                "attach with shmat(shmid, NULL, 0) and keep the segment until the values are \
                 read: 40 bytes, mode 0600",
            ));
        }
        let expected = format!("{}{}", id_line(id), read_lines(&VALUES));
        master.wait_output(|out| out.len() >= expected.len() || !expected.starts_with(out))?;
    } else {
        trouble = Some((
            format!("it never attached segment {id} and waited for the flag"),
            "attach the segment (shmat(shmid, NULL, 0)), set shm[0] = 0, then sleep(3) in a \
             loop while shm[0] == 0",
        ));
    }
    let ended = master.finish()?;
    let end = ended.end.describe(timeout);
    let expected_reads = read_lines(&VALUES);
    let after = ended
        .output
        .strip_prefix(&id_line(id))
        .unwrap_or(&ended.output);
    if after == expected_reads && trouble.is_none() {
        lab.pass("read-lines");
    } else {
        let hint = match &trouble {
            Some((_, hint)) => hint,
            None if after.is_empty() => {
                "loop while (shm[0] == 0) sleep(3); then print shm[1], shm[2], shm[3]"
            }
            None => {
                "for (i = 0; i < 3; i++) printf(\"Read %d from shared memory.\\n\", shm[i+1]): \
                 the values follow the flag shm[0]"
            }
        };
        let mut happened = format!("after its id line it printed {after:?}; {end}");
        if let Some((what, _)) = &trouble {
            happened = format!("{what}; {happened}");
        }
        if !ended.errors.is_empty() {
            happened.push_str(&format!(", stderr {:?}", ended.errors));
        }
        lab.fail(
            "read-lines",
            Failure::new(format!("{expected_reads:?}"), happened, hint),
        );
    }
    conclude(lab, &ended, Some(id), &before);
    Ok(())
}

/// `removed` and `exit-status`, once the master has ended: what it left (`id`: the segment it
/// named), and how it ended.
fn conclude(lab: &mut Lab, ended: &Ended, id: Option<i32>, before: &BTreeSet<Object>) {
    let end = ended.end.describe(lab.timeout);
    lab.explain(
        "removed",
        "after the master has ended, its segment must be gone",
    );
    let mut left = lab.remove_leftovers(before);
    if let Some(id) = id {
        // Where lab-check shares the machine's objects, the segment it named is still looked at.
        let segment = ShmId::from_raw(id);
        if segment.exists() {
            let _ = segment.remove();
            let name = Object::Segment(id).describe();
            if !left.contains(&name) {
                left.push(name);
            }
        }
    }
    if left.is_empty() && matches!(ended.end, End::Exited(_)) {
        lab.pass("removed");
    } else if left.is_empty() {
        lab.fail(
            "removed",
            Failure::new(
                "the master destroys its segment and ends",
                format!("it never got to step 5: {end}"),
                "shmdt(shm) then shmctl(shmid, IPC_RMID, 0) before return 0; see exit-status \
                 for why it did not end",
            ),
        );
    } else {
        let why = match ended.end {
            End::Exited(_) => String::new(),
            _ => format!(" (it did not end by itself: {end})"),
        };
        lab.fail(
            "removed",
            Failure::new(
                "no segment left once the master has ended",
                format!("{} left{why}; lab-check removed it", left.join(", ")),
                "step 5: shmdt(shm) then shmctl(shmid, IPC_RMID, 0) before return 0; a \
                 segment nobody destroys stays until the machine restarts (ipcs -m lists it)",
            ),
        );
    }

    lab.explain("exit-status", "the master's exit status must be 0");
    let hint = match ended.end {
        End::Exited(0) => {
            lab.pass("exit-status");
            return;
        }
        End::Killed(_) => "a crash: check shmat's result against (void *)-1 before using it",
        End::TimedOut => {
            "it never ended: while (shm[0] == 0) sleep(3); ends once the slave sets shm[0] = 1; \
             shm[0] must be the first int of the segment"
        }
        End::Exited(_) => "return 0 from main once the segment is destroyed",
    };
    lab.fail(
        "exit-status",
        Failure::new("exit status 0", format!("{end}; {}", ended.shown()), hint),
    );
}
