//! Layer 3: the clap pieces the binaries share: the options every binary has ([`Common`]), how
//! the shared-memory binaries name a segment by key ([`KeyArgs`]) and the message-queue ones size
//! a new queue ([`QueueArgs`]), parsing the command line with what was typed escaped
//! ([`command_line`]) and `--generate`, which every binary answers with its man page or a
//! shell's completions ([`Generate`]), and the parsers of values, each of which says what was
//! expected.

use std::io::{self, Write};
use std::time::Duration;

use crate::ui::{ColorChoice, HintExt as _, Ui, one_line};

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
// --generate: the man page and the shell completions, made from the clap definitions

/// What `PROGRAM --generate KIND` prints on stdout, as ripgrep's `rg --generate` does: made from
/// the program's own clap definition, so that the man page and the completions list exactly the
/// options and subcommands it has. `--generate` is hidden from `-h` and `--help`; it must be
/// the first and only option (the program's own arguments, even required ones, are then not
/// asked for), and a KIND that is none of these is a usage error that lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Generate {
    /// The man page, in roff: `man -l -` shows it
    Man,
    /// Completions for bash (bash-completion loads them by the program's name)
    CompleteBash,
    /// Completions for zsh (a file `_PROGRAM` in a folder of $fpath)
    CompleteZsh,
    /// Completions for fish (`PROGRAM.fish` in ~/.config/fish/completions)
    CompleteFish,
    /// Completions for PowerShell
    CompletePowershell,
}

/// The id of `--generate` in [`generate_command`]'s matches.
const GENERATE: &str = "generate";

/// Where the command line starts with `--generate` (or `--generate=KIND`): a command that takes
/// that option alone, to parse the command line with instead of the program's own. Any other
/// command line is parsed as if `--generate` did not exist, so nothing else changes. With it,
/// the program's name for the rest of its short life.
fn generate_command<P: clap::CommandFactory>() -> Option<(&'static str, clap::Command)> {
    let first = std::env::args_os().nth(1)?;
    let first = first.as_encoded_bytes();
    if first != b"--generate" && !first.starts_with(b"--generate=") {
        return None;
    }
    let name: &'static str = Box::leak(P::command().get_name().into());
    Some((
        name,
        clap::Command::new(name)
            .override_usage(format!("{name} --generate <KIND>"))
            .disable_help_flag(true)
            .disable_version_flag(true)
            .arg(
                clap::Arg::new(GENERATE)
                    .long("generate")
                    .value_name("KIND")
                    .required(true)
                    .value_parser(clap::value_parser!(Generate)),
            ),
    ))
}

/// Print what `--generate` asked for, made from `command`, and exit: 0, also when stdout was
/// closed early (`| head`); 1 when it could not be written.
fn generate_and_exit(name: &'static str, command: clap::Command, matches: &clap::ArgMatches) -> ! {
    let kind = *matches
        .get_one::<Generate>(GENERATE)
        .expect("--generate is required");
    let text = generate(kind, command);
    let ui = Ui::new(name, ColorChoice::Auto, false);
    let failed = ui.finish(crate::ui::out_raw(&text)) != std::process::ExitCode::SUCCESS;
    std::process::exit(i32::from(failed))
}

/// The man page or completions `kind` names, for the program `command` defines.
pub fn generate(kind: Generate, mut command: clap::Command) -> Vec<u8> {
    use clap_complete::Shell;
    let shell = match kind {
        Generate::Man => return man_page(command),
        Generate::CompleteBash => Shell::Bash,
        Generate::CompleteZsh => Shell::Zsh,
        Generate::CompleteFish => Shell::Fish,
        Generate::CompletePowershell => Shell::PowerShell,
    };
    let name = command.get_name().to_owned();
    let mut text = Vec::new();
    clap_complete::generate(shell, &mut command, name.as_str(), &mut text);
    if shell == Shell::Bash && name.contains('-') {
        // clap_complete's bash script names the state of `pipe-demo writers` pipe__demo__subcmd__
        // writers where it reads the words, and pipe__subcmd__demo__subcmd__writers where it
        // offers the subcommand's options, which then never match (clap issue 6421): spell
        // the second as the first.
        let wrong = format!("{}__subcmd__", name.replace('-', "__subcmd__"));
        let right = format!("{}__subcmd__", name.replace('-', "__"));
        text = String::from_utf8_lossy(&text)
            .replace(&wrong, &right)
            .into_bytes();
    }
    text
}

