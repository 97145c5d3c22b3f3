//! [`TestChip`]: what the test world needs of an interrupt controller; [`FakeChip`]:
//! one that records every access and answers by a fixed rule.

use crate::handler::{Host, VmCtx};
use crate::ids::VcpuId;
use crate::mmio::DeviceKind;
use crate::seam::{IrqChip, Refused};
use core::fmt::Debug;
use rtvisor_config::tables::VmConfig;
use rtvisor_vdev::Width;
use std::cell::RefCell;
use std::vec::Vec;

/// An interrupt controller the test [`World`](super::World) can build and compare.
pub trait TestChip: IrqChip {
    /// What a snapshot keeps of its state.
    type State: Clone + PartialEq + Debug;
    /// The chip of a VM configured as `cfg`, after its reset.
    fn for_vm(cfg: &'static VmConfig) -> Self;
    /// Its state, for before/after comparisons.
    fn state(&self) -> Self::State;
}

/// What [`FakeChip`] loads: a pattern that shows the width of the load.
pub const CHIP_PATTERN: u64 = 0x0c1c_2c3c_4c5c_6c7c;

/// One call into [`FakeChip`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChipCall {
    Mmio {
        me: usize,
        kind: DeviceKind,
        off: u64,
        width: Width,
        value: Option<u64>,
    },
    Register {
        me: usize,
        id: u32,
        value: Option<u64>,
    },
    Level {
        me: Option<usize>,
        line: u32,
        level: bool,
    },
    Pulse {
        line: u32,
    },
}

/// An interrupt controller that claims the interrupt controllers' regions of either
/// machine (the GIC's, the APICs'), records every call, and answers: a load reads [`CHIP_PATTERN`] cut to
/// its width, a store is taken; a misaligned access and a register with an odd number
/// are refused.
#[derive(Debug, Default)]
pub struct FakeChip {
    calls: RefCell<Vec<ChipCall>>,
    resets: RefCell<u32>,
}

impl FakeChip {
    /// The calls since the last `take`, oldest first.
    pub fn take(&self) -> Vec<ChipCall> {
        self.calls.take()
    }

    fn record(&self, c: ChipCall) {
        self.calls.borrow_mut().push(c);
    }
}

impl IrqChip for FakeChip {
    fn owns(kind: DeviceKind) -> bool {
        matches!(
            kind,
            DeviceKind::GicDist
                | DeviceKind::GicRedist
                | DeviceKind::IoApic
                | DeviceKind::LocalApic
        )
    }

    fn mmio<H: Host>(
        &self,
        _vm: &VmCtx<'_, Self>,
        _host: &H,
        me: VcpuId,
        kind: DeviceKind,
        off: u64,
        width: Width,
        value: Option<u64>,
    ) -> Result<Option<u64>, Refused> {
        let me = me.index();
        self.record(ChipCall::Mmio {
            me,
            kind,
            off,
            width,
            value,
        });
        if !off.is_multiple_of(width.bytes()) {
            return Err(Refused);
        }
        Ok(value.is_none().then_some(CHIP_PATTERN & width.mask()))
    }

    fn register<H: Host>(
        &self,
        _vm: &VmCtx<'_, Self>,
        _host: &H,
        me: VcpuId,
        id: u32,
        value: Option<u64>,
    ) -> Result<Option<u64>, Refused> {
        let me = me.index();
        self.record(ChipCall::Register { me, id, value });
        match id % 2 {
            0 => Ok(value.is_none().then_some(CHIP_PATTERN)),
            _ => Err(Refused),
        }
    }

    fn set_level<H: Host>(
        &self,
        _vm: &VmCtx<'_, Self>,
        _host: &H,
        me: Option<VcpuId>,
        line: u32,
        level: bool,
    ) {
        let me = me.map(VcpuId::index);
        self.record(ChipCall::Level { me, line, level });
    }

    fn pulse<H: Host>(&self, _vm: &VmCtx<'_, Self>, _host: &H, line: u32) {
        self.record(ChipCall::Pulse { line });
    }

    fn reset(&self, _cfg: &VmConfig) {
        *self.resets.borrow_mut() += 1;
    }
}

impl TestChip for FakeChip {
    /// Its resets: the calls are the test's to take.
    type State = u32;

    fn for_vm(_cfg: &'static VmConfig) -> Self {
        Self::default()
    }

    fn state(&self) -> u32 {
        *self.resets.borrow()
    }
}
