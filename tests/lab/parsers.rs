//! Property tests (proptest) for every parser of user input in the library: durations, octal
//! permissions, System V keys and ids, scanf-style ints, signal names and numbers, listen
//! addresses, queue names, the wire format a network peer sends, the value enums the binaries take
//! (`--mech`, `--pin`, `--color`), and the shell-word splitting `pipe-demo redirect` relies on.
//!
//! For each: (a) any text at all (arbitrary unicode, control characters, numbers of every shape,
//! very long strings) gives `Ok` or an error that is one non-empty line naming what was expected,
//! never a panic; (b) a valid value written the canonical way parses back to itself; (c) the
//! documented boundaries (0, the maximum, one past it, negatives, overflow) hold.
//!
//! The runs are deterministic: a fixed seed (set `PROPTEST_RNG_SEED` to explore others) and no
//! regression files written into the source tree. Each bug these tests found (an overflow
//! panic, a sign after 0x, durations that round to nothing) keeps a test of its own.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::time::Duration;

use clap::ValueEnum;
use ipc_lab::bench::{Mech, Pin};
use ipc_lab::cli;
use ipc_lab::mq::net::{self, GREETING_LEN, Greeting, HEADER_LEN, Header};
use ipc_lab::mq::{NAME_MAX, PRIO_MAX, QueueName};
use ipc_lab::shm;
use ipc_lab::signal::{self, SigNum};
use ipc_lab::ui::ColorChoice;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};

// ---------------------------------------------------------------------------------------------
// Configuration and the text every parser is fed

/// 256 cases per property and a fixed seed, unless PROPTEST_CASES or PROPTEST_RNG_SEED say
/// otherwise; nothing persisted (no regression files written into the source tree).
fn config() -> Config {
    let mut config = Config {
        failure_persistence: None,
        ..Config::default()
    };
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = 256;
    }
    if std::env::var_os("PROPTEST_RNG_SEED").is_none() {
        config.rng_seed = RngSeed::Fixed(0x1bc_1ab);
    }
    config
}

/// Text of every kind a user can type or paste: arbitrary unicode, control characters, things
/// that look like numbers (signs, prefixes, exponents, dots, surrounding blanks), long runs of
/// digits, and very long strings.
fn any_text() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => any::<String>(),
        2 => "[\\x00-\\x1f\\x7f\\u{80}-\\u{9f}\\u{2028}\\u{2029}\\u{feff} a-z0-9]{0,40}",
        4 => "[ \\t\\n]{0,2}[+-]{0,2}(0[xXo])?[0-9a-fA-F_.eE+-]{0,24}[ \\t\\n\\r]{0,2}",
        2 => "[+-]?[0-9]{15,400}",
        1 => "(?i)(sig)?(rt(min|max)|usr1|term|kill|hup|int)[+-]?[0-9]{0,3}",
        1 => "\\[?[0-9a-fA-F:.]{0,40}\\]?(:[0-9]{0,6})?",
        1 => prop::collection::vec(any::<char>(), 5_000..20_000).prop_map(String::from_iter),
    ]
}

/// An error message as the binaries print it after `error: `: one line, not empty.
fn assert_one_line(what: &str, text: &str, msg: &str) -> Result<(), TestCaseError> {
    prop_assert!(!msg.trim().is_empty(), "{what}({text:?}): empty error");
    prop_assert!(
        !msg.contains('\n') && !msg.contains('\r'),
        "{what}({text:?}): the error is not one line: {msg:?}"
    );
    Ok(())
}

/// The error is one line and says what was expected (`marker`).
fn check_error(what: &str, text: &str, msg: &str, marker: &str) -> Result<(), TestCaseError> {
    assert_one_line(what, text, msg)?;
    prop_assert!(
        msg.contains(marker),
        "{what}({text:?}): the error does not say what was expected ({marker:?}): {msg}"
    );
    Ok(())
}

