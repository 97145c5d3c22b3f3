//! A fake vCPU (registers, skipped instructions, injected exceptions) and a fake
//! [`Host`] that records every call, so a test sees everything an exit did.

extern crate std;

use super::super::{Contained, Host};
use crate::ids::{VcpuId, VmId};
use crate::sysreg::CpuIfReg;
use crate::vcpu::VcpuRegs;
use crate::vm::StopReason;
use rtvisor_config::tables::VmConfig;
use rtvisor_vdev::vgic::Notify;
use rtvisor_vdev::Width;
use std::cell::{Cell, RefCell};
use std::vec::Vec;

/// An exception the handler injected into the guest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Injected {
    DataAbort { far: u64, write: bool },
    InstructionAbort { far: u64 },
    Undef,
}

/// The exited vCPU as the handler sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeRegs {
    /// x0..x30.
    pub x: [u64; 31],
    /// How many times the trapped instruction was skipped.
    pub skipped: u32,
    /// Exceptions injected, in order.
    pub injected: Vec<Injected>,
}

impl FakeRegs {
    /// Registers with a recognisable pattern, nothing skipped or injected.
    pub fn new() -> Self {
        let mut x = [0; 31];
        for (i, r) in x.iter_mut().enumerate() {
            *r = 0x5eed_0000_0000_0000 | i as u64;
        }
        Self {
            x,
            skipped: 0,
            injected: Vec::new(),
        }
    }

    /// Registers with x0.. set to `args` (the rest as [`FakeRegs::new`]).
    pub fn with(args: &[u64]) -> Self {
        let mut r = Self::new();
        r.x[..args.len()].copy_from_slice(args);
        r
    }
}

impl VcpuRegs for FakeRegs {
    fn reg(&self, n: u8) -> u64 {
        self.x.get(usize::from(n)).copied().unwrap_or(0)
    }
    fn set_reg(&mut self, n: u8, value: u64) {
        if let Some(r) = self.x.get_mut(usize::from(n)) {
            *r = value;
        }
    }
    fn skip_instruction(&mut self) {
        self.skipped += 1;
    }
    fn inject_data_abort(&mut self, far: u64, write: bool) {
        self.injected.push(Injected::DataAbort { far, write });
    }
    fn inject_instruction_abort(&mut self, far: u64) {
        self.injected.push(Injected::InstructionAbort { far });
    }
    fn inject_undef(&mut self) {
        self.injected.push(Injected::Undef);
    }
}

/// One call of the handler into the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostCall {
    Kick {
        vm: usize,
        vcpu: usize,
    },
    ConsoleLine {
        vm: usize,
        line: Vec<u8>,
    },
    ConsolePartial {
        vm: usize,
        pending: Vec<u8>,
    },
    VmStopping {
        vm: usize,
        reason: StopReason,
    },
    VmStopped {
        vm: usize,
        reason: StopReason,
        late: bool,
    },
    Settle {
        vm: usize,
    },
    CpuInterface {
        reg: CpuIfReg,
        write: Option<u64>,
    },
    VmStarted {
        vm: usize,
    },
    VmRestarting {
        vm: usize,
        reason: StopReason,
    },
    Contained {
        vm: usize,
        what: Contained,
    },
    VgicChanged {
        vm: usize,
        me: Option<usize>,
        notify: Notify,
    },
    GicHwRead {
        vm: usize,
        redist: Option<usize>,
        off: u64,
        width: Width,
    },
    GicHwWrite {
        vm: usize,
        redist: Option<usize>,
        off: u64,
        width: Width,
        value: u64,
    },
    SendSgi {
        vm: usize,
        vcpu: usize,
        sgi: u32,
    },
    Ring {
        vm: usize,
        index: u64,
    },
    WatchdogArm {
        vm: usize,
        me: usize,
        ms: u64,
    },
    WatchdogKick {
        vm: usize,
        me: usize,
    },
}

impl HostCall {
    /// The VM the call is about.
    pub fn vm(&self) -> usize {
        match *self {
            Self::Kick { vm, .. }
            | Self::ConsoleLine { vm, .. }
            | Self::ConsolePartial { vm, .. }
            | Self::VmStopping { vm, .. }
            | Self::VmStopped { vm, .. }
            | Self::Settle { vm }
            | Self::VmStarted { vm }
            | Self::VmRestarting { vm, .. }
            | Self::Contained { vm, .. }
            | Self::VgicChanged { vm, .. }
            | Self::GicHwRead { vm, .. }
            | Self::GicHwWrite { vm, .. }
            | Self::SendSgi { vm, .. }
            | Self::Ring { vm, .. }
            | Self::WatchdogArm { vm, .. }
            | Self::WatchdogKick { vm, .. } => vm,
            // The CPU interface of the CPU the exit happened on; the test knows which.
            Self::CpuInterface { .. } => usize::MAX,
        }
    }
}

/// What the fake physical GIC returns for every read: a pattern that shows which
/// bits the filter let through.
pub const HW_PATTERN: u64 = 0xa5a5_5a5a_c3c3_3c3c;

