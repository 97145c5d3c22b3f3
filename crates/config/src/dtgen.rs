//! Guest device trees: a QEMU-`virt`-shaped machine per VM (see `layout`), so any
//! bare-metal program or kernel built for QEMU virt boots unmodified.

use crate::layout::{DOORBELL_GPIO_INTID, DOORBELL_GPIO_IPA, DOORBELL_GPIO_LINES};
use crate::layout::{DOORBELL_IPA, VGIC_DIST_IPA, VGIC_DIST_SIZE, VGIC_REDIST_FRAME};
use crate::layout::{FLASH_BANK_SIZE, FLASH_IPA, VGIC_REDIST_IPA, VUART_INTID, VUART_IPA};
use crate::pcie::{swizzle_rows, PciePlan, INTERRUPT_MAP_MASK};
use crate::plan::{Plan, SharedMapPlan, VmPlan};
use crate::schema::Trigger;
use crate::size::PAGE;
use crate::tables::InterruptMode;
use vm_fdt::{FdtWriter, FdtWriterResult as Result};

const GIC_PHANDLE: u32 = 1;
const CLOCK_PHANDLE: u32 = 2;
const GPIO_PHANDLE: u32 = 3;
/// `BTN_TRIGGER_HAPPY1`: the key code of region 0's doorbell (region k: + k).
const DOORBELL_KEY: u32 = 0x2c0;
/// Interrupt specifier types and flags (bindings/interrupt-controller/arm,gic-v3).
const GIC_SPI: u32 = 0;
const GIC_PPI: u32 = 1;
const IRQ_EDGE_RISING: u32 = 1;
const IRQ_LEVEL_HIGH: u32 = 4;

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| (*s).to_owned()).collect()
}

