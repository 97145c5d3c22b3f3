//! The x86_64 smoke image (docs/x86.md): boots by Multiboot2 from GRUB, prints the
//! CPU vendor and what its virtualization extension offers, the memory map, the CPUs
//! of the MADT, starts every AP (each turns on VMX or SVM and reports), and powers
//! off. `fault=wx|nx|ud` on the command line provokes that fault once all CPUs are up;
//! `vm=hello` runs the built-in guest in a VM on the boot CPU first, `vm=bench` the
//! same with 100000 timed null hypercalls (docs/x86.md).
//! On the host it is an empty program.
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(not(target_os = "none"))]
fn main() {}

#[cfg(target_os = "none")]
mod image {
    use rtvisor_arch_x86_64::{apic, hello, idt, platform, power, println, selftest, smp, virt};

    #[unsafe(no_mangle)]
    extern "C" fn rtvisor_x86_bsp(magic: u32, info: u32) -> ! {
        let p = platform::bsp_init(magic, u64::from(info));
        println!("[rtvisor] command line: {:?}", p.cmdline());
        println!(
            "[rtvisor] vendor: {} (cpuid: vmx={} svm={} x2apic={} smep={} smap={})",
            p.vendor.name(),
            p.features.vmx,
            p.features.svm,
            p.features.x2apic,
            p.features.smep,
            p.features.smap
        );
        for r in p.regions() {
            println!(
                "[rtvisor] mem {:#012x}-{:#012x} {}",
                r.base.raw(),
                r.end(),
                r.kind.name()
            );
        }
        println!(
            "[rtvisor] memory: {} regions, {} MiB available, top of RAM {:#x}",
            p.mem.regions,
            p.mem.available >> 20,
            p.mem.top_available
        );
        match &p.madt {
            Ok(m) => {
                let mut ids = [0u32; 16];
                let n = m.apic_ids().len().min(ids.len());
                ids[..n].copy_from_slice(&m.apic_ids()[..n]);
                println!(
                    "[rtvisor] acpi: {} cpus, apic ids {:?}, apic mode {}",
                    n,
                    &ids[..n],
                    if p.x2apic { "x2apic" } else { "xapic" }
                );
            }
            Err(e) => println!("[rtvisor] acpi: no MADT ({e:?}); only the BSP runs"),
        }
        match p.trampoline {
            Some(t) => println!("[rtvisor] ap trampoline at {t:#x}"),
            None => println!("[rtvisor] no page below 1 MiB for the ap trampoline"),
        }
        let v = virt::probe(p.vendor, 0);
        println!("[rtvisor] cpu 0 (apic id {}) online: {}", apic::id(), v);
        smp::start_aps(p, |index, id, r| {
            if let Err(e) = r {
                println!("[rtvisor] cpu {index} (apic id {id}) did not start: {e:?}");
            }
        });
        let expected = p.madt.as_ref().map_or(1, |m| m.apic_ids().len());
        println!("[rtvisor] {} of {} cpus online", smp::online(), expected);
        let bench = p.has_arg("vm=bench");
        if p.has_arg("vm=hello") || bench {
            if let Err(e) = hello::run(p, if bench { 100_000 } else { 16 }) {
                println!("[rtvisor] vm hello failed: {e:?}");
            }
        }
        let fault = p
            .cmdline()
            .split_whitespace()
            .find_map(|a| a.strip_prefix("fault="));
        if let Some(kind) = fault {
            println!("[rtvisor] provoking fault {kind}");
            selftest::provoke(kind);
            println!("[rtvisor] fault {kind} did not happen");
        }
        power::power_off(p.power.ok())
    }

    #[unsafe(no_mangle)]
    extern "C" fn rtvisor_x86_ap(index: u64) -> ! {
        let index = index as usize;
        let Some(p) = platform::get() else {
            idt::fatal(format_args!("an AP started before the BSP booted"))
        };
        smp::ap_init(index, p);
        let v = virt::probe(p.vendor, index);
        println!("[rtvisor] cpu {index} (apic id {}) online: {v}", apic::id());
        smp::ap_park(index)
    }

    #[panic_handler]
    fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
        idt::fatal(format_args!("panic: {info}"))
    }
}
