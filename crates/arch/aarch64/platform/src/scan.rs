//! One depth-first pass over a validated tree, collecting what [`Platform`] needs.
//!
//! Interrupt specifiers are kept raw during the pass and decoded at the end, because
//! the GIC node (whose phandle and `#interrupt-cells` they depend on) may come after
//! the devices that use it.

use super::node::Node;
use rtvisor_addr::HostRange;

use super::tree::{self, Bus, Irqs, PPI};
use super::validate::MAX_DEPTH;
use super::{Conduit, GicInfo, Platform, PlatformError, MAX_CPUS, MAX_MEM_BANKS};

/// GICv2 `compatible` strings (GICv3 and v4 are all `arm,gic-v3`).
const GIC_V2: &[&str] = &[
    "arm,gic-400",
    "arm,cortex-a15-gic",
    "arm,cortex-a9-gic",
    "arm,cortex-a7-gic",
    "arm,arm11mp-gic",
    "arm,pl390",
];

struct Gic<'a> {
    version: u8,
    dist: HostRange,
    redist: HostRange,
    phandle: Option<u32>,
    cells: u32,
    irqs: Option<Irqs<'a>>,
}

#[derive(Clone, Copy)]
struct Uart<'a> {
    reg: HostRange,
    irqs: Option<Irqs<'a>>,
}

/// Collected state.
#[derive(Default)]
pub(super) struct Scan<'a> {
    memory: [Option<HostRange>; MAX_MEM_BANKS],
    mem_count: usize,
    cpus: [u64; MAX_CPUS],
    cpu_count: usize,
    gic: Option<Gic<'a>>,
    stdout_uart: Option<Uart<'a>>,
    first_uart: Option<Uart<'a>>,
    psci: Option<Conduit>,
    timer: Option<Irqs<'a>>,
}

impl<'a> Scan<'a> {
    /// Visits `node` (which sits on `bus`) and its subtree.
    pub fn walk(
        &mut self,
        node: Node<'a>,
        bus: &Bus<'_, 'a>,
        depth: usize,
    ) -> Result<(), PlatformError> {
        if depth > MAX_DEPTH {
            return Err(PlatformError::TooDeep);
        }
        let want = tree::descend(bus.want, node);
        if !self.visit(node, bus, want == Some(""))? {
            return Ok(());
        }
        let child_bus = Bus::of(node, Some(bus), want);
        for child in node.children() {
            self.walk(child, &child_bus, depth + 1)?;
        }
        Ok(())
    }

    /// Records what `node` describes; returns whether to descend into it.
    fn visit(
        &mut self,
        node: Node<'a>,
        bus: &Bus<'_, 'a>,
        is_stdout: bool,
    ) -> Result<bool, PlatformError> {
        if bus.up.is_none() && tree::base_name(node) == "cpus" {
            self.cpus(node, bus)?;
            return Ok(false);
        }
        if !tree::enabled(node) {
            return Ok(false);
        }
        if tree::prop_str(node, "device_type") == Some("memory") {
            for bank in bus.reg(node, "memory")? {
                self.add_memory(bank?)?;
            }
            return Ok(false);
        }
        if self.gic.is_none() {
            if let Some(version) = gic_version(node) {
                self.gic = Some(gic(node, bus, version)?);
            }
        }
        if tree::compatible(node, |c| c == "arm,pl011") {
            let uart = Uart {
                reg: bus.first_reg(node, "uart")?,
                irqs: Irqs::of(node, bus),
            };
            if is_stdout && self.stdout_uart.is_none() {
                self.stdout_uart = Some(uart);
            }
            self.first_uart.get_or_insert(uart);
        }
        if self.psci.is_none() && tree::compatible(node, |c| c.starts_with("arm,psci")) {
            self.psci = Some(match tree::prop_str(node, "method") {
                Some("hvc") => Conduit::Hvc,
                Some("smc") => Conduit::Smc,
                _ => return Err(PlatformError::BadProperty("psci method")),
            });
        }
        if self.timer.is_none()
            && tree::compatible(node, |c| c == "arm,armv8-timer" || c == "arm,armv7-timer")
        {
            self.timer = Some(Irqs::of(node, bus).ok_or(PlatformError::BadInterrupts("timer"))?);
        }
        Ok(true)
    }

    fn add_memory(&mut self, bank: HostRange) -> Result<(), PlatformError> {
        if bank.size() == 0 {
            return Ok(());
        }
        let slot = self
            .memory
            .get_mut(self.mem_count)
            .ok_or(PlatformError::TooManyMemoryBanks)?;
        *slot = Some(bank);
        self.mem_count += 1;
        Ok(())
    }

