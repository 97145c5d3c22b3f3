use super::*;
use rtvisor_core::mmio::DeviceKind;
use std::cell::{Cell, RefCell};
use std::string::{String, ToString};
use std::vec::Vec;

mod cpustats;
mod input;

struct Mock {
    states: RefCell<Vec<VmState>>,
    out: RefCell<Vec<String>>,
    calls: RefCell<Vec<String>>,
    latency: Cell<Option<(&'static [u8], u64)>>,
    level: Cell<LogLevel>,
    accounting: Cell<bool>,
    reset: Cell<bool>,
    /// `linux`'s RAM instead of `RAM[1]`, when set.
    linux_ram: Cell<Option<RamMap>>,
}

impl Mock {
    fn new() -> Self {
        Self {
            states: RefCell::new(std::vec![VmState::Running, VmState::Stopped]),
            out: RefCell::new(Vec::new()),
            calls: RefCell::new(Vec::new()),
            latency: Cell::new(None),
            level: Cell::new(LogLevel::Info),
            accounting: Cell::new(true),
            reset: Cell::new(false),
            linux_ram: Cell::new(None),
        }
    }
    fn run(&self, line: &str) -> Vec<String> {
        self.out.borrow_mut().clear();
        execute(line, self);
        self.out.borrow().clone()
    }
    /// What the shell prints while `bytes` are typed into `input`.
    fn typed(&self, input: &mut Input, bytes: &[u8]) -> Vec<String> {
        self.out.borrow_mut().clear();
        for &b in bytes {
            input.feed(b, self);
        }
        self.out.borrow().clone()
    }
}

const NAMES: [&str; 2] = ["rt", "linux"];
const CPUS: [&[u32]; 2] = [&[3], &[1, 2]];
const MIB: u64 = 1 << 20;
const RAM: [RamMap; 2] = [
    RamMap {
        ipa: Ipa::new(0x4000_0000),
        hpa: Hpa::new(0x4220_0000),
        size: 16 * MIB,
        colors: Some(rtvisor_config::tables::Coloring {
            count: 32,
            mask: 0x8000_0f0f,
        }),
        low: None,
    },
    RamMap {
        ipa: Ipa::new(0x4000_0000),
        hpa: Hpa::new(0x4400_0000),
        size: 64 * MIB,
        colors: None,
        low: None,
    },
];
const fn device(name: &'static str, page: u64, regs: u64, size: u64, virtio: bool) -> DeviceMap {
    DeviceMap {
        name,
        ipa: Ipa::new(page),
        hpa: Hpa::new(page),
        size: 0x1000,
        regs: MemRegion {
            base: Hpa::new(regs),
            size,
        },
        irqs: &[],
        edge: false,
        virtio_mmio: if virtio { Some(Hpa::new(regs)) } else { None },
    }
}
/// Devices of `linux`: a UART with a page of its own, two virtio-mmio transports
/// that share one.
const DEVICES: [DeviceMap; 3] = [
    device("uart1", 0x0904_0000, 0x0904_0000, 0x1000, false),
    device(
        "virtio-mmio@0a003e00",
        0x0a00_3000,
        0x0a00_3e00,
        0x200,
        true,
    ),
    device(
        "virtio-mmio@0a003c00",
        0x0a00_3000,
        0x0a00_3c00,
        0x200,
        true,
    ),
];
const fn ring(hpa: u64, writable: bool) -> Mapping<'static> {
    Mapping {
        name: "ring",
        ipa: Ipa::new(0x5000_0000),
        hpa: Hpa::new(hpa),
        size: 2 * MIB,
        writable,
    }
}
const EMULATED: [Region; 3] = [
    Region {
        base: Ipa::new(0x0800_0000),
        size: 0x1_0000,
        kind: DeviceKind::GicDist,
        line: None,
    },
    Region {
        base: Ipa::new(0x080a_0000),
        size: 0x2_0000,
        kind: DeviceKind::GicRedist,
        line: None,
    },
    Region {
        base: Ipa::new(0x0900_0000),
        size: 0x1000,
        kind: DeviceKind::Pl011,
        line: Some(33),
    },
];
/// Power of each vCPU, by VM.
const POWER: [&[VcpuPower]; 2] = [&[VcpuPower::On], &[VcpuPower::Off, VcpuPower::Pending]];

