//! The sending side of the network mailbox: a connection to a receiver's port.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::os::fd::{AsFd, BorrowedFd};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use nix::poll::PollFlags;

use super::{
    ANSWER_LEN, CONNECT_WAIT, GREETING_LEN, GREETING_WAIT, Greeting, Header, Status, gone,
    try_again,
};
use crate::mq::Wait;
use crate::ui::Hint;

/// How a batch of messages sent to a remote mailbox ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Ending {
    /// All were delivered.
    Done,
    /// The receiver refused the next one.
    Refused { status: Status, detail: u32 },
    /// No answer came within the time allowed.
    TimedOut,
    /// A termination signal arrived.
    Woken,
    /// The receiver closed (or reset) the connection before answering the next one: it was
    /// stopped, or closed the connection as idle just as the message left (then it read none
    /// of it).
    Closed,
}

/// A connection to a remote mailbox (`mq-recv --listen`).
#[derive(Debug)]
pub(crate) struct Remote {
    stream: TcpStream,
    addr: SocketAddr,
    greeting: Greeting,
}

impl Remote {
    /// Connect to `target` (`HOST:PORT`) and read its greeting. `Ok(None)`: a termination signal
    /// arrived while waiting.
    pub fn connect(
        target: &str,
        timeout: Option<Duration>,
        wake: Option<BorrowedFd<'_>>,
    ) -> anyhow::Result<Option<Remote>> {
        let addrs: Vec<SocketAddr> = target
            .to_socket_addrs()
            .with_context(|| format!("cannot find {target}"))
            .map_err(|e| {
                e.context(Hint(
                    "give HOST:PORT, e.g. 127.0.0.1:7000 or lab-pc-2:7000".into(),
                ))
            })?
            .collect();
        let wait = timeout.unwrap_or(CONNECT_WAIT);
        let mut last = None;
        let mut connected = None;
        for addr in &addrs {
            match TcpStream::connect_timeout(addr, wait) {
                Ok(stream) => {
                    connected = Some((stream, *addr));
                    break;
                }
                Err(e) => last = Some(e),
            }
        }
        let Some((stream, addr)) = connected else {
            let err = last.unwrap_or_else(|| io::Error::other("the name has no address"));
            let hint = if err.kind() == io::ErrorKind::TimedOut {
                format!(
                    "nothing answered within {} s: is the host up, and the address right?",
                    wait.as_secs_f64()
                )
            } else {
                "is `mq-recv --listen PORT` running on that host, with that port? (It listens on 127.0.0.1 unless given an address such as 0.0.0.0:PORT)".to_string()
            };
            return Err(crate::sys::io_error("connect", err)
                .context(format!("cannot connect to {target}"))
                .context(Hint(hint)));
        };
        stream
            .set_nonblocking(true)
            .context("cannot make the connection non-blocking")?;
        let _ = stream.set_nodelay(true);
        let mut remote = Remote {
            stream,
            addr,
            greeting: Greeting {
                message_size: 0,
                max_messages: 0,
            },
        };
        let mut bytes = [0u8; GREETING_LEN];
        let greeting_wait = timeout.map_or(GREETING_WAIT, |t| t.min(GREETING_WAIT));
        let deadline = Instant::now() + greeting_wait;
        match remote.read_exact(&mut bytes, Some(deadline), wake)? {
            Read_::Done => {}
            Read_::Woken => return Ok(None),
            Read_::TimedOut => {
                return Err(anyhow::anyhow!(
                    "{addr} accepted the connection but sent no greeting within {} s",
                    greeting_wait.as_secs_f64()
                ))
                .context(Hint(
                    "is it `mq-recv --listen`? Another program may have that port".into(),
                ));
            }
            Read_::Closed(n) => {
                return Err(anyhow::anyhow!(
                    "{addr} closed the connection after {n} of the {GREETING_LEN} bytes of its greeting"
                ))
                .context(Hint(
                    "is it `mq-recv --listen`? It may be turning senders away (too many connected)".into(),
                ));
            }
        }
        remote.greeting = Greeting::decode(&bytes)
            .map_err(|why| anyhow::anyhow!("{addr} is not an mq-recv port: {why}"))
            .map_err(|e| e.context(Hint("check the port: `mq-recv --listen` prints it".into())))?;
        Ok(Some(remote))
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// What the receiver said about its mailbox.
    pub fn greeting(&self) -> Greeting {
        self.greeting
    }

    /// Whether the receiver has closed the connection since its last answer (it closes one
    /// idle for [`IDLE_LIMIT`](super::IDLE_LIMIT)), or broken it: between messages nothing else
    /// may arrive, so whatever can be read now (end of file, an error, stray bytes) means it is
    /// no use.
    pub(crate) fn closed_meanwhile(&mut self) -> bool {
        let mut byte = [0u8; 1];
        loop {
            return match self.stream.read(&mut byte) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => false,
                _ => true,
            };
        }
    }