    /// `/cpus`: one MPIDR per `cpu` child, from the first address of its `reg`.
    fn cpus(&mut self, node: Node<'a>, bus: &Bus<'_, 'a>) -> Result<(), PlatformError> {
        let cpus_bus = Bus::of(node, Some(bus), None);
        if !matches!(cpus_bus.addr_cells, 1 | 2) {
            return Err(PlatformError::BadCells("cpus"));
        }
        for cpu in node.children() {
            if tree::base_name(cpu) != "cpu" && tree::prop_str(cpu, "device_type") != Some("cpu") {
                continue;
            }
            let mut reg = tree::prop(cpu, "reg").ok_or(PlatformError::BadReg("cpu"))?;
            let mpidr = tree::take_cells(&mut reg, cpus_bus.addr_cells)
                .ok_or(PlatformError::BadReg("cpu"))?;
            let known = self.cpus.get(..self.cpu_count).unwrap_or(&[]);
            if known.contains(&mpidr) {
                return Err(PlatformError::BadReg("cpu"));
            }
            let slot = self
                .cpus
                .get_mut(self.cpu_count)
                .ok_or(PlatformError::TooManyCpus)?;
            *slot = mpidr;
            self.cpu_count += 1;
        }
        Ok(())
    }

    /// Checks completeness and decodes interrupts.
    pub fn finish(self) -> Result<Platform, PlatformError> {
        if self.mem_count == 0 {
            return Err(PlatformError::NoMemory);
        }
        if self.cpu_count == 0 {
            return Err(PlatformError::NoCpus);
        }
        let gic = self.gic.ok_or(PlatformError::NoGic)?;
        let maintenance_irq = match gic.irqs {
            Some(irqs) => ppi(&gic, &irqs, 0, "gic")?,
            None => None,
        };
        let uart = self.stdout_uart.or(self.first_uart);
        let uart_irq = match uart.and_then(|u| u.irqs) {
            Some(irqs) => match irqs.spec(gic.phandle, gic.cells, 0, "uart")? {
                Some((ty, num)) => {
                    Some(tree::intid(ty, num).ok_or(PlatformError::BadInterrupts("uart"))?)
                }
                None => None,
            },
            None => None,
        };
        let timer_ppis = match self.timer {
            Some(irqs) => timer(&gic, &irqs)?,
            None => None,
        };
        Ok(Platform {
            memory: self.memory,
            cpus: self.cpus,
            cpu_count: self.cpu_count,
            gic: GicInfo {
                version: gic.version,
                dist: gic.dist,
                redist: gic.redist,
                maintenance_irq,
            },
            uart: uart.map(|u| u.reg),
            uart_irq,
            psci: self.psci,
            timer_ppis,
        })
    }
}

fn gic_version(node: Node<'_>) -> Option<u8> {
    if tree::compatible(node, |c| c == "arm,gic-v3") {
        Some(3)
    } else if tree::compatible(node, |c| GIC_V2.contains(&c)) {
        Some(2)
    } else {
        None
    }
}

fn gic<'a>(node: Node<'a>, bus: &Bus<'_, 'a>, version: u8) -> Result<Gic<'a>, PlatformError> {
    let mut reg = bus.reg(node, "gic")?;
    let bad = PlatformError::BadReg("gic");
    let dist = reg.next().ok_or(bad)??;
    let redist = reg.next().ok_or(bad)??;
    let cells = tree::prop_u32(node, "#interrupt-cells").ok_or(PlatformError::BadCells("gic"))?;
    if !(2..=4).contains(&cells) {
        return Err(PlatformError::BadCells("gic"));
    }
    Ok(Gic {
        version,
        dist,
        redist,
        phandle: tree::prop_u32(node, "phandle"),
        cells,
        irqs: Irqs::of(node, bus),
    })
}

/// Entry `index` of `irqs` as a PPI INTID; `Ok(None)` when it targets another controller.
fn ppi(
    gic: &Gic<'_>,
    irqs: &Irqs<'_>,
    index: usize,
    kind: &'static str,
) -> Result<Option<u32>, PlatformError> {
    match irqs.spec(gic.phandle, gic.cells, index, kind)? {
        Some((PPI, num)) => tree::intid(PPI, num)
            .map(Some)
            .ok_or(PlatformError::BadInterrupts(kind)),
        Some(_) => Err(PlatformError::BadInterrupts(kind)),
        None => Ok(None),
    }
}

/// The first four timer PPIs (secure, non-secure, virtual, hypervisor physical).
fn timer(gic: &Gic<'_>, irqs: &Irqs<'_>) -> Result<Option<[u32; 4]>, PlatformError> {
    let mut out = [0; 4];
    for (i, slot) in out.iter_mut().enumerate() {
        match ppi(gic, irqs, i, "timer")? {
            Some(intid) => *slot = intid,
            None => return Ok(None),
        }
    }
    Ok(Some(out))
}
