//! What every physical CPU does after boot: wait for its vCPU to be started, run it,
//! and handle its exits. An RT core does nothing else. The backend's exception entry
//! decodes an exit and calls [`handle`]; everything from there is arch-neutral.

use crate::backend::{Arch, Backend, Clock, Entry, Vcpu};
use crate::host::HostImpl;
use crate::percpu::PerCpu;
use crate::vms;
use core::sync::atomic::Ordering;
use rtvisor_addr::Ipa;
use rtvisor_config::tables::{CounterOffset, RamMap, VmConfig};
use rtvisor_core::exit::VcpuExit;
use rtvisor_core::handler::{self, Next};
use rtvisor_core::ids::{CpuId, VcpuId, VmId};
use rtvisor_core::seam::{ArchVcpu, IrqChip, Stage2, Timer, VcpuStart};
use rtvisor_core::vm::Start;

/// The idle loop of CPU `cpu`: start the vCPU when asked, sleep otherwise. `entry`
/// is the backend's proof that the stack below may be reset.
pub fn cpu_loop(cpu: CpuId, me: &'static PerCpu, entry: Entry) -> ! {
    Arch::park(cpu);
    let assignment = me.hosts();
    if let Some((vm, vcpu)) = assignment {
        // This CPU runs no guest code now: the acknowledgement of a stop or restart.
        vms::with_ctx(vm, |ctx| handler::vcpu_parked(vcpu, ctx, &HostImpl));
    }
    loop {
        Arch::idle_interrupts(cpu);
        if let Some((vm, vcpu)) = assignment {
            if let Some(start) = vms::rt(vm).life.take_start(vcpu) {
                if start.fresh_boot() {
                    load_vm(vm);
                    vms::rt(vm).life.loaded();
                }
                enter(cpu, vm, vcpu, start, entry);
            }
        }
        Arch::wait();
    }
}

/// Reloads VM `vm`'s images into its RAM. Its vCPU 0 is only ever made pending for a
/// fresh boot once every vCPU has parked (`VmLife`), so no guest code of the VM runs.
///
/// Every byte of the RAM is written once: the images (kernel, initrd, device tree)
/// are copied, everything else is zeroed, and both leave the bytes visible to a
/// guest that starts with its caches off (`Arch::zero`, `Arch::copy`). Under QEMU's
/// `-icount` each pass over a VM's RAM costs its instructions: a second one, or
/// zeroing what the images then cover, showed in the Linux boot benchmark.
fn load_vm(vm: VmId) {
    let cfg: &VmConfig = vms::cfg(vm);
    let rt = vms::rt(vm);
    let ram = cfg.ram;
    // Through `black_box`, the images' addresses are read from the table at run time
    // instead of folded into the code: the tiny code model reaches only 1 MiB from an
    // instruction, and the images lie after the stacks and pools (linker::script).
    let (kernel, initrd, dtb) = core::hint::black_box((&cfg.kernel, &cfg.initrd, &cfg.dtb));
    let images = [Some(kernel), initrd.as_ref()]
        .into_iter()
        .flatten()
        .map(|i| (i.load, i.bytes))
        .chain(core::iter::once((cfg.dtb_ipa, *dtb)));
    // The images that fit (`copy_in` skips the others): their RAM is not zeroed.
    let mut covered = [(0u64, 0u64); 3];
    for (slot, (at, bytes)) in covered.iter_mut().zip(images.clone()) {
        if ram.piece(at, bytes.len() as u64).is_some() {
            *slot = (at.raw(), at.raw() + bytes.len() as u64);
        }
    }
    // SAFETY: the VM's RAM is reserved for it (checked at boot) and none of its vCPUs
    // runs now; the images are embedded read-only data of this binary.
    unsafe {
        for run in ram.runs() {
            for (ipa, len) in rtvisor_config::ramfill::gaps(run.ipa.raw(), run.size, &mut covered) {
                let Some(off) = ipa.checked_sub(run.ipa.raw()) else {
                    continue;
                };
                if let Some(hpa) = run.hpa.checked_add(off) {
                    Arch::zero(hpa, len);
                }
            }
        }
        for (at, bytes) in images {
            copy_in(&ram, at, bytes);
        }
    }
    Arch::sync_icache();
    let offset = match cfg.counter_offset {
        CounterOffset::Zero => 0,
        CounterOffset::VmStart => Clock::now(),
    };
    rt.counter_offset.store(offset, Ordering::Release);
    rt.console.lock().reset();
    rt.gpio.reset();
    crate::flash::reset(vm);
    rt.chip.reset(cfg);
    Arch::vm_loaded(vm);
}

/// Copies `bytes` to guest address `at` of `ram`, piece by host-contiguous piece (a
/// colored VM's RAM is contiguous only within a run); nothing if it does not fit.
///
/// # Safety
/// As for `Arch::copy`: `ram` is reserved for its VM and none of its vCPUs runs.
unsafe fn copy_in(ram: &RamMap, at: Ipa, bytes: &[u8]) {
    if ram.piece(at, bytes.len() as u64).is_none() {
        return;
    }
    let mut done = 0;
    while done < bytes.len() {
        let rest = &bytes[done..];
        let Some(ipa) = at.checked_add(done as u64) else {
            return;
        };
        let Some((dst, n)) = ram.piece(ipa, rest.len() as u64) else {
            return;
        };
        let n = usize::try_from(n).unwrap_or(rest.len()).min(rest.len());
        // SAFETY: `dst..dst+n` is RAM of this VM (`piece`), per the caller's contract.
        unsafe { Arch::copy(dst, &rest[..n]) };
        done += n;
    }
}

/// Enters vCPU `vcpu` of `vm` as `start` says, on CPU `cpu`.
fn enter(cpu: CpuId, vm: VmId, vcpu: VcpuId, start: Start, entry: Entry) -> ! {
    Arch::vcpu_start(cpu, vm, vcpu);
    let rt = vms::rt(vm);
    if let Some(stage2) = rt.stage2.get() {
        if start.fresh_boot() {
            // A (re)started VM must not hit TLB entries of its previous run; its other
            // vCPUs are parked, and the flush reaches every CPU.
            stage2.flush();
        } else {
            stage2.activate();
        }
    }
    let start = VcpuStart {
        entry: start.entry,
        arg: start.context,
        cpu_id: vms::guest_cpu_id(vm, vcpu),
        counter_offset: rt.counter_offset.load(Ordering::Acquire),
    };
    Vcpu::enter(entry, &start)
}

/// Runs the exit handler on `exit` of vCPU `vcpu` of `vm`, answered through `v`; if
/// the vCPU parks, this CPU goes back to its idle loop with the proof `entry` makes
/// (the backend's exception entry, whose frame is the last one on the stack).
#[inline(always)]
pub fn handle(
    cpu: CpuId,
    me: &'static PerCpu,
    vm: VmId,
    vcpu: VcpuId,
    v: &mut impl ArchVcpu,
    exit: VcpuExit,
    entry: impl FnOnce() -> Entry,
) {
    let next = vms::with_ctx(vm, |ctx| {
        handler::handle_exit(vcpu, v, ctx, &HostImpl, exit)
    });
    if next == Next::Park {
        cpu_loop(cpu, me, entry());
    }
}
