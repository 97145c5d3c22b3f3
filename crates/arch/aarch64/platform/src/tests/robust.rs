//! Input the parser must refuse without panicking: random bytes, corrupted trees,
//! misplaced NOP tokens.

extern crate std;
use std::vec::Vec;

use super::board::Board;
use super::devices::soc;
use super::QEMU_VIRT;
use crate::*;
use rtvisor_core::testkit::Rng;

#[test]
fn random_bytes_never_panic() {
    let mut rng = Rng(0x1234_5678_9abc_def1);
    let mut buf = Vec::new();
    for i in 0..20_000 {
        buf.clear();
        let len = rng.index(512);
        buf.extend((0..len).map(|_| rng.next() as u8));
        // Half the time, a plausible header so the structure walk is exercised.
        if i % 2 == 0 && len >= 40 {
            let words = [
                0xd00d_feed,
                len as u32,
                40,
                40 + rng.index(len - 39) as u32,
                40,
                17,
                16,
                0,
            ];
            for (k, w) in words.iter().enumerate() {
                buf[k * 4..k * 4 + 4].copy_from_slice(&w.to_be_bytes());
            }
        }
        let r = parse(&buf);
        if i % 2 == 1 || len < 40 {
            assert_eq!(r, Err(PlatformError::BadHeader));
        } else {
            assert!(r.is_err());
        }
    }
}

#[test]
fn corrupted_qemu_tree_never_panics() {
    let mut rng = Rng(0xdead_beef_cafe_f00d);
    let mut ok = 0;
    for i in 0..20_000 {
        let mut t = QEMU_VIRT.to_vec();
        for _ in 0..1 + rng.index(4) {
            if i % 2 == 0 {
                // Byte-level damage anywhere.
                let at = rng.index(t.len());
                t[at] = match rng.index(4) {
                    0 => 0,
                    1 => 0xff,
                    2 => t[at] ^ (1 << rng.index(8)),
                    _ => rng.next() as u8,
                };
            } else {
                // Word-level damage where tokens, lengths and name offsets live.
                let at = rng.index(t.len() / 4) * 4;
                let w: u32 = match rng.index(4) {
                    0 => rng.index(10) as u32,
                    1 => u32::MAX - rng.index(4) as u32,
                    2 => rng.index(0x2000) as u32,
                    _ => rng.next() as u32,
                };
                t[at..at + 4].copy_from_slice(&w.to_be_bytes());
            }
        }
        if parse(&t).is_ok() {
            ok += 1;
        }
    }
    // Many changes hit property values and still parse.
    assert!(ok > 1000, "{ok}");
}

/// Offsets of the PROP tokens of property `name` in `dtb` (test-only walker).
fn prop_offsets(dtb: &[u8], name: &str) -> Vec<(usize, usize)> {
    let be = |at: usize| u32::from_be_bytes(dtb[at..at + 4].try_into().unwrap()) as usize;
    let (off_struct, off_strings) = (be(8), be(12));
    let mut out = Vec::new();
    let mut pos = off_struct;
    loop {
        match be(pos) {
            1 => {
                let len = dtb[pos + 4..].iter().position(|&b| b == 0).unwrap();
                pos = (pos + 4 + len + 1 + 3) & !3;
            }
            3 => {
                let (len, nameoff) = (be(pos + 4), be(pos + 8));
                let end = (pos + 12 + len + 3) & !3;
                if dtb[off_strings + nameoff..].starts_with(name.as_bytes()) {
                    out.push((pos, end));
                }
                pos = end;
            }
            9 => return out,
            _ => pos += 4,
        }
    }
}

/// Overwrites `[from, to)` with NOP tokens, as libfdt's `fdt_nop_property` does.
fn nop(dtb: &mut [u8], (from, to): (usize, usize)) {
    for at in (from..to).step_by(4) {
        dtb[at..at + 4].copy_from_slice(&4u32.to_be_bytes());
    }
}

#[test]
fn nop_tokens() {
    // The last property of a node NOP'd out: accepted.
    let mut dtb = Board::default().dtb();
    let status = prop_offsets(&dtb, "status")[0];
    nop(&mut dtb, status);
    assert!(parse(&dtb).is_ok());
    // A NOP between properties: refused, not misparsed.
    let mut dtb = Board::default().dtb();
    let compat = prop_offsets(&dtb, "compatible")[0];
    nop(&mut dtb, compat);
    assert_eq!(parse(&dtb), Err(PlatformError::BadStructure));
}

#[test]
fn garbage_is_bad_header() {
    let mut dtb = Board::default().dtb();
    dtb[0] ^= 1;
    assert_eq!(parse(&dtb), Err(PlatformError::BadHeader));
    assert_eq!(parse(&[]), Err(PlatformError::BadHeader));
    assert_eq!(
        parse(b"this is not a device tree, it is a sentence of some length"),
        Err(PlatformError::BadHeader)
    );
    let mut rng = Rng(42);
    for _ in 0..2_000 {
        let junk: Vec<u8> = (0..rng.index(256)).map(|_| rng.next() as u8).collect();
        assert_eq!(parse(&junk), Err(PlatformError::BadHeader));
    }
}

#[test]
fn mutated_synthetic_trees_never_panic() {
    let base = Board {
        extra: Some(soc(Some(&[0, 0, 0, 0x100_0000]))),
        ..Board::default()
    }
    .dtb();
    let mut rng = Rng(7);
    for _ in 0..5_000 {
        let mut t = base.clone();
        let at = rng.index(t.len() / 4) * 4;
        let w = [0, 1, 2, 3, 4, 9, u32::MAX, rng.next() as u32][rng.index(8)];
        t[at..at + 4].copy_from_slice(&w.to_be_bytes());
        let _ = parse(&t);
    }
}
