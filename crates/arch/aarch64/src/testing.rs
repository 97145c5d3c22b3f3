//! Host test support: the whole exit path of this backend (syndrome decode, the
//! vCPU's answers, the GIC) run against `rtvisor_core`'s test world, with a fake GIC
//! hardware side ([`FakeHw`]) and fake EL1 registers ([`FakeEl1`]) that record what
//! they were asked.

use crate::chip::{Gic, GicHw};
use crate::decode::{self, Decoded, SyndromeRegs};
use crate::frame::GuestRegs;
use crate::sysregs::CpuIfReg;
use crate::vcpu::{El1, Vcpu};
use rtvisor_config::tables::VmConfig;
use rtvisor_core::handler::Next;
use rtvisor_core::ids::{VcpuId, VmId};
use rtvisor_core::seam::IrqChip;
use rtvisor_core::testkit::{HostCall, TestChip};
use rtvisor_vdev::vgic::{HwState, NoHw, Notify, VGic};
use rtvisor_vdev::Width;
use std::cell::RefCell;
use std::vec::Vec;

/// The test world with this backend's GIC.
pub type World = rtvisor_core::testkit::World<Gic<FakeHw>>;

/// What the fake physical GIC returns for every read: a pattern that shows which
/// bits the filter let through.
pub const HW_PATTERN: u64 = 0xa5a5_5a5a_c3c3_3c3c;

/// One call into the GIC's hardware side (ids as plain indices).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HwCall {
    Changed {
        vm: usize,
        me: Option<usize>,
        notify: Notify,
    },
    Read {
        vm: usize,
        redist: Option<usize>,
        off: u64,
        width: Width,
    },
    Write {
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
    CpuInterface {
        reg: CpuIfReg,
        write: Option<u64>,
    },
    SetPending {
        intid: u32,
    },
}

impl HwCall {
    /// The VM the call is about (`None`: this CPU's interface, or a physical SPI).
    pub fn vm(&self) -> Option<usize> {
        match *self {
            Self::Changed { vm, .. }
            | Self::Read { vm, .. }
            | Self::Write { vm, .. }
            | Self::SendSgi { vm, .. } => Some(vm),
            Self::CpuInterface { .. } | Self::SetPending { .. } => None,
        }
    }
}

/// A question to [`GicHw::line`]: (VM, reader, vCPU, virtual INTID, physical INTID).
pub type LineQuery = (usize, usize, usize, u32, u32);

/// A GIC hardware side that records every call; reads return [`HW_PATTERN`]. The
/// state of HW-linked lines is what [`FakeHw::set_line`] last said (low, inactive
/// otherwise); asking for it is not recorded.
#[derive(Debug, Default)]
pub struct FakeHw {
    calls: RefCell<Vec<HwCall>>,
    /// (VM, vCPU, physical INTID, state).
    lines: RefCell<Vec<(usize, usize, u32, HwState)>>,
    /// Every line query.
    asked: RefCell<Vec<LineQuery>>,
}

impl FakeHw {
    /// The calls since the last `take`, oldest first.
    pub fn take(&self) -> Vec<HwCall> {
        self.calls.take()
    }

    /// Sets the hardware state of physical `pintid` for vCPU `vcpu` of VM `vm`.
    pub fn set_line(&self, vm: usize, vcpu: usize, pintid: u32, state: HwState) {
        let mut lines = self.lines.borrow_mut();
        lines.retain(|&(m, v, p, _)| (m, v, p) != (vm, vcpu, pintid));
        lines.push((vm, vcpu, pintid, state));
    }

    /// The line queries since the last call, oldest first.
    pub fn take_asked(&self) -> Vec<LineQuery> {
        self.asked.take()
    }

    fn record(&self, c: HwCall) {
        self.calls.borrow_mut().push(c);
    }
}

impl GicHw for FakeHw {
    fn changed(&self, vm: VmId, me: Option<VcpuId>, notify: &Notify) {
        let (vm, me, notify) = (vm.index(), me.map(VcpuId::index), *notify);
        self.record(HwCall::Changed { vm, me, notify });
    }
    fn read(&self, vm: VmId, redist: Option<VcpuId>, off: u64, width: Width) -> u64 {
        let (vm, redist) = (vm.index(), redist.map(VcpuId::index));
        self.record(HwCall::Read {
            vm,
            redist,
            off,
            width,
        });
        HW_PATTERN & width.mask()
    }
    fn write(&self, vm: VmId, redist: Option<VcpuId>, off: u64, width: Width, value: u64) {
        let (vm, redist) = (vm.index(), redist.map(VcpuId::index));
        self.record(HwCall::Write {
            vm,
            redist,
            off,
            width,
            value,
        });
    }
    fn send_sgi(&self, vm: VmId, vcpu: VcpuId, sgi: u32) {
        let (vm, vcpu) = (vm.index(), vcpu.index());
        self.record(HwCall::SendSgi { vm, vcpu, sgi });
    }
    fn cpu_interface(&self, reg: CpuIfReg, write: Option<u64>) -> u64 {
        self.record(HwCall::CpuInterface { reg, write });
        HW_PATTERN
    }
    fn set_pending(&self, intid: u32) {
        self.record(HwCall::SetPending { intid });
    }
    fn line(&self, vm: VmId, me: VcpuId, vcpu: VcpuId, intid: u32, pintid: u32) -> HwState {
        let (vm, me, vcpu) = (vm.index(), me.index(), vcpu.index());
        self.asked.borrow_mut().push((vm, me, vcpu, intid, pintid));
        self.lines
            .borrow()
            .iter()
            .find(|&&(m, v, p, _)| (m, v, p) == (vm, vcpu, pintid))
            .map_or(HwState::default(), |&(.., s)| s)
    }
}

