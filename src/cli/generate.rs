//! `--generate`: the man page and the shell completions, made from the clap definitions.

use std::io;

use crate::ui::{ColorChoice, Ui};

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
pub(super) fn generate_command<P: clap::CommandFactory>() -> Option<(&'static str, clap::Command)> {
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
pub(super) fn generate_and_exit(
    name: &'static str,
    command: clap::Command,
    matches: &clap::ArgMatches,
) -> ! {
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
