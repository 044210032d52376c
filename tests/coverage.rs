//! docs/coverage.md never lies: every claim it lists from the lecture notes names a command that
//! the lab sheet really shows, in the section it links to, and a test that really exists.
//!
//! The table has the columns `# | section | claim | demonstrated by | checked by`. For each row:
//!
//! - `#` counts 1, 2, 3, ... in order, and no cell is empty;
//! - `section` is one of the notes' sections A, B, B1, B2, B3, B4, and each of them has a row;
//! - `demonstrated by` holds one or more links ``[`COMMAND`](CHAPTER.md#ANCHOR)``: the chapter is a
//!   file of docs/, the anchor is one of its headings as GitHub makes anchors, and the command
//!   stands in that heading's section (down to the next heading of the same or a higher level) as
//!   a whole command: a line of its own (after an optional `$ `), or a code span `` `COMMAND` ``;
//! - `checked by` holds one or more code spans `` `tests/FILE.rs::NAME` `` (a test crate of its
//!   own, such as tests/docs.rs) or `` `tests/lab/MODULE.rs::NAME` `` (a module of the lab crate,
//!   or a submodule: `tests/lab/check/shm.rs::NAME`): the file exists and has `fn NAME(` under a
//!   test attribute (`#[test]`, or one whose path ends in `::test`), not `#[ignore]`d: a test
//!   that never runs by default checks nothing.
//!
//! The checker reads files through a function, so that its own tests can feed it small inline
//! sheets and see it refuse a made-up command, a made-up test, a missing anchor.
//!
//! The same goes for the structure of src/ (design.md, "Layout"): `sys` is layer 0, `ui` 1, the
//! mechanisms 2, `cli` 3 and the binaries 4. No file may use a module of a higher layer than its
//! own, and the mechanisms may use one another without a cycle; a failure names the file and
//! line. Its checker takes the files as text, so that its own tests can show it an upward edge
//! and a cycle.
//!
//! And a Rust listing of the sheet (a block ```` ```rust PATH ````) is the file at PATH, line for
//! line, and every example of examples/ is listed on some page: a failure names the page's line,
//! the file and the first line that differs.

use std::collections::HashMap;
use std::path::Path;

/// The notes' sections the table must cover, each with one row at least.
const SECTIONS: [&str; 6] = ["A", "B", "B1", "B2", "B3", "B4"];

/// The table's header, cell by cell.
const COLUMNS: [&str; 5] = ["#", "section", "claim", "demonstrated by", "checked by"];

/// Reads a file by its path relative to the top of the crate (`docs/README.md`), if it exists.
type Read<'a> = &'a dyn Fn(&str) -> Option<String>;

// ---------------------------------------------------------------------------------------------
// Markdown: table cells, headings and their anchors, sections

/// The cells of a table line `| a | b \| c |`: split on every `|` not escaped by a backslash (as
/// GitHub does, also inside code spans), `\|` then read as `|`, each cell trimmed.
fn cells(line: &str) -> Vec<String> {
    let inner = line.trim();
    let inner = inner.strip_prefix('|').unwrap_or(inner);
    let inner = match inner.strip_suffix('|') {
        Some(rest) if !rest.ends_with('\\') => rest,
        _ => inner,
    };
    let mut out = Vec::new();
    let mut cell = String::new();
    let mut chars = inner.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'|') => {
                cell.push('|');
                chars.next();
            }
            '|' => out.push(std::mem::take(&mut cell).trim().to_string()),
            _ => cell.push(c),
        }
    }
    out.push(cell.trim().to_string());
    out
}

/// The lines of `md` outside fenced code blocks (```` ``` ```` or `~~~`), with their index.
fn outside_fences(md: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let mut fence: Option<(char, usize)> = None;
    for (i, line) in md.lines().enumerate() {
        let indent = line.len() - line.trim_start_matches(' ').len();
        let body = line.trim_start_matches(' ');
        let opener = body.chars().next().filter(|c| *c == '`' || *c == '~');
        let run = opener.map_or(0, |c| body.len() - body.trim_start_matches(c).len());
        match fence {
            Some((c, n)) => {
                if indent <= 3 && opener == Some(c) && run >= n && body[run..].trim().is_empty() {
                    fence = None;
                }
            }
            None if indent <= 3 && run >= 3 => fence = Some((opener.unwrap(), run)),
            None => out.push((i, line)),
        }
    }
    out
}

/// A heading of a page: its level (1 to 6), its anchor, and its line (0-based).
#[derive(Debug, Clone, PartialEq)]
struct Heading {
    level: usize,
    anchor: String,
    line: usize,
}

/// The text of an ATX heading line (`## Giving up: --timeout`) and its level, if it is one.
fn heading_text(line: &str) -> Option<(usize, &str)> {
    let indent = line.len() - line.trim_start_matches(' ').len();
    if indent > 3 {
        return None;
    }
    let body = &line[indent..];
    let level = body.len() - body.trim_start_matches('#').len();
    let rest = &body[level..];
    if !(1..=6).contains(&level) || !(rest.is_empty() || rest.starts_with([' ', '\t'])) {
        return None;
    }
    // An optional closing sequence of #s, after a space.
    let text = rest.trim();
    let closed = text.trim_end_matches('#');
    let text = if closed.is_empty() || closed.ends_with([' ', '\t']) {
        closed.trim_end()
    } else {
        text
    };
    Some((level, text))
}

/// What GitHub shows of a heading's text: a link `[text](url)` is its text, and a backslash
/// escape `\X` is `X`. (Other inline markup is punctuation, which the anchor drops anyway.)
fn rendered(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if c == '\\' && rest.len() > 1 {
            let next = rest[1..].chars().next().unwrap();
            out.push(next);
            rest = &rest[1 + next.len_utf8()..];
        } else if c == '['
            && let Some(close) = rest.find("](")
            && let Some(end) = rest[close..].find(')')
        {
            out.push_str(&rendered(&rest[1..close]));
            rest = &rest[close + end + 1..];
        } else {
            out.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    out
}

/// GitHub's anchor for a heading's text, before de-duplication: lower case, every character but
/// letters, digits, `_`, `-` and spaces dropped, each space a `-`.
/// `Giving up: --timeout` is `giving-up---timeout`; `How the shell builds A | B` is
/// `how-the-shell-builds-a--b`; `IPC_PRIVATE is not private` is `ipc_private-is-not-private`.
fn github_anchor(text: &str) -> String {
    rendered(text)
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | ' '))
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// The headings of a page, outside code blocks (a C program's `#include` is none), with their
/// anchors: the second heading with the same anchor gets `-1`, the third `-2`, as on GitHub.
fn headings(md: &str) -> Vec<Heading> {
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut out = Vec::new();
    for (line, text) in outside_fences(md) {
        let Some((level, text)) = heading_text(text) else {
            continue;
        };
        let base = github_anchor(text);
        let n = seen.entry(base.clone()).or_insert(0);
        let anchor = if *n == 0 { base } else { format!("{base}-{n}") };
        *n += 1;
        out.push(Heading {
            level,
            anchor,
            line,
        });
    }
    out
}

/// The lines of the section an anchor names: its heading, and every line down to the next
/// heading of the same or a higher level (its subsections are part of it). None: no such anchor.
fn section<'a>(md: &'a str, anchor: &str) -> Option<Vec<&'a str>> {
    let all = headings(md);
    let at = all.iter().position(|h| h.anchor == anchor)?;
    let start = all[at].line;
    let end = all[at + 1..]
        .iter()
        .find(|h| h.level <= all[at].level)
        .map_or(usize::MAX, |h| h.line);
    Some(md.lines().skip(start).take(end - start).collect())
}