/// The program's man page: NAME, SYNOPSIS, DESCRIPTION (the one-line description, then the
/// text `--help` shows after the options), OPTIONS, then under SUBCOMMANDS each subcommand with
/// its synopsis, description and options, as `PROGRAM SUBCOMMAND --help` shows them, and
/// VERSION. clap_mangen renders the synopses and the options; the descriptions are rendered
/// here, so that their examples become a list rather than lines run together.
fn man_page(command: clap::Command) -> Vec<u8> {
    use clap_mangen::Man;
    use clap_mangen::roff::Roff;
    let mut command = command.disable_help_subcommand(true);
    command.build();
    let name = command.get_name().to_uppercase();
    let source = format!(
        "ipc-lab {}",
        command.get_version().unwrap_or(env!("CARGO_PKG_VERSION"))
    );
    let man = Man::new(command.clone());
    // The title by hand: clap_mangen leaves out an empty date, which moves the fields after it.
    let mut page = Roff::new().render().into_bytes();
    page.extend(
        format!(
            ".TH \"{}\" 1 \"\" \"{}\" \"ipc-lab manual\"\n",
            name.replace('-', "\\-"),
            source.replace('-', "\\-")
        )
        .as_bytes(),
    );
    page.extend(section(|w| man.render_name_section(w)));
    page.extend(section(|w| man.render_synopsis_section(w)));
    let mut roff = Roff::new();
    roff.control("SH", ["DESCRIPTION"]);
    describe(&mut roff, &command);
    page.extend(section(|w| roff.to_writer(w)));
    if command.get_arguments().any(|a| !a.is_hide_set()) {
        page.extend(section(|w| man.render_options_section(w)));
    }
    let subcommands: Vec<&clap::Command> = command
        .get_subcommands()
        .filter(|s| !s.is_hide_set())
        .collect();
    if !subcommands.is_empty() {
        let global: Vec<String> = command
            .get_arguments()
            .filter(|a| a.is_global_set() && !a.is_hide_set())
            .filter_map(|a| a.get_long().map(|long| format!("--{long}")))
            .collect();
        let mut roff = Roff::new();
        roff.control("SH", ["SUBCOMMANDS"]);
        if !global.is_empty() {
            roff.text([clap_mangen::roff::roman(format!(
                "Each subcommand takes the options listed under it, and {} (see OPTIONS).",
                global.join(" and ")
            ))]);
        }
        page.extend(section(|w| roff.to_writer(w)));
    }
    for sub in subcommands {
        // Its own options only: the global ones and -h are listed under OPTIONS.
        let sub = sub.clone().mut_args(|a| {
            if a.is_global_set() || a.get_id() == "help" {
                a.hide(true)
            } else {
                a
            }
        });
        let man = Man::new(sub.clone());
        let mut roff = Roff::new();
        let heading = sub
            .get_bin_name()
            .unwrap_or(sub.get_name())
            .replace('-', "\\-");
        roff.control("SS", [heading.as_str()]);
        page.extend(section(|w| roff.to_writer(w)));
        page.extend(body(&section(|w| man.render_synopsis_section(w))));
        let mut roff = Roff::new();
        roff.control("PP", []);
        describe(&mut roff, &sub);
        page.extend(section(|w| roff.to_writer(w)));
        if sub.get_arguments().any(|a| !a.is_hide_set()) {
            page.extend(body(&section(|w| man.render_options_section(w))));
        }
    }
    page.extend(section(|w| man.render_version_section(w)));
    page
}

/// Roff that `render` writes, without the preamble each of clap_mangen's sections starts with
/// (the page has it once, at its top).
fn section(render: impl FnOnce(&mut Vec<u8>) -> io::Result<()>) -> Vec<u8> {
    let mut text = Vec::new();
    // Writing to a Vec cannot fail.
    render(&mut text).expect("writing to a Vec");
    let preamble = clap_mangen::roff::Roff::new().render();
    match text.strip_prefix(preamble.as_bytes()) {
        Some(rest) => rest.to_vec(),
        None => text,
    }
}

/// A section without its `.SH` line, to go under a subcommand's heading.
fn body(section: &[u8]) -> Vec<u8> {
    match section.strip_prefix(b".SH") {
        Some(rest) => rest
            .iter()
            .position(|b| *b == b'\n')
            .map_or_else(Vec::new, |at| rest[at + 1..].to_vec()),
        None => section.to_vec(),
    }
}

/// `command`'s one-line description, then the text `--help` shows after its options. Its
/// paragraphs are filled to the page's width. Its indented lines are the examples, each a
/// command and what it does after two spaces or more (`pipe-demo dup   close(1); ...`), and
/// lists (`- ...`), each item's further lines indented deeper: they become a list of commands
/// in bold with their text beside, and a list of bullets.
fn describe(roff: &mut clap_mangen::roff::Roff, command: &clap::Command) {
    use clap_mangen::roff::{bold, roman};
    if let Some(about) = command.get_long_about().or(command.get_about()) {
        roff.text([roman(about.to_string())]);
    }
    let Some(after) = command.get_after_long_help().or(command.get_after_help()) else {
        return;
    };
    roff.control("PP", []);
    let after = after.to_string();
    let mut lines = after.lines().peekable();
    while let Some(line) = lines.next() {
        let text = line.trim_start();
        let indent = line.len() - text.len();
        if text.is_empty() {
            roff.control("PP", []);
            continue;
        }
        if indent == 0 {
            roff.text([roman(line)]);
            continue;
        }
        // An item: this line, and the lines after it indented deeper.
        let mut more = Vec::new();
        while let Some(next) = lines.peek() {
            let next_text = next.trim_start();
            if next_text.is_empty() || next.len() - next_text.len() <= indent {
                break;
            }
            more.push(next_text);
            lines.next();
        }
        if let Some(item) = text.strip_prefix("- ") {
            roff.control("IP", ["\\(bu", "2"]);
            roff.text([roman(item)]);
        } else {
            let (example, what) = text.split_once("  ").unwrap_or((text, ""));
            roff.control("TP", []);
            roff.text([bold(example)]);
            if !what.trim().is_empty() {
                roff.text([roman(what.trim())]);
            }
        }
        for line in more {
            roff.text([roman(line)]);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Parsers of user input: each says what was expected

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
