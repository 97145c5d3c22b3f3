extern crate std;

use super::store::Sparse;
use super::*;
use std::collections::BTreeMap;
use std::vec::Vec;

type Flash = CfiFlash<Sparse<16>>;

fn flash() -> std::boxed::Box<Flash> {
    let mut f = std::boxed::Box::new(CfiFlash::new(Sparse::new()));
    f.reset();
    f
}

const BANK1: u64 = BANK_SIZE;

fn w32(f: &mut Flash, off: u64, v: u64) {
    f.write(off, Width::Word, v).unwrap();
}

fn r32(f: &mut Flash, off: u64) -> u64 {
    f.read(off, Width::Word).unwrap()
}

#[test]
fn erased_flash_reads_all_ones_in_both_banks() {
    let mut f = flash();
    for off in [0, 0x0234_5678 & !7, BANK1, 2 * BANK_SIZE - 8] {
        assert_eq!(f.read(off, Width::Double), Ok(u64::MAX), "{off:#x}");
        assert_eq!(f.read(off, Width::Byte), Ok(0xff));
    }
    assert_eq!(
        f.read(2 * BANK_SIZE, Width::Word),
        Err(MmioError::NoRegister)
    );
    assert_eq!(f.read(2, Width::Word), Err(MmioError::BadWidth));
    assert_eq!(f.write(1, Width::Half, 0), Err(MmioError::BadWidth));
}

#[test]
fn cfi_query_and_device_id_repeat_per_device() {
    let mut f = flash();
    w32(&mut f, 0x55 * 4, 0x98);
    let q: Vec<u64> = (0x10..0x13).map(|i| r32(&mut f, i * 4)).collect();
    assert_eq!(q, [0x0051_0051, 0x0052_0052, 0x0059_0059], "QRY");
    assert_eq!(r32(&mut f, 0x27 * 4), 0x0019_0019, "2^25 bytes per device");
    assert_eq!(r32(&mut f, 0x2d * 4), 0x00ff_00ff, "256 blocks");
    assert_eq!(r32(&mut f, 0x30 * 4), 0x0002_0002, "of 128 KiB per device");
    assert_eq!(r32(&mut f, 0x100 * 4), 0, "past the table");
    assert_eq!(f.read(0x10 * 4, Width::Byte), Ok(0x51));
    // Any write but read-array stays in query mode.
    w32(&mut f, 0, 0x42);
    assert_eq!(r32(&mut f, 0x11 * 4), 0x0052_0052);
    w32(&mut f, 0, 0xff);
    assert_eq!(r32(&mut f, 0x10 * 4), 0xffff_ffff);
    w32(&mut f, BANK1, 0x90);
    assert_eq!(r32(&mut f, BANK1), 0x0089_0089);
    assert_eq!(r32(&mut f, BANK1 + 4), 0x0018_0018);
    assert_eq!(r32(&mut f, BANK1 + 8), 0);
    assert_eq!(r32(&mut f, 0), 0xffff_ffff, "bank 0 still reads its array");
}

#[test]
fn program_erase_and_buffer_write() {
    let mut f = flash();
    let env = BANK1; // U-Boot's environment on virt
    w32(&mut f, env, 0x40);
    w32(&mut f, env, 0x1234_5678);
    assert_eq!(r32(&mut f, env), 0x0080_0080, "status until read array");
    assert_eq!(f.read(env, Width::Half), Ok(0x80));
    w32(&mut f, env, 0xff);
    assert_eq!(r32(&mut f, env), 0x1234_5678);
    assert_eq!(f.read(env, Width::Double), Ok(0xffff_ffff_1234_5678));
    // Write to buffer: 4 words.
    w32(&mut f, env + 0x100, 0xe8);
    w32(&mut f, env + 0x100, 3);
    for k in 0..4 {
        w32(&mut f, env + 0x100 + 4 * k, 0xa0 + k);
    }
    w32(&mut f, env + 0x100, 0xd0);
    w32(&mut f, env, 0xff);
    assert_eq!(f.read(env + 0x108, Width::Word), Ok(0xa2));
    // Erase the block (256 KiB).
    w32(&mut f, env + 0x1_0000, 0x20);
    w32(&mut f, env + 0x1_0000, 0xd0);
    assert_eq!(r32(&mut f, env), 0x0080_0080);
    w32(&mut f, env, 0xff);
    assert_eq!(r32(&mut f, env), 0xffff_ffff);
    assert_eq!(r32(&mut f, env + 0x100), 0xffff_ffff);
    assert_eq!(f.store.used(), 0, "erasing gives the pages back");
}

