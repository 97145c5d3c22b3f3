//! Links with the shared guest linker script (guests/common/link.ld).

fn main() {
    let dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let script = std::path::Path::new(&dir).join("../common/link.ld");
    println!("cargo:rerun-if-changed={}", script.display());
    println!(
        "cargo:rustc-link-search={}",
        script.parent().expect("has a parent").display()
    );
    println!("cargo:rustc-link-arg=-Tlink.ld");
}