/// The device tree blob of `vm`.
pub fn generate(plan: &Plan, vm: &VmPlan) -> Result<Vec<u8>> {
    let mut f = FdtWriter::new()?;
    let root = f.begin_node("")?;
    f.property_u32("#address-cells", 2)?;
    f.property_u32("#size-cells", 2)?;
    f.property_string("compatible", "linux,dummy-virt")?;
    f.property_string("model", &format!("rtvisor,{}", vm.name))?;
    f.property_u32("interrupt-parent", GIC_PHANDLE)?;

    let chosen = f.begin_node("chosen")?;
    if let Some(args) = &vm.bootargs {
        f.property_string("bootargs", args)?;
    }
    f.property_string("stdout-path", &format!("/pl011@{VUART_IPA:x}"))?;
    if let Some(initrd) = &vm.initrd {
        f.property_u64("linux,initrd-start", initrd.load.raw())?;
        f.property_u64("linux,initrd-end", initrd.end())?;
    }
    f.end_node(chosen)?;

    let memory = f.begin_node(&format!("memory@{:x}", vm.ram.ipa.raw()))?;
    f.property_string("device_type", "memory")?;
    f.property_array_u64("reg", &[vm.ram.ipa.raw(), vm.ram.size])?;
    f.end_node(memory)?;

    let cpus = f.begin_node("cpus")?;
    f.property_u32("#address-cells", 1)?;
    f.property_u32("#size-cells", 0)?;
    // A vCPU's MPIDR is its index, except in direct mode, where the guest drives the
    // physical GIC (SGI targets, redistributor affinity) and sees its cores' real MPIDRs.
    let direct = vm.interrupt_mode == InterruptMode::Direct;
    for (i, &pcpu) in vm.cpus.iter().enumerate() {
        let mpidr = match plan.hypervisor.board_mpidrs.get(pcpu as usize) {
            Some(&m) if direct => m as u32,
            _ => i as u32,
        };
        let cpu = f.begin_node(&format!("cpu@{mpidr:x}"))?;
        f.property_string("device_type", "cpu")?;
        f.property_string("compatible", "arm,armv8")?;
        f.property_u32("reg", mpidr)?;
        f.property_string("enable-method", "psci")?;
        f.end_node(cpu)?;
    }
    f.end_node(cpus)?;

    let psci = f.begin_node("psci")?;
    f.property_string_list("compatible", strings(&["arm,psci-1.0", "arm,psci-0.2"]))?;
    f.property_string("method", "hvc")?;
    f.end_node(psci)?;

    // Both banks in one node, as QEMU `virt` describes them (no Secure world).
    let flash = f.begin_node(&format!("flash@{FLASH_IPA:x}"))?;
    f.property_string("compatible", "cfi-flash")?;
    f.property_array_u64(
        "reg",
        &[
            FLASH_IPA,
            FLASH_BANK_SIZE,
            FLASH_IPA + FLASH_BANK_SIZE,
            FLASH_BANK_SIZE,
        ],
    )?;
    f.property_u32("bank-width", 4)?;
    f.end_node(flash)?;

    let intc = f.begin_node(&format!("intc@{VGIC_DIST_IPA:x}"))?;
    f.property_string("compatible", "arm,gic-v3")?;
    f.property_u32("#interrupt-cells", 3)?;
    // No children (no ITS): no child address space; stated for interrupt-map users.
    f.property_u32("#address-cells", 0)?;
    f.property_null("interrupt-controller")?;
    f.property_u32("#redistributor-regions", 1)?;
    let redist = VGIC_REDIST_FRAME * vm.cpus.len() as u64;
    f.property_array_u64(
        "reg",
        &[VGIC_DIST_IPA, VGIC_DIST_SIZE, VGIC_REDIST_IPA, redist],
    )?;
    f.property_phandle(GIC_PHANDLE)?;
    f.end_node(intc)?;

    let timer = f.begin_node("timer")?;
    f.property_string("compatible", "arm,armv8-timer")?;
    let mut cells = Vec::new();
    for intid in plan.timer_intids {
        cells.extend([GIC_PPI, intid - 16, IRQ_LEVEL_HIGH]);
    }
    f.property_array_u32("interrupts", &cells)?;
    f.property_null("always-on")?;
    f.end_node(timer)?;

    let clk = f.begin_node("apb-pclk")?;
    f.property_string("compatible", "fixed-clock")?;
    f.property_u32("#clock-cells", 0)?;
    f.property_u32("clock-frequency", 24_000_000)?;
    f.property_string("clock-output-names", "clk24mhz")?;
    f.property_phandle(CLOCK_PHANDLE)?;
    f.end_node(clk)?;

    let uart = f.begin_node(&format!("pl011@{VUART_IPA:x}"))?;
    f.property_string_list("compatible", strings(&["arm,pl011", "arm,primecell"]))?;
    f.property_array_u64("reg", &[VUART_IPA, PAGE])?;
    f.property_array_u32("interrupts", &[GIC_SPI, VUART_INTID - 32, IRQ_LEVEL_HIGH])?;
    f.property_array_u32("clocks", &[CLOCK_PHANDLE, CLOCK_PHANDLE])?;
    f.property_string_list("clock-names", strings(&["uartclk", "apb_pclk"]))?;
    f.end_node(uart)?;

    for d in vm.devices.iter().filter(|d| d.bridge.is_none()) {
        let kind = d.name.split('@').next().unwrap_or(&d.name);
        let node = f.begin_node(&format!("{kind}@{:x}", d.base.raw()))?;
        f.property_string_list("compatible", d.compatible.clone())?;
        f.property_array_u64("reg", &[d.base.raw(), d.size])?;
        if !d.irqs.is_empty() {
            let flags = match d.trigger {
                Trigger::Edge => IRQ_EDGE_RISING,
                Trigger::Level => IRQ_LEVEL_HIGH,
            };
            let cells: Vec<u32> = d
                .irqs
                .iter()
                .flat_map(|&i| [GIC_SPI, i - 32, flags])
                .collect();
            f.property_array_u32("interrupts", &cells)?;
        }
        if d.dma_coherent {
            f.property_null("dma-coherent")?;
        }
        f.end_node(node)?;
    }
    for p in &vm.pcie {
        pcie_node(&mut f, p)?;
    }
    for m in &vm.shared {
        shared_node(&mut f, m)?;
    }
    if !vm.shared.is_empty() {
        doorbell_node(&mut f)?;
        if vm.interrupt_mode == InterruptMode::Virtual {
            doorbell_gpio(&mut f, &vm.shared)?;
        }
    }
    f.end_node(root)?;
    f.finish()
}

/// A PCIe host bridge as QEMU `virt` describes it, with the VM's own interrupt
/// controller in its `interrupt-map` and only the windows the VM has in `ranges`. No
/// `msi-map` or `msi-parent`: the VM has no ITS, so Linux uses INTx.
fn pcie_node(f: &mut FdtWriter, p: &PciePlan) -> Result<()> {
    let node = f.begin_node(&p.name)?;
    f.property_string_list("compatible", p.compatible.clone())?;
    f.property_string("device_type", "pci")?;
    f.property_array_u64("reg", &[p.ecam.0, p.ecam.1])?;
    f.property_array_u32("bus-range", &[p.buses.0, p.buses.1])?;
    f.property_u32("linux,pci-domain", 0)?;
    f.property_u32("#address-cells", 3)?;
    f.property_u32("#size-cells", 2)?;
    f.property_u32("#interrupt-cells", 1)?;
    let mut ranges = Vec::new();
    for w in &p.windows {
        let [pci, cpu, size] = [w.pci, w.cpu, w.size].map(|v| [(v >> 32) as u32, v as u32]);
        ranges.extend([
            w.space.phys_hi(),
            pci[0],
            pci[1],
            cpu[0],
            cpu[1],
            size[0],
            size[1],
        ]);
    }
    f.property_array_u32("ranges", &ranges)?;
    // Per row: child address (3 cells) and pin, the GIC (no address cells), its
    // 3-cell specifier.
    let map: Vec<u32> = swizzle_rows()
        .flat_map(|(dev, pin)| {
            let spi = p.intid(dev, pin) - 32;
            [
                dev << 11,
                0,
                0,
                pin,
                GIC_PHANDLE,
                GIC_SPI,
                spi,
                IRQ_LEVEL_HIGH,
            ]
        })
        .collect();
    f.property_array_u32("interrupt-map", &map)?;
    f.property_array_u32("interrupt-map-mask", &INTERRUPT_MAP_MASK)?;
    if p.dma_coherent {
        f.property_null("dma-coherent")?;
    }
    f.end_node(node)
}

