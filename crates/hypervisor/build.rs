//! Links the scenario's generated tables (`config.rs`, the embedded blobs) and the
//! linker script that places the image at the hypervisor's memory base.
//!
//! Two ways in, one pipeline (parse, validate, lay out, generate):
//! - `RTVISOR_GENERATED=<dir>`: `rtvisor build` (and `cargo xtask build`, which uses
//!   it) has already validated the scenario and generated `<dir>` from its plan; the
//!   files are used as they are, nothing is checked twice.
//! - otherwise `RTVISOR_SCENARIO` (default: scenarios/demo.toml) is checked and
//!   generated here, once (a plain `cargo build -p rtvisor-hypervisor`).

use std::path::{Path, PathBuf};
use std::{env, fs};

fn main() {
    println!("cargo:rerun-if-env-changed=RTVISOR_SCENARIO");
    println!("cargo:rerun-if-env-changed=RTVISOR_GENERATED");
    println!("cargo:rerun-if-changed=build.rs");
    let out = PathBuf::from(env::var("OUT_DIR").unwrap());
    let generated = match env::var_os("RTVISOR_GENERATED") {
        Some(dir) => {
            let dir = PathBuf::from(dir);
            for f in ["config.rs", "link.ld"] {
                println!("cargo:rerun-if-changed={}", dir.join(f).display());
            }
            dir
        }
        None => {
            generate(&out);
            out.clone()
        }
    };
    // src/config.rs includes `$OUT_DIR/config.rs`; its blobs are named by absolute path.
    let config = fs::read(generated.join("config.rs"))
        .unwrap_or_else(|e| fail(&format!("{}/config.rs: {e}", generated.display())));
    if generated != out {
        if let Err(e) = rtvisor_config::codegen::write_if_changed(&out.join("config.rs"), &config) {
            fail(&e);
        }
    }
    println!(
        "cargo:rustc-link-arg-bins=-T{}",
        generated.join("link.ld").display()
    );
    println!("cargo:rustc-link-arg-bins=--no-pie");
}

/// Checks `RTVISOR_SCENARIO` and generates its files into `out`.
fn generate(out: &Path) {
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap());
    let scenario = env::var("RTVISOR_SCENARIO")
        .map(PathBuf::from)
        .unwrap_or_else(|_| manifest.join("../../scenarios/demo.toml"));
    let plan = match rtvisor_config::check(&scenario) {
        Ok(plan) => plan,
        Err(diags) => fail(&format!("{diags}")),
    };
    for w in &plan.warnings {
        for line in w.to_string().lines() {
            println!("cargo:warning={line}");
        }
    }
    check_code_model(&plan, &scenario);
    match rtvisor_config::emit(&plan, out) {
        Ok(deps) => deps
            .iter()
            .for_each(|d| println!("cargo:rerun-if-changed={}", d.display())),
        Err(e) => fail(&e),
    }
}

/// The aarch64 hypervisor is built with the tiny code model (.cargo/config.toml);
/// `rtvisor build` overrides it for a scenario whose VMs' flash pools could take the
/// .bss past its reach. A plain cargo build cannot, so it says what to do instead of
/// failing at the link with `relocation ... out of range`.
fn check_code_model(plan: &rtvisor_config::Plan, scenario: &Path) {
    use rtvisor_config::contract::aarch64::{code_model_of, tiny_code_model};
    use rtvisor_config::contract::Arch;
    let flags = env::var("CARGO_ENCODED_RUSTFLAGS").unwrap_or_default();
    let model = code_model_of(&flags);
    if plan.arch == Arch::Aarch64 && !tiny_code_model(plan.vms.len()) && model == Some("tiny") {
        fail(&format!(
            "{}: {} VMs: their flash pools could take the hypervisor's .bss beyond the tiny \
             code model's 1 MiB; fix: build it with `cargo run -p rtvisor -- build {0} -o \
             IMAGE` (or `cargo xtask build`), which chooses the code model, or add --config \
             'target.aarch64-unknown-none-softfloat.rustflags=[\"-C\",\"code-model=small\"]'",
            scenario.display(),
            plan.vms.len()
        ));
    }
}

fn fail(msg: &str) -> ! {
    eprintln!("{msg}");
    std::process::exit(1)
}
