//! Layer 3: the clap pieces the binaries share: the options every binary has ([`Common`]), how
//! the shared-memory binaries name a segment by key ([`KeyArgs`]) and the message-queue ones size
//! a new queue ([`QueueArgs`]), parsing the command line with what was typed escaped
//! ([`command_line`]) and `--generate`, which every binary answers with its man page or a
//! shell's completions ([`Generate`]), and the parsers of values, each of which says what was
//! expected.

use std::io::{self, Write};
use std::time::Duration;

use crate::ui::{ColorChoice, HintExt as _, Ui, one_line};

mod generate;

pub use generate::{Generate, generate};
use generate::{generate_and_exit, generate_command};

/// The options every binary takes; flatten it into the binary's clap struct.
#[derive(Debug, Clone, clap::Args)]
pub struct Common {
    /// When to colour: auto, always or never (auto honours NO_COLOR and CLICOLOR_FORCE)
    #[arg(long, value_enum, value_name = "WHEN", default_value_t = ColorChoice::Auto,
          global = true)]
    pub color: ColorChoice,

    /// Narrate every step on stderr: the system call, its arguments, its result and what it
    /// means (on a terminal, wrapped at its width, or at $COLUMNS where that is set)
    #[arg(long, global = true)]
    pub explain: bool,
}

/// How the shared-memory binaries name a segment by key rather than by IPC_PRIVATE and an id:
/// `--key KEY`, or `--ftok PATH [--proj ID]`. Flatten it into the binary's clap struct.
#[derive(Debug, Clone, clap::Args)]
pub struct KeyArgs {
    /// Name the segment by this key (decimal or 0x hex as ipcs shows it; not 0)
    #[arg(long, value_name = "KEY", value_parser = parse_key, conflicts_with = "ftok")]
    pub key: Option<libc::key_t>,

    /// Name the segment by the key ftok(3) computes from this existing path
    #[arg(long, value_name = "PATH")]
    pub ftok: Option<std::path::PathBuf>,

    /// The project id for --ftok (1 to 255)
    #[arg(long, value_name = "ID", default_value_t = 1, requires = "ftok",
          value_parser = clap::value_parser!(u8).range(1..=255))]
    pub proj: u8,
}

/// The size and permissions of a message queue this run creates. Flatten it into the binary's
/// clap struct; they do nothing to a queue that exists already.
#[derive(Debug, Clone, clap::Args)]
pub struct QueueArgs {
    /// Capacity of a new queue: how many messages it holds (default: the system's msg_default)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(i64).range(1..=65536))]
    pub maxmsg: Option<i64>,

    /// Largest message of a new queue, in bytes (default: the system's msgsize_default)
    #[arg(long, value_name = "BYTES", value_parser = clap::value_parser!(i64).range(1..=crate::mq::MSGSIZE_HARD_MAX as i64))]
    pub msgsize: Option<i64>,

    /// Permissions of a new queue, in octal as chmod takes them
    #[arg(long, value_name = "MODE", default_value = "600", value_parser = parse_perms)]
    pub perms: u32,
}

impl QueueArgs {
    /// How to open a queue for `access`, creating it with these sizes (or the system's
    /// defaults) and permissions if it does not exist.
    pub fn create_options(&self, access: crate::mq::Access) -> crate::mq::OpenOptions {
        let limits = crate::mq::Limits::read().ok();
        let mut options = crate::mq::OpenOptions::create(
            access,
            self.maxmsg.unwrap_or(limits.map_or(10, |l| l.msg_default)),
            self.msgsize
                .unwrap_or(limits.map_or(8192, |l| l.msgsize_default)),
        );
        options.perms = self.perms;
        options
    }

    /// Whether --maxmsg or --msgsize was given.
    pub fn sized(&self) -> bool {
        self.maxmsg.is_some() || self.msgsize.is_some()
    }
}

