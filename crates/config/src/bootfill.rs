//! Figures the hypervisor writes into a VM's generated boot data at each (re)start,
//! where the configuration can only reserve room: today the TSC rate in kHz on an
//! x86 VM's command line.
//!
//! A VM's `bootargs` may carry the placeholder [`TSC_KHZ`] (`{tsc-khz}`), e.g.
//! `tsc_early_khz={tsc-khz}`. The config crate copies it into the PVH command line
//! as it is: its nine bytes are the field. When the hypervisor copies the boot data
//! into the VM's RAM it finds the field ([`tsc_khz_field`]) and overwrites it with the
//! rate it measured ([`tsc_khz_text`]): decimal digits, left-aligned, padded with
//! spaces (a command line splits at spaces; Linux parses the number with base 0,
//! where leading zeros would mean octal). The figure shows in the VM's own boot data
//! only; the image and its fingerprint keep the placeholder.

/// The placeholder: nine bytes, room for rates up to 999,999,999 kHz.
pub const TSC_KHZ: &[u8; 9] = b"{tsc-khz}";

/// Where the PVH start info keeps the command line's guest-physical address.
const CMDLINE_PADDR_AT: usize = 24;

/// The offset in `blob` (the PVH boot data, loaded at guest-physical `blob_gpa`) of
/// the first [`TSC_KHZ`] on its command line, if it has one.
pub fn tsc_khz_field(blob: &[u8], blob_gpa: u64) -> Option<usize> {
    let paddr = blob.get(CMDLINE_PADDR_AT..CMDLINE_PADDR_AT + 8)?;
    let paddr = u64::from_le_bytes(paddr.try_into().ok()?);
    let start = usize::try_from(paddr.checked_sub(blob_gpa)?).ok()?;
    let line = blob.get(start..)?;
    let line = &line[..line.iter().position(|&b| b == 0).unwrap_or(line.len())];
    let at = line.windows(TSC_KHZ.len()).position(|w| w == TSC_KHZ)?;
    Some(start + at)
}

/// `khz` as the field's text: decimal, left-aligned, space-padded; a rate too large
/// for the field (or 0, not measured) becomes all spaces, which Linux ignores.
pub fn tsc_khz_text(khz: u64) -> [u8; 9] {
    let mut out = [b' '; 9];
    if khz == 0 || khz > 999_999_999 {
        return out;
    }
    let mut digits = [0u8; 9];
    let (mut n, mut len) = (khz, 0);
    while n > 0 {
        digits[len] = b'0' + (n % 10) as u8;
        n /= 10;
        len += 1;
    }
    for (o, d) in out.iter_mut().zip(digits[..len].iter().rev()) {
        *o = *d;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blob(line: &[u8], gpa: u64) -> Vec<u8> {
        let mut b = vec![0u8; 64];
        b[CMDLINE_PADDR_AT..CMDLINE_PADDR_AT + 8].copy_from_slice(&(gpa + 64).to_le_bytes());
        b.extend(line);
        b.push(0);
        b.extend(b"{tsc-khz}");
        b
    }

    #[test]
    fn finds_the_field_on_the_command_line_only() {
        let b = blob(b"console=ttyS0 tsc_early_khz={tsc-khz} quiet", 0x7000);
        assert_eq!(tsc_khz_field(&b, 0x7000), Some(64 + 28));
        // Past the command line's NUL: not a field.
        let b = blob(b"console=ttyS0", 0x7000);
        assert_eq!(tsc_khz_field(&b, 0x7000), None);
        // A command line outside the blob, or none.
        let b = blob(b"tsc_early_khz={tsc-khz}", 0x7000);
        assert_eq!(tsc_khz_field(&b, 0x8000), None);
        assert_eq!(tsc_khz_field(&[0u8; 16], 0), None);
    }

    #[test]
    fn text_is_fixed_width_and_never_octal() {
        assert_eq!(&tsc_khz_text(2_600_123), b"2600123  ");
        assert_eq!(&tsc_khz_text(999_999_999), b"999999999");
        assert_eq!(&tsc_khz_text(7), b"7        ");
        assert_eq!(&tsc_khz_text(0), b"         ");
        assert_eq!(&tsc_khz_text(1_000_000_000), b"         ");
    }

    #[test]
    fn filled_line_parses_as_the_figure() {
        let mut b = blob(b"a tsc_early_khz={tsc-khz} b", 0);
        let at = tsc_khz_field(&b, 0).unwrap();
        b[at..at + 9].copy_from_slice(&tsc_khz_text(3_456_789));
        let line =
            core::str::from_utf8(&b[64..b.iter().skip(64).position(|&c| c == 0).unwrap() + 64])
                .unwrap();
        let arg = line
            .split(' ')
            .find_map(|a| a.strip_prefix("tsc_early_khz="))
            .unwrap();
        assert_eq!(arg.parse::<u32>(), Ok(3_456_789));
    }
}
