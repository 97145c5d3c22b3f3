//! Each VM's CFI flash (`rtvisor_vdev::cfi`): the model and its page pool behind a
//! per-VM lock, so one VM's flash accesses never wait for another's. Rebuilt at every
//! VM start: both banks back to their initial images from the configuration (erased
//! where there is none), every page written in the last run dropped.

use crate::config::CONFIG_VM_COUNT;
use crate::vms;
use rtvisor_config::contract::aarch64::FLASH_POOL_PAGES;
use rtvisor_core::ids::VmId;
use rtvisor_core::sync::Mutex;
use rtvisor_vdev::cfi::store::Sparse;
use rtvisor_vdev::cfi::CfiFlash;
use rtvisor_vdev::{MmioError, Width};

type Flash = CfiFlash<Sparse<FLASH_POOL_PAGES>>;

/// All zero until a VM starts, so the pools are .bss, not image bytes.
static FLASH: [Mutex<Flash>; CONFIG_VM_COUNT] =
    [const { Mutex::new(CfiFlash::new(Sparse::new())) }; CONFIG_VM_COUNT];

/// VM `vm` (re)starts: its flash is its initial image again.
pub fn reset(vm: VmId) {
    if let Some(f) = FLASH.get(vm.index()) {
        let mut f = f.lock();
        // Opaque: the images' addresses come from the table (`run::load_vm`).
        f.store
            .set_initial(*core::hint::black_box(&vms::cfg(vm).flash));
        f.reset();
    }
}

/// One access of VM `vm` at offset `off` of its flash; an error when the model refuses
/// it (misaligned), which the caller answers with an abort.
pub fn access(vm: VmId, off: u64, w: Width, value: Option<u64>) -> Result<u64, MmioError> {
    let mut f = FLASH.get(vm.index()).ok_or(MmioError::NoRegister)?.lock();
    match value {
        None => f.read(off, w),
        Some(v) => f.write(off, w, v).map(|()| 0),
    }
}
