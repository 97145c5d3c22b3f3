//! Tests of the register framework on a toy device.

use super::*;

#[derive(Default)]
struct Toy {
    ctrl: u64,
    bank: [u32; 3],
    reads: u32,
    cleared: u64,
}

fn rd_ctrl(t: &mut Toy, _: usize) -> u64 {
    t.reads += 1;
    t.ctrl
}
fn wr_ctrl(t: &mut Toy, w: Write) -> bool {
    t.ctrl = w.merge(t.ctrl);
    w.covers_low_byte()
}
fn rd_id(_: &mut Toy, _: usize) -> u64 {
    0x1234_5678
}
fn rd_bank(t: &mut Toy, i: usize) -> u64 {
    t.bank.get(i).copied().map_or(0, u64::from)
}
fn wr_bank(t: &mut Toy, w: Write) -> bool {
    if let Some(slot) = t.bank.get_mut(w.index) {
        *slot = w.merge(u64::from(*slot)) as u32;
    }
    false
}
fn wr_clear(t: &mut Toy, w: Write) -> bool {
    t.cleared |= w.value;
    false
}

const TOY: RegTable<Toy, bool> = RegTable::new(&[
    RegDesc {
        offset: 0x0,
        size: 8,
        count: 1,
        widths: Widths::ALL,
        name: "CTRL",
        access: Access::Rw(rd_ctrl, wr_ctrl),
    },
    RegDesc::reg32(0x8, "ID", Widths::WORD, Access::Ro(rd_id)),
    RegDesc::reg32(0xc, "CLR", Widths::UP_TO_WORD, Access::Wo(wr_clear)),
    RegDesc::bank32(
        0x20,
        3,
        "BANK",
        Widths::UP_TO_WORD,
        Access::Rw(rd_bank, wr_bank),
    ),
]);

#[test]
fn finds_registers_by_offset() {
    let (r, i, b) = TOY.find(0x24).unwrap();
    assert_eq!((r.name, i, b), ("BANK", 1, 0));
    let (r, i, b) = TOY.find(0x2b).unwrap();
    assert_eq!((r.name, i, b), ("BANK", 2, 3));
    let (r, _, b) = TOY.find(0x5).unwrap();
    assert_eq!((r.name, b), ("CTRL", 5));
    for hole in [0x10, 0x1c, 0x2c, u64::MAX] {
        assert!(TOY.find(hole).is_none(), "{hole:#x}");
    }
}

#[test]
fn read_write_and_lanes() {
    let mut t = Toy::default();
    assert_eq!(
        TOY.write(&mut t, 0x0, Width::Double, 0x1122_3344_5566_7788),
        Ok(true)
    );
    assert_eq!(
        TOY.read(&mut t, 0x0, Width::Double),
        Ok(0x1122_3344_5566_7788)
    );
    assert_eq!(TOY.read(&mut t, 0x4, Width::Word), Ok(0x1122_3344));
    assert_eq!(TOY.read(&mut t, 0x6, Width::Half), Ok(0x1122));
    assert_eq!(TOY.read(&mut t, 0x7, Width::Byte), Ok(0x11));
    // A byte write touches one lane only and reports that lane 0 was not written.
    assert_eq!(TOY.write(&mut t, 0x1, Width::Byte, 0xffff_ffaa), Ok(false));
    assert_eq!(t.ctrl, 0x1122_3344_5566_aa88);
    assert_eq!(TOY.write(&mut t, 0x24, Width::Word, 7), Ok(false));
    assert_eq!(TOY.write(&mut t, 0x26, Width::Half, 0xbeef), Ok(false));
    assert_eq!(t.bank, [0, 0xbeef_0007, 0]);
}

#[test]
fn access_rules() {
    let mut t = Toy::default();
    assert_eq!(TOY.read(&mut t, 0x8, Width::Word), Ok(0x1234_5678));
    assert_eq!(TOY.read(&mut t, 0x8, Width::Byte), Err(MmioError::BadWidth));
    assert_eq!(
        TOY.write(&mut t, 0x8, Width::Word, 0),
        Err(MmioError::ReadOnly)
    );
    assert_eq!(
        TOY.read(&mut t, 0xc, Width::Word),
        Ok(0),
        "write-only reads as zero"
    );
    assert_eq!(TOY.write(&mut t, 0xc, Width::Word, 5), Ok(false));
    assert_eq!(t.cleared, 5);
    assert_eq!(
        TOY.read(&mut t, 0x20, Width::Double),
        Err(MmioError::BadWidth)
    );
    assert_eq!(
        TOY.read(&mut t, 0x21, Width::Half),
        Err(MmioError::BadWidth)
    );
    assert_eq!(
        TOY.read(&mut t, 0x10, Width::Word),
        Err(MmioError::NoRegister)
    );
    assert_eq!(
        TOY.write(&mut t, 0x30, Width::Word, 1),
        Err(MmioError::NoRegister)
    );
}

#[test]
fn failed_access_runs_no_handler() {
    let mut t = Toy::default();
    let _ = TOY.read(&mut t, 0x1, Width::Half);
    assert_eq!(t.reads, 0);
    let _ = TOY.read(&mut t, 0x0, Width::Word);
    assert_eq!(t.reads, 1);
}

#[test]
#[should_panic(expected = "unsorted")]
fn unsorted_table_is_rejected() {
    static BAD: [RegDesc<Toy, bool>; 2] = [
        RegDesc::reg32(0x8, "B", Widths::WORD, Access::Ro(rd_id)),
        RegDesc::reg32(0x4, "A", Widths::WORD, Access::Ro(rd_id)),
    ];
    let _ = RegTable::new(&BAD);
}

#[test]
#[should_panic(expected = "wider")]
fn width_wider_than_register_is_rejected() {
    static BAD: [RegDesc<Toy, bool>; 1] =
        [RegDesc::reg32(0x0, "A", Widths::ALL, Access::Ro(rd_id))];
    let _ = RegTable::new(&BAD);
}

/// Fixed registers: a word, a 64-bit one in two words, a bank of two words, and one
/// that takes only byte reads (no word for a 32-bit copy); a read-only register that
/// is not fixed is not among them.
const FIXED: RegTable<Toy, bool> = RegTable::new(&[
    RegDesc::reg32(0x0, "ID", Widths::WORD, Access::Fixed(rd_id)),
    RegDesc::reg32(0x4, "STATUS", Widths::WORD, Access::Ro(rd_ctrl)),
    RegDesc {
        offset: 0x8,
        size: 8,
        count: 1,
        widths: Widths::WORD.or(Widths::DOUBLE),
        name: "TYPE",
        access: Access::Fixed(rd_id),
    },
    RegDesc::bank32(0x10, 2, "PID", Widths::WORD, Access::Fixed(rd_id)),
    RegDesc::reg32(0x18, "BYTES", Widths::BYTE, Access::Fixed(rd_id)),
]);

#[test]
fn fixed_registers_read_like_read_only_ones_and_list_their_words() {
    let mut t = Toy::default();
    assert_eq!(FIXED.read(&mut t, 0x0, Width::Word), Ok(0x1234_5678));
    assert_eq!(
        FIXED.write(&mut t, 0x0, Width::Word, 1),
        Err(MmioError::ReadOnly)
    );
    let words = [0x0, 0x8, 0xc, 0x10, 0x14];
    assert!(FIXED.fixed_words().eq(words));
    assert_eq!(FIXED.fixed_word_count(), words.len());
    assert_eq!(TOY.fixed_words().count(), 0);
    assert_eq!(TOY.fixed_word_count(), 0);
}