    /// Send `bodies` with `priority`, all at once, then wait for an answer to each. `wait`:
    /// Block waits as long as the mailbox stays full, NonBlock asks the receiver to refuse
    /// instead, and For(d) gives up when no answer comes for d. Returns how many were
    /// delivered and how it ended.
    pub(crate) fn send_batch(
        &mut self,
        bodies: &[&[u8]],
        priority: u32,
        wait: Wait,
        wake: Option<BorrowedFd<'_>>,
    ) -> anyhow::Result<(usize, Ending)> {
        let nonblock = wait == Wait::NonBlock;
        let mut out = Vec::new();
        for body in bodies {
            out.extend_from_slice(&Header::frame(body, priority, nonblock));
        }
        let mut written = 0;
        let mut delivered = 0;
        let mut answer_buf = Vec::with_capacity(ANSWER_LEN);
        let mut deadline = wait.deadline();
        while delivered < bodies.len() {
            let mut flags = PollFlags::POLLIN;
            if written < out.len() {
                flags |= PollFlags::POLLOUT;
            }
            let waited = crate::sys::wait_any(&[(self.stream.as_fd(), flags)], deadline, wake)?;
            if waited.woken {
                return Ok((delivered, Ending::Woken));
            }
            if waited.timed_out {
                return Ok((delivered, Ending::TimedOut));
            }
            if written < out.len() {
                match self.stream.write(&out[written..]) {
                    Ok(n) => written += n,
                    Err(e) if try_again(&e) => {}
                    // Closed: write no more, but read on, for an answer it may have sent first
                    // (a refusal), up to the end of the connection.
                    Err(e) if gone(&e) => written = out.len(),
                    Err(e) => {
                        return Err(anyhow::Error::new(e)).with_context(|| {
                            format!("cannot send message {} to {}", delivered + 1, self.addr)
                        });
                    }
                }
            }
            let mut buf = [0u8; ANSWER_LEN];
            match self.stream.read(&mut buf[..ANSWER_LEN - answer_buf.len()]) {
                Ok(0) => return Ok((delivered, Ending::Closed)),
                Ok(n) => answer_buf.extend_from_slice(&buf[..n]),
                Err(e) if try_again(&e) => {}
                Err(e) if gone(&e) => return Ok((delivered, Ending::Closed)),
                Err(e) => {
                    return Err(anyhow::Error::new(e)).with_context(|| {
                        format!(
                            "lost the connection to {} at message {}",
                            self.addr,
                            delivered + 1
                        )
                    });
                }
            }
            if answer_buf.len() == ANSWER_LEN {
                let detail = u32::from_be_bytes(answer_buf[1..].try_into().expect("4 bytes"));
                let Some(status) = Status::from_code(answer_buf[0]) else {
                    anyhow::bail!(
                        "{} answered message {} with status {}, which this program does not know",
                        self.addr,
                        delivered + 1,
                        answer_buf[0]
                    );
                };
                answer_buf.clear();
                if status != Status::Delivered {
                    return Ok((delivered, Ending::Refused { status, detail }));
                }
                delivered += 1;
                // Progress: a timeout counts from the last answer.
                deadline = wait.deadline();
            }
        }
        Ok((delivered, Ending::Done))
    }

    fn read_exact(
        &mut self,
        buf: &mut [u8],
        deadline: Option<Instant>,
        wake: Option<BorrowedFd<'_>>,
    ) -> anyhow::Result<Read_> {
        let mut got = 0;
        while got < buf.len() {
            match self.stream.read(&mut buf[got..]) {
                Ok(0) => return Ok(Read_::Closed(got)),
                Ok(n) => {
                    got += n;
                    continue;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    return Err(anyhow::Error::new(e))
                        .with_context(|| format!("lost the connection to {}", self.addr));
                }
            }
            let waited =
                crate::sys::wait_any(&[(self.stream.as_fd(), PollFlags::POLLIN)], deadline, wake)?;
            if waited.woken {
                return Ok(Read_::Woken);
            }
            if waited.timed_out {
                return Ok(Read_::TimedOut);
            }
        }
        Ok(Read_::Done)
    }
}

enum Read_ {
    Done,
    Closed(usize),
    TimedOut,
    Woken,
}
