//! Layer 0: the kernel side every mechanism shares. Thin wrappers over system calls, each
//! `unsafe` block with a `SAFETY` comment that says why it is sound. Nothing here prints, and
//! nothing here uses another module of the crate: `ui`, the mechanisms, `cli` and the binaries
//! build on it.
//!
//! | file             | what                                                                      |
//! |------------------|---------------------------------------------------------------------------|
//! | `error.rs`       | [`SysError`]: a failed call and its errno's name; `errno_of`, `io_error` |
//! | `fd.rs`          | descriptors: dup, dup2, which are open, RLIMIT_NOFILE, a terminal's width |
//! | `poll.rs`        | `wait_any`: poll(2) over descriptors and a wake-up descriptor           |
//! | `process.rs`     | [`fork`] and its [`Child`], [`exec`], how a child ended, what it inherits |
//! | `sysv.rs`        | System V tables and limits under /proc, removing a queue, `ipcs -t` times |
//! | `termination.rs` | [`Termination`]: SIGINT, SIGTERM, SIGHUP, then `exit_by_signal`         |
//! | `users.rs`       | user ids and names; who besides its owner an object's mode lets in        |
//! | `cpus.rs`        | the CPUs this process may run on                                          |
//! | `words.rs`       | [`counted`]: `1 segment`, `2 segments`                                    |

mod cpus;
mod error;
mod fd;
mod poll;
mod process;
mod sysv;
mod termination;
mod users;
mod words;

pub(crate) use cpus::allowed_cpus;
pub(crate) use cpus::{online_cpus, pin_to_set, running_now};
pub use error::SysError;
pub(crate) use error::{errno_of, io_error};
pub(crate) use fd::{
    close_stream_in_child, descriptor_limit, descriptor_link, fd_number, open_descriptors,
    set_descriptor_limit,
};
pub(crate) use fd::{closed_at_start, descriptor_limit_hint, terminal_columns};
pub use fd::{dup, dup2, is_open};
pub use poll::Waited;
pub(crate) use poll::wait_any;
pub use process::{Child, Halt, close_in_child, describe, exec, fork, ignore, shell_status};
pub(crate) use process::{default_action, stop_self};
pub(crate) use sysv::{
    local_time, remove_sysv_queue, sysv_limit_hint, sysvipc_lists, sysvipc_rows,
};
pub(crate) use termination::Stopped;
pub(crate) use termination::termination_received;
pub use termination::{Interrupted, Termination};
pub(crate) use termination::{TERMINATION_SIGNALS, exit_by_signal};
pub use users::login_name;
pub(crate) use users::{effective_uid, user_name};
pub(crate) use users::{exposure_warning, others_access};
pub use words::counted;
