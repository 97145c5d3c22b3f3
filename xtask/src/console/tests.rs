//! The expect engine against scripted line sources and a scripted process.

use super::*;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

const SHORT: Duration = Duration::from_millis(200);
const LONG: Duration = Duration::from_secs(5);

struct FakeProc {
    code: Option<i32>,
    killed: Arc<AtomicBool>,
}

impl Proc for FakeProc {
    fn try_exit(&mut self) -> std::io::Result<Option<Option<i32>>> {
        Ok(Some(self.code))
    }
    fn kill(&mut self) {
        self.killed.store(true, Ordering::SeqCst);
    }
}

/// A console fed by a thread that sends `lines` (5 ms apart) and then, if `close`,
/// closes the stream. The sender stays alive otherwise, like a QEMU that hangs.
fn scripted(lines: &[&str], close: bool, code: Option<i32>) -> (Console, Arc<AtomicBool>) {
    let (tx, rx) = channel();
    let lines: Vec<String> = lines.iter().map(|s| s.to_string()).collect();
    std::thread::spawn(move || {
        for l in lines {
            std::thread::sleep(Duration::from_millis(5));
            if tx.send(Event::Line(l)).is_err() {
                return;
            }
        }
        if close {
            let _ = tx.send(Event::Closed);
        } else {
            std::thread::sleep(Duration::from_secs(30));
        }
    });
    let killed = Arc::new(AtomicBool::new(false));
    let proc = FakeProc {
        code,
        killed: killed.clone(),
    };
    (
        Console::new("scripted", rx, 1, Some(Box::new(proc))),
        killed,
    )
}

#[test]
fn expect_moves_a_cursor_through_ordered_lines() {
    let (mut c, _) = scripted(
        &["[a] count 1", "[b] count 1", "[a] count 2", "[a] count 3"],
        true,
        Some(0),
    );
    assert_eq!(c.expect(&Pattern::contains("[a] count"), LONG).unwrap(), 0);
    // The same pattern again finds the next occurrence, not the first one.
    assert_eq!(c.expect(&Pattern::contains("[a] count"), LONG).unwrap(), 2);
    assert_eq!(
        c.expect(&Pattern::regex(r"^\[a\] count (\d+)$"), LONG)
            .unwrap(),
        3
    );
    // `[b] count 1` is behind the cursor now.
    let err = c
        .expect(&Pattern::contains("[b]"), LONG)
        .unwrap_err()
        .to_string();
    assert!(err.contains("the console closed (exit code 0)"), "{err}");
}

#[test]
fn expect_all_accepts_any_order_and_reports_what_is_missing() {
    let (mut c, _) = scripted(&["x", "[b] done", "y", "[a] done"], false, None);
    let found = c
        .expect_all(
            &[Pattern::contains("[a] done"), Pattern::contains("[b] done")],
            LONG,
        )
        .unwrap();
    assert_eq!(found, vec![3, 1]);
    assert_eq!(c.cursor(), 4);
    let err = c
        .expect_all(
            &[Pattern::contains("[c] done"), Pattern::contains("x")],
            SHORT,
        )
        .unwrap_err()
        .to_string();
    // After the cursor neither is present; both are named.
    assert!(
        err.contains(
            "all of [a line containing \"[c] done\"; a line containing \"x\"] (still missing)"
        ),
        "{err}"
    );
}

#[test]
fn timeout_report_names_test_awaited_pattern_and_last_50_lines() {
    let lines: Vec<String> = (1..=60).map(|i| format!("line {i}")).collect();
    let refs: Vec<&str> = lines.iter().map(|s| s.as_str()).collect();
    let (mut c, _) = scripted(&refs, false, None);
    c.expect(&Pattern::contains("line 60"), LONG).unwrap();
    let start = Instant::now();
    let err = c
        .expect(&Pattern::contains("never"), SHORT)
        .unwrap_err()
        .to_string();
    assert!(start.elapsed() >= SHORT);
    assert!(
        err.starts_with("FAILED scripted: waiting for a line containing \"never\": timed out"),
        "{err}"
    );
    assert!(err.contains("--- last 50 console lines"));
    assert!(err.contains("| line 11\n") && err.contains("| line 60\n"));
    assert!(!err.contains("| line 10\n"));
}

#[test]
fn a_closed_console_fails_at_once_instead_of_waiting_for_the_timeout() {
    let (mut c, _) = scripted(&["boot"], true, Some(1));
    let start = Instant::now();
    let err = c
        .expect(&Pattern::contains("banner"), Duration::from_secs(30))
        .unwrap_err()
        .to_string();
    assert!(start.elapsed() < Duration::from_secs(5));
    assert!(err.contains("console closed (exit code 1)"), "{err}");
}