/// The code spans of a line: `` a `b` c `d` `` gives `b` and `d`.
fn code_spans(line: &str) -> Vec<&str> {
    line.split('`').skip(1).step_by(2).collect()
}

/// Whether `command` stands in these lines as a whole command: a line of its own (after an
/// optional `$ `, as in a transcript), or a code span of its own. Part of a longer command does
/// not count: `mq-recv --count 2` is not in `$ mq-recv --count 2 --unlink /lab`.
fn shows_command(lines: &[&str], command: &str) -> bool {
    lines.iter().any(|line| {
        let t = line.trim();
        t == command || t.strip_prefix("$ ") == Some(command) || code_spans(line).contains(&command)
    })
}

// ---------------------------------------------------------------------------------------------
// The table

/// One row of the table, as written: its line in the page (1-based) and its cells.
#[derive(Debug)]
struct Row {
    line: usize,
    cells: Vec<String>,
}

impl Row {
    /// How a message names the row: `row 12 (B2, line 40: Message k has to be stored in kernel...)`.
    fn name(&self) -> String {
        let number = self.cells.first().map_or("?", String::as_str);
        let section = self.cells.get(1).map_or("?", String::as_str);
        let claim = self
            .cells
            .get(2)
            .map_or("", String::as_str)
            .replace('"', "");
        let mut short: String = claim.chars().take(50).collect();
        if short.len() < claim.len() {
            short.push_str("...");
        }
        format!("row {number} ({section}, line {}: {short})", self.line)
    }
}

/// The rows of the coverage table: the table whose header is [`COLUMNS`], then its delimiter
/// line, then every line that starts with `|`.
fn table_rows(md: &str) -> Result<Vec<Row>, String> {
    let lines: Vec<&str> = md.lines().collect();
    let header = lines
        .iter()
        .position(|l| {
            l.trim_start().starts_with('|')
                && cells(l)
                    .iter()
                    .map(|c| c.to_lowercase())
                    .eq(COLUMNS.iter().map(|c| c.to_string()))
        })
        .ok_or_else(|| format!("no table with the columns | {} |", COLUMNS.join(" | ")))?;
    let delimiter = lines.get(header + 1).copied().unwrap_or("");
    if !cells(delimiter)
        .iter()
        .all(|c| !c.is_empty() && c.chars().all(|ch| matches!(ch, '-' | ':')))
    {
        return Err(format!(
            "line {}: the table's header is not followed by its |---| line",
            header + 2
        ));
    }
    Ok(lines
        .iter()
        .enumerate()
        .skip(header + 2)
        .take_while(|(_, l)| l.trim_start().starts_with('|'))
        .map(|(i, l)| Row {
            line: i + 1,
            cells: cells(l),
        })
        .collect())
}

/// The links ``[`COMMAND`](TARGET)`` of a cell. Any other link is an error: a command must be
/// written as code, and point somewhere.
fn command_links(cell: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    let mut rest = cell;
    while let Some(open) = rest.find('[') {
        let Some((command, tail)) = rest[open + 1..]
            .strip_prefix('`')
            .and_then(|a| a.split_once("`]("))
        else {
            return Err(format!(
                "a link that is not [`COMMAND`](CHAPTER.md#ANCHOR): {}",
                &rest[open..]
            ));
        };
        let Some((target, tail)) = tail.split_once(')') else {
            return Err(format!("an unclosed link: {}", &rest[open..]));
        };
        out.push((command.to_string(), target.to_string()));
        rest = tail;
    }
    if out.len() != cell.matches("](").count() {
        return Err(format!(
            "a link that is not [`COMMAND`](CHAPTER.md#ANCHOR) in: {cell}"
        ));
    }
    Ok(out)
}

/// Whether a function is a test that runs: what the source says of `fn NAME(`.
#[derive(Debug, PartialEq)]
enum TestFn {
    Missing,
    NotATest,
    Ignored,
    Test,
}

/// Whether an attribute (`#[test]`, `#[tokio::test]`, `#[test_log::test]`) makes a test.
fn is_test_attribute(attribute: &str) -> bool {
    let path = attribute
        .trim_start_matches("#[")
        .split(['(', ']', ' '])
        .next()
        .unwrap_or("");
    path == "test" || path.ends_with("::test")
}

/// Finds `fn NAME(` (or `fn NAME<`) in `source` and reads the attributes above it, over blank
/// lines and comments.
fn test_fn(source: &str, name: &str) -> TestFn {
    let lines: Vec<&str> = source.lines().collect();
    let mut found = TestFn::Missing;
    for (i, line) in lines.iter().enumerate() {
        let mut t = line.trim_start();
        for prefix in ["pub(crate) ", "pub ", "async "] {
            t = t.strip_prefix(prefix).unwrap_or(t);
        }
        let Some(rest) = t.strip_prefix("fn ").and_then(|r| r.strip_prefix(name)) else {
            continue;
        };
        if !rest.starts_with(['(', '<']) {
            continue;
        }
        let attributes: Vec<&str> = lines[..i]
            .iter()
            .rev()
            .map(|l| l.trim())
            .take_while(|l| l.is_empty() || l.starts_with("//") || l.starts_with("#["))
            .filter(|l| l.starts_with("#["))
            .collect();
        let this = if !attributes.iter().any(|a| is_test_attribute(a)) {
            TestFn::NotATest
        } else if attributes.iter().any(|a| a.starts_with("#[ignore")) {
            TestFn::Ignored
        } else {
            TestFn::Test
        };
        // Two functions of that name (in two modules): the best one counts.
        let rank = |f: &TestFn| match f {
            TestFn::Missing => 0,
            TestFn::NotATest => 1,
            TestFn::Ignored => 2,
            TestFn::Test => 3,
        };
        if rank(&this) > rank(&found) {
            found = this;
        }
    }
    found
}

