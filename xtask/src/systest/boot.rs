//! The boot protocol a VM sees, against bare QEMU: `bootinfo` (guests/bootinfo) reports
//! where it was loaded and where its device tree is, booted by rtvisor and by QEMU's own
//! `-kernel` on a machine of the VM's size; the lines must be the same. Its counter line
//! shows CNTVOFF_EL2: 0 by default, the count at VM start when the scenario asks. Its
//! flash line shows QEMU virt's CFI flash answering the query and a program as QEMU's
//! does (erased flash reads 0xFF under rtvisor; QEMU without a flash file reads 0).

use super::{hv, Timeouts};
use crate::console::{Console, Pattern};
use crate::qemu;
use crate::util::{out_dir, root, say};
use anyhow::Result;
use regex::escape;
use rtvisor::qemu::{Boot, ConsoleMode, QemuCommand};

/// The RAM of the VMs in tests/scenarios/boot-placement.toml.
const VM_MIB: u64 = 16;

fn line(vm: &str, rest: &str) -> Pattern {
    Pattern::regex(&format!(r"^\[{}\] bootinfo: {rest}$", escape(vm)))
}

/// The report line with the addresses, as `bootinfo` prints it.
const WHERE: &str = r"el=0x1 load=0x[0-9a-f]+ stack-top=0x[0-9a-f]+ fdt=0x[0-9a-f]+ fdt-magic=ok";

/// The flash line after the erased word.
const FLASH: &str = r"query=0x510051 status=0x800080 read-back=0x12345678";

/// `bootinfo` booted bare by QEMU with the VM's RAM: its report line.
fn bare_report(t: &Timeouts) -> Result<String> {
    let bin = root().join("target/guests/bootinfo.bin");
    let mut q = QemuCommand::bare(1, VM_MIB, Boot::kernel(&bin));
    q.console = ConsoleMode::Captured;
    say(format!("booting bootinfo bare: {}", q.line()));
    let mut c = Console::spawn("bootinfo-bare", qemu::spawn_captured(&q)?);
    c.set_log_file(out_dir("systest")?.join("boot-placement-bare.log"));
    let at = c.expect(&Pattern::regex(&format!("^bootinfo: {WHERE}$")), t.boot)?;
    let report = c.line(at).to_owned();
    c.expect(
        &Pattern::regex("^bootinfo: fdt above stack top: yes$"),
        t.step,
    )?;
    c.expect(
        &Pattern::regex("^bootinfo: virtual counter offset: zero$"),
        t.step,
    )?;
    c.expect_exit(0, t.step)?;
    Ok(report)
}

/// An arm64 Image gets its device tree above its stack, where bare QEMU puts it, and
/// the same addresses; the virtual counter has no offset unless the VM asks for one;
/// the flash is there, erased, and takes a program.
pub fn placement(c: &mut Console, t: &Timeouts) -> Result<()> {
    let (image, offset) = ("image", "offset");
    let at = c.expect(&line(image, WHERE), t.boot)?;
    let ours = c.line(at).trim_start_matches("[image] ").to_owned();
    c.expect(&line(image, "fdt above stack top: yes"), t.step)?;
    c.expect(&line(image, "virtual counter offset: zero"), t.step)?;
    c.expect(
        &line(image, &format!("flash erased=0xffffffff {FLASH}")),
        t.step,
    )?;
    c.expect(&hv::stopped(image), t.step)?;
    c.set_cursor(0);
    c.expect(&line(offset, "virtual counter offset: non-zero"), t.step)?;
    c.expect(&hv::stopped(offset), t.step)?;
    let bare = bare_report(t)?;
    if ours != bare {
        return Err(c.fail(
            &format!("the same report as bare QEMU: {bare:?}"),
            &format!("under rtvisor: {ours:?}"),
        ));
    }
    Ok(())
}