impl TestChip for Gic<FakeHw> {
    type State = VGic;

    fn for_vm(cfg: &'static VmConfig) -> Self {
        let gic = Gic::new(FakeHw::default());
        gic.reset(cfg);
        gic
    }

    fn state(&self) -> VGic {
        let mut gic = self.model().lock().clone();
        // The model remembers which redistributor it last decoded for (scratch state
        // the guest cannot see); a read of GICR_TYPER of vCPU 0 sets it the same way
        // in every snapshot.
        let _ = gic.redist_read(0, 0x8, Width::Word, &NoHw);
        gic
    }
}

/// The exit's syndrome as values, and EL1 registers that record the exceptions taken
/// to them.
#[derive(Debug, Default)]
pub struct FakeEl1 {
    /// The syndrome of the exit being answered.
    pub syn: Syn,
    /// Each exception: ESR, FAR (if written), ELR, SPSR.
    pub taken: Vec<(u64, Option<u64>, u64, u64)>,
}

impl SyndromeRegs for &mut FakeEl1 {
    fn esr(&self) -> u64 {
        self.syn.esr
    }
    fn far(&self) -> u64 {
        self.syn.far
    }
    fn hpfar(&self) -> u64 {
        self.syn.hpfar
    }
}

/// VBAR_EL1 of [`FakeEl1`].
pub const VBAR: u64 = 0xffff_0000_0001_0000;

impl El1 for &mut FakeEl1 {
    fn vbar(&self) -> u64 {
        VBAR
    }
    fn take(&mut self, esr: u64, far: Option<u64>, elr: u64, spsr: u64) {
        self.taken.push((esr, far, elr, spsr));
    }
}

/// A syndrome given as values.
#[derive(Debug, Clone, Copy, Default)]
pub struct Syn {
    pub esr: u64,
    pub far: u64,
    pub hpfar: u64,
}

impl SyndromeRegs for Syn {
    fn esr(&self) -> u64 {
        self.esr
    }
    fn far(&self) -> u64 {
        self.far
    }
    fn hpfar(&self) -> u64 {
        self.hpfar
    }
}

/// What a raw exception did.
#[derive(Debug)]
pub struct Raw {
    /// The handler's answer (`None`: the ABI answered alone).
    pub next: Option<Next>,
    /// The guest's registers after.
    pub frame: GuestRegs,
    /// Exceptions taken to the guest's EL1.
    pub el1: FakeEl1,
    /// The host's calls.
    pub calls: Vec<HostCall>,
    /// Each VM's GIC hardware calls.
    pub hw: [Vec<HwCall>; 2],
}

/// A guest frame: x0.. = `args`, the rest a recognisable pattern; ELR and SPSR of a
/// guest at EL1h.
pub fn frame(args: &[u64]) -> GuestRegs {
    let mut f = GuestRegs::boot(0x4008_0000, 0);
    for (i, r) in f.x.iter_mut().enumerate() {
        *r = 0x5eed_0000_0000_0000 | i as u64;
    }
    f.x[..args.len()].copy_from_slice(args);
    f
}

/// Runs the exception `kind` (8: synchronous from a lower EL) with syndrome `syn` of
/// vCPU `vcpu` of VM `vm`, registers `regs`, the whole way: decode, then the ABI's
/// answer or the exit handler.
pub fn run(w: &World, vm: usize, vcpu: usize, kind: u64, syn: Syn, regs: GuestRegs) -> Raw {
    w.host.take();
    w.vms.iter().for_each(|v| _ = v.chip.hw().take());
    let mut frame = regs;
    let mut el1 = FakeEl1 {
        syn,
        taken: Vec::new(),
    };
    let decoded = decode::decode(kind, &syn, &frame.x);
    let mut v = Vcpu::new(&mut frame, &mut el1);
    let next = match decoded {
        Decoded::Answer(x0) => {
            v.answer(x0);
            None
        }
        Decoded::Exit(e) => Some(w.exit(vm, vcpu, &mut v, e)),
    };
    Raw {
        next,
        frame,
        el1,
        calls: w.host.take(),
        hw: [w.vms[0].chip.hw().take(), w.vms[1].chip.hw().take()],
    }
}

/// ESR_EL2 of a trapped MSR (`write`) or MRS of `(op0, op1, crn, crm, op2)` with
/// register `rt`.
pub fn esr_sysreg(id: (u64, u64, u64, u64, u64), rt: u64, write: bool) -> u64 {
    let (op0, op1, crn, crm, op2) = id;
    0x18 << 26
        | 1 << 25
        | op0 << 20
        | op2 << 17
        | op1 << 14
        | crn << 10
        | rt << 5
        | crm << 1
        | u64::from(!write)
}

/// The syndrome of a data abort at `ipa` of `width` through register `reg` (`x`
/// register, no sign extension), with a valid instruction syndrome.
pub fn dabt(ipa: u64, width: Width, write: bool, reg: u64) -> Syn {
    let sas = match width {
        Width::Byte => 0,
        Width::Half => 1,
        Width::Word => 2,
        Width::Double => 3,
    };
    Syn {
        esr: 0x24 << 26
            | 1 << 25
            | 1 << 24
            | sas << 22
            | reg << 16
            | 1 << 15
            | u64::from(write) << 6,
        far: 0xffff_8000_0000_0000 | ipa,
        hpfar: (ipa >> 12) << 4,
    }
}

/// The guest-physical address of a data abort's syndrome.
pub fn ipa_of(syn: &Syn) -> rtvisor_addr::Ipa {
    rtvisor_addr::Ipa::new((syn.hpfar >> 4) << 12 | (syn.far & 0xfff))
}
