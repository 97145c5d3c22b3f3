use super::fadt::{power_info, SleepType};
use super::madt::Madt;
use super::testmem::{fix_checksum, rsdp, table, Mem};
use super::*;

const XSDT: u64 = 0x7fe1_0000;
const RSDT: u64 = 0x7fe2_0000;
const MADT: u64 = 0x7fe3_0000;
const FADT: u64 = 0x7fe4_0000;
const DSDT: u64 = 0x7fe5_0000;

fn fadt_body(pm1a: u32, dsdt: u32) -> Vec<u8> {
    let mut b = vec![0u8; 244 - 36];
    let mut put = |off: usize, v: &[u8]| b[off - 36..off - 36 + v.len()].copy_from_slice(v);
    put(40, &dsdt.to_le_bytes());
    put(48, &0xB2u32.to_le_bytes());
    put(52, &[0xF1]);
    put(64, &pm1a.to_le_bytes());
    put(76, &0x608u32.to_le_bytes());
    put(112, &(1u32 << 8).to_le_bytes());
    b
}

/// A q35-like machine: RSDP -> XSDT and RSDT -> MADT (4 CPUs), FADT -> DSDT.
fn machine() -> Mem {
    let mut m = Mem::default();
    let mut madt_body = 0xFEE0_0000u32.to_le_bytes().to_vec();
    madt_body.extend_from_slice(&1u32.to_le_bytes());
    for id in 0..4u8 {
        madt_body.extend_from_slice(&[0, 8, id, id, 1, 0, 0, 0]);
    }
    m.put(MADT, table(*b"APIC", 3, &madt_body));
    m.put(FADT, table(*b"FACP", 3, &fadt_body(0x604, DSDT as u32)));
    let aml = [
        0x08, b'_', b'S', b'5', b'_', 0x12, 0x06, 0x04, 0x0A, 5, 0, 0,
    ];
    m.put(DSDT, table(*b"DSDT", 1, &aml));
    let mut xsdt = Vec::new();
    let mut rsdt = Vec::new();
    for a in [FADT, MADT] {
        xsdt.extend_from_slice(&a.to_le_bytes());
        rsdt.extend_from_slice(&(a as u32).to_le_bytes());
    }
    m.put(XSDT, table(*b"XSDT", 1, &xsdt));
    m.put(RSDT, table(*b"RSDT", 1, &rsdt));
    m
}

#[test]
fn rsdp_old_and_new() {
    let old = Rsdp::parse(&rsdp(0, RSDT as u32, 0)).unwrap();
    assert_eq!((old.revision, old.rsdt, old.xsdt), (0, RSDT as u32, 0));
    let new = Rsdp::parse(&rsdp(2, RSDT as u32, XSDT)).unwrap();
    assert_eq!(new.xsdt, XSDT);
    // The new tag wins; a damaged new tag falls back to the old one.
    let mut bad_new = rsdp(2, RSDT as u32, XSDT);
    bad_new[24] ^= 1;
    assert_eq!(Rsdp::parse(&bad_new), Err(AcpiError::BadRsdp));
    let old_bytes = rsdp(0, RSDT as u32, 0);
    assert_eq!(rsdp_from_tags(Some(&bad_new), Some(&old_bytes)), Ok(old));
    assert_eq!(rsdp_from_tags(None, None), Err(AcpiError::NoRsdp));
    assert_eq!(
        rsdp_from_tags(Some(&bad_new), None),
        Err(AcpiError::BadRsdp)
    );
    let mut bad_sig = old_bytes.clone();
    bad_sig[0] = b'X';
    fix_checksum(&mut bad_sig, 8);
    assert_eq!(Rsdp::parse(&bad_sig), Err(AcpiError::BadRsdp));
    assert_eq!(Rsdp::parse(&old_bytes[..19]), Err(AcpiError::BadRsdp));
}