/// Everything wrong with the table of `page` (the text of docs/coverage.md), one message each,
/// naming the row. Chapters and tests are read through `read`. Empty: all is well.
fn check(page: &str, read: Read) -> Vec<String> {
    let rows = match table_rows(page) {
        Ok(rows) => rows,
        Err(e) => return vec![e],
    };
    if rows.is_empty() {
        return vec!["the table has no rows".into()];
    }
    let mut problems = Vec::new();
    let mut files: HashMap<String, Option<String>> = HashMap::new();
    let mut file = |path: &str| -> Option<String> {
        files
            .entry(path.to_string())
            .or_insert_with(|| read(path))
            .clone()
    };
    for (i, row) in rows.iter().enumerate() {
        let name = row.name();
        if row.cells.len() != COLUMNS.len() {
            problems.push(format!(
                "{name}: {} cells, where the table has {}",
                row.cells.len(),
                COLUMNS.len()
            ));
            continue;
        }
        for (cell, column) in row.cells.iter().zip(COLUMNS) {
            if cell.is_empty() {
                problems.push(format!("{name}: the cell `{column}` is empty"));
            }
        }
        if row.cells[0] != (i + 1).to_string() {
            problems.push(format!(
                "{name}: numbered {:?}, but it is row {} (rows count 1, 2, 3, ... in order)",
                row.cells[0],
                i + 1
            ));
        }
        if !SECTIONS.contains(&row.cells[1].as_str()) {
            problems.push(format!(
                "{name}: section {:?} is not one of the notes' {}",
                row.cells[1],
                SECTIONS.join(", ")
            ));
        }

        // demonstrated by
        match command_links(&row.cells[3]) {
            Err(e) => problems.push(format!("{name}: demonstrated by: {e}")),
            Ok(links) if links.is_empty() && !row.cells[3].is_empty() => problems.push(format!(
                "{name}: demonstrated by names no command ([`COMMAND`](CHAPTER.md#ANCHOR))"
            )),
            Ok(links) => {
                for (command, target) in links {
                    problems.extend(
                        check_demo(&command, &target, &mut file)
                            .map(|e| format!("{name}: `{command}`: {e}")),
                    );
                }
            }
        }

        // checked by
        let tests = code_spans(&row.cells[4]);
        if tests.is_empty() && !row.cells[4].is_empty() {
            problems.push(format!(
                "{name}: checked by names no test (`tests/FILE.rs::NAME`)"
            ));
        }
        for test in tests {
            if let Some(e) = check_test(test, &mut file) {
                problems.push(format!("{name}: checked by `{test}`: {e}"));
            }
        }
    }
    for section in SECTIONS {
        if !rows
            .iter()
            .any(|r| r.cells.get(1).is_some_and(|s| s == section))
        {
            problems.push(format!("section {section} of the notes has no row"));
        }
    }
    problems
}

/// What is wrong with one command link, if anything.
fn check_demo(
    command: &str,
    target: &str,
    file: &mut dyn FnMut(&str) -> Option<String>,
) -> Option<String> {
    let Some((chapter, anchor)) = target.split_once('#') else {
        return Some(format!(
            "the link {target} names no section: CHAPTER.md#ANCHOR"
        ));
    };
    if chapter.is_empty()
        || !chapter.ends_with(".md")
        || chapter.contains("..")
        || chapter.starts_with('/')
        || chapter.contains(':')
    {
        return Some(format!(
            "the link {target} is not to a chapter of docs/ (CHAPTER.md#ANCHOR)"
        ));
    }
    let path = format!("docs/{chapter}");
    let Some(text) = file(&path) else {
        return Some(format!("{path} does not exist"));
    };
    let Some(lines) = section(&text, anchor) else {
        return Some(format!("{path} has no heading whose anchor is #{anchor}"));
    };
    if shows_command(&lines, command) {
        return None;
    }
    let all: Vec<&str> = text.lines().collect();
    Some(if shows_command(&all, command) {
        format!("{path} shows it, but not in the section #{anchor}")
    } else {
        format!("{path} never shows this command (a line of its own, or a code span)")
    })
}

/// Whether a test reference may name the file at `path`: `tests/FILE.rs`, a file directly in
/// tests/ (a test crate of its own), or `tests/lab/MODULE.rs` or `tests/lab/MODULE/SUB.rs` (a
/// module of the lab crate, or one of its submodules), each part of those a plain name.
fn is_test_file(path: &str) -> bool {
    let Some(stem) = path
        .strip_prefix("tests/")
        .and_then(|f| f.strip_suffix(".rs"))
    else {
        return false;
    };
    let plain =
        |part: &str| !part.is_empty() && part.chars().all(|c| c.is_alphanumeric() || c == '_');
    match stem.split('/').collect::<Vec<_>>().as_slice() {
        [file] => !file.is_empty(),
        ["lab", module] => plain(module),
        ["lab", module, sub] => plain(module) && plain(sub),
        _ => false,
    }
}

/// What is wrong with one test reference `tests/FILE.rs::NAME` or `tests/lab/MODULE.rs::NAME`,
/// if anything.
fn check_test(test: &str, file: &mut dyn FnMut(&str) -> Option<String>) -> Option<String> {
    let Some((path, name)) = test.split_once("::") else {
        return Some("not a test: write tests/FILE.rs::NAME".into());
    };
    let well_formed = is_test_file(path)
        && !name.is_empty()
        && name.chars().all(|c| c.is_alphanumeric() || c == '_');
    if !well_formed {
        return Some(
            "not a test: write tests/FILE.rs::NAME, a file directly in tests/, or \
             tests/lab/MODULE.rs::NAME, a module of the lab crate"
                .into(),
        );
    }
    let Some(source) = file(path) else {
        return Some(format!("{path} does not exist"));
    };
    match test_fn(&source, name) {
        TestFn::Test => None,
        TestFn::Missing => Some(format!("{path} has no fn {name}(")),
        TestFn::NotATest => Some(format!(
            "fn {name} in {path} is not a test (no #[test] above it)"
        )),
        TestFn::Ignored => Some(format!(
            "fn {name} in {path} is #[ignore]d: it runs only when asked, and checks nothing by default"
        )),
    }
}

/// Every link of `page` (docs/coverage.md: its table, its intro, its gaps) to a page of docs/
/// and a heading: the page exists and has the heading. `#ANCHOR` alone is a heading of `page`.
fn check_links(page: &str, read: Read) -> Vec<String> {
    let mut problems = Vec::new();
    for (i, line) in page.lines().enumerate() {
        for target in line.split("](").skip(1).filter_map(|t| t.split_once(')')) {
            let target = target.0;
            if target.contains("://") {
                continue;
            }
            let (file, anchor) = target.split_once('#').unwrap_or((target, ""));
            let text = if file.is_empty() {
                Some(page.to_string())
            } else if file.contains("..") || file.starts_with('/') {
                None
            } else {
                read(&format!("docs/{file}"))
            };
            let Some(text) = text else {
                problems.push(format!(
                    "line {}: the link {target} leads to no page of docs/",
                    i + 1
                ));
                continue;
            };
            if !anchor.is_empty() && !headings(&text).iter().any(|h| h.anchor == anchor) {
                problems.push(format!(
                    "line {}: the link {target} leads to no heading",
                    i + 1
                ));
            }
        }
    }
    problems
}

// ---------------------------------------------------------------------------------------------
// The real sheet

fn read_from_crate(path: &str) -> Option<String> {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(path)).ok()
}

#[test]
fn every_row_names_a_command_of_its_section_and_a_test_that_exists() {
    let page = read_from_crate("docs/coverage.md").expect("docs/coverage.md exists");
    let mut problems = check(&page, &read_from_crate);
    problems.extend(check_links(&page, &read_from_crate));
    assert!(
        problems.is_empty(),
        "docs/coverage.md:\n{}",
        problems.join("\n")
    );
    let rows = table_rows(&page).unwrap();
    let per_section: Vec<String> = SECTIONS
        .iter()
        .map(|s| format!("{s} {}", rows.iter().filter(|r| r.cells[1] == *s).count()))
        .collect();
    eprintln!("{} claims: {}", rows.len(), per_section.join(", "));
}

#[test]
fn the_lab_sheets_index_links_the_coverage_table() {
    let index = read_from_crate("docs/README.md").expect("docs/README.md exists");
    assert!(
        index.contains("](coverage.md)"),
        "docs/README.md has no link to coverage.md"
    );
}

// ---------------------------------------------------------------------------------------------
// Every page of the sheet: its links lead somewhere

