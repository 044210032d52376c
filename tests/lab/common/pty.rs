//! Pseudo-terminals: a program's stderr on a terminal of a given width, as a tmux pane is.

use std::io::Read;
use std::process::{Command, Stdio};
use std::thread;

use super::process::{Finished, wait_bounded};

/// Run a command to its end with its stderr on a terminal `columns` wide (a pseudo-terminal,
/// as a tmux pane is), stdin empty and stdout a pipe; the terminal's `\r\n` are read as `\n`.
/// Bounded by PATIENCE, as [`output_of`].
pub fn output_with_stderr_on_terminal(command: &mut Command, columns: u16) -> Finished {
    let size = nix::pty::Winsize {
        ws_row: 24,
        ws_col: columns,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    let pty = nix::pty::openpty(Some(&size), None).expect("openpty");
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(pty.slave))
        .spawn()
        .expect("spawn");
    // The command held the only other copy of the terminal's slave side: with it gone, the
    // master reads end of file (EIO) once the program has ended.
    command.stderr(Stdio::null());
    let terminal = std::fs::File::from(pty.master);
    let reader = |mut stream: Box<dyn Read + Send>| {
        thread::spawn(move || {
            let mut bytes = Vec::new();
            let mut buf = [0u8; 4096];
            while let Ok(n @ 1..) = stream.read(&mut buf) {
                bytes.extend_from_slice(&buf[..n]);
            }
            String::from_utf8_lossy(&bytes).into_owned()
        })
    };
    let stdout = reader(Box::new(child.stdout.take().expect("piped")));
    let stderr = reader(Box::new(terminal));
    let status = wait_bounded(&mut child, || "process did not end in time".into());
    Finished {
        status,
        stdout: stdout.join().expect("stdout reader"),
        stderr: stderr.join().expect("stderr reader").replace("\r\n", "\n"),
    }
}