#[test]
fn finds_tables_through_the_xsdt_and_the_rsdt() {
    let m = machine();
    for r in [
        Rsdp::parse(&rsdp(2, RSDT as u32, XSDT)).unwrap(),
        Rsdp::parse(&rsdp(0, RSDT as u32, 0)).unwrap(),
    ] {
        let madt = Madt::parse(&find(&m, &r, *b"APIC").unwrap()).unwrap();
        assert_eq!(madt.apic_ids(), [0, 1, 2, 3]);
        let (fadt, s5) = power_info(&m, &r).unwrap();
        assert_eq!(fadt.pm1a_cnt, 0x604);
        assert_eq!(fadt.pm1b_cnt, 0);
        assert_eq!((fadt.smi_cmd, fadt.acpi_enable), (0xB2, 0xF1));
        assert_eq!((fadt.pm_timer, fadt.pm_timer_32), (0x608, true));
        assert_eq!(s5, Some(SleepType { a: 5, b: 0 }));
        assert_eq!(
            find(&m, &r, *b"HPET").unwrap_err(),
            AcpiError::NotFound(*b"HPET")
        );
    }
}

#[test]
fn damaged_tables_are_refused_with_the_reason() {
    let r = Rsdp::parse(&rsdp(2, RSDT as u32, XSDT)).unwrap();
    // A flipped byte in the MADT: checksum.
    let mut m = machine();
    m.chunks.iter_mut().find(|c| c.0 == MADT).unwrap().1[40] ^= 0x10;
    assert_eq!(
        find(&m, &r, *b"APIC").unwrap_err(),
        AcpiError::BadChecksum(*b"APIC")
    );
    // A length below the header and one above the limit.
    for len in [10u32, (MAX_TABLE + 1) as u32] {
        let mut m = machine();
        let t = &mut m.chunks.iter_mut().find(|c| c.0 == MADT).unwrap().1;
        t[4..8].copy_from_slice(&len.to_le_bytes());
        assert_eq!(
            find(&m, &r, *b"APIC").unwrap_err(),
            AcpiError::BadLength(*b"APIC")
        );
    }
    // A length past the memory there is.
    let mut m = machine();
    let t = &mut m.chunks.iter_mut().find(|c| c.0 == MADT).unwrap().1;
    t[4..8].copy_from_slice(&4000u32.to_le_bytes());
    assert_eq!(
        find(&m, &r, *b"APIC").unwrap_err(),
        AcpiError::Unreadable(*b"APIC")
    );
    // An XSDT that points nowhere, and no XSDT at all.
    let far = Rsdp::parse(&rsdp(2, RSDT as u32, 0xdead_0000)).unwrap();
    assert_eq!(
        find(&machine(), &far, *b"APIC").unwrap_err(),
        AcpiError::Unreadable(*b"XSDT")
    );
    // A damaged DSDT loses only the sleep type.
    let mut m = machine();
    m.chunks.iter_mut().find(|c| c.0 == DSDT).unwrap().1[40] ^= 1;
    let (fadt, s5) = power_info(&m, &r).unwrap();
    assert_eq!((fadt.pm1a_cnt, s5), (0x604, None));
}

#[test]
fn every_byte_flip_of_every_table_is_handled() {
    let r = Rsdp::parse(&rsdp(2, RSDT as u32, XSDT)).unwrap();
    for addr in [XSDT, MADT, FADT, DSDT] {
        let len = machine()
            .chunks
            .iter()
            .find(|c| c.0 == addr)
            .unwrap()
            .1
            .len();
        for i in 0..len {
            for v in [0u8, 0xff, 0x80] {
                let mut m = machine();
                m.chunks.iter_mut().find(|c| c.0 == addr).unwrap().1[i] = v;
                if let Ok(t) = find(&m, &r, *b"APIC") {
                    let _ = Madt::parse(&t);
                }
                let _ = power_info(&m, &r);
            }
        }
    }
}
