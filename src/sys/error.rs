//! The error of a failed system call: which call, and the errno it left, shown by its name as the
//! house error format has it (`Invalid argument (EINVAL)`).

use std::fmt;

use nix::errno::Errno;

/// A failed system call: which call, and the errno it left.
///
/// Displays as `Invalid argument (EINVAL)`, so that a context on top reads
/// `cannot attach segment 7: Invalid argument (EINVAL)`, the house error format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SysError {
    /// The system call, as a student would look it up in section 2 of the manual.
    pub call: &'static str,
    /// What the kernel said.
    pub errno: Errno,
}

impl SysError {
    /// The error the last failed call left in `errno`.
    pub fn last(call: &'static str) -> SysError {
        SysError {
            call,
            errno: Errno::last(),
        }
    }
}

impl fmt::Display for SysError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({:?})", self.errno.desc(), self.errno)
    }
}

impl std::error::Error for SysError {}

/// The errno of a `SysError` anywhere in an error chain, if there is one.
pub(crate) fn errno_of(err: &anyhow::Error) -> Option<Errno> {
    err.chain()
        .find_map(|e| e.downcast_ref::<SysError>())
        .map(|e| e.errno)
}

/// An I/O error from std as the house format shows a failed call: `Connection refused
/// (ECONNREFUSED)`, with the call recorded for [`errno_of`]. An error with no errno stays as is.
pub(crate) fn io_error(call: &'static str, e: std::io::Error) -> anyhow::Error {
    match e.raw_os_error() {
        Some(code) => anyhow::Error::new(SysError {
            call,
            errno: Errno::from_raw(code),
        }),
        None => anyhow::Error::new(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sys_error_names_its_errno() {
        let e = SysError {
            call: "shmat",
            errno: Errno::EINVAL,
        };
        assert_eq!(e.to_string(), "Invalid argument (EINVAL)");
        let chained = anyhow::Error::new(e).context("cannot attach segment 7");
        assert_eq!(
            format!("{chained:#}"),
            "cannot attach segment 7: Invalid argument (EINVAL)"
        );
        assert_eq!(errno_of(&chained), Some(Errno::EINVAL));
    }
}