/// A shared-memory region as a `generic-uio` device: Debian's stock kernel drives it
/// with `uio_pdrv_genirq` (`modprobe uio_pdrv_genirq of_id=generic-uio`), and user
/// space maps it from `/dev/uioN` (map 0; the node name is in
/// `/sys/class/uio/uioN/name`). The region lies outside the `memory` node, so the
/// kernel never uses it as RAM.
/// Its interrupt is the region's doorbell (edge): another peer rang it.
/// `rtvisor,doorbell` is the number to ring it with (hypercall or doorbell page).
fn shared_node(f: &mut FdtWriter, m: &SharedMapPlan) -> Result<()> {
    let node = f.begin_node(&format!("uio-{}@{:x}", m.name, m.ipa.raw()))?;
    f.property_string("compatible", "generic-uio")?;
    f.property_array_u64("reg", &[m.ipa.raw(), m.size])?;
    f.property_array_u32("interrupts", &[GIC_SPI, m.doorbell - 32, IRQ_EDGE_RISING])?;
    f.property_string("rtvisor,name", &m.name)?;
    f.property_string("rtvisor,access", if m.writable { "rw" } else { "ro" })?;
    f.property_u32("rtvisor,doorbell", m.index as u32)?;
    f.end_node(node)
}

/// The doorbell GPIO (an emulated PL061) and a `gpio-keys` device on it: region
/// k < 8's doorbell toggles line k, and Linux's stock drivers report each ring as an
/// event of key `BTN_TRIGGER_HAPPY1 + k` on the input device `rtvisor-doorbells`.
fn doorbell_gpio(f: &mut FdtWriter, shared: &[SharedMapPlan]) -> Result<()> {
    let node = f.begin_node(&format!("pl061@{DOORBELL_GPIO_IPA:x}"))?;
    f.property_string_list("compatible", strings(&["arm,pl061", "arm,primecell"]))?;
    f.property_array_u64("reg", &[DOORBELL_GPIO_IPA, PAGE])?;
    f.property_array_u32(
        "interrupts",
        &[GIC_SPI, DOORBELL_GPIO_INTID - 32, IRQ_LEVEL_HIGH],
    )?;
    f.property_null("gpio-controller")?;
    f.property_u32("#gpio-cells", 2)?;
    f.property_null("interrupt-controller")?;
    f.property_u32("#interrupt-cells", 2)?;
    f.property_u32("clocks", CLOCK_PHANDLE)?;
    f.property_string("clock-names", "apb_pclk")?;
    f.property_phandle(GPIO_PHANDLE)?;
    f.end_node(node)?;
    let keys = f.begin_node("rtvisor-doorbells")?;
    f.property_string("compatible", "gpio-keys")?;
    f.property_string("label", "rtvisor-doorbells")?;
    for m in shared.iter().filter(|m| m.index < DOORBELL_GPIO_LINES) {
        let key = f.begin_node(&format!("doorbell-{}", m.name))?;
        f.property_string("label", &format!("doorbell {}", m.name))?;
        f.property_u32("linux,code", DOORBELL_KEY + m.index as u32)?;
        f.property_array_u32("gpios", &[GPIO_PHANDLE, m.index as u32, 0])?;
        f.property_u32("debounce-interval", 0)?;
        f.end_node(key)?;
    }
    f.end_node(keys)
}

/// The doorbell page: a write of a region's number to offset 0 rings its other peers
/// (for code that cannot make hypercalls, such as Linux user space via /dev/mem).
fn doorbell_node(f: &mut FdtWriter) -> Result<()> {
    let node = f.begin_node(&format!("rtvisor-doorbell@{DOORBELL_IPA:x}"))?;
    f.property_string("compatible", "rtvisor,doorbell")?;
    f.property_array_u64("reg", &[DOORBELL_IPA, PAGE])?;
    f.end_node(node)
}