/// The pages of the sheet, as paths from the top of the crate: docs/*.md and docs/deeper/*.md.
fn sheet_pages() -> Vec<String> {
    let mut pages = Vec::new();
    for dir in ["docs", "docs/deeper"] {
        let full = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
        let mut here: Vec<String> = std::fs::read_dir(&full)
            .unwrap_or_else(|e| panic!("{dir}/: {e}"))
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|name| name.ends_with(".md"))
            .map(|name| format!("{dir}/{name}"))
            .collect();
        here.sort();
        pages.extend(here);
    }
    pages
}

/// Where a relative link `target` (no `#anchor`) of the page at `page` leads, as a path from the
/// top of the crate: `../03-pipes.md` from `docs/deeper/03-x.md` is `docs/03-pipes.md`. None for
/// a link that climbs out of the crate or is absolute.
fn resolve(page: &str, target: &str) -> Option<String> {
    if target.starts_with('/') {
        return None;
    }
    let mut parts: Vec<&str> = page.split('/').collect();
    parts.pop(); // the page's own file name
    for part in target.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            name => parts.push(name),
        }
    }
    Some(parts.join("/"))
}

/// Every relative link of the page at `page` (text `text`): it leads to a file of the crate, and
/// its `#anchor`, if any, to a heading of that file (or of the page itself for `#anchor` alone).
fn page_link_problems(page: &str, text: &str, read: Read) -> Vec<String> {
    let mut problems = Vec::new();
    for (i, line) in outside_fences(text) {
        for target in line.split("](").skip(1).filter_map(|t| t.split_once(')')) {
            let target = target.0;
            if target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            let (file, anchor) = target.split_once('#').unwrap_or((target, ""));
            let found = if file.is_empty() {
                Some(text.to_string())
            } else {
                resolve(page, file).and_then(|path| read(&path))
            };
            let Some(found) = found else {
                problems.push(format!(
                    "{page}:{}: the link {target} leads to no file",
                    i + 1
                ));
                continue;
            };
            if !anchor.is_empty() && !headings(&found).iter().any(|h| h.anchor == anchor) {
                problems.push(format!(
                    "{page}:{}: the link {target} leads to no heading",
                    i + 1
                ));
            }
        }
    }
    problems
}