impl ShellOps for Mock {
    fn vm_count(&self) -> usize {
        2
    }
    fn vm_name(&self, vm: VmId) -> &str {
        NAMES[vm.index()]
    }
    fn vm_status(&self, vm: VmId) -> (VmState, u32, Option<StopReason>) {
        let s = self.states.borrow()[vm.index()];
        (
            s,
            vm.index() as u32,
            (vm.index() == 1).then_some(StopReason::SystemOff),
        )
    }
    fn vm_resources(&self, vm: VmId) -> (&[u32], u64) {
        (CPUS[vm.index()], 64 << 20)
    }
    fn vm_kind(&self, vm: VmId) -> VmKind {
        [VmKind::Rt, VmKind::General][vm.index()]
    }
    fn vm_ram(&self, vm: VmId) -> RamMap {
        match self.linux_ram.get() {
            Some(r) if vm.index() == 1 => r,
            _ => RAM[vm.index()],
        }
    }
    fn device(&self, vm: VmId, i: usize) -> Option<Mapping<'_>> {
        DEVICES
            .get(i)
            .filter(|_| vm.index() == 1)
            .map(Mapping::device)
    }
    fn shared(&self, vm: VmId, i: usize) -> Option<Mapping<'_>> {
        (i == 0).then_some(ring(0x4800_0000, vm.index() == 1))
    }
    fn emulated(&self, _vm: VmId, i: usize) -> Option<Region> {
        EMULATED.get(i).copied()
    }
    fn hv_memory(&self) -> MemRegion<Hpa> {
        MemRegion {
            base: Hpa::new(0x4020_0000),
            size: 32 * MIB,
        }
    }
    fn hv_tables(&self) -> Option<HvPages> {
        Some(HvPages {
            hpa: Hpa::new(0x4220_0000),
            size: MIB,
            colors: rtvisor_config::tables::Coloring {
                count: 32,
                mask: 0b11_0000,
            },
        })
    }
    fn vcpu(&self, vm: VmId, vcpu: VcpuId) -> Option<VcpuInfo> {
        Some(VcpuInfo {
            cpu: CpuId::new(CPUS[vm.index()][vcpu.index()] as usize),
            cpu_id: vcpu.index() as u64,
            power: POWER[vm.index()][vcpu.index()],
            exits: 1000 * vm.index() as u64 + vcpu.index() as u64,
        })
    }
    fn cpu_count(&self) -> usize {
        4
    }
    fn shell_cpu(&self) -> Option<CpuId> {
        Some(CpuId::new(0))
    }
    fn irq_counts(&self, cpu: CpuId) -> [u64; IrqKind::COUNT] {
        core::array::from_fn(|k| (10 * cpu.index() + k) as u64)
    }
    fn cpu_account(&self, cpu: CpuId) -> Account {
        if self.reset.get() {
            return Account::default();
        }
        let base = 100 * cpu.index() as u64;
        Account {
            entries: core::array::from_fn(|k| base + k as u64),
            own_ns: base * 16,
            other_ns: cpu.index() as u64 * 16,
        }
    }
    fn accounting_built(&self) -> bool {
        self.accounting.get()
    }
    fn reset_cpu_stats(&self) {
        self.reset.set(true);
    }
    fn latency(&self, vm: VmId, buf: &mut [u8]) -> Option<(usize, u64)> {
        let (line, age) = self.latency.get().filter(|_| vm.index() == 0)?;
        let n = line.len().min(buf.len());
        buf[..n].copy_from_slice(&line[..n]);
        Some((n, age))
    }
    fn log_level(&self) -> LogLevel {
        self.level.get()
    }
    fn set_log_level(&self, level: LogLevel) {
        self.level.set(level);
    }
    fn stop(&self, vm: VmId) {
        self.calls.borrow_mut().push(std::format!("stop {vm}"));
    }
    fn start(&self, vm: VmId) {
        self.calls.borrow_mut().push(std::format!("start {vm}"));
    }
    fn restart(&self, vm: VmId) {
        self.calls.borrow_mut().push(std::format!("restart {vm}"));
    }
    fn console_to(&self, vm: VmId) {
        self.calls.borrow_mut().push(std::format!("console {vm}"));
    }
    fn out(&self, args: fmt::Arguments<'_>) {
        self.out.borrow_mut().push(args.to_string());
    }
}

