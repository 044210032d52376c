//! mq: two POSIX message queues, one each way (chapter 2): a message is an `mq_send` and an
//! `mq_receive`, each a system call; the kernel keeps the message in between.

#![forbid(unsafe_code)]

use std::sync::atomic::{AtomicU64, Ordering};

use nix::errno::Errno;

use super::pair::Pair;
use super::{End, Timed, check_peer, check_stop};
use crate::mq::{Access as MqAccess, Mailbox, OpenOptions, QueueName};
use crate::sys::SysError;
use crate::ui::HintExt as _;

/// Two POSIX queues: one to send on, one to receive from.
struct Queues<'a> {
    out: &'a Mailbox,
    inp: &'a Mailbox,
    /// mq_receive wants a buffer of the queue's whole message size: this one is.
    scratch: Vec<u8>,
}

impl End for Queues<'_> {
    fn send(&mut self, msg: &[u8]) -> anyhow::Result<()> {
        loop {
            match self.out.send_raw(msg) {
                Ok(()) => return Ok(()),
                Err(Errno::EINTR) => {
                    check_stop()?;
                    let room = |a: crate::mq::Attributes| a.current_messages < a.max_messages;
                    check_peer(|| self.out.attributes().is_ok_and(room))?;
                }
                Err(errno) => {
                    return Err(SysError {
                        call: "mq_send",
                        errno,
                    }
                    .into());
                }
            }
        }
    }

    fn recv(&mut self, buf: &mut [u8]) -> anyhow::Result<()> {
        loop {
            // A buffer as long as the queue's message size takes the message itself, as in C;
            // a shorter one gets it through the scratch buffer.
            let direct = buf.len() >= self.scratch.len();
            let got = if direct {
                self.inp.receive_raw(buf)
            } else {
                self.inp.receive_raw(&mut self.scratch)
            };
            match got {
                Ok(n) => {
                    anyhow::ensure!(n == buf.len(), "received {n} bytes, expected {}", buf.len());
                    if !direct {
                        buf.copy_from_slice(&self.scratch[..n]);
                    }
                    return Ok(());
                }
                Err(Errno::EINTR) => {
                    check_stop()?;
                    check_peer(|| self.inp.attributes().is_ok_and(|a| a.current_messages > 0))?;
                }
                Err(errno) => {
                    return Err(SysError {
                        call: "mq_receive",
                        errno,
                    }
                    .into());
                }
            }
        }
    }
}

/// What the kernel allows a queue message, or why `size` is too big.
pub(super) fn mq_limit(size: usize) -> Result<(), String> {
    let max = crate::mq::Limits::read()
        .map(|l| l.msgsize_max)
        .unwrap_or(8192);
    if size as i64 > max {
        return Err(format!(
            "a queue message holds at most {max} bytes here (/proc/sys/fs/mqueue/msgsize_max)"
        ));
    }
    Ok(())
}

/// A queue name unique to this process and call.
fn queue_name(tag: &str) -> anyhow::Result<QueueName> {
    static N: AtomicU64 = AtomicU64::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    QueueName::parse(&format!("/ipc-bench-{}-{n}-{tag}", std::process::id()))
        .map_err(anyhow::Error::new)
}

/// Make the two ends, fork, and run `x` on both sides (see [`super::pair`]).
pub(super) fn exchange(pair: Pair<'_>) -> anyhow::Result<Timed> {
    let open = |tag| -> anyhow::Result<Mailbox> {
        let name = queue_name(tag)?;
        let mut options = OpenOptions::create(MqAccess::Both, 8, pair.size.max(1) as i64);
        options.exclusive = true;
        let mailbox = match Mailbox::open(&name, &options) {
            Ok(mailbox) => mailbox,
            Err(err) => {
                let errno = crate::sys::errno_of(&err);
                let hint = if errno == Some(nix::errno::Errno::EEXIST) {
                    format!(
                        "ipc-bench names its queues after its pid and makes them only where nothing is; {name} exists already, {}: if it is yours, left by a run that was killed, remove it (`mq-recv -n --unlink {name}`) and run again",
                        crate::mq::made_by(&name)
                    )
                } else {
                    crate::mq::open_hint(errno, &name, crate::mq::NamedBy::Program)
                };
                return Err(err).hint(hint);
            }
        };
        // Both processes hold it open: remove the name now, so that nothing is left
        // in /dev/mqueue whatever happens to them.
        crate::mq::unlink(&name)?;
        mailbox.set_blocking()?;
        Ok(mailbox)
    };
    let down = open("down")?;
    let up = open("up")?;
    let scratch = down.message_size();
    pair.run(
        |_| {
            Ok(Queues {
                out: &down,
                inp: &up,
                scratch: vec![0; scratch],
            })
        },
        || {
            Ok(Queues {
                out: &up,
                inp: &down,
                scratch: vec![0; scratch],
            })
        },
    )
}