#[test]
fn every_link_of_the_sheet_leads_to_a_file_and_a_heading() {
    let mut problems = Vec::new();
    let pages = sheet_pages();
    for page in &pages {
        let text = read_from_crate(page).expect("a page of the sheet");
        problems.extend(page_link_problems(page, &text, &read_from_crate));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    eprintln!("links checked on {} pages", pages.len());
}

/// A chapter is one lab session of about an hour: at most this many lines, the rest on its deeper
/// page.
const CHAPTER_LINES: usize = 450;

#[test]
fn each_chapter_is_one_session_with_a_summary() {
    let mut problems = Vec::new();
    let chapters: Vec<String> = sheet_pages()
        .into_iter()
        .filter(|p| {
            p.strip_prefix("docs/")
                .is_some_and(|name| name.starts_with('0') && !name.contains('/'))
        })
        .collect();
    for chapter in &chapters {
        let text = read_from_crate(chapter).expect("a chapter");
        let lines = text.lines().count();
        if lines > CHAPTER_LINES {
            problems.push(format!(
                "{chapter}: {lines} lines, more than {CHAPTER_LINES}: move what is not the session to docs/deeper/"
            ));
        }
        if !outside_fences(&text)
            .iter()
            .any(|(_, l)| l.trim_end() == "## Summary")
        {
            problems.push(format!("{chapter}: no `## Summary` section"));
        }
    }
    assert!(chapters.len() >= 8, "chapters found: {chapters:?}");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn links_resolve_from_the_page_that_holds_them() {
    assert_eq!(
        resolve("docs/deeper/03-x.md", "../03-pipes.md").as_deref(),
        Some("docs/03-pipes.md")
    );
    assert_eq!(
        resolve("docs/03-pipes.md", "deeper/03-x.md").as_deref(),
        Some("docs/deeper/03-x.md")
    );
    assert_eq!(
        resolve("docs/README.md", "../exercises/pipeline/README.md").as_deref(),
        Some("exercises/pipeline/README.md")
    );
    assert_eq!(resolve("docs/README.md", "../../etc/passwd"), None);
    assert_eq!(resolve("docs/README.md", "/etc/passwd"), None);
    let files: HashMap<&str, &str> = [("docs/01-x.md", CHAPTER)].into();
    let read = |p: &str| files.get(p).map(|s| s.to_string());
    let page = "\
[ok](../01-x.md#walk-through-the-notes-dialogue) [gone](../01-x.md#nope) [none](../09.md)

```text
[inside a fence](nowhere.md)
```
";
    assert_eq!(
        page_link_problems("docs/deeper/01-y.md", page, &read),
        [
            "docs/deeper/01-y.md:1: the link ../01-x.md#nope leads to no heading",
            "docs/deeper/01-y.md:1: the link ../09.md leads to no file",
        ]
    );
}

// ---------------------------------------------------------------------------------------------
// The checker itself, on small inline sheets

const CHAPTER: &str = "\
# 1. Shared memory

## Walk-through: the notes' dialogue

```console terminal-1
$ shm-master
Shared Memory Id = 32768
```

## Giving up: --timeout

Run `shm-master --timeout 0.5` and wait.

```c master.c
#include <stdio.h>
# not a heading either, inside the block
```

### IPC_PRIVATE is not private

```sh
ipcs -m
```

## Errors you will meet

```console
$ shm-slave abc
? 2
```
";

const TESTS: &str = "\
#[test]
fn the_notes_dialogue() {}

#[test]

// a comment between
fn slave_errors() {}

fn a_helper() {}

#[test]
#[ignore]
fn slow_one() {}

#[tokio::test]
async fn with_a_runtime() {}
";

const HEADER: &str = "\
Some words before the table.

| # | section | claim | demonstrated by | checked by |
|---|---------|-------|-----------------|------------|
";

/// A row with these cells, after the number.
fn row(n: usize, section: &str, demo: &str, test: &str) -> String {
    format!("| {n} | {section} | a claim | {demo} | {test} |\n")
}

/// A sound table: one row per section, each with a command of its section and a test.
fn sound_rows() -> Vec<String> {
    let demos = [
        "[`shm-master`](01-x.md#walk-through-the-notes-dialogue)",
        "[`shm-master --timeout 0.5`](01-x.md#giving-up---timeout)",
        "[`ipcs -m`](01-x.md#ipc_private-is-not-private)",
        "[`ipcs -m`](01-x.md#giving-up---timeout); [`shm-slave abc`](01-x.md#errors-you-will-meet)",
        "[`shm-master`](01-x.md#walk-through-the-notes-dialogue)",
        "[`shm-slave abc`](01-x.md#errors-you-will-meet)",
    ];
    let tests = [
        "`tests/x.rs::the_notes_dialogue`; `tests/lab/x.rs::slave_errors`; \
         `tests/lab/check/x.rs::with_a_runtime`",
        "`tests/x.rs::slave_errors`",
        "`tests/x.rs::with_a_runtime`",
        "`tests/x.rs::the_notes_dialogue`; `tests/x.rs::slave_errors`",
        "`tests/x.rs::slave_errors`",
        "`tests/x.rs::the_notes_dialogue`",
    ];
    SECTIONS
        .iter()
        .zip(demos.iter().zip(tests))
        .enumerate()
        .map(|(i, (s, (d, t)))| row(i + 1, s, d, t))
        .collect()
}

fn page_of(rows: &[String]) -> String {
    format!("{HEADER}{}\n## Gaps\n\nNone.\n", rows.concat())
}

fn check_inline(page: &str) -> Vec<String> {
    let files: HashMap<&str, &str> = [
        ("docs/01-x.md", CHAPTER),
        ("tests/x.rs", TESTS),
        ("tests/lab/x.rs", TESTS),
        ("tests/lab/check/x.rs", TESTS),
    ]
    .into();
    check(page, &|p: &str| files.get(p).map(|s| s.to_string()))
}

/// The problems of the sound table with row `n` (1-based) replaced by `replacement`.
fn with_row(n: usize, replacement: String) -> Vec<String> {
    let mut rows = sound_rows();
    rows[n - 1] = replacement;
    check_inline(&page_of(&rows))
}

#[track_caller]
fn assert_one_problem(problems: &[String], wanted: &[&str]) {
    assert_eq!(problems.len(), 1, "{problems:#?}");
    for w in wanted {
        assert!(problems[0].contains(w), "{w:?} not in {:?}", problems[0]);
    }
}

#[test]
fn a_sound_inline_table_passes() {
    assert_eq!(check_inline(&page_of(&sound_rows())), Vec::<String>::new());
}

#[test]
fn a_made_up_command_is_refused_and_the_row_named() {
    let problems = with_row(
        3,
        row(
            3,
            "B1",
            "[`shm-master --make-it-up`](01-x.md#walk-through-the-notes-dialogue)",
            "`tests/x.rs::slave_errors`",
        ),
    );
    assert_one_problem(
        &problems,
        &[
            "row 3 (B1, line 7",
            "`shm-master --make-it-up`",
            "docs/01-x.md never shows this command",
        ],
    );
    // Part of a longer command is not the command.
    let problems = with_row(
        3,
        row(
            3,
            "B1",
            "[`shm-master --timeout`](01-x.md#giving-up---timeout)",
            "`tests/x.rs::slave_errors`",
        ),
    );
    assert_one_problem(&problems, &["row 3", "never shows this command"]);
    // A command of the chapter, but of another section than the one linked.
    let problems = with_row(
        2,
        row(
            2,
            "B",
            "[`shm-slave abc`](01-x.md#walk-through-the-notes-dialogue)",
            "`tests/x.rs::slave_errors`",
        ),
    );
    assert_one_problem(
        &problems,
        &[
            "row 2",
            "shows it, but not in the section #walk-through-the-notes-dialogue",
        ],
    );
    // A subsection belongs to its section: `ipcs -m` is under #giving-up---timeout too (row 4
    // of the sound table), but not the other way round.
    let problems = with_row(
        5,
        row(
            5,
            "B3",
            "[`shm-master --timeout 0.5`](01-x.md#ipc_private-is-not-private)",
            "`tests/x.rs::slave_errors`",
        ),
    );
    assert_one_problem(
        &problems,
        &["row 5", "not in the section #ipc_private-is-not-private"],
    );
}

#[test]
fn a_made_up_test_is_refused_and_so_is_a_helper_or_an_ignored_one() {
    for (test, why) in [
        (
            "`tests/x.rs::no_such_test`",
            "tests/x.rs has no fn no_such_test(",
        ),
        (
            "`tests/x.rs::a_helper`",
            "fn a_helper in tests/x.rs is not a test",
        ),
        ("`tests/x.rs::slow_one`", "is #[ignore]d"),
        (
            "`tests/nowhere.rs::the_notes_dialogue`",
            "tests/nowhere.rs does not exist",
        ),
        ("`tests/x.rs`", "not a test: write tests/FILE.rs::NAME"),
        ("`src/shm.rs::create`", "a file directly in tests/"),
        (
            "`tests/lab/x.rs::no_such_test`",
            "tests/lab/x.rs has no fn no_such_test(",
        ),
        ("`tests/lab/x.rs::a_helper`", "is not a test"),
        (
            "`tests/lab/nowhere.rs::slave_errors`",
            "tests/lab/nowhere.rs does not exist",
        ),
        (
            "`tests/lab/../x.rs::slave_errors`",
            "tests/lab/MODULE.rs::NAME",
        ),
        ("`tests/lab/check/x/y.rs::slave_errors`", "not a test"),
        ("`tests/other/x.rs::slave_errors`", "not a test"),
        ("`tests/x.rs::the_notes_dialogue()`", "not a test"),
        ("a test somewhere", "checked by names no test"),
    ] {
        let problems = with_row(
            4,
            row(
                4,
                "B2",
                "[`shm-master`](01-x.md#walk-through-the-notes-dialogue)",
                test,
            ),
        );
        assert_one_problem(&problems, &["row 4 (B2", why]);
    }
}

#[test]
fn a_missing_anchor_or_chapter_or_an_odd_link_is_refused() {
    for (demo, why) in [
        (
            "[`shm-master`](01-x.md#no-such-heading)",
            "docs/01-x.md has no heading whose anchor is #no-such-heading",
        ),
        // An anchor as the heading's words, not GitHub's.
        (
            "[`shm-master --timeout 0.5`](01-x.md#giving-up-timeout)",
            "no heading whose anchor is #giving-up-timeout",
        ),
        // A C program's #include is not a heading.
        (
            "[`shm-master`](01-x.md#include-stdioh)",
            "no heading whose anchor",
        ),
        ("[`shm-master`](01-x.md)", "names no section"),
        (
            "[`shm-master`](09-nowhere.md#walk-through)",
            "docs/09-nowhere.md does not exist",
        ),
        (
            "[`shm-master`](../README.md#build)",
            "not to a chapter of docs/",
        ),
        (
            "[shm-master](01-x.md#walk-through-the-notes-dialogue)",
            "a link that is not",
        ),
        ("`shm-master`", "demonstrated by names no command"),
    ] {
        let problems = with_row(6, row(6, "B4", demo, "`tests/x.rs::the_notes_dialogue`"));
        assert_one_problem(&problems, &["row 6 (B4", why]);
    }
}

#[test]
fn empty_cells_numbers_out_of_order_and_sections_are_refused() {
    let problems = with_row(
        2,
        "| 2 | B |  | [`shm-master`](01-x.md#walk-through-the-notes-dialogue) | `tests/x.rs::slave_errors` |\n"
            .into(),
    );
    assert_one_problem(&problems, &["row 2", "the cell `claim` is empty"]);

    let problems = with_row(
        2,
        row(
            7,
            "B",
            "[`shm-master`](01-x.md#walk-through-the-notes-dialogue)",
            "`tests/x.rs::slave_errors`",
        ),
    );
    assert_one_problem(&problems, &["row 7", "but it is row 2"]);

    let problems = with_row(
        2,
        "| 2 | B | a claim | [`shm-master`](01-x.md#walk-through-the-notes-dialogue) |\n".into(),
    );
    assert_one_problem(&problems, &["row 2", "4 cells, where the table has 5"]);

    // Section B5 does not exist, and B is then left without a row.
    let problems = with_row(
        2,
        row(
            2,
            "B5",
            "[`shm-master`](01-x.md#walk-through-the-notes-dialogue)",
            "`tests/x.rs::slave_errors`",
        ),
    );
    assert_eq!(problems.len(), 2, "{problems:#?}");
    assert!(problems[0].contains("section \"B5\" is not one of the notes'"));
    assert_eq!(problems[1], "section B of the notes has no row");

    assert_eq!(
        check_inline("| a | b |\n|---|---|\n| 1 | 2 |\n"),
        ["no table with the columns | # | section | claim | demonstrated by | checked by |"]
    );
    assert_eq!(check_inline(HEADER), ["the table has no rows"]);
}

#[test]
fn anchors_are_githubs() {
    for (heading, anchor) in [
        ("## Giving up: --timeout", "giving-up---timeout"),
        (
            "### How the shell builds A | B",
            "how-the-shell-builds-a--b",
        ),
        (
            "### The shell's | by hand: redirect",
            "the-shells--by-hand-redirect",
        ),
        (
            "### IPC_PRIVATE is not private",
            "ipc_private-is-not-private",
        ),
        (
            "## Walk-through: the notes' dialogue",
            "walk-through-the-notes-dialogue",
        ),
        (
            "## Finding the segment by key: --key and --ftok",
            "finding-the-segment-by-key---key-and---ftok",
        ),
        (
            "## A real fault, not a null pointer",
            "a-real-fault-not-a-null-pointer",
        ),
        ("## The `cpu` column", "the-cpu-column"),
        ("## See [the notes](notes.md) ##", "see-the-notes"),
        ("# 1. Shared memory", "1-shared-memory"),
        ("## Latency: 0.2 µs", "latency-02-µs"),
    ] {
        let found = headings(heading);
        assert_eq!(found.len(), 1, "{heading}");
        assert_eq!(found[0].anchor, anchor, "{heading}");
    }
    let twice = headings("## Cleanup\n\ntext\n\n## Cleanup\n### Cleanup\n");
    let anchors: Vec<&str> = twice.iter().map(|h| h.anchor.as_str()).collect();
    assert_eq!(anchors, ["cleanup", "cleanup-1", "cleanup-2"]);
    assert!(headings("#include <stdio.h>\n#!/bin/sh\n    # indented code\n").is_empty());
}

#[test]
fn cells_split_on_bars_that_are_not_escaped() {
    assert_eq!(
        cells("| 1 | B3 | `seq 5 \\| sort -r` | x |"),
        ["1", "B3", "`seq 5 | sort -r`", "x"]
    );
    assert!(shows_command(&["$ seq 5 | sort -r"], "seq 5 | sort -r"));
    assert!(!shows_command(&["$ seq 5 | sort -r"], "seq 5"));
    assert_eq!(code_spans("a `b` c `d e` f"), ["b", "d e"]);
}

#[test]
fn links_of_the_page_lead_to_headings_that_exist() {
    let files: HashMap<&str, &str> = [("docs/01-x.md", CHAPTER)].into();
    let read = |p: &str| files.get(p).map(|s| s.to_string());
    let page = "\
See [Gaps](#gaps), [the walk-through](01-x.md#walk-through-the-notes-dialogue), [a
site](https://example.com/x#y) and [the chapter](01-x.md).

## Gaps

[gone](01-x.md#no-such-heading), [nowhere](09-no.md#x), [up](../README.md#build), [me](#nope)
";
    assert_eq!(
        check_links(page, &read),
        [
            "line 6: the link 01-x.md#no-such-heading leads to no heading",
            "line 6: the link 09-no.md#x leads to no page of docs/",
            "line 6: the link ../README.md#build leads to no page of docs/",
            "line 6: the link #nope leads to no heading",
        ]
    );
}

// ---------------------------------------------------------------------------------------------
// Rust listings of the sheet: a ```rust PATH block shows the file at PATH, verbatim

/// A fenced code block of a page: its info string, its lines, and the line (0-based) of its
/// opening fence.
struct Fenced<'a> {
    line: usize,
    info: &'a str,
    body: Vec<&'a str>,
}

/// The fenced code blocks of `md` (```` ``` ```` or `~~~`, as [`outside_fences`] reads them).
fn fenced_blocks(md: &str) -> Vec<Fenced<'_>> {
    let mut blocks = Vec::new();
    let mut open: Option<((char, usize), Fenced)> = None;
    for (i, line) in md.lines().enumerate() {
        let indent = line.len() - line.trim_start_matches(' ').len();
        let body = line.trim_start_matches(' ');
        let opener = body.chars().next().filter(|c| *c == '`' || *c == '~');
        let run = opener.map_or(0, |c| body.len() - body.trim_start_matches(c).len());
        match &mut open {
            Some(((c, n), block)) => {
                if indent <= 3 && opener == Some(*c) && run >= *n && body[run..].trim().is_empty() {
                    blocks.push(open.take().unwrap().1);
                } else {
                    block.body.push(line);
                }
            }
            None if indent <= 3 && run >= 3 => {
                let info = body[run..].trim();
                open = Some((
                    (opener.unwrap(), run),
                    Fenced {
                        line: i,
                        info,
                        body: Vec::new(),
                    },
                ));
            }
            None => {}
        }
    }
    blocks
}

/// The file a block shows, from its info string `rust PATH`: None for any other block.
fn listed_file<'a>(block: &Fenced<'a>) -> Option<&'a str> {
    let mut words = block.info.split_whitespace();
    (words.next() == Some("rust"))
        .then(|| words.next())
        .flatten()
}