#[test]
fn a_full_pool_is_a_program_error_and_reset_restores_the_image() {
    let mut f = std::boxed::Box::new(CfiFlash::new(Sparse::<2>::new()));
    f.store.set_initial([Some(b"firmware"), None]);
    f.reset();
    assert_eq!(
        f.read(0, Width::Double),
        Ok(u64::from_le_bytes(*b"firmware"))
    );
    for page in 0..3u64 {
        f.write(page * 4096, Width::Word, 0x40).unwrap();
        f.write(page * 4096, Width::Word, page).unwrap();
    }
    assert_eq!(
        f.bank(0).map(Bank::status),
        Some(status::READY | status::PROGRAM_ERROR)
    );
    f.write(0, Width::Word, 0x50).unwrap();
    assert_eq!(f.bank(0).map(Bank::status), Some(0), "clear status");
    assert_eq!(f.read(0, Width::Word), Ok(0), "page 0 written");
    assert_eq!(f.read(2 * 4096, Width::Word), Ok(0xffff_ffff), "page 2 not");
    assert_eq!(
        f.read(4, Width::Word),
        Ok(u32::from_le_bytes(*b"ware") as u64)
    );
    f.reset();
    assert_eq!(
        f.read(0, Width::Double),
        Ok(u64::from_le_bytes(*b"firmware"))
    );
    assert_eq!(f.store.used(), 0);
    // An erase hides the initial image of its block.
    f.write(0, Width::Word, 0x20).unwrap();
    f.write(0, Width::Word, 0xd0).unwrap();
    f.write(0, Width::Word, 0xff).unwrap();
    assert_eq!(f.read(0, Width::Double), Ok(u64::MAX));
}

/// A seeded random walk of well-formed command sequences and garbage, against a
/// shadow of the contents: in read-array mode every read matches it, the pool never
/// overflows, and nothing panics.
#[test]
fn random_walk_matches_a_shadow() {
    let mut f = std::boxed::Box::new(CfiFlash::new(Sparse::<64>::new()));
    f.reset();
    let mut shadow: BTreeMap<u64, u8> = BTreeMap::new();
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut rnd = move |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    let widths = [Width::Byte, Width::Half, Width::Word, Width::Double];
    for step in 0..20_000 {
        // Four pages in each bank, close to a block boundary.
        let bank = rnd(2) * BANK_SIZE;
        let w = widths[rnd(4) as usize];
        let off = bank + SECTOR - 2 * 4096 + rnd(4 * 4096) / w.bytes() * w.bytes();
        let get = |s: &BTreeMap<u64, u8>, o: u64| s.get(&o).copied().unwrap_or(0xff);
        match rnd(6) {
            0 => {
                // A 64-bit data write would be two accesses, the second a new command.
                let w = if w == Width::Double { Width::Word } else { w };
                let off = off / w.bytes() * w.bytes();
                let v = rnd(u64::MAX);
                f.write(off & !3, Width::Word, 0x40).unwrap();
                f.write(off, w, v).unwrap();
                for k in 0..w.bytes() {
                    shadow.insert(off + k, (v >> (8 * k)) as u8);
                }
            }
            1 => {
                f.write(off & !3, Width::Word, 0x20).unwrap();
                f.write(off & !3, Width::Word, 0xd0).unwrap();
                let start = off & !(SECTOR - 1);
                shadow.retain(|&o, _| o < start || o >= start + SECTOR);
            }
            2 => {
                let words = 1 + rnd(8);
                let base = off & !3;
                f.write(base, Width::Word, 0xe8).unwrap();
                f.write(base, Width::Word, words - 1).unwrap();
                for k in 0..words {
                    let v = rnd(1 << 32);
                    f.write(base + 4 * k, Width::Word, v).unwrap();
                    for b in 0..4 {
                        shadow.insert(base + 4 * k + b, (v >> (8 * b)) as u8);
                    }
                }
                f.write(base, Width::Word, 0xd0).unwrap();
            }
            3 => {
                let cmd = [0x70u64, 0x90, 0x98, 0x50, 0x60, 0x01, 0x42][rnd(7) as usize];
                f.write(off, w, cmd | rnd(1 << 8) << 8).unwrap();
                let _ = f.read(off, w);
            }
            _ => {
                let mut want = 0u64;
                for k in 0..w.bytes() {
                    want |= u64::from(get(&shadow, off + k)) << (8 * k);
                }
                f.write(bank, Width::Byte, 0xff).unwrap();
                assert_eq!(f.read(off, w), Ok(want), "step {step} at {off:#x}");
            }
        }
        f.write(bank, Width::Word, 0xff).unwrap();
        assert!(f.store.used() <= 64);
        let b = f.bank((bank / BANK_SIZE) as usize).unwrap();
        assert!(b.reading_array(), "step {step}");
        assert_eq!(
            b.status() & status::PROGRAM_ERROR,
            0,
            "step {step}: pool full"
        );
    }
}