/// Plain tests share the one-line check.
#[track_caller]
fn one_line(msg: &str) {
    assert!(
        !msg.is_empty() && !msg.contains('\n') && !msg.contains('\r'),
        "{msg:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// cli::parse_seconds: --interval, --timeout, --linger, --delay

const DAY: Duration = Duration::from_secs(86_400);

proptest! {
    #![proptest_config(config())]

    #[test]
    fn seconds_any_text_parses_or_says_what_was_expected(text in any_text()) {
        match cli::parse_seconds(&text) {
            Ok(d) => prop_assert!(d <= DAY, "{text:?} gave {d:?}, above a day"),
            Err(msg) => {
                check_error("parse_seconds", &text, &msg, "seconds")?;
                prop_assert!(msg.contains(&format!("{text:?}")), "{msg}");
            }
        }
    }

    #[test]
    fn seconds_whole_and_millis_round_trip(secs in 1u64..=86_400, millis in 1u64..=86_400_000) {
        prop_assert_eq!(cli::parse_seconds(&secs.to_string()), Ok(Duration::from_secs(secs)));
        let text = format!("{}.{:03}", millis / 1000, millis % 1000);
        prop_assert_eq!(cli::parse_seconds(&text), Ok(Duration::from_millis(millis)));
        // Blanks around the number are allowed (a pasted value).
        prop_assert_eq!(cli::parse_seconds(&format!(" {secs}\t")), Ok(Duration::from_secs(secs)));
    }

    #[test]
    fn seconds_as_rust_prints_them_round_trip(secs in 0.001f64..=86_400.0) {
        let d = cli::parse_seconds(&secs.to_string()).expect("a valid number of seconds");
        let diff = (d.as_secs_f64() - secs).abs();
        prop_assert!(diff < 1e-6, "{secs} gave {d:?}");
    }

    #[test]
    fn seconds_out_of_range_are_refused(secs in prop_oneof![
        -1e12f64..=0.0,
        86_400.001f64..1e15,
    ]) {
        let text = secs.to_string();
        let msg = cli::parse_seconds(&text).expect_err("out of range");
        let want = if secs <= 0.0 { "above 0" } else { "at most 86400 seconds" };
        prop_assert!(msg.contains(want), "{text}: {msg}");
    }
}

#[test]
fn seconds_boundaries() {
    let ok = [
        ("86400", DAY),
        ("86400.0", DAY),
        ("0.001", Duration::from_millis(1)),
        ("0.000001", Duration::from_micros(1)),
        ("+3", Duration::from_secs(3)),
        (".5", Duration::from_millis(500)),
        ("1e3", Duration::from_secs(1000)),
    ];
    for (text, want) in ok {
        assert_eq!(cli::parse_seconds(text), Ok(want), "{text}");
    }
    for (text, want) in [
        ("0", "above 0"),
        ("0.0", "above 0"),
        ("-0", "above 0"),
        ("-5", "above 0"),
        ("86400.001", "at most 86400"),
        ("86401", "at most 86400"),
        ("99999999999999999999", "at most 86400"),
        ("", "such as 3 or 0.5"),
        ("abc", "such as 3 or 0.5"),
        ("3s", "such as 3 or 0.5"),
        ("1,5", "such as 3 or 0.5"),
        ("0x10", "such as 3 or 0.5"),
    ] {
        let msg = cli::parse_seconds(text).expect_err(text);
        one_line(&msg);
        assert!(msg.contains(want), "{text}: {msg}");
    }
}

#[test]
fn tiny_seconds_are_refused_or_above_zero() {
    for text in ["1e-10", "0.0000000001", "4e-10", "1e-300", "5e-324"] {
        match cli::parse_seconds(text) {
            Ok(d) => assert!(d > Duration::ZERO, "{text} gave {d:?}"),
            Err(msg) => one_line(&msg),
        }
    }
}

#[test]
fn huge_and_infinite_seconds_are_refused_for_the_right_reason() {
    let huge = "9".repeat(400);
    for text in ["inf", "+inf", "infinity", "1e999", huge.as_str()] {
        let msg = cli::parse_seconds(text).expect_err(text);
        assert!(msg.contains("at most 86400"), "{text}: {msg}");
    }
    for text in ["nan", "NaN", "-nan"] {
        let msg = cli::parse_seconds(text).expect_err(text);
        assert!(!msg.contains("above 0"), "{text}: {msg}");
    }
}

// ---------------------------------------------------------------------------------------------
// cli::parse_perms: --perms

proptest! {
    #![proptest_config(config())]

    #[test]
    fn perms_any_text_parses_or_says_what_was_expected(text in any_text()) {
        match cli::parse_perms(&text) {
            Ok(mode) => prop_assert!(mode <= 0o777, "{text:?} gave {mode:o}"),
            Err(msg) => {
                check_error("parse_perms", &text, &msg, "permission")?;
                prop_assert!(msg.contains(&format!("{text:?}")), "{msg}");
            }
        }
    }

    #[test]
    fn perms_in_octal_round_trip(mode in 0u32..=0o777) {
        for text in [
            format!("{mode:o}"),
            format!("{mode:03o}"),
            format!("{mode:04o}"),
            format!("0o{mode:o}"),
            format!("0o{mode:03o}"),
            format!(" {mode:03o}\n"),
        ] {
            prop_assert_eq!(cli::parse_perms(&text), Ok(mode), "{:?}", text);
        }
    }

    #[test]
    fn perms_above_777_are_refused(mode in 0o1000u32..=0o7777) {
        let msg = cli::parse_perms(&format!("{mode:o}")).expect_err("above 777");
        prop_assert!(msg.contains("from 000 to 777"), "{msg}");
    }

    #[test]
    fn perms_with_a_digit_8_or_9_are_refused(mode in 0u32..=0o777, at in 0usize..3, d in 8u8..=9) {
        let mut text = format!("{mode:03o}").into_bytes();
        text[at] = b'0' + d;
        let text = String::from_utf8(text).unwrap();
        let msg = cli::parse_perms(&text).expect_err("not octal");
        prop_assert!(msg.contains("digits 0-7"), "{text}: {msg}");
    }
}

#[test]
fn perms_boundaries() {
    for (text, want) in [
        ("0", 0),
        ("000", 0),
        ("777", 0o777),
        ("0777", 0o777),
        ("0o0", 0),
    ] {
        assert_eq!(cli::parse_perms(text), Ok(want), "{text}");
    }
    for text in [
        "",
        " ",
        "0o",
        "1000",
        "07777",
        "00777 7",
        "-600",
        "+600",
        "-0",
        "8",
        "0x1ff",
        "rw-",
        "u+rw",
        "600a",
        "99999999999999999999",
        "0o0o7",
        "06000",
    ] {
        let msg = cli::parse_perms(text).expect_err(text);
        one_line(&msg);
    }
}

// ---------------------------------------------------------------------------------------------
// cli::parse_key: --key (and shm::key_text, the canonical way a key is written)

proptest! {
    #![proptest_config(config())]

    #[test]
    fn key_any_text_parses_or_says_what_was_expected(text in any_text()) {
        match cli::parse_key(&text) {
            Ok(key) => prop_assert_ne!(key, 0, "{:?} gave IPC_PRIVATE", text),
            Err(msg) => check_error("parse_key", &text, &msg, "key")?,
        }
    }

    #[test]
    fn every_nonzero_key_round_trips_in_every_documented_form(bits in 1u32..=u32::MAX) {
        let key = bits as i32;
        for text in [
            shm::key_text(key),          // as ipcs and the narration print it: 0x0000162e
            format!("{bits:#x}"),
            format!("0X{bits:X}"),
            format!("0x{bits:X}"),
            format!("{bits}"),           // decimal, as a 32-bit pattern
            format!("{key}"),            // decimal, as a signed key_t
        ] {
            prop_assert_eq!(cli::parse_key(&text), Ok(key), "{:?}", text);
        }
    }

    #[test]
    fn keys_beyond_32_bits_are_refused(value in (u32::MAX as u64 + 1)..=u64::MAX) {
        for text in [value.to_string(), format!("{value:#x}"), format!("-{value}")] {
            let msg = cli::parse_key(&text).expect_err("beyond 32 bits");
            prop_assert!(msg.contains("expected"), "{text}: {msg}");
        }
    }
}

#[test]
fn key_boundaries() {
    for (text, want) in [
        ("1", 1),
        ("4294967295", -1),
        ("0xffffffff", -1),
        ("0XFFFFFFFF", -1),
        ("-1", -1),
        ("2147483647", i32::MAX),
        ("2147483648", i32::MIN),
        ("-2147483648", i32::MIN),
        ("0x00000001", 1),
        (" 0x1234 ", 0x1234),
    ] {
        assert_eq!(cli::parse_key(text), Ok(want), "{text}");
    }
    for text in ["0", "0x0", "0x00000000", "-0", "+0"] {
        let msg = cli::parse_key(text).expect_err(text);
        one_line(&msg);
        assert!(msg.contains("IPC_PRIVATE"), "{text}: {msg}");
    }
    for text in [
        "",
        "0x",
        "x1",
        "4294967296",
        "-2147483649",
        "0x100000000",
        "99999999999999999999",
        "0x1g",
        "1234abc",
        "IPC_PRIVATE",
        "0b101",
    ] {
        let msg = cli::parse_key(text).expect_err(text);
        one_line(&msg);
        assert!(msg.contains(&format!("{text:?}")), "{text}: {msg}");
    }
}

#[test]
fn a_sign_after_0x_is_refused() {
    for text in ["0x-5", "0x+5", "0X-1", "0x-0"] {
        let got = cli::parse_key(text);
        assert!(got.is_err(), "{text} gave {got:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// cli::parse_ipc_id (shm-slave ID, shm-race --join) and cli::parse_int (shm-slave's values)

proptest! {
    #![proptest_config(config())]

    #[test]
    fn ipc_id_any_text_parses_or_says_what_was_expected(text in any_text()) {
        match cli::parse_ipc_id(&text) {
            Ok(id) => prop_assert!(id >= 0),
            Err(msg) => {
                check_error("parse_ipc_id", &text, &msg, "expected a segment id")?;
                prop_assert!(msg.contains(&format!("{text:?}")), "{msg}");
            }
        }
    }

    #[test]
    fn every_id_round_trips(id in 0i32..=i32::MAX) {
        prop_assert_eq!(cli::parse_ipc_id(&id.to_string()), Ok(id));
        prop_assert_eq!(cli::parse_ipc_id(&format!("{id}\n")), Ok(id), "a typed line");
    }

    #[test]
    fn negative_and_too_large_ids_are_refused(id in prop_oneof![
        i64::MIN..0,
        (i32::MAX as i64 + 1)..=i64::MAX,
    ]) {
        prop_assert!(cli::parse_ipc_id(&id.to_string()).is_err());
    }

    #[test]
    fn int_any_text_parses_or_says_what_was_expected(text in any_text()) {
        match cli::parse_int(&text) {
            Ok(n) => prop_assert_eq!(Ok(n), text.trim().parse::<i32>()),
            Err(msg) => {
                check_error("parse_int", &text, &msg, "expected a whole number")?;
                prop_assert!(msg.contains(&format!("{text:?}")), "{msg}");
            }
        }
    }

    #[test]
    fn every_int_round_trips(n in any::<i32>()) {
        prop_assert_eq!(cli::parse_int(&n.to_string()), Ok(n));
        prop_assert_eq!(cli::parse_int(&format!("\t{n} \r\n")), Ok(n), "a typed line");
        if n >= 0 {
            prop_assert_eq!(cli::parse_int(&format!("+{n}")), Ok(n));
        }
    }

    #[test]
    fn ints_beyond_32_bits_are_refused(n in prop_oneof![
        i64::MIN..(i32::MIN as i64),
        (i32::MAX as i64 + 1)..=i64::MAX,
    ]) {
        let msg = cli::parse_int(&n.to_string()).expect_err("beyond 32 bits");
        prop_assert!(msg.contains("-2147483648 to 2147483647"), "{msg}");
    }
}

#[test]
fn id_and_int_boundaries() {
    assert_eq!(cli::parse_ipc_id("0"), Ok(0));
    assert_eq!(cli::parse_ipc_id("2147483647"), Ok(i32::MAX));
    assert_eq!(cli::parse_int("-2147483648"), Ok(i32::MIN));
    assert_eq!(cli::parse_int("2147483647"), Ok(i32::MAX));
    for text in [
        "-1",
        "2147483648",
        "99999999999999999999",
        "",
        "7.0",
        "0x7",
        "7 8",
        "seven",
        "--7",
        "٣", // a digit, but not an ASCII one
    ] {
        let msg = cli::parse_ipc_id(text).expect_err(text);
        one_line(&msg);
    }
    for text in [
        "2147483648",
        "-2147483649",
        "99999999999999999999",
        "",
        "5abc",
        "5.0",
        "1e3",
        "0x10",
        "- 5",
        "++5",
        "５", // a full-width digit
    ] {
        let msg = cli::parse_int(text).expect_err(text);
        one_line(&msg);
    }
}

// ---------------------------------------------------------------------------------------------
// signal::parse_signal: sig-demo send PID SIGNAL

/// The signals a user may name: 1 to 31 and SIGRTMIN to SIGRTMAX (glibc keeps 32 and 33).
fn valid_signals() -> Vec<i32> {
    (1..32).chain(signal::rtmin()..=signal::rtmax()).collect()
}

fn a_valid_signal() -> impl Strategy<Value = i32> {
    prop::sample::select(valid_signals())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn signal_any_text_parses_or_says_what_was_expected(text in any_text()) {
        match signal::parse_signal(&text) {
            Ok(SigNum(n)) => prop_assert!(valid_signals().contains(&n), "{text:?} gave {n}"),
            Err(msg) => {
                check_error("parse_signal", &text, &msg, "is not a signal")?;
                prop_assert!(msg.contains(&format!("{text:?}")), "{msg}");
            }
        }
    }

    #[test]
    fn every_signal_round_trips_by_name_and_number(n in a_valid_signal()) {
        let sig = SigNum(n);
        let name = sig.name();
        let bare = name.strip_prefix("SIG").expect("names start with SIG");
        for text in [
            name.clone(),
            bare.to_string(),
            name.to_lowercase(),
            bare.to_lowercase(),
            n.to_string(),
            format!(" {name}\n"),
        ] {
            prop_assert_eq!(signal::parse_signal(&text), Ok(sig), "{:?}", text);
        }
    }

    #[test]
    fn realtime_offsets_round_trip(k in 0i32..=30) {
        let (min, max) = (signal::rtmin(), signal::rtmax());
        let plus = signal::parse_signal(&format!("RTMIN+{k}"));
        let minus = signal::parse_signal(&format!("SIGRTMAX-{k}"));
        if k <= max - min {
            prop_assert_eq!(plus, Ok(SigNum(min + k)));
            prop_assert_eq!(minus, Ok(SigNum(max - k)));
        } else {
            prop_assert!(plus.is_err() && minus.is_err());
        }
    }
}

#[test]
fn signal_boundaries() {
    let (min, max) = (signal::rtmin(), signal::rtmax());
    for n in [1, 31, min, max] {
        assert_eq!(signal::parse_signal(&n.to_string()), Ok(SigNum(n)), "{n}");
    }
    let span = max - min;
    for text in [
        "0".to_string(),
        "-1".to_string(),
        "32".to_string(),
        "33".to_string(),
        (max + 1).to_string(),
        "99999999999999999999".to_string(),
        String::new(),
        "SIG".to_string(),
        "SIGSIGTERM".to_string(),
        "TERM9".to_string(),
        format!("RTMIN+{}", span + 1),
        format!("RTMAX-{}", span + 1),
        "RTMIN-1".to_string(),
        "RTMAX+1".to_string(),
        "RTMIN+".to_string(),
        "RTMIN++1".to_string(),
        "RTMIN+-1".to_string(),
        "RTMIN+ 1".to_string(),
        "RTMIN+99999999999999999999".to_string(),
        "RTMAX-2147483648".to_string(),
        "RTMAX-2147483647".to_string(),
    ] {
        let msg = signal::parse_signal(&text).expect_err(&text);
        one_line(&msg);
        assert!(msg.contains("is not a signal"), "{text}: {msg}");
    }
}

#[test]
fn realtime_offsets_never_overflow() {
    for text in [
        "RTMIN+2147483647",
        "SIGRTMIN+2147483614",
        "rtmin+2147483600",
    ] {
        let got = std::panic::catch_unwind(|| signal::parse_signal(text));
        match got {
            Ok(result) => assert!(result.is_err(), "{text} gave {result:?}"),
            Err(_) => panic!("parse_signal({text:?}) panicked"),
        }
    }
    // And as a property: any offset at all.
    proptest!(config(), |(off in 0u32..=u32::MAX, base in "(SIG)?RTM(IN\\+|AX-)")| {
        let text = format!("{base}{off}");
        let got = std::panic::catch_unwind(|| signal::parse_signal(&text));
        prop_assert!(got.is_ok(), "parse_signal({:?}) panicked", text);
    });
}

// ---------------------------------------------------------------------------------------------
// net::parse_listen: mq-recv --listen

proptest! {
    #![proptest_config(config())]

    #[test]
    fn listen_any_text_parses_or_says_what_was_expected(text in any_text()) {
        if let Err(msg) = net::parse_listen(&text) {
            check_error("parse_listen", &text, &msg, "expected PORT or ADDR:PORT")?;
        }
    }

    #[test]
    fn every_port_alone_means_this_machine(port in any::<u16>()) {
        prop_assert_eq!(
            net::parse_listen(&port.to_string()),
            Ok(SocketAddr::from(([127, 0, 0, 1], port)))
        );
    }

    #[test]
    fn every_address_round_trips(
        ip in any::<[u8; 4]>(),
        ip6 in any::<[u16; 8]>(),
        port in any::<u16>(),
    ) {
        let v4 = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::from(ip), port));
        prop_assert_eq!(net::parse_listen(&v4.to_string()), Ok(v4));
        let v6 = SocketAddr::V6(SocketAddrV6::new(Ipv6Addr::from(ip6), port, 0, 0));
        prop_assert_eq!(net::parse_listen(&v6.to_string()), Ok(v6));
    }

    #[test]
    fn ports_beyond_16_bits_are_refused(port in 65_536u64..) {
        prop_assert!(net::parse_listen(&port.to_string()).is_err());
        let any_address = format!("0.0.0.0:{port}");
        prop_assert!(net::parse_listen(&any_address).is_err());
    }
}

#[test]
fn listen_boundaries() {
    assert_eq!(
        net::parse_listen("0"),
        Ok(SocketAddr::from(([127, 0, 0, 1], 0)))
    );
    assert_eq!(
        net::parse_listen("65535"),
        Ok(SocketAddr::from(([127, 0, 0, 1], 65535)))
    );
    for text in [
        "65536",
        "-1",
        "-5",
        "",
        "99999999999999999999",
        "localhost:7000",
        "1.2.3.4",
        "::1:7000",
        "[::1]",
        "256.0.0.1:7000",
        "0.0.0.0:",
        ":7000",
    ] {
        let msg = net::parse_listen(text).expect_err(text);
        one_line(&msg);
    }
}

// ---------------------------------------------------------------------------------------------
// mq::QueueName::parse: mq-send QUEUE, mq-recv QUEUE...

/// A name's body: 1 to NAME_MAX bytes of anything but `/` and NUL.
fn queue_body() -> impl Strategy<Value = String> {
    prop_oneof!["[a-zA-Z0-9._-]{1,255}", "[^/\\x00]{1,63}",]
        .prop_filter("at most NAME_MAX bytes", |b| b.len() <= NAME_MAX)
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn queue_any_text_parses_or_says_what_was_expected(text in any_text()) {
        match QueueName::parse(&text) {
            Ok(name) => {
                let s = name.as_str();
                prop_assert!(s.starts_with('/') && !s[1..].contains('/') && !s.contains('\0'));
                prop_assert!((2..=NAME_MAX + 1).contains(&s.len()), "{s:?}");
            }
            Err(e) => {
                check_error("QueueName::parse", &text, &e.0, "is not a queue name")?;
                prop_assert!(e.0.starts_with(&format!("{text:?}")), "{e}");
            }
        }
    }

    #[test]
    fn every_valid_name_round_trips_with_or_without_its_slash(body in queue_body()) {
        let bare = QueueName::parse(&body).expect("a valid name without its /");
        prop_assert!(bare.slash_added);
        prop_assert_eq!(bare.as_str(), format!("/{body}"));
        let slashed = QueueName::parse(bare.as_str()).expect("the name as printed");
        prop_assert!(!slashed.slash_added);
        prop_assert_eq!(&slashed, &bare, "the same queue however typed");
        // Shown as it is, but for a control character, which is shown as its escape.
        prop_assert_eq!(slashed.to_string(), ipc_lab::ui::one_line(bare.as_str()));
        if !body.chars().any(char::is_control) {
            prop_assert_eq!(slashed.to_string(), bare.as_str());
        }
    }

    #[test]
    fn a_slash_or_nul_inside_is_refused(a in queue_body(), b in queue_body(), sep in "[/\\x00]") {
        let text = format!("/{a}{sep}{b}");
        prop_assert!(QueueName::parse(&text).is_err(), "{:?}", text);
    }
}

#[test]
fn queue_boundaries() {
    let longest = "q".repeat(NAME_MAX);
    assert!(QueueName::parse(&longest).is_ok());
    assert!(QueueName::parse(&format!("/{longest}")).is_ok());
    let long = "q".repeat(NAME_MAX + 1);
    let huge = "q".repeat(100_000);
    for text in [
        "", "/", "//", "//a", "a/", "/a/b", "\0", "/a\0b", &long, &huge,
    ] {
        let e = QueueName::parse(text).expect_err(text);
        one_line(&e.0);
    }
}

#[test]
fn a_long_name_is_measured_as_it_is_refused() {
    let name = "é".repeat(128);
    let e = QueueName::parse(&name).expect_err("256 bytes");
    assert!(
        !e.0.contains("256 characters"),
        "128 characters, reported as: {e}"
    );
}

// ---------------------------------------------------------------------------------------------
// The wire format a network peer sends (net::Greeting, net::Header): input from another machine

proptest! {
    #![proptest_config(config())]

    #[test]
    fn any_greeting_bytes_decode_or_say_why(bytes in any::<[u8; GREETING_LEN]>()) {
        if let Err(msg) = Greeting::decode(&bytes) {
            assert_one_line("Greeting::decode", &format!("{bytes:?}"), &msg)?;
        }
    }

    #[test]
    fn greetings_round_trip(message_size in any::<u32>(), max_messages in any::<u32>()) {
        let g = Greeting { message_size, max_messages };
        prop_assert_eq!(Greeting::decode(&g.encode()), Ok(g));
    }

    #[test]
    fn any_header_bytes_decode_or_say_why(
        bytes in any::<[u8; HEADER_LEN]>(),
        size in any::<u32>(),
    ) {
        match Header::decode(&bytes, size) {
            Ok(h) => prop_assert!(h.priority <= PRIO_MAX && h.length <= size),
            Err(refusal) => assert_one_line("Header::decode", &format!("{bytes:?}"), &refusal.why)?,
        }
    }

    #[test]
    fn headers_round_trip(
        body in prop::collection::vec(any::<u8>(), 0..300),
        priority in 0..=PRIO_MAX,
        nonblock in any::<bool>(),
    ) {
        let frame = Header::frame(&body, priority, nonblock);
        let head: [u8; HEADER_LEN] = frame[..HEADER_LEN].try_into().unwrap();
        let want = Header { nonblock, priority, length: body.len() as u32 };
        prop_assert_eq!(Header::decode(&head, body.len() as u32), Ok(want));
        prop_assert_eq!(&frame[HEADER_LEN..], &body[..]);
        if !body.is_empty() {
            prop_assert!(Header::decode(&head, body.len() as u32 - 1).is_err(), "too big");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The value enums the binaries take: ipc-bench --mech and --pin, every binary's --color

/// Only that it never panics and refuses with some message: clap writes the error the user sees
/// (`invalid value 'X' for '--mech <LIST>'` and the possible values), not this message.
fn check_value_enum<T: ValueEnum + PartialEq + std::fmt::Debug>(
    text: &str,
) -> Result<(), TestCaseError> {
    match T::from_str(text, false) {
        Ok(v) => {
            let name = v.to_possible_value().expect("not hidden");
            prop_assert!(name.matches(text, false), "{text:?} gave {v:?}");
        }
        Err(msg) => prop_assert!(!msg.is_empty()),
    }
    Ok(())
}

#[track_caller]
fn value_enum_round_trips<T: ValueEnum + PartialEq + std::fmt::Debug>() {
    for v in T::value_variants() {
        let name = v
            .to_possible_value()
            .expect("not hidden")
            .get_name()
            .to_string();
        assert_eq!(T::from_str(&name, false).as_ref(), Ok(v), "{name}");
        assert_eq!(
            T::from_str(&name.to_uppercase(), true).as_ref(),
            Ok(v),
            "{name}"
        );
        assert!(T::from_str(&format!("{name}x"), false).is_err(), "{name}x");
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn value_enums_any_text_never_panic(text in any_text()) {
        check_value_enum::<Mech>(&text)?;
        check_value_enum::<Pin>(&text)?;
        check_value_enum::<ColorChoice>(&text)?;
    }
}

#[test]
fn value_enums_round_trip() {
    value_enum_round_trips::<Mech>();
    value_enum_round_trips::<Pin>();
    value_enum_round_trips::<ColorChoice>();
    for m in Mech::ALL {
        assert_eq!(Mech::from_str(m.name(), false), Ok(m), "the table's name");
    }
}

// ---------------------------------------------------------------------------------------------
// Shell words: `pipe-demo redirect 'CMD1' 'CMD2'` splits each command with shlex::split (inside
// the binary: no library function to call). These pin down what it relies on: any text is split
// or refused (None), never a panic, and words quoted by shlex come back as they were.

proptest! {
    #![proptest_config(config())]

    #[test]
    fn shell_words_any_text_split_or_refused(text in any_text()) {
        if let Some(words) = shlex::split(&text) {
            prop_assert!(words.iter().all(|w| !w.is_empty() || text.contains(['\'', '"'])));
        }
    }

    #[test]
    fn shell_words_round_trip(words in prop::collection::vec("[^\\x00]{0,20}", 0..6)) {
        let line = shlex::try_join(words.iter().map(String::as_str)).expect("no NUL");
        prop_assert_eq!(shlex::split(&line), Some(words.clone()), "{:?}", line);
    }
}

#[test]
fn shell_word_boundaries() {
    for text in ["'abc", "\"abc", "abc\\", "'a'\"b"] {
        assert_eq!(shlex::split(text), None, "{text}");
    }
    assert_eq!(shlex::split(""), Some(vec![]));
    assert_eq!(shlex::split("   \t\n"), Some(vec![]));
    assert_eq!(shlex::split("# only a comment"), Some(vec![]));
    assert_eq!(
        shlex::split("ls -l '/tmp/a b'"),
        Some(vec!["ls".into(), "-l".into(), "/tmp/a b".into()])
    );
}