/// Every ```rust PATH block of the page at `page` (text `text`) is the file at PATH (from the
/// top of the crate), line for line. A problem names the page's line, the file, and the first
/// line of the file that the listing does not show as it is.
fn listing_problems(page: &str, text: &str, read: Read) -> Vec<String> {
    let mut problems = Vec::new();
    for block in fenced_blocks(text) {
        let Some(path) = listed_file(&block) else {
            continue;
        };
        let at = format!("{page}:{}", block.line + 1);
        let Some(file) = read(path) else {
            problems.push(format!("{at}: the listing of {path} names no file"));
            continue;
        };
        let lines: Vec<&str> = file.lines().collect();
        let first_difference =
            (0..lines.len().max(block.body.len())).find(|&n| lines.get(n) != block.body.get(n));
        if let Some(n) = first_difference {
            let shown =
                |line: Option<&&str>| line.map_or("the end".to_string(), |l| format!("{l:?}"));
            problems.push(format!(
                "{at}: the listing of {path} differs from the file at its line {}: the file has {}, the listing {}",
                n + 1,
                shown(lines.get(n)),
                shown(block.body.get(n))
            ));
        }
    }
    problems
}

/// The Rust files in examples/, as paths from the top of the crate.
fn example_files() -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("examples/: {e}"))
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|name| name.ends_with(".rs"))
        .map(|name| format!("examples/{name}"))
        .collect();
    files.sort();
    files
}

