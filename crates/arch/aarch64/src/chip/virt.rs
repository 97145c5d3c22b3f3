//! Virtual mode: distributor and redistributor accesses go to the vGIC model; what a
//! change means for the CPUs (list registers to refresh, HW links to follow) goes to
//! the hardware side after the model's lock is released.

use super::{Gic, GicHw};
use rtvisor_core::handler::VmCtx;
use rtvisor_core::ids::VcpuId;
use rtvisor_core::ids::VmId;
use rtvisor_core::seam::Refused;
use rtvisor_vdev::vgic::{HwLines, HwState, Notify};
use rtvisor_vdev::{MmioError, Width};

/// The hardware side as the model's [`HwLines`], for a read by vCPU `me` of VM `vm`.
struct Lines<'a, W> {
    hw: &'a W,
    vm: VmId,
    me: VcpuId,
}

impl<W: GicHw> HwLines for Lines<'_, W> {
    fn state(&self, vcpu: usize, intid: u32, pintid: u32) -> HwState {
        self.hw
            .line(self.vm, self.me, VcpuId::new(vcpu), intid, pintid)
    }
}

/// An access of vCPU `me` at `off` of the distributor or (`redist`) the
/// redistributor region. Unknown registers read as zero and ignore writes; a width
/// the register does not allow is refused.
pub(super) fn mmio<W: GicHw>(
    gic: &Gic<W>,
    vm: &VmCtx<'_, Gic<W>>,
    me: VcpuId,
    redist: bool,
    off: u64,
    w: Width,
    value: Option<u64>,
) -> Result<Option<u64>, Refused> {
    // The model is updated under its lock; the notification goes out after it is
    // released (the hardware side may look at the model again).
    let lines = Lines {
        hw: &gic.hw,
        vm: vm.id,
        me,
    };
    let result = {
        let mut model = gic.model.lock();
        match (redist, value) {
            (false, None) => model
                .dist_read(off, w, &lines)
                .map(|v| (Some(v), Notify::NONE)),
            // A distributor write may move where SPIs are deliverable: the
            // doorbells' posters follow (`PostedSpis`).
            (false, Some(v)) => model.dist_write(off, w, v).map(|n| {
                let posted = gic.model.publish_routes(&mut model);
                (None, n.or(posted))
            }),
            (true, None) => match model.redist_split(off) {
                Some((vcpu, o)) => model
                    .redist_read(vcpu, o, w, &lines)
                    .map(|v| (Some(v), Notify::NONE)),
                None => Err(MmioError::NoRegister),
            },
            (true, Some(v)) => match model.redist_split(off) {
                Some((vcpu, o)) => model.redist_write(vcpu, o, w, v).map(|n| (None, n)),
                None => Err(MmioError::NoRegister),
            },
        }
    };
    match result {
        Ok((v, n)) => {
            if n != Notify::NONE {
                gic.hw.changed(vm.id, Some(me), &n);
            }
            Ok(v)
        }
        Err(MmioError::BadWidth) => Err(Refused),
        Err(_) => Ok(value.is_none().then_some(0)),
    }
}
