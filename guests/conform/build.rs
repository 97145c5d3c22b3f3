//! Links with the shared guest linker script of the target architecture
//! (guests/common/link-<arch>.ld); x86_64 guests are linked static, not PIE, at the
//! addresses the script gives.

fn main() {
    let dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let arch = std::env::var("CARGO_CFG_TARGET_ARCH").expect("cargo sets the target arch");
    let name = format!("link-{arch}.ld");
    let script = std::path::Path::new(&dir).join("../common").join(&name);
    println!("cargo:rerun-if-changed={}", script.display());
    println!(
        "cargo:rustc-link-search={}",
        script.parent().expect("has a parent").display()
    );
    println!("cargo:rustc-link-arg=-T{name}");
    if arch == "x86_64" {
        println!("cargo:rustc-link-arg=--no-pie");
    }
}
