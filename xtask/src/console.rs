//! The console expect engine used by the system tests.
//!
//! Reader threads turn QEMU's stdout (and stderr, prefixed `[qemu stderr] `) into
//! lines on a channel. [`Console`] keeps every line (the full log) and waits for lines
//! with a timeout; it never sleeps for a fixed time. Every failure is reported the same
//! way: the test name, what was awaited, why it failed, and the last 50 console lines.
//! Dropping a console kills the process and writes the full log file.
//!
//! Two ways to wait: [`Console::expect`] moves a cursor through the log (strictly
//! ordered lines), [`Console::expect_all`] waits for a set of lines in any order
//! (needed where two vCPUs or VMs print concurrently).

mod pattern;
pub use pattern::Pattern;

use anyhow::{anyhow, Result};
use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::Child;
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

/// How many lines a failure report shows.
pub const TAIL: usize = 50;

/// What the reader threads send.
#[derive(Debug)]
pub enum Event {
    Line(String),
    /// One stream reached end of file.
    Closed,
}

/// The process behind a console (a trait so tests can script it).
pub trait Proc {
    /// `None` while running; `Some(None)` when killed by a signal.
    fn try_exit(&mut self) -> std::io::Result<Option<Option<i32>>>;
    fn kill(&mut self);
}

impl Proc for Child {
    fn try_exit(&mut self) -> std::io::Result<Option<Option<i32>>> {
        Ok(self.try_wait()?.map(|s| s.code()))
    }
    fn kill(&mut self) {
        if let Ok(None) = self.try_wait() {
            let _ = Child::kill(self);
        }
        let _ = self.wait();
    }
}

/// What the hypervisor sends to erase the line on the terminal (CR, erase to the end
/// of the line) before it prints over the live partial line of a VM
/// (`rtvisor_core::console::Terminal`).
const ERASE_LINE: &[u8] = b"\r\x1b[K";

/// The part of `line` a terminal shows: what follows its last erase.
fn shown(line: &[u8]) -> &[u8] {
    match line
        .windows(ERASE_LINE.len())
        .rposition(|w| w == ERASE_LINE)
    {
        Some(i) => &line[i + ERASE_LINE.len()..],
        None => line,
    }
}

/// Forwards `r` line by line (trailing CR/LF removed, what an erase sequence took back
/// dropped, invalid UTF-8 replaced).
pub fn spawn_reader(r: impl Read + Send + 'static, prefix: &'static str, tx: Sender<Event>) {
    std::thread::spawn(move || {
        let mut r = BufReader::new(r);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match r.read_until(b'\n', &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    while matches!(buf.last(), Some(b'\n' | b'\r')) {
                        buf.pop();
                    }
                    let line = format!("{prefix}{}", String::from_utf8_lossy(shown(&buf)));
                    if tx.send(Event::Line(line)).is_err() {
                        return;
                    }
                }
            }
        }
        let _ = tx.send(Event::Closed);
    });
}

pub struct Console {
    name: String,
    rx: Receiver<Event>,
    open_streams: usize,
    proc: Option<Box<dyn Proc>>,
    exit: Option<Option<i32>>,
    log: Vec<String>,
    cursor: usize,
    fail_on: Vec<Pattern>,
    /// Lines already checked against `fail_on`, and the first that matched.
    fail_scanned: usize,
    failed_line: Option<usize>,
    log_file: Option<PathBuf>,
    echo: bool,
    input: Option<Box<dyn std::io::Write + Send>>,
}

impl Console {
    /// A console over `streams` line sources feeding `rx`.
    pub fn new(
        name: &str,
        rx: Receiver<Event>,
        streams: usize,
        proc: Option<Box<dyn Proc>>,
    ) -> Console {
        Console {
            name: name.to_string(),
            rx,
            open_streams: streams,
            proc,
            exit: None,
            log: Vec::new(),
            cursor: 0,
            fail_on: Vec::new(),
            fail_scanned: 0,
            failed_line: None,
            log_file: None,
            echo: false,
            input: None,
        }
    }

    /// A console over a child's piped stdout and stderr.
    pub fn spawn(name: &str, mut child: Child) -> Console {
        let input = child.stdin.take();
        let (tx, rx) = channel();
        let mut streams = 0;
        if let Some(out) = child.stdout.take() {
            spawn_reader(out, "", tx.clone());
            streams += 1;
        }
        if let Some(err) = child.stderr.take() {
            spawn_reader(err, "[qemu stderr] ", tx);
            streams += 1;
        }
        let mut c = Console::new(name, rx, streams, Some(Box::new(child)));
        if let Some(i) = input {
            c.set_input(Box::new(i));
        }
        c
    }