impl KeyArgs {
    /// The key asked for, if any; `--explain` narrates how ftok made it.
    pub fn resolve(&self, ui: &Ui) -> anyhow::Result<Option<libc::key_t>> {
        if let Some(key) = self.key {
            return Ok(Some(key));
        }
        let Some(path) = &self.ftok else {
            return Ok(None);
        };
        let key = crate::shm::ftok(path, self.proj).hint(
            "--ftok needs a path that exists, and the same path and --proj for shm-master and shm-slave",
        )?;
        ui.meaning(&format!(
            "ftok({:?}, {}) = {}: made from the file's inode and device numbers, so every \
             process that names the same path and id gets the same key",
            path.display().to_string(),
            self.proj,
            crate::shm::key_text(key)
        ));
        Ok(Some(key))
    }
}

// The command line

/// Parse the command line as clap's `Parser::parse` does (help, version and usage errors with
/// exit status 2 included), with the one difference of [`command_line`].
pub fn parse_args<P: clap::Parser>() -> P {
    command_line::<P>().0
}

/// The command line parsed into `P`, and clap's matches beside it (for `value_source`). A usage
/// error that quotes what was typed is printed with its control characters escaped
/// ([`one_line`], line by line): a value such as `$'\e]0;PWNED\a'` is shown, not played on the
/// terminal. Other errors, help and version go out as clap writes them, coloured or not.
///
/// A command line that starts with `--generate KIND` prints the program's man page or a shell's
/// completions instead ([`Generate`]), and exits.
pub fn command_line<P: clap::CommandFactory + clap::FromArgMatches>() -> (P, clap::ArgMatches) {
    // Only a command line with a control character in it is handled apart: clap with plain
    // styles, so that its text holds no escape of its own, then escaped here.
    let typed_control =
        std::env::args_os().any(|a| a.to_string_lossy().chars().any(|c| c.is_control()));
    let styled = |command: clap::Command| {
        if typed_control {
            command.styles(clap::builder::Styles::plain())
        } else {
            command
        }
    };
    if let Some((name, only)) = generate_command::<P>() {
        match styled(only).try_get_matches() {
            Ok(matches) => generate_and_exit(name, P::command(), &matches),
            Err(e) => usage_exit(e, typed_control),
        }
    }
    let parsed = styled(P::command())
        .try_get_matches()
        .and_then(|matches| Ok((P::from_arg_matches(&matches)?, matches)));
    match parsed {
        Ok(parsed) => parsed,
        Err(e) => usage_exit(e, typed_control),
    }
}

/// Print clap's error, help or version and exit as clap does; with a control character typed,
/// its text escaped line by line.
fn usage_exit(e: clap::Error, typed_control: bool) -> ! {
    if !(typed_control && e.use_stderr()) {
        e.exit()
    }
    let text: Vec<String> = e
        .render()
        .ansi()
        .to_string()
        .split('\n')
        .map(one_line)
        .collect();
    let _ = io::stderr().lock().write_all(text.join("\n").as_bytes());
    std::process::exit(e.exit_code());
}

// ---------------------------------------------------------------------------------------------
// Parsers of user input: each says what was expected

/// Seconds as a positive, finite decimal (`3`, `0.25`), at most a day.
pub fn parse_seconds(text: &str) -> Result<Duration, String> {
    let secs: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("expected a number of seconds such as 3 or 0.5, got {text:?}"))?;
    if secs.is_nan() {
        return Err(format!(
            "expected a number of seconds such as 3 or 0.5, got {text:?} (not a number)"
        ));
    }
    if secs <= 0.0 {
        return Err(format!(
            "expected a number of seconds above 0, got {text:?}"
        ));
    }
    if secs > 86_400.0 {
        return Err(format!(
            "expected at most 86400 seconds (a day), got {text:?}"
        ));
    }
    let duration = Duration::try_from_secs_f64(secs).map_err(|e| format!("{text:?}: {e}"))?;
    if duration < Duration::from_micros(1) {
        return Err(format!(
            "expected at least 0.000001 seconds (a microsecond), got {text:?}"
        ));
    }
    Ok(duration)
}