#[test]
fn fail_on_lines_fail_the_next_wait_immediately() {
    let (mut c, _) = scripted(&["ok", "[rtvisor] panic: oops", "banner"], false, None);
    c.fail_on(Pattern::contains("[rtvisor] panic"));
    c.expect(&Pattern::contains("ok"), LONG).unwrap();
    let err = c
        .expect(&Pattern::contains("never"), LONG)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("reports a failure: \"[rtvisor] panic: oops\""),
        "{err}"
    );
}

/// All lines queued before the first wait (as under load, when the reader thread is
/// ahead): the awaited line came first, so it is found; the failure after it fails the
/// next wait.
#[test]
fn a_failure_after_the_awaited_line_fails_only_the_next_wait() {
    let (tx, rx) = channel();
    for l in ["ok", "[rtvisor] panic: oops", "banner"] {
        tx.send(Event::Line(l.into())).unwrap();
    }
    let mut c = Console::new("queued", rx, 1, None);
    c.fail_on(Pattern::contains("[rtvisor] panic"));
    assert_eq!(c.expect(&Pattern::contains("ok"), LONG).unwrap(), 0);
    let err = c
        .expect(&Pattern::contains("banner"), LONG)
        .unwrap_err()
        .to_string();
    assert!(err.contains("console line 2 reports a failure"), "{err}");
    // A failure before the awaited line fails that wait.
    let (tx, rx) = channel();
    for l in ["[rtvisor] panic: early", "ok"] {
        tx.send(Event::Line(l.into())).unwrap();
    }
    let mut c = Console::new("queued", rx, 1, None);
    c.fail_on(Pattern::contains("[rtvisor] panic"));
    assert!(c.expect(&Pattern::contains("ok"), LONG).is_err());
}

#[test]
fn expect_not_covers_the_whole_log() {
    let (mut c, _) = scripted(&["probe: a: LEAK (x)", "probe: done"], false, None);
    c.expect(&Pattern::contains("done"), LONG).unwrap();
    let err = c
        .expect_not(&Pattern::contains("LEAK"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("console line 1 is \"probe: a: LEAK (x)\""),
        "{err}"
    );
    c.expect_not(&Pattern::contains("panic")).unwrap();
}

#[test]
fn expect_n_since_counts_lines_after_a_mark() {
    let (mut c, _) = scripted(&["v 1", "done", "v 2", "p", "v 3"], false, None);
    let done = c.expect(&Pattern::contains("done"), LONG).unwrap();
    let hits = c
        .expect_n_since(done, &Pattern::contains("v "), 2, LONG)
        .unwrap();
    assert_eq!(hits, vec![2, 4]);
    assert!(c
        .expect_n_since(done, &Pattern::contains("v "), 3, SHORT)
        .is_err());
}

#[test]
fn expect_exit_checks_the_code() {
    let (mut c, _) = scripted(&["bye"], true, Some(0));
    c.expect_exit(0, LONG).unwrap();
    let (mut c, _) = scripted(&["bye"], true, Some(3));
    let err = c.expect_exit(0, LONG).unwrap_err().to_string();
    assert!(
        err.contains("waiting for the process to exit with code 0: exit code 3"),
        "{err}"
    );
    let (mut c, _) = scripted(&["still running"], false, None);
    assert!(c
        .expect_exit(0, SHORT)
        .unwrap_err()
        .to_string()
        .contains("timed out"));
}

#[test]
fn drop_kills_the_process_and_writes_the_full_log() {
    let path = std::env::temp_dir().join(format!("xtask-console-{}.log", std::process::id()));
    let (mut c, killed) = scripted(&["one", "two"], false, None);
    c.set_log_file(path.clone());
    c.expect(&Pattern::contains("two"), LONG).unwrap();
    drop(c);
    assert!(killed.load(Ordering::SeqCst));
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "one\ntwo\n");
    let _ = std::fs::remove_file(path);
}

#[test]
fn reader_splits_lines_strips_cr_and_keeps_a_partial_last_line() {
    let (tx, rx) = channel();
    let input: &[u8] = b"[rt] rtbench: banner\r\n[gp] caf\xff\nno newline";
    spawn_reader(input, "", tx);
    let mut c = Console::new("reader", rx, 1, None);
    c.expect(&Pattern::contains("no newline"), LONG).unwrap();
    assert_eq!(
        c.log(),
        ["[rt] rtbench: banner", "[gp] caf\u{fffd}", "no newline"]
    );
}

#[test]
fn reader_keeps_what_a_terminal_shows_after_an_erased_line() {
    // The hypervisor erases the live partial line of the VM with the console input
    // (CR, ESC [ K) before printing another line, and draws it again after.
    let (tx, rx) = channel();
    let input: &[u8] =
        b"[linux] # l\r\x1b[K[rt] tick\r\n[linux] # l\r\x1b[K[rtvisor] note\r\n[linux] # ls\r\n";
    spawn_reader(input, "", tx);
    let mut c = Console::new("reader", rx, 1, None);
    c.expect(&Pattern::contains("# ls"), LONG).unwrap();
    assert_eq!(c.log(), ["[rt] tick", "[rtvisor] note", "[linux] # ls"]);
}
