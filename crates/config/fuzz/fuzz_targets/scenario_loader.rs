//! Fuzz target: any bytes, written as a scenario file next to the committed QEMU virt
//! board and a few fake guest images, go through `rtvisor_config::check`. It must
//! never panic: the scenario either resolves (then its map and tables render too) or
//! comes back as a non-empty list of located errors.
//!
//! Temp tree (once per process): `<tmp>/boards/qemu-virt-aarch64.toml`,
//! `<tmp>/scenarios/fuzz.toml` (the input), `<tmp>/target/guests/{rtbench,probe}.bin`,
//! `<tmp>/guests/{k.bin,rt.elf,Image,initrd.cpio}`, so the example scenarios (the seed
//! corpus) resolve as they do in the repository.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

const BOARD: &str = include_str!("../../../../boards/qemu-virt-aarch64.toml");

fn fake(tag: &[u8], len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| tag[i % tag.len()] ^ (i / tag.len()) as u8)
        .collect()
}

fn linux_image() -> Vec<u8> {
    let mut f = fake(b"linux", 8192);
    f[8..16].copy_from_slice(&0u64.to_le_bytes());
    f[16..24].copy_from_slice(&0x20_0000u64.to_le_bytes());
    f[56..60].copy_from_slice(b"ARM\x64");
    f
}

fn tree() -> &'static PathBuf {
    static TREE: OnceLock<PathBuf> = OnceLock::new();
    TREE.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("rtvisor-fuzz-{}", std::process::id()));
        let files: [(&str, Vec<u8>); 7] = [
            ("boards/qemu-virt-aarch64.toml", BOARD.as_bytes().to_vec()),
            ("target/guests/rtbench.bin", fake(b"rtbench", 3000)),
            ("target/guests/probe.bin", fake(b"probe", 1500)),
            ("guests/k.bin", fake(b"k", 3000)),
            ("guests/rt.elf", fake(b"\x7fELF\x02\x01\x01", 512)),
            ("guests/Image", linux_image()),
            ("guests/initrd.cpio", fake(b"070701", 5000)),
        ];
        for (rel, bytes) in files {
            let p = dir.join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, bytes).unwrap();
        }
        std::fs::create_dir_all(dir.join("scenarios")).unwrap();
        dir
    })
}

/// `RTVISOR_FUZZ_VERBOSE=1`: print each input's map or errors (to review seeds:
/// `cargo +nightly fuzz run scenario_loader corpus/scenario_loader/seed-*.toml`).
fn verbose() -> bool {
    static V: OnceLock<bool> = OnceLock::new();
    *V.get_or_init(|| std::env::var_os("RTVISOR_FUZZ_VERBOSE").is_some_and(|v| v == "1"))
}

fuzz_target!(|data: &[u8]| {
    let path = tree().join("scenarios/fuzz.toml");
    std::fs::write(&path, data).unwrap();
    match rtvisor_config::check(&path) {
        Ok(plan) => {
            let map = plan.map();
            let tables = rtvisor_config::codegen::render(&plan, Path::new("/out"));
            assert!(tables.is_ok(), "a resolved plan whose tables do not render");
            if verbose() {
                eprintln!("{map}");
            }
        }
        Err(d) => {
            assert!(!d.0.is_empty(), "an error without diagnostics");
            if verbose() {
                eprintln!("{d}");
            }
        }
    }
});
