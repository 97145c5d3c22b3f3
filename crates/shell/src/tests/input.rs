//! Typed input: lines are echoed and run whole; editing and terminal escape sequences
//! never reach a command.

use super::*;

fn version() -> String {
    std::format!("rtvisor {VERSION}")
}

#[test]
fn a_typed_line_is_echoed_then_run() {
    let (m, mut input) = (Mock::new(), Input::new());
    assert_eq!(m.typed(&mut input, b"vers"), Vec::<String>::new());
    assert_eq!(
        m.typed(&mut input, b"ion\r"),
        ["> version".into(), version()]
    );
    // A terminal that sends CR LF gets one command per line, not an extra empty one.
    assert_eq!(
        m.typed(&mut input, b"version\r\n"),
        ["> version".into(), version()]
    );
    assert_eq!(m.typed(&mut input, b"\r\n  \r"), Vec::<String>::new());
}

#[test]
fn an_overlong_line_is_refused_whole_with_one_message() {
    let (m, mut input) = (Mock::new(), Input::new());
    let mut paste = std::vec![b'x'; 5000];
    paste.push(b'\r');
    let out = m.typed(&mut input, &paste);
    assert_eq!(
        out,
        [std::format!(
            "line too long (5000 bytes, at most {COMMAND_MAX}): ignored"
        )]
    );
    assert!(m.calls.borrow().is_empty());
    // The next line is whole again.
    assert_eq!(
        m.typed(&mut input, b"version\r"),
        ["> version".into(), version()]
    );
}

#[test]
fn a_line_of_the_maximum_length_runs() {
    let (m, mut input) = (Mock::new(), Input::new());
    let mut line = b"vm stop rt".to_vec();
    line.resize(COMMAND_MAX, b' ');
    line.push(b'\r');
    let out = m.typed(&mut input, &line);
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!(*m.calls.borrow(), ["stop 0"]);
    // Three bytes over the limit, then three erased: the line fits again and runs.
    let mut over = b"vm stop rt".to_vec();
    over.resize(COMMAND_MAX + 3, b' ');
    over.extend_from_slice(b"\x7f\x7f\x7f\r");
    let out = m.typed(&mut input, &over);
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!(*m.calls.borrow(), ["stop 0", "stop 0"]);
}

#[test]
fn del_and_backspace_erase_the_last_character() {
    let (m, mut input) = (Mock::new(), Input::new());
    assert_eq!(
        m.typed(&mut input, b"verx\x7fsioo\x08n\r"),
        ["> version".into(), version()]
    );
    // Erasing more than was typed leaves an empty line.
    assert_eq!(
        m.typed(&mut input, b"ab\x7f\x7f\x7f\x7f\r"),
        Vec::<String>::new()
    );
    // A multi-byte character goes at once.
    assert_eq!(
        m.typed(&mut input, "vm stop \u{e9}\x7frt\r".as_bytes()),
        ["> vm stop rt"]
    );
}

#[test]
fn escape_sequences_are_dropped_whole() {
    let (m, mut input) = (Mock::new(), Input::new());
    for typed in [
        &b"\x1b[Aversion\r"[..],                // cursor up (CSI)
        b"ver\x1b[1;5Dsion\r",                  // Ctrl-Left: parameters, then the final byte
        b"\x1b]0;a title\x07version\r",         // OSC ended by BEL
        b"\x1b]11;rgb:00/00/00\x1b\\version\r", // OSC ended by ESC \ (ST)
        b"\x1bOAversion\r",                     // cursor up in application mode (SS3)
        b"\x1b[24;80Rversion\r",                // a cursor position report
    ] {
        assert_eq!(
            m.typed(&mut input, typed),
            ["> version".into(), version()],
            "{typed:?}"
        );
    }
    // An unterminated sequence ends with the line; the next line is whole.
    assert_eq!(
        m.typed(&mut input, b"\x1b]0;never ended\r"),
        Vec::<String>::new()
    );
    assert_eq!(
        m.typed(&mut input, b"version\r"),
        ["> version".into(), version()]
    );
}

#[test]
fn other_control_bytes_and_bad_utf8_never_reach_a_command() {
    let (m, mut input) = (Mock::new(), Input::new());
    assert_eq!(
        m.typed(&mut input, b"ver\x07si\x00on\r"),
        ["> version".into(), version()]
    );
    assert_eq!(m.typed(&mut input, b"vm\tlist\r")[0], "> vm list");
    assert_eq!(
        m.typed(&mut input, b"vm stop \xff\r"),
        ["input is not UTF-8: ignored"]
    );
    assert!(m.calls.borrow().is_empty());
}
