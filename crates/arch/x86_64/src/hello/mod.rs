//! `vm=hello`: one VM with the built-in guest ([`guest`]) on the boot CPU, on either
//! vendor's engine, to prove the engines end to end before the core drives them. The
//! VM has 2 MiB of RAM at guest-physical 0 (taken from the top of the memory map),
//! nothing else: its port I/O, CPUID, hypercalls, accesses outside its RAM, HLT, MSRs
//! and its final triple fault all exit here and are reported on the console.
//!
//! ```text
//! [rtvisor] vm hello: svm, npt, asid 1, 2 MiB ram at hpa 0x7fc00000, entry 0x1000
//! [guest] hello from the guest
//! ...
//! [rtvisor] vm hello: triple fault at rip 0x10a6: vm stopped after 52 exits
//! ```

mod guest;
mod run;

use crate::engines::{CpuPages, CPU_PAGES};
use crate::platform::Platform;
use crate::pt::{Table, LARGE};
use crate::stage2::{self, Access, Format, Stage2};
use crate::svm::engine::{SvmSetup, SvmVcpu};
use crate::svm::maps::{Iopm, Msrpm};
use crate::vendor::SvmCaps;
use crate::vmx::bitmaps::Bitmap;
use crate::vmx::engine::{VmxFail, VmxSetup, VmxVcpu};
use crate::{boot, cpu, entry};
use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, Ordering};
use rtvisor_addr::{Hpa, Ipa};

/// The most null hypercalls one run times.
pub const MAX_BENCH_CALLS: u32 = 1_000_000;
/// Bytes of the VM's RAM.
pub const RAM: u64 = LARGE;
/// Second-stage tables available (root, PDPT, PD, and spares).
const TABLES: usize = 8;

/// The VM's hypervisor-side pages: each 4 KiB aligned.
#[repr(C, align(4096))]
struct Pages {
    tables: [Table; TABLES],
    engine: CpuPages,
}

struct PagesCell(UnsafeCell<Pages>);
// SAFETY: handed out once (TAKEN), to the one CPU that runs the VM.
unsafe impl Sync for PagesCell {}
static PAGES: PagesCell = PagesCell(UnsafeCell::new(Pages {
    tables: [const { Table::EMPTY }; TABLES],
    engine: CPU_PAGES,
}));
static TAKEN: AtomicBool = AtomicBool::new(false);

/// Why the VM did not run.
#[derive(Debug, Clone, Copy)]
pub enum HelloError {
    /// Run twice.
    Taken,
    /// No 2 MiB of free RAM in the memory map.
    NoRam,
    Stage2(stage2::Stage2Error),
    Svm(crate::svm::engine::SetupError),
    Vmxon(crate::vmx::VmxError),
    Vmx(VmxFail),
    /// Neither VMX nor SVM.
    NoEngine,
}

fn ram(p: &Platform) -> Option<Hpa> {
    let floor = boot::sections().image_end.div_ceil(LARGE) * LARGE;
    let ceiling = p.mem.top_available.min(crate::layout::MAX_RAM);
    stage2::carve_top(p.regions(), RAM, floor, ceiling)
}

/// Runs the hello VM on this CPU (the boot CPU, with the vendor's extension on)
/// until it stops; reports on the console. The guest makes `bench_calls` timed null
/// hypercalls (at most [`MAX_BENCH_CALLS`]).
pub fn run(p: &Platform, bench_calls: u32) -> Result<(), HelloError> {
    let bench_calls = bench_calls.min(MAX_BENCH_CALLS);
    if TAKEN.swap(true, Ordering::AcqRel) {
        return Err(HelloError::Taken);
    }
    // SAFETY: taken once (above); nothing else refers to these pages.
    let all = unsafe { &mut *PAGES.0.get() };
    let (tables, pages) = (&mut all.tables, &mut all.engine);
    pages.intercept_all();
    let base = ram(p).ok_or(HelloError::NoRam)?;
    // SAFETY: `base` is 2 MiB of available RAM above the image and below the top of
    // the hypervisor's identity map (RW), used by nothing else.
    let mem = unsafe { core::slice::from_raw_parts_mut(base.raw() as *mut u8, RAM as usize) };
    mem.fill(0);
    let code = guest::image();
    mem[guest::LOAD as usize..][..code.len()].copy_from_slice(code);
    let entry = entry::pvh(guest::LOAD, guest::START_INFO);
    let format = match p.vendor {
        crate::cpuid::Vendor::Amd => Format::Npt,
        _ => Format::Ept,
    };
    let tables_pa = Hpa::new(tables.as_ptr() as u64);
    let mut s2 = Stage2::new(tables, tables_pa, format).map_err(HelloError::Stage2)?;
    s2.map(Ipa::new(0), base, RAM, Access::RWX)
        .map_err(HelloError::Stage2)?;
    for m in crate::msrs::PASSTHROUGH {
        pages.msrpm.pass(m.msr, m.svm, m.svm);
        pages.msr_bitmap.pass_msr(m.msr, m.vmx, m.vmx);
    }
    match format {
        Format::Npt => {
            let [_, b, _, d] = cpu::cpuid(0x8000_000A, 0);
            let caps = SvmCaps::decode(1, b, d);
            let setup = SvmSetup {
                iopm: Hpa::new(&pages.iopm as *const Iopm as u64),
                msrpm: Hpa::new(&pages.msrpm as *const Msrpm as u64),
                ncr3: s2.root(),
                asid: 1,
                caps,
                host_interrupts: false,
            };
            println!(
                "[rtvisor] vm hello: svm, npt, asid 1, 2 MiB ram at hpa {:#x}, entry {:#x}",
                base.raw(),
                entry.rip
            );
            let v = SvmVcpu::new(&mut pages.vmcb, &mut pages.host, &setup, &entry)
                .map_err(HelloError::Svm)?;
            run::drive(v, mem, bench_calls);
            Ok(())
        }
        Format::Ept => {
            let caps = match crate::virt::probe(p.vendor, 0) {
                crate::virt::Virt::Vmx(Ok(c)) => c,
                _ => return Err(HelloError::NoEngine),
            };
            crate::vmx::on(0).map_err(HelloError::Vmxon)?;
            let pa = |b: &Bitmap| Hpa::new(b as *const Bitmap as u64);
            let setup = VmxSetup {
                io_a: pa(&pages.io_a),
                io_b: pa(&pages.io_b),
                msr_bitmap: pa(&pages.msr_bitmap),
                eptp: s2.eptp(),
                vpid: 1,
                caps,
            };
            println!(
                "[rtvisor] vm hello: vmx, ept, vpid 1, 2 MiB ram at hpa {:#x}, entry {:#x}",
                base.raw(),
                entry.rip
            );
            // The hello VM never turns virtual-interrupt delivery on: both bitmaps
            // are the one above.
            let apicv =
                crate::vmx::apicv::Apicv::new(&mut pages.vapic, setup.msr_bitmap, setup.msr_bitmap);
            let v =
                VmxVcpu::new(&mut pages.vmcs, &setup, &entry, apicv).map_err(HelloError::Vmx)?;
            run::drive(v, mem, bench_calls);
            Ok(())
        }
    }
}