#[test]
fn help_lists_every_command() {
    let m = Mock::new();
    let out = m.run("help");
    assert_eq!(out.len(), COMMANDS.len());
    assert!(out.iter().any(|l| l.contains("vm restart NAME")));
    for usage in [
        "vcpu list",
        "mem map",
        "irq stats",
        "cpu stats [reset]",
        "latency",
        "log level [LEVEL]",
    ] {
        assert!(out.iter().any(|l| l.contains(usage)), "{usage}: {out:?}");
    }
}

#[test]
fn stopping_the_last_vm_leaves_the_shell_up() {
    let m = Mock::new();
    let help = m.run("help");
    let stop = help.iter().find(|l| l.contains("vm stop NAME")).unwrap();
    assert!(stop.contains("the shell stays up"), "{stop}");
    assert_eq!(NoneRunning::with_shell(true), NoneRunning::StayUp);
    assert!(NoneRunning::StayUp
        .message()
        .starts_with("no VM is running; the shell stays up"));
    // Without a shell nothing could start a VM again: the machine powers off, and
    // says so first.
    assert_eq!(NoneRunning::with_shell(false), NoneRunning::PowerOff);
    assert!(NoneRunning::PowerOff.message().ends_with("powering off"));
}

#[test]
fn vm_list_shows_state_cpus_memory_restarts_and_last_stop() {
    let m = Mock::new();
    let out = m.run("vm list");
    assert_eq!(out.len(), 3);
    assert!(out[1].starts_with("rt "), "{}", out[1]);
    assert!(out[1].contains("running") && out[1].contains(" 3 ") && out[1].contains("64M"));
    assert!(out[2].contains("stopped") && out[2].contains("1,2") && out[2].ends_with("system-off"));
}

#[test]
fn lifecycle_commands_reach_the_hypervisor_only_when_they_make_sense() {
    let m = Mock::new();
    m.run("vm stop rt");
    m.run("vm start linux");
    m.run("vm restart linux");
    assert_eq!(*m.calls.borrow(), ["stop 0", "start 1", "restart 1"]);
    assert_eq!(m.run("vm start rt"), ["vm rt is already running"]);
    assert_eq!(m.run("vm stop linux"), ["vm linux is already stopped"]);
    assert_eq!(m.calls.borrow().len(), 3);
}

#[test]
fn mistakes_get_a_precise_answer() {
    let m = Mock::new();
    assert_eq!(
        m.run("vm stop nope"),
        ["no VM named `nope`; `vm list` shows them"]
    );
    assert_eq!(m.run("vm stop"), ["usage: vm stop NAME"]);
    assert_eq!(
        m.run("reboot now"),
        ["unknown command `reboot now`; try `help`"]
    );
    assert_eq!(m.run("   "), Vec::<String>::new());
    assert_eq!(m.run("a b c d e f g h i"), ["too many words; try `help`"]);
    assert_eq!(m.run("version"), [std::format!("rtvisor {VERSION}")]);
}

#[test]
fn vm_console_hands_input_to_the_named_vm() {
    let m = Mock::new();
    let out = m.run("vm console linux");
    assert_eq!(m.calls.borrow().as_slice(), ["console 1"]);
    assert!(out[0].contains("Ctrl-]"), "{out:?}");
    m.run("vm console nope");
    assert_eq!(m.calls.borrow().len(), 1);
    m.run("vm console");
    assert_eq!(m.calls.borrow().len(), 1);
}

#[test]
fn vcpu_list_shows_each_vcpu_with_its_cpu_cpu_id_power_and_exits() {
    let m = Mock::new();
    let out = m.run("vcpu list");
    assert_eq!(out.len(), 4, "{out:?}");
    let words = |l: &str| l.split_whitespace().map(String::from).collect::<Vec<_>>();
    assert_eq!(
        words(&out[0]),
        ["vm", "vcpu", "cpu", "cpu-id", "power", "exits"]
    );
    assert_eq!(words(&out[1]), ["rt", "0", "3", "0x0", "on", "0"]);
    assert_eq!(words(&out[2]), ["linux", "0", "1", "0x0", "off", "1000"]);
    assert_eq!(
        words(&out[3]),
        ["linux", "1", "2", "0x1", "pending", "1001"]
    );
}

