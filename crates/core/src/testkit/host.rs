//! A fake [`Host`] that records every call, and a fake vCPU ([`FakeVcpu`]) that
//! records how the handler answered it, so a test sees everything an exit did.

use crate::handler::{Contained, Host};
use crate::ids::{VcpuId, VmId};
use crate::seam::{ArchVcpu, CallError, Fault, Reply, VcpuStart};
use crate::vm::StopReason;
use rtvisor_config::tables::VmConfig;
use std::cell::{Cell, RefCell};
use std::vec::Vec;

/// The exited vCPU: what the handler answered.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FakeVcpu {
    /// The call's answer ([`ArchVcpu::set_return`]), if it got one.
    pub returned: Option<Result<Reply, CallError>>,
    /// The loaded value ([`ArchVcpu::complete_load`]), if a load completed.
    pub loaded: Option<u64>,
    /// How many times the trapped instruction was stepped over.
    pub skipped: u32,
    /// Faults injected, in order.
    pub injected: Vec<Fault>,
}

impl FakeVcpu {
    /// A vCPU nothing was done to.
    pub fn new() -> Self {
        Self::default()
    }

    /// The value a call returned (`None`: not answered, or an error).
    pub fn value(&self) -> Option<u64> {
        match self.returned {
            Some(Ok(Reply::Value(v))) => Some(v),
            _ => None,
        }
    }
}

impl ArchVcpu for FakeVcpu {
    fn skip(&mut self) {
        self.skipped += 1;
    }
    fn set_return(&mut self, r: Result<Reply, CallError>) {
        assert!(self.returned.is_none(), "a call is answered once");
        self.returned = Some(r);
    }
    fn complete_load(&mut self, value: u64) {
        assert!(self.loaded.is_none(), "a load completes once");
        self.loaded = Some(value);
    }
    fn inject(&mut self, fault: Fault) {
        self.injected.push(fault);
    }
    /// A fake vCPU is never entered: no test can make the proof.
    type Entry = core::convert::Infallible;

    fn enter(entry: Self::Entry, _: &VcpuStart) -> ! {
        match entry {}
    }
}

/// One call of the handler into the host (ids as plain indices, for short tests).
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
    Quiesce {
        vm: usize,
    },
    VmStopped {
        vm: usize,
        reason: StopReason,
        late: bool,
    },
    Settle {
        vm: usize,
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
            | Self::Quiesce { vm }
            | Self::VmStopped { vm, .. }
            | Self::Settle { vm }
            | Self::VmStarted { vm }
            | Self::VmRestarting { vm, .. }
            | Self::Contained { vm, .. }
            | Self::Ring { vm, .. }
            | Self::WatchdogArm { vm, .. }
            | Self::WatchdogKick { vm, .. } => vm,
        }
    }
}

/// A host that records every call. Doorbells follow the VMs' configured peers, and
/// the watchdog follows arm and kick.
#[derive(Debug)]
pub struct FakeHost {
    cfgs: Vec<&'static VmConfig>,
    calls: RefCell<Vec<HostCall>>,
    armed: RefCell<Vec<bool>>,
    /// What [`Host::console_live`] answers.
    pub live: Cell<bool>,
    /// What [`Host::doorbells`] answers (an image with shared memory: `true`).
    pub doorbells: Cell<bool>,
}

impl FakeHost {
    /// A host for the VMs `cfgs` (index = VM id).
    pub fn new(cfgs: &[&'static VmConfig]) -> Self {
        Self {
            cfgs: cfgs.to_vec(),
            calls: RefCell::new(Vec::new()),
            armed: RefCell::new(std::vec![false; cfgs.len()]),
            live: Cell::new(false),
            doorbells: Cell::new(true),
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
        let (vm, vcpu) = (vm.index(), vcpu.index());
        self.record(HostCall::Kick { vm, vcpu });
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
    fn vm_quiesce(&self, vm: VmId) {
        self.armed.borrow_mut()[vm.index()] = false;
        self.record(HostCall::Quiesce { vm: vm.index() });
    }
    fn vm_stopped(&self, vm: VmId, reason: StopReason, late: bool) {
        let vm = vm.index();
        self.record(HostCall::VmStopped { vm, reason, late });
    }
    fn settle(&self, vm: VmId) {
        // The test parks the other vCPUs itself (`World::park`), or not.
        self.record(HostCall::Settle { vm: vm.index() });
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
    fn doorbells(&self) -> bool {
        self.doorbells.get()
    }
    fn ring(&self, vm: VmId, index: u64) -> bool {
        self.record(HostCall::Ring {
            vm: vm.index(),
            index,
        });
        let shared = self.cfgs[vm.index()].shared;
        shared.iter().any(|m| m.index as u64 == index)
    }
    fn watchdog_arm(&self, vm: VmId, me: VcpuId, ms: u64) {
        let (vm, me) = (vm.index(), me.index());
        self.armed.borrow_mut()[vm] = ms != 0;
        self.record(HostCall::WatchdogArm { vm, me, ms });
    }
    fn watchdog_kick(&self, vm: VmId, me: VcpuId) -> bool {
        let (vm, me) = (vm.index(), me.index());
        self.record(HostCall::WatchdogKick { vm, me });
        self.armed(vm)
    }
}