    /// Where [`Console::send`] types: the machine's serial input.
    pub fn set_input(&mut self, input: Box<dyn std::io::Write + Send>) {
        self.input = Some(input);
    }

    /// Types `text` on the machine's console (its serial input).
    pub fn send(&mut self, text: &str) -> anyhow::Result<()> {
        use std::io::Write;
        let Some(input) = self.input.as_mut() else {
            anyhow::bail!("{}: this console has no input", self.name);
        };
        input.write_all(text.as_bytes())?;
        input.flush()?;
        Ok(())
    }

    pub fn set_log_file(&mut self, path: PathBuf) {
        self.log_file = Some(path);
    }
    /// Prints every line as it arrives.
    pub fn set_echo(&mut self, echo: bool) {
        self.echo = echo;
    }
    /// Any line matching `pat` fails the next wait at once (e.g. a hypervisor panic).
    pub fn fail_on(&mut self, pat: Pattern) {
        self.fail_on.push(pat);
        self.fail_scanned = 0;
    }
    /// Forgets every [`Console::fail_on`] pattern (a test that expects a failure).
    pub fn clear_fail_on(&mut self) {
        self.fail_on.clear();
        self.failed_line = None;
    }

    pub fn log(&self) -> &[String] {
        &self.log
    }
    pub fn line(&self, i: usize) -> &str {
        &self.log[i]
    }
    /// Index of the line the next wait starts at.
    pub fn cursor(&self) -> usize {
        self.cursor
    }
    pub fn set_cursor(&mut self, i: usize) {
        self.cursor = i.min(self.log.len());
    }

    /// Index of the first line at or after `from` that matches.
    pub fn find_from(&self, from: usize, pat: &Pattern) -> Option<usize> {
        (from..self.log.len()).find(|&i| pat.is_match(&self.log[i]))
    }

    /// A failure report: test name, what was awaited, why, the last [`TAIL`] lines.
    pub fn fail(&self, what: &str, why: &str) -> anyhow::Error {
        let start = self.log.len().saturating_sub(TAIL);
        let mut s = format!("FAILED {}: waiting for {what}: {why}\n", self.name);
        let file = self
            .log_file
            .as_ref()
            .map(|p| format!(", full log: {}", p.display()));
        s += &format!(
            "--- last {} console lines{} ---\n",
            self.log.len() - start,
            file.unwrap_or_default()
        );
        for l in &self.log[start..] {
            s += &format!("| {l}\n");
        }
        s += "--- end of console ---";
        anyhow!(s)
    }

    fn take(&mut self, ev: Event) {
        match ev {
            Event::Line(l) => {
                if self.echo {
                    println!("  {} | {l}", self.name);
                }
                self.log.push(l);
            }
            Event::Closed => self.open_streams = self.open_streams.saturating_sub(1),
        }
    }

    fn drain(&mut self) {
        while let Ok(ev) = self.rx.try_recv() {
            self.take(ev);
        }
    }

    fn check_fail_on(&mut self, what: &dyn Fn(&Console) -> String) -> Result<()> {
        if self.failed_line.is_none() {
            let fail_on = &self.fail_on;
            self.failed_line = (self.fail_scanned..self.log.len())
                .find(|&i| fail_on.iter().any(|p| p.is_match(&self.log[i])));
            self.fail_scanned = self.log.len();
        }
        match self.failed_line {
            None => Ok(()),
            Some(i) => Err(self.fail(
                &what(self),
                &format!(
                    "console line {} reports a failure: {:?}",
                    i + 1,
                    self.log[i]
                ),
            )),
        }
    }

    fn exit_text(&self) -> String {
        match self.exit {
            None => "the process is still running".into(),
            Some(Some(c)) => format!("exit code {c}"),
            Some(None) => "killed by a signal".into(),
        }
    }

    fn poll_exit(&mut self) {
        if self.exit.is_none() {
            if let Some(p) = self.proc.as_mut() {
                self.exit = p.try_exit().ok().flatten();
            }
        }
    }