/// Permission bits in octal, as chmod takes them: `600`, `0600`, `0o640`; at most 777.
pub fn parse_perms(text: &str) -> Result<u32, String> {
    let t = text.trim();
    let digits = t.strip_prefix("0o").unwrap_or(t);
    let bad =
        || format!("expected octal permissions such as 600 or 0640 (digits 0-7), got {text:?}");
    if digits.is_empty() || digits.len() > 4 || !digits.bytes().all(|b| (b'0'..=b'7').contains(&b))
    {
        return Err(bad());
    }
    let mode = u32::from_str_radix(digits, 8).map_err(|_| bad())?;
    if mode > 0o777 {
        return Err(format!(
            "expected permission bits from 000 to 777 (read, write for owner, group, others), got {text:?}"
        ));
    }
    Ok(mode)
}

/// A System V IPC key: decimal (`1234`) or hexadecimal as ipcs prints it (`0x000004d2`), any
/// 32-bit pattern but 0, which is IPC_PRIVATE.
pub fn parse_key(text: &str) -> Result<libc::key_t, String> {
    let t = text.trim();
    let value: i64 = if let Some(hex) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        // from_str_radix would take a sign too: 0x-5 is no key.
        Some(hex)
            .filter(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_hexdigit()))
            .and_then(|h| i64::from_str_radix(h, 16).ok())
            .filter(|v| *v <= u32::MAX as i64)
            .ok_or_else(|| format!("expected a hexadecimal key up to 0xffffffff, got {text:?}"))?
    } else {
        t.parse::<i64>()
            .ok()
            .filter(|v| *v >= i32::MIN as i64 && *v <= u32::MAX as i64)
            .ok_or_else(|| {
                format!("expected a key: a number such as 1234 or 0x4d2 (as ipcs shows it), got {text:?}")
            })?
    };
    if value == 0 {
        return Err("key 0 is IPC_PRIVATE, which makes a new segment every time: leave out --key for that, or pick another number".into());
    }
    // A key is a 32-bit pattern: 0xffffffff and -1 are the same key.
    Ok(value as u32 as libc::key_t)
}

/// A System V identifier (segment id): a whole number from 0 to 2147483647.
pub fn parse_ipc_id(text: &str) -> Result<i32, String> {
    text.trim()
        .parse::<i32>()
        .ok()
        .filter(|v| *v >= 0)
        .ok_or_else(|| {
            format!(
                "expected a segment id, a whole number from 0 to {} (shm-master prints it), got {text:?}",
                i32::MAX
            )
        })
}

/// An `int` as scanf("%d") reads one: optional sign, decimal digits, within 32 bits.
pub fn parse_int(text: &str) -> Result<i32, String> {
    text.trim().parse::<i32>().map_err(|_| {
        format!(
            "expected a whole number from {} to {}, got {text:?}",
            i32::MIN,
            i32::MAX
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds() {
        assert_eq!(parse_seconds("3"), Ok(Duration::from_secs(3)));
        assert_eq!(parse_seconds("0.25"), Ok(Duration::from_millis(250)));
        for bad in ["0", "-1", "abc", "", "nan", "inf", "1e9"] {
            assert!(parse_seconds(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn perms() {
        assert_eq!(parse_perms("600"), Ok(0o600));
        assert_eq!(parse_perms("0640"), Ok(0o640));
        assert_eq!(parse_perms("0o666"), Ok(0o666));
        assert_eq!(parse_perms("0"), Ok(0));
        for bad in ["800", "1777", "rw", "", "-600", "06000"] {
            assert!(parse_perms(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn keys() {
        assert_eq!(parse_key("1234"), Ok(1234));
        assert_eq!(parse_key("0x4d2"), Ok(1234));
        assert_eq!(parse_key("0xffffffff"), Ok(-1));
        assert_eq!(parse_key("-1"), Ok(-1));
        for bad in ["0", "0x0", "x", "0x1ffffffff", "99999999999", ""] {
            assert!(parse_key(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ids_and_ints() {
        assert_eq!(parse_ipc_id("7"), Ok(7));
        assert!(parse_ipc_id("-7").is_err());
        assert!(parse_ipc_id("2147483648").is_err());
        assert!(parse_ipc_id("seven").is_err());
        assert_eq!(parse_int("-9"), Ok(-9));
        assert_eq!(parse_int("+5"), Ok(5));
        assert!(parse_int("5abc").is_err());
        assert!(parse_int("2147483648").is_err());
    }
}
