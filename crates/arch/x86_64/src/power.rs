//! Power-off: ACPI S5 through the FADT's PM1a (and PM1b) control block with the sleep
//! type from the DSDT's `\_S5_`. Fallback when that is missing or does not stop the
//! machine: Bochs' shutdown port 0x8900 (documented in Bochs' iodev/unmapped.cc).

use crate::acpi::fadt::{Fadt, SleepType, SCI_EN};
use crate::cpu::{inw, outb, outw};
use crate::timer;

const BOCHS_SHUTDOWN: u16 = 0x8900;
/// SLP_TYP and SLP_EN in PM1x_CNT.
const SLP_MASK: u16 = 0x3C00;

/// Switches to ACPI mode if the FADT says the machine may be in legacy mode.
fn acpi_mode(f: &Fadt) {
    // SAFETY: PM1a_CNT is the FADT's power-management control port.
    let enabled = || unsafe { inw(f.pm1a_cnt) } & SCI_EN != 0;
    if f.smi_cmd == 0 || f.acpi_enable == 0 || enabled() {
        return;
    }
    // SAFETY: writing ACPI_ENABLE to SMI_CMD is how the FADT says to enter ACPI mode.
    unsafe { outb(f.smi_cmd, f.acpi_enable) };
    timer::wait_until(300_000, enabled);
}

fn sleep(port: u16, typ: u8) {
    // SAFETY: a PM1x_CNT port of the FADT; only the sleep fields change.
    unsafe {
        let v = inw(port) & !SLP_MASK;
        outw(port, v | SleepType::control(typ));
    }
}

/// Powers the machine off; returns never. Prints what it uses first.
pub fn power_off(acpi: Option<(Fadt, Option<SleepType>)>) -> ! {
    if let Some((f, Some(s5))) = acpi.filter(|(f, _)| f.pm1a_cnt != 0) {
        println!(
            "[rtvisor] powering off (ACPI S5: PM1a_CNT {:#x}, SLP_TYP {})",
            f.pm1a_cnt, s5.a
        );
        acpi_mode(&f);
        crate::console::flush();
        sleep(f.pm1a_cnt, s5.a);
        if f.pm1b_cnt != 0 {
            sleep(f.pm1b_cnt, s5.b);
        }
        timer::delay_us(500_000);
        println!("[rtvisor] ACPI S5 did not power off; trying the Bochs shutdown port");
    } else {
        println!("[rtvisor] powering off (no ACPI S5; Bochs shutdown port {BOCHS_SHUTDOWN:#x})");
    }
    crate::console::flush();
    for b in *b"Shutdown" {
        // SAFETY: port 0x8900 is unused on a PC; on Bochs this string powers off.
        unsafe { outb(BOCHS_SHUTDOWN, b) };
    }
    timer::delay_us(500_000);
    println!("[rtvisor] power off failed; halting");
    crate::cpu::halt_forever()
}
