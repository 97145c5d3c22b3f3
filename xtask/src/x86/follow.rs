//! A console over Bochs: COM1 goes to a file (Bochs' own stdout carries its debugger's
//! chatter, which would tear the console's lines), so a thread follows that file as it
//! grows and feeds its lines to the same channel as Bochs' stdout and stderr, which are
//! prefixed `[bochs] ` and `[bochs stderr] `. The file is read to its end once Bochs'
//! stdout closed.

use crate::console::{spawn_reader, Console, Event};
use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::Child;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Sender};
use std::sync::Arc;
use std::time::Duration;

/// Sends each whole line of `pending` (CR and LF stripped), keeps the rest.
fn send_lines(pending: &mut Vec<u8>, tx: &Sender<Event>) {
    while let Some(nl) = pending.iter().position(|&b| b == b'\n') {
        let mut line: Vec<u8> = pending.drain(..=nl).collect();
        while matches!(line.last(), Some(b'\n' | b'\r')) {
            line.pop();
        }
        let _ = tx.send(Event::Line(String::from_utf8_lossy(&line).into_owned()));
    }
}

/// Follows `path` until `done` is set and the file has no more bytes.
fn follow(path: PathBuf, done: Arc<AtomicBool>, tx: Sender<Event>) {
    std::thread::spawn(move || {
        let mut pending = Vec::new();
        let mut file = None;
        loop {
            let finished = done.load(Ordering::Acquire);
            if file.is_none() {
                file = std::fs::File::open(&path).ok();
            }
            let mut got = 0;
            if let Some(f) = file.as_mut() {
                let mut buf = [0u8; 4096];
                while let Ok(n) = f.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    got += n;
                    pending.extend_from_slice(&buf[..n]);
                }
                send_lines(&mut pending, &tx);
            }
            if finished && got == 0 {
                break;
            }
            if got == 0 {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        if !pending.is_empty() {
            pending.push(b'\n');
            send_lines(&mut pending, &tx);
        }
        let _ = tx.send(Event::Closed);
    });
}

/// A console over a Bochs `child` whose COM1 writes into `com1`.
pub fn console(name: &str, mut child: Child, com1: PathBuf) -> Console {
    let (tx, rx) = channel();
    let done = Arc::new(AtomicBool::new(false));
    let mut streams = 1;
    follow(com1, done.clone(), tx.clone());
    if let Some(out) = child.stdout.take() {
        let tx = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(out).split(b'\n') {
                let Ok(line) = line else { break };
                let text = String::from_utf8_lossy(&line);
                let _ = tx.send(Event::Line(format!("[bochs] {}", text.trim_end())));
            }
            done.store(true, Ordering::Release);
            let _ = tx.send(Event::Closed);
        });
        streams += 1;
    }
    if let Some(err) = child.stderr.take() {
        spawn_reader(err, "[bochs stderr] ", tx);
        streams += 1;
    }
    Console::new(name, rx, streams, Some(Box::new(child)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_lines_only_and_the_tail_at_the_end() {
        let (tx, rx) = channel();
        let mut p = b"[rtvisor] a\r\n[rtvisor] b\n[rtv".to_vec();
        send_lines(&mut p, &tx);
        assert_eq!(p, b"[rtv");
        let got: Vec<String> = rx
            .try_iter()
            .map(|e| match e {
                Event::Line(l) => l,
                Event::Closed => "closed".into(),
            })
            .collect();
        assert_eq!(got, ["[rtvisor] a", "[rtvisor] b"]);
    }

    #[test]
    fn a_growing_file_is_followed_to_its_end() {
        let dir = std::env::temp_dir().join(format!("xtask-follow-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("com1");
        let _ = std::fs::remove_file(&path);
        let (tx, rx) = channel();
        let done = Arc::new(AtomicBool::new(false));
        follow(path.clone(), done.clone(), tx);
        std::fs::write(&path, b"one\ntw").unwrap();
        let first = rx.recv_timeout(Duration::from_secs(5)).unwrap();
        assert!(matches!(first, Event::Line(ref l) if l == "one"));
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        std::io::Write::write_all(&mut f, b"o").unwrap();
        done.store(true, Ordering::Release);
        let rest: Vec<Event> = rx.iter().collect();
        assert!(
            matches!(rest[0], Event::Line(ref l) if l == "two"),
            "{rest:?}"
        );
        assert!(matches!(rest[1], Event::Closed));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
