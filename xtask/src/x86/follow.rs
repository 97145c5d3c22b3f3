//! The console of a Bochs run. Bochs' COM1 is a TCP connection (`mode=socket-client`):
//! xtask listens on a free port of 127.0.0.1 before it starts Bochs, and Bochs
//! connects to it when it sets up its serial port, before the BIOS runs. What the
//! guest writes arrives on the connection whole and in order, and what the test
//! types goes back on it, so the hypervisor shell can be used on Bochs as on QEMU.
//! The connection's lines feed the same channel as Bochs' stdout and stderr, which
//! are prefixed `[bochs] ` and `[bochs stderr] `; it ends when Bochs exits.

use crate::console::{spawn_reader, Console, Event};
use anyhow::{bail, Context, Result};
use std::io::{BufRead, BufReader};
use std::net::{TcpListener, TcpStream};
use std::process::Child;
use std::sync::mpsc::{channel, Sender};
use std::time::{Duration, Instant};

/// How long Bochs may take to connect to COM1's port (it connects before its BIOS
/// runs, within a second on an idle host).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(120);

/// A listener for COM1 on a free port of 127.0.0.1 (loopback only).
pub fn listen() -> Result<TcpListener> {
    let l = TcpListener::bind(("127.0.0.1", 0)).context("listening for Bochs' COM1")?;
    l.set_nonblocking(true)?;
    Ok(l)
}

/// Waits (at most [`CONNECT_TIMEOUT`]) for Bochs to connect to `listener`; fails at
/// once if Bochs exits first.
fn accept(listener: &TcpListener, child: &mut Child) -> Result<TcpStream> {
    let deadline = Instant::now() + CONNECT_TIMEOUT;
    loop {
        match listener.accept() {
            Ok((s, _)) => {
                s.set_nonblocking(false)?;
                s.set_nodelay(true)?;
                return Ok(s);
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e).context("accepting Bochs' COM1 connection"),
        }
        if let Some(status) = child.try_wait()? {
            bail!("Bochs exited ({status}) before it connected its COM1");
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            bail!("Bochs did not connect its COM1 within {CONNECT_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Forwards Bochs' stdout, each line prefixed `[bochs] `.
fn forward_stdout(out: impl std::io::Read + Send + 'static, tx: Sender<Event>) {
    std::thread::spawn(move || {
        for line in BufReader::new(out).split(b'\n') {
            let Ok(line) = line else { break };
            let text = String::from_utf8_lossy(&line);
            let _ = tx.send(Event::Line(format!("[bochs] {}", text.trim_end())));
        }
        let _ = tx.send(Event::Closed);
    });
}

/// A console over a Bochs `child` whose COM1 connects to `listener`: its lines come
/// from the connection, and [`Console::send`] types on it.
pub fn console(name: &str, mut child: Child, listener: &TcpListener) -> Result<Console> {
    let (tx, rx) = channel();
    let mut streams = 0;
    if let Some(out) = child.stdout.take() {
        forward_stdout(out, tx.clone());
        streams += 1;
    }
    if let Some(err) = child.stderr.take() {
        spawn_reader(err, "[bochs stderr] ", tx.clone());
        streams += 1;
    }
    let com1 = accept(listener, &mut child)?;
    let input = com1.try_clone().context("cloning COM1's connection")?;
    spawn_reader(com1, "", tx);
    streams += 1;
    let mut c = Console::new(name, rx, streams, Some(Box::new(child)));
    c.set_input(Box::new(input));
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn a_connection_is_read_line_by_line_and_takes_input() {
        let listener = listen().unwrap();
        let port = listener.local_addr().unwrap().port();
        // A stand-in for Bochs: connects, writes lines, echoes what it reads.
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let peer = std::thread::spawn(move || {
            let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
            s.write_all(b"[rtvisor] a\r\n[rtvisor] b\n").unwrap();
            let mut got = String::new();
            BufReader::new(s.try_clone().unwrap())
                .read_line(&mut got)
                .unwrap();
            s.write_all(format!("echo {got}").as_bytes()).unwrap();
        });
        let com1 = accept(&listener, &mut child).unwrap();
        let mut input = com1.try_clone().unwrap();
        let (tx, rx) = channel();
        spawn_reader(com1, "", tx);
        let line = |rx: &std::sync::mpsc::Receiver<Event>| match rx
            .recv_timeout(Duration::from_secs(10))
            .unwrap()
        {
            Event::Line(l) => l,
            Event::Closed => "closed".into(),
        };
        assert_eq!(line(&rx), "[rtvisor] a");
        assert_eq!(line(&rx), "[rtvisor] b");
        input.write_all(b"vm list\r\n").unwrap();
        assert_eq!(line(&rx), "echo vm list");
        peer.join().unwrap();
        assert_eq!(line(&rx), "closed");
        let _ = child.kill();
        let _ = child.wait();
    }

    #[test]
    fn an_emulator_that_exits_before_connecting_is_reported() {
        let listener = listen().unwrap();
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let err = accept(&listener, &mut child).unwrap_err().to_string();
        assert!(err.contains("before it connected its COM1"), "{err}");
    }
}