/// A host that records every call. Doorbells follow the VMs' configured peers, the
/// watchdog follows arm and kick, and physical GIC reads return [`HW_PATTERN`].
#[derive(Debug)]
pub struct FakeHost {
    cfgs: Vec<&'static VmConfig>,
    calls: RefCell<Vec<HostCall>>,
    armed: RefCell<Vec<bool>>,
    /// What [`Host::console_live`] answers.
    pub live: Cell<bool>,
}

impl FakeHost {
    /// A host for the VMs `cfgs` (index = VM id).
    pub fn new(cfgs: &[&'static VmConfig]) -> Self {
        Self {
            cfgs: cfgs.to_vec(),
            calls: RefCell::new(Vec::new()),
            armed: RefCell::new(std::vec![false; cfgs.len()]),
            live: Cell::new(false),
        }
    }

    /// The calls recorded since the last `take`, oldest first.
    pub fn take(&self) -> Vec<HostCall> {
        self.calls.take()
    }

    /// Whether VM `vm`'s watchdog is armed.
    pub fn armed(&self, vm: usize) -> bool {
        self.armed.borrow()[vm]
    }

    fn record(&self, c: HostCall) {
        self.calls.borrow_mut().push(c);
    }
}

impl Host for FakeHost {
    fn kick(&self, vm: VmId, vcpu: VcpuId) {
        self.record(HostCall::Kick {
            vm: vm.index(),
            vcpu: vcpu.index(),
        });
    }
    fn console_line(&self, vm: VmId, line: &[u8]) {
        let line = line.to_vec();
        self.record(HostCall::ConsoleLine {
            vm: vm.index(),
            line,
        });
    }
    fn console_live(&self, _vm: VmId) -> bool {
        self.live.get()
    }
    fn console_partial(&self, vm: VmId, pending: &[u8]) {
        let pending = pending.to_vec();
        self.record(HostCall::ConsolePartial {
            vm: vm.index(),
            pending,
        });
    }
    fn vm_stopping(&self, vm: VmId, reason: StopReason) {
        self.armed.borrow_mut()[vm.index()] = false;
        self.record(HostCall::VmStopping {
            vm: vm.index(),
            reason,
        });
    }
    fn vm_stopped(&self, vm: VmId, reason: StopReason, late: bool) {
        self.record(HostCall::VmStopped {
            vm: vm.index(),
            reason,
            late,
        });
    }
    fn settle(&self, vm: VmId) {
        // The test parks the other vCPUs itself (`World::park`), or not.
        self.record(HostCall::Settle { vm: vm.index() });
    }
    fn cpu_interface(&self, reg: CpuIfReg, write: Option<u64>) -> u64 {
        self.record(HostCall::CpuInterface { reg, write });
        HW_PATTERN
    }
    fn vm_started(&self, vm: VmId) {
        self.record(HostCall::VmStarted { vm: vm.index() });
    }
    fn vm_restarting(&self, vm: VmId, reason: StopReason) {
        self.armed.borrow_mut()[vm.index()] = false;
        self.record(HostCall::VmRestarting {
            vm: vm.index(),
            reason,
        });
    }
    fn contained(&self, vm: VmId, what: Contained) {
        self.record(HostCall::Contained {
            vm: vm.index(),
            what,
        });
    }
    fn vgic_changed(&self, vm: VmId, me: Option<VcpuId>, notify: &Notify) {
        let notify = *notify;
        self.record(HostCall::VgicChanged {
            vm: vm.index(),
            me: me.map(VcpuId::index),
            notify,
        });
    }
    fn gic_hw_read(&self, vm: VmId, redist: Option<VcpuId>, off: u64, width: Width) -> u64 {
        self.record(HostCall::GicHwRead {
            vm: vm.index(),
            redist: redist.map(VcpuId::index),
            off,
            width,
        });
        HW_PATTERN & width.mask()
    }
    fn send_sgi(&self, vm: VmId, vcpu: VcpuId, sgi: u32) {
        self.record(HostCall::SendSgi {
            vm: vm.index(),
            vcpu: vcpu.index(),
            sgi,
        });
    }
    fn gic_hw_write(&self, vm: VmId, redist: Option<VcpuId>, off: u64, width: Width, value: u64) {
        self.record(HostCall::GicHwWrite {
            vm: vm.index(),
            redist: redist.map(VcpuId::index),
            off,
            width,
            value,
        });
    }
    fn ring(&self, vm: VmId, index: u64) -> bool {
        self.record(HostCall::Ring {
            vm: vm.index(),
            index,
        });
        self.cfgs[vm.index()]
            .shared
            .iter()
            .any(|m| m.index as u64 == index)
    }
    fn watchdog_arm(&self, vm: VmId, me: VcpuId, ms: u64) {
        self.armed.borrow_mut()[vm.index()] = ms != 0;
        self.record(HostCall::WatchdogArm {
            vm: vm.index(),
            me: me.index(),
            ms,
        });
    }
    fn watchdog_kick(&self, vm: VmId, me: VcpuId) -> bool {
        self.record(HostCall::WatchdogKick {
            vm: vm.index(),
            me: me.index(),
        });
        self.armed(vm.index())
    }
}