#[test]
fn every_rust_listing_of_the_sheet_is_its_file_and_every_example_is_listed() {
    let mut problems = Vec::new();
    let mut listed = Vec::new();
    for page in sheet_pages() {
        let text = read_from_crate(&page).expect("a page of the sheet");
        problems.extend(listing_problems(&page, &text, &read_from_crate));
        listed.extend(
            fenced_blocks(&text)
                .iter()
                .filter_map(listed_file)
                .map(str::to_string),
        );
    }
    let examples = example_files();
    assert!(examples.len() >= 4, "examples found: {examples:?}");
    for example in &examples {
        if !listed.contains(example) {
            problems.push(format!(
                "{example} is listed on no page of the sheet (```rust {example})"
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    eprintln!("{} listings checked", listed.len());
}

#[test]
fn a_listing_that_is_not_its_file_is_refused_naming_the_file_and_line() {
    let files: HashMap<&str, &str> = [("examples/a.rs", "fn main() {\n    go();\n}\n")].into();
    let read = |p: &str| files.get(p).map(|s| s.to_string());
    let page = "\
# A

```rust examples/a.rs
fn main() {
    go();
}
```

```rust examples/a.rs
fn main() {
    stop();
}
```

```rust examples/a.rs
fn main() {
```

```rust examples/gone.rs
```

```rust
not a listing of a file
```

````text
```rust examples/a.rs
inside another block
```
````
";
    assert_eq!(
        listing_problems("docs/x.md", page, &read),
        [
            "docs/x.md:9: the listing of examples/a.rs differs from the file at its line 2: the file has \"    go();\", the listing \"    stop();\"",
            "docs/x.md:15: the listing of examples/a.rs differs from the file at its line 2: the file has \"    go();\", the listing the end",
            "docs/x.md:19: the listing of examples/gone.rs names no file",
        ]
    );
}

// ---------------------------------------------------------------------------------------------
// The layers of src/ (design.md, "Layout"): sys 0, ui 1, the mechanisms 2, cli 3, the binaries 4.
// No file uses a module of a higher layer than its own, and the mechanisms use one another
// without a cycle. An edge is a path `crate::X` in a library file or `ipc_lab::X` in a binary
// (in a `use`, grouped as `crate::{X, Y}` too, or written out in the code), comments aside.

/// The layer of a top-level module of the library: `sys` 0, `ui` 1, `cli` 3, and every other
/// module lib.rs declares is a mechanism, layer 2.
fn layer_of(module: &str) -> u8 {
    match module {
        "sys" => 0,
        "ui" => 1,
        "cli" => 3,
        _ => 2,
    }
}

/// The modules lib.rs declares (`pub mod X;`, `mod X;`).
fn declared_modules(lib: &str) -> Vec<String> {
    lib.lines()
        .filter_map(|line| {
            let line = line.trim();
            let rest = line.strip_prefix("pub ").unwrap_or(line);
            let name = rest.strip_prefix("mod ")?.strip_suffix(';')?;
            Some(name.trim().to_string())
        })
        .collect()
}

/// Which top-level module a file of src/ belongs to and its layer: `None` for lib.rs, `Some((None,
/// 4))` for a binary, `Some((Some("mq"), 2))` for src/mq/net.rs.
fn owner_of(path: &str) -> Option<(Option<String>, u8)> {
    let rel = path.strip_prefix("src/")?;
    if rel == "lib.rs" {
        return None;
    }
    if rel.starts_with("bin/") {
        return Some((None, 4));
    }
    let first = rel.split('/').next()?;
    let module = first.strip_suffix(".rs").unwrap_or(first).to_string();
    let layer = layer_of(&module);
    Some((Some(module), layer))
}

/// A line without its comment: from the first `//` that is not inside a string literal.
fn code_of(line: &str) -> &str {
    let mut in_string = false;
    let mut escaped = false;
    let bytes = line.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
        } else if b == b'"' {
            in_string = true;
        } else if b == b'/' && bytes.get(i + 1) == Some(&b'/') {
            return &line[..i];
        }
    }
    line
}

/// The first identifier of `text`, if it starts with one.
fn leading_ident(text: &str) -> Option<&str> {
    let end = text
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(text.len());
    (end > 0).then(|| &text[..end])
}

/// The top-level modules named by `root::X` on one line (`root` is `crate` or `ipc_lab`), with a
/// group `root::{X, Y::Z}` read as its first names (a group spread over lines is read line by
/// line by [`edges_of`]).
fn named_after(code: &str, root: &str) -> Vec<String> {
    let needle = format!("{root}::");
    let mut names = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find(&needle) {
        let before = rest[..at].chars().next_back();
        let after = &rest[at + needle.len()..];
        rest = after;
        // `super::crate` does not exist, but `my_crate::` does: the root must stand alone.
        if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':') {
            continue;
        }
        if let Some(group) = after.strip_prefix('{') {
            let inner = group.split('}').next().unwrap_or(group);
            names.extend(group_names(inner));
        } else if let Some(name) = leading_ident(after) {
            names.push(name.to_string());
        }
    }
    names
}

/// The first names of the items of a `{...}` group at its top level: `a::B, c, self` gives a
/// and c (`self` names the root itself).
fn group_names(inner: &str) -> Vec<String> {
    let mut depth = 0;
    let mut names = Vec::new();
    let mut start = true;
    for (i, c) in inner.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => start = true,
            c if start && depth == 0 && !c.is_whitespace() => {
                start = false;
                if let Some(name) = leading_ident(&inner[i..]) {
                    if name != "self" {
                        names.push(name.to_string());
                    }
                }
            }
            _ => {}
        }
    }
    names
}

/// One use of a module by a file: the line, and the module used.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Edge {
    file: String,
    line: usize,
    to: String,
}

/// Every module of `modules` that the file at `path` names, line by line. A group that spans
/// lines (`use crate::{\n    a::B,\n    c,\n};`) is read whole from the line it starts on.
fn edges_of(path: &str, text: &str, modules: &[String]) -> Vec<Edge> {
    let root = if path.starts_with("src/bin/") {
        "ipc_lab"
    } else {
        "crate"
    };
    let lines: Vec<&str> = text.lines().map(code_of).collect();
    let mut edges = Vec::new();
    for (i, code) in lines.iter().enumerate() {
        let mut names = named_after(code, root);
        let open = format!("{root}::{{");
        if code.contains(&open) && !code[code.find(&open).unwrap()..].contains('}') {
            let mut group = code[code.find(&open).unwrap() + open.len()..].to_string();
            for more in &lines[i + 1..] {
                group.push(' ');
                group.push_str(more);
                if more.contains('}') {
                    break;
                }
            }
            names.extend(group_names(group.split('}').next().unwrap_or("")));
        }
        for name in names {
            if modules.contains(&name) {
                edges.push(Edge {
                    file: path.to_string(),
                    line: i + 1,
                    to: name,
                });
            }
        }
    }
    edges
}

/// What is wrong with the layering of `files` (path under src/, text), lib.rs among them: each
/// upward edge as `src/FILE:LINE: ...`, and each cycle among the mechanisms with the lines that
/// make it.
fn layering_problems(files: &[(String, String)]) -> Vec<String> {
    let lib = files
        .iter()
        .find(|(path, _)| path == "src/lib.rs")
        .map_or("", |(_, text)| text.as_str());
    let modules = declared_modules(lib);
    let mut problems = Vec::new();
    // Between mechanisms: (from, to) -> the first line that makes the edge.
    let mut between: std::collections::BTreeMap<(String, String), Edge> = Default::default();
    for (path, text) in files {
        let Some((owner, layer)) = owner_of(path) else {
            continue;
        };
        for edge in edges_of(path, text, &modules) {
            if owner.as_deref() == Some(edge.to.as_str()) {
                continue;
            }
            let to_layer = layer_of(&edge.to);
            let from = owner.clone().unwrap_or_else(|| "the binary".to_string());
            if to_layer > layer {
                problems.push(format!(
                    "{}:{}: {from} (layer {layer}) uses {} (layer {to_layer}), a higher layer",
                    edge.file, edge.line, edge.to
                ));
            } else if layer == 2 && to_layer == 2 {
                between.entry((from, edge.to.clone())).or_insert(edge);
            }
        }
    }
    problems.extend(cycles(&between));
    problems
}