#[test]
fn vcpu_power_follows_the_vm_lifecycle() {
    let life = VmLife::new();
    assert_eq!(VcpuPower::of(&life, VcpuId::new(0)), VcpuPower::Off);
    life.boot(2, 0x4008_0000, 0);
    assert_eq!(VcpuPower::of(&life, VcpuId::new(0)), VcpuPower::Pending);
    life.take_start(VcpuId::new(0));
    assert_eq!(VcpuPower::of(&life, VcpuId::new(0)), VcpuPower::On);
    assert_eq!(VcpuPower::of(&life, VcpuId::new(1)), VcpuPower::Off);
    assert_eq!(VcpuPower::of(&life, VcpuId::new(7)), VcpuPower::Off);
}

#[test]
fn mem_map_shows_an_identity_vms_private_mib_and_its_identity_ram() {
    let m = Mock::new();
    m.linux_ram.set(Some(RamMap {
        ipa: Ipa::new(0),
        hpa: Hpa::new(0),
        size: 256 * MIB,
        colors: None,
        low: Some(Hpa::new(0x1b00_0000)),
    }));
    let out = m.run("mem map");
    let rows: Vec<Vec<&str>> = out
        .iter()
        .map(|l| l.split_whitespace().collect())
        .filter(|w: &Vec<&str>| w.first() == Some(&"linux") && w.get(1) == Some(&"ram"))
        .collect();
    assert_eq!(
        rows,
        [
            ["linux", "ram", "private", "0x0", "0x1b000000", "1M", "rw"],
            ["linux", "ram", "identity", "0x100000", "0x100000", "255M", "rw"],
        ]
    );
}

#[test]
fn mem_map_shows_the_hypervisor_and_every_vm_region() {
    let m = Mock::new();
    let out = m.run("mem map");
    let words = |l: &str| l.split_whitespace().map(String::from).collect::<Vec<_>>();
    let rows: Vec<Vec<String>> = out.iter().map(|l| words(l)).collect();
    let expected: &[&[&str]] = &[
        &["owner", "region", "name", "ipa", "hpa", "size", "access"],
        &["rtvisor", "memory", "-", "-", "0x40200000", "32M", "-"],
        &[
            "rtvisor",
            "tables",
            "colors=4-5/32",
            "-",
            "0x42200000",
            "1M",
            "-",
        ],
        &[
            "rt",
            "ram",
            "colors=0-3,8-11,31/32",
            "0x40000000",
            "0x42200000",
            "16M",
            "rw",
        ],
        &[
            "rt",
            "shared",
            "ring",
            "0x50000000",
            "0x48000000",
            "2M",
            "ro",
        ],
        &["rt", "emulated", "gicd", "0x8000000", "-", "64K", "trap"],
        &["rt", "emulated", "gicr", "0x80a0000", "-", "128K", "trap"],
        &["rt", "emulated", "pl011", "0x9000000", "-", "4K", "trap"],
        &["linux", "ram", "-", "0x40000000", "0x44000000", "64M", "rw"],
        &[
            "linux",
            "device",
            "uart1",
            "0x9040000",
            "0x9040000",
            "4K",
            "rw",
        ],
        &[
            "linux",
            "device",
            "virtio-mmio@0a003e00",
            "0xa003e00",
            "0xa003e00",
            "512",
            "rw",
        ],
        &[
            "linux",
            "device",
            "virtio-mmio@0a003c00",
            "0xa003c00",
            "0xa003c00",
            "512",
            "rw",
        ],
        &[
            "linux",
            "shared",
            "ring",
            "0x50000000",
            "0x48000000",
            "2M",
            "rw",
        ],
        &["linux", "emulated", "gicd", "0x8000000", "-", "64K", "trap"],
        &[
            "linux",
            "emulated",
            "gicr",
            "0x80a0000",
            "-",
            "128K",
            "trap",
        ],
        &["linux", "emulated", "pl011", "0x9000000", "-", "4K", "trap"],
    ];
    assert_eq!(rows, expected, "{out:#?}");
    // Aligned columns: each starts at the same place on every line, the size column
    // ends at the same place.
    let starts = |l: &str| {
        let b = l.as_bytes();
        (0..b.len())
            .filter(|&i| b[i] != b' ' && (i == 0 || b[i - 1] == b' '))
            .collect::<Vec<_>>()
    };
    let ends = |l: &str| {
        let b = l.as_bytes();
        (0..b.len())
            .filter(|&i| b[i] != b' ' && (i + 1 == b.len() || b[i + 1] == b' '))
            .collect::<Vec<_>>()
    };
    for l in &out {
        let (s, e) = (starts(l), ends(l));
        assert_eq!(s[..5], starts(&out[0])[..5], "{out:#?}");
        assert_eq!(e[5], ends(&out[0])[5], "size column of {l:?} in {out:#?}");
        assert_eq!(s[6], starts(&out[0])[6], "{out:#?}");
    }
}