    /// Waits until `done` returns `Some`, new lines arrive, the console closes or the
    /// timeout passes. `what` describes the awaited state for a failure report.
    pub fn wait_for<R>(
        &mut self,
        what: impl Fn(&Console) -> String,
        timeout: Duration,
        mut done: impl FnMut(&Console) -> Option<R>,
    ) -> Result<R> {
        let deadline = Instant::now() + timeout;
        // Lines are judged in the order they arrived: a failure line fails the wait
        // only if it came before the awaited line (else the next wait reports it).
        self.check_fail_on(&what)?;
        if let Some(r) = done(self) {
            return Ok(r);
        }
        loop {
            while let Ok(ev) = self.rx.try_recv() {
                self.take(ev);
                self.check_fail_on(&what)?;
                if let Some(r) = done(self) {
                    return Ok(r);
                }
            }
            if self.open_streams == 0 {
                self.poll_exit();
                let why = format!("the console closed ({})", self.exit_text());
                return Err(self.fail(&what(self), &why));
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(self.fail(
                    &what(self),
                    &format!("timed out after {}s", timeout.as_secs_f32()),
                ));
            }
            match self.rx.recv_timeout(deadline - now) {
                Ok(ev) => {
                    self.take(ev);
                    self.check_fail_on(&what)?;
                    if let Some(r) = done(self) {
                        return Ok(r);
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => self.open_streams = 0,
            }
        }
    }

    /// Waits for the next line (after the cursor) matching `pat`; moves the cursor past it.
    pub fn expect(&mut self, pat: &Pattern, timeout: Duration) -> Result<usize> {
        let from = self.cursor;
        let i = self.wait_for(|_| pat.to_string(), timeout, |c| c.find_from(from, pat))?;
        self.cursor = i + 1;
        Ok(i)
    }

    /// Waits until each pattern matched some line after the cursor, in any order;
    /// returns their indices and moves the cursor past the latest one.
    pub fn expect_all(&mut self, pats: &[Pattern], timeout: Duration) -> Result<Vec<usize>> {
        let from = self.cursor;
        let missing = |c: &Console| {
            let m: Vec<String> = pats
                .iter()
                .filter(|p| c.find_from(from, p).is_none())
                .map(|p| p.to_string())
                .collect();
            if m.is_empty() {
                let all: Vec<String> = pats.iter().map(|p| p.to_string()).collect();
                return format!("all of [{}]", all.join("; "));
            }
            format!("all of [{}] (still missing)", m.join("; "))
        };
        let found = self.wait_for(missing, timeout, |c| {
            pats.iter()
                .map(|p| c.find_from(from, p))
                .collect::<Option<Vec<_>>>()
        })?;
        self.cursor = found.iter().max().map_or(from, |m| m + 1);
        Ok(found)
    }

    /// Waits until `n` lines at or after index `from` match; returns their indices and
    /// moves the cursor past the n-th one (if that is further on).
    pub fn expect_n_since(
        &mut self,
        from: usize,
        pat: &Pattern,
        n: usize,
        timeout: Duration,
    ) -> Result<Vec<usize>> {
        let what = |_: &Console| format!("{n} x {pat} (after console line {from})");
        let hits = self.wait_for(what, timeout, |c| {
            let hits: Vec<usize> = (from..c.log.len())
                .filter(|&i| pat.is_match(&c.log[i]))
                .take(n)
                .collect();
            (hits.len() == n).then_some(hits)
        })?;
        if let Some(&last) = hits.last() {
            self.cursor = self.cursor.max(last + 1);
        }
        Ok(hits)
    }

    /// Fails if any line received so far matches `pat`.
    pub fn expect_not(&mut self, pat: &Pattern) -> Result<()> {
        self.drain();
        match self.find_from(0, pat) {
            Some(i) => {
                let why = format!("console line {} is {:?}", i + 1, self.log[i]);
                Err(self.fail(&format!("no {pat}"), &why))
            }
            None => Ok(()),
        }
    }

    /// Waits for the console to close and the process to exit with `code`.
    pub fn expect_exit(&mut self, code: i32, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        let what = format!("the process to exit with code {code}");
        self.wait_for(
            |_| what.clone(),
            timeout,
            |c| (c.open_streams == 0).then_some(()),
        )?;
        if self.proc.is_none() {
            return Err(self.fail(&what, "there is no process"));
        }
        // The pipes closed, so the process is on its way out; poll for its status.
        loop {
            self.poll_exit();
            if self.exit.is_some() || Instant::now() >= deadline {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        match self.exit {
            Some(Some(c)) if c == code => Ok(()),
            _ => Err(self.fail(&what, &self.exit_text())),
        }
    }

    /// Kills the process (if still running) and collects what it printed so far.
    pub fn kill(&mut self) {
        if let Some(p) = self.proc.as_mut() {
            p.kill();
        }
        self.drain();
    }

    fn write_log(&self) {
        if let Some(path) = &self.log_file {
            let mut text = self.log.join("\n");
            text.push('\n');
            if let Err(e) = std::fs::write(path, text) {
                eprintln!("[xtask] could not write {}: {e}", path.display());
            }
        }
    }
}

impl Drop for Console {
    fn drop(&mut self) {
        self.kill();
        self.write_log();
    }
}

#[cfg(test)]
mod tests;