/// Each cycle among the mechanisms, once, as `cycle: a -> b -> a (FILE:LINE uses b; ...)`.
fn cycles(edges: &std::collections::BTreeMap<(String, String), Edge>) -> Vec<String> {
    let mut graph: std::collections::BTreeMap<&str, Vec<&str>> = Default::default();
    for (from, to) in edges.keys() {
        graph.entry(from).or_default().push(to);
    }
    let mut found: Vec<Vec<&str>> = Vec::new();
    // From every module, a depth-first search for a way back to it through larger names only,
    // so that each cycle is reported once, starting at its smallest module.
    for &start in graph.keys() {
        let mut stack: Vec<(&str, Vec<&str>)> = vec![(start, vec![start])];
        while let Some((at, path)) = stack.pop() {
            for &next in graph.get(at).into_iter().flatten() {
                if next == start {
                    found.push(path.clone());
                } else if next > start && !path.contains(&next) {
                    let mut longer = path.clone();
                    longer.push(next);
                    stack.push((next, longer));
                }
            }
        }
    }
    found.sort();
    found
        .into_iter()
        .map(|cycle| {
            let mut ring = cycle.clone();
            ring.push(cycle[0]);
            let lines: Vec<String> = ring
                .windows(2)
                .map(|pair| {
                    let edge = &edges[&(pair[0].to_string(), pair[1].to_string())];
                    format!("{}:{} uses {}", edge.file, edge.line, edge.to)
                })
                .collect();
            format!(
                "cycle among the mechanisms: {} ({})",
                ring.join(" -> "),
                lines.join("; ")
            )
        })
        .collect()
}

/// Every .rs file under src/, as (path from the top of the crate, text), in order.
fn source_files() -> Vec<(String, String)> {
    fn walk(dir: &Path, top: &Path, out: &mut Vec<(String, String)>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
            .map(|e| e.expect("a directory entry").path())
            .collect();
        entries.sort();
        for path in entries {
            if path.is_dir() {
                walk(&path, top, out);
            } else if path.extension().is_some_and(|x| x == "rs") {
                let rel = path.strip_prefix(top).expect("under the crate");
                let text = std::fs::read_to_string(&path).expect("a readable source file");
                out.push((rel.to_string_lossy().into_owned(), text));
            }
        }
    }
    let top = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    walk(&top.join("src"), top, &mut files);
    files
}

#[test]
fn no_module_of_src_uses_a_higher_layer_and_the_mechanisms_form_no_cycle() {
    let files = source_files();
    // Sure that it read the real tree: every layer has files, and they use one another.
    for (layer, example) in [
        (0, "src/sys/mod.rs"),
        (1, "src/ui/mod.rs"),
        (2, "src/shm/mod.rs"),
        (3, "src/cli/mod.rs"),
        (4, "src/bin/shm-master.rs"),
    ] {
        assert!(
            files.iter().any(|(path, _)| path == example),
            "{example} (layer {layer}) was not read"
        );
    }
    let modules = declared_modules(&read_from_crate("src/lib.rs").expect("src/lib.rs"));
    let edges: usize = files
        .iter()
        .map(|(path, text)| edges_of(path, text, &modules).len())
        .sum();
    assert!(edges > 50, "only {edges} uses of a module found in src/");
    let problems = layering_problems(&files);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// A small tree for the checker's own tests: lib.rs declares every module the files use.
fn tree(files: &[(&str, &str)]) -> Vec<(String, String)> {
    let lib =
        "pub mod bench;\npub mod cli;\npub mod mq;\npub mod shm;\npub mod sys;\npub mod ui;\n";
    std::iter::once(("src/lib.rs", lib))
        .chain(files.iter().copied())
        .map(|(p, t)| (p.to_string(), t.to_string()))
        .collect()
}

#[test]
fn a_clean_tree_passes() {
    let files = tree(&[
        ("src/sys/mod.rs", "mod error;\npub use error::SysError;\n"),
        ("src/sys/error.rs", "pub struct SysError;\n"),
        ("src/ui/mod.rs", "use crate::sys::SysError;\n"),
        (
            "src/shm.rs",
            "use crate::{sys::SysError, ui};\n// crate::cli is named in a comment only\n",
        ),
        ("src/mq/mod.rs", "pub mod net;\nuse crate::shm;\n"),
        (
            "src/mq/net.rs",
            "use crate::mq::Mailbox;\nuse super::Wait;\n",
        ),
        (
            "src/bench.rs",
            "use crate::mq::{\n    self,\n    Mailbox,\n};\n",
        ),
        (
            "src/cli.rs",
            "use crate::ui::Ui;\nfn f() { crate::shm::ftok(); }\n",
        ),
        (
            "src/bin/shm-master.rs",
            "use ipc_lab::cli::Common;\nuse ipc_lab::{sys, ui::Ui};\n",
        ),
    ]);
    assert_eq!(layering_problems(&files), Vec::<String>::new());
    // And it saw the uses it let pass.
    let modules = declared_modules(&files[0].1);
    let bench = edges_of("src/bench.rs", &files[7].1, &modules);
    assert_eq!(
        bench.iter().map(|e| e.to.as_str()).collect::<Vec<_>>(),
        ["mq"]
    );
    let binary = edges_of("src/bin/shm-master.rs", &files[9].1, &modules);
    assert_eq!(
        binary
            .iter()
            .map(|e| (e.line, e.to.as_str()))
            .collect::<Vec<_>>(),
        [(1, "cli"), (2, "sys"), (2, "ui")]
    );
}

#[test]
fn an_upward_edge_is_refused_naming_its_file_and_line() {
    let files = tree(&[
        ("src/sys/mod.rs", "mod fd;\n"),
        (
            "src/sys/fd.rs",
            "use std::io;\n\npub fn f() -> String {\n    crate::ui::counted(2, \"fd\")\n}\n",
        ),
        ("src/ui/mod.rs", "use crate::{sys, cli::Common};\n"),
        ("src/shm.rs", "use crate::cli::KeyArgs;\n"),
        ("src/bin/shm-slave.rs", "use ipc_lab::shm;\n"),
    ]);
    assert_eq!(
        layering_problems(&files),
        [
            "src/sys/fd.rs:4: sys (layer 0) uses ui (layer 1), a higher layer",
            "src/ui/mod.rs:1: ui (layer 1) uses cli (layer 3), a higher layer",
            "src/shm.rs:1: shm (layer 2) uses cli (layer 3), a higher layer",
        ]
    );
}

#[test]
fn a_cycle_between_mechanisms_is_refused_with_the_lines_that_make_it() {
    let files = tree(&[
        ("src/mq/mod.rs", "pub mod net;\n"),
        ("src/mq/net.rs", "\nuse crate::bench::Stopped;\n"),
        ("src/bench.rs", "use crate::shm::Segment;\n"),
        (
            "src/shm.rs",
            "use crate::sys::SysError;\nuse crate::mq::Mailbox;\n",
        ),
    ]);
    assert_eq!(
        layering_problems(&files),
        [
            "cycle among the mechanisms: bench -> shm -> mq -> bench (src/bench.rs:1 uses shm; \
             src/shm.rs:2 uses mq; src/mq/net.rs:2 uses bench)"
        ]
    );
}