#[test]
fn sizes_use_the_largest_unit_that_divides_them() {
    let s = |v| std::format!("{}", text::Size(v));
    assert_eq!(s(2 << 30), "2G");
    assert_eq!(s(3 << 20), "3M");
    assert_eq!(s(0x1_1000), "68K");
    assert_eq!(s(100), "100");
    assert_eq!(s(0), "0");
}

#[test]
fn irq_stats_has_one_column_per_kind_and_one_row_per_cpu() {
    let m = Mock::new();
    let out = m.run("irq stats");
    assert_eq!(out.len(), 6, "{out:?}");
    let words = |l: &str| l.split_whitespace().map(String::from).collect::<Vec<_>>();
    assert_eq!(
        words(&out[0]),
        ["cpu", "runs", "sgi", "vtimer", "maint", "spi", "uart", "spurious"]
    );
    assert_eq!(words(&out[1]), ["0", "shell", "0", "1", "2", "3", "4", "5"]);
    assert_eq!(words(&out[2])[..3], ["1", "linux/0", "10"]);
    assert_eq!(words(&out[3])[..3], ["2", "linux/1", "20"]);
    assert_eq!(
        words(&out[4]),
        ["3", "rt/0", "30", "31", "32", "33", "34", "35"]
    );
    assert!(out[5].contains("fast path"), "{}", out[5]);
}

#[test]
fn irq_kinds_index_their_own_column() {
    for (i, k) in IrqKind::ALL.into_iter().enumerate() {
        assert_eq!(k as usize, i, "{k:?}");
    }
}

#[test]
fn latency_shows_the_last_timer_figures_of_rt_vms_only() {
    let m = Mock::new();
    assert_eq!(m.run("latency"), ["rt           no figures yet"]);
    m.latency.set(Some((
        b"rtbench: result metric=timer samples=500 min_ns=10 avg_ns=20 max_ns=30",
        12_345,
    )));
    assert_eq!(
        m.run("latency"),
        ["rt           timer samples=500 min_ns=10 avg_ns=20 max_ns=30  (age 12.3s)"]
    );
    // A line with bytes that are not UTF-8 prints what comes before them.
    m.latency.set(Some((
        b"rtbench: result metric=timer samples=5\xff\xfe",
        50,
    )));
    assert_eq!(
        m.run("latency"),
        ["rt           timer samples=5  (age 0.0s)"]
    );
}

#[test]
fn log_level_shows_and_sets_the_runtime_level() {
    let m = Mock::new();
    assert_eq!(m.run("log level"), ["log level info"]);
    assert_eq!(m.run("log level debug"), ["log level debug (was info)"]);
    assert_eq!(m.level.get(), LogLevel::Debug);
    assert_eq!(m.run("log level warn"), ["log level warn (was debug)"]);
    assert_eq!(m.level.get(), LogLevel::Warn);
    assert_eq!(
        m.run("log level loud"),
        ["unknown log level `loud`: one of error|warn|info|debug"]
    );
    assert_eq!(m.level.get(), LogLevel::Warn);
    assert_eq!(m.run("log level info x"), ["usage: log level [LEVEL]"]);
    assert_eq!(m.run("latency now"), ["usage: latency"]);
}
