//! The size row: the hypervisor's own loadable size (text + rodata + data of the image
//! each rtvisor configuration booted, the embedded guest images and device trees
//! excluded; `rtvisor::imagesize`) and its zero-initialised .bss, of the aarch64 and
//! the x86 configurations, and its two budgets: at most 96 KiB for the deployed build
//! (`rtvisor-virtual` with `shell = false`, the image a product ships: the trusted
//! core with nothing on the serial line that can stop a VM), and at most 112 KiB for
//! `rtvisor-virtual` with its shell, so that the shell's build cannot grow unseen
//! (docs/benchmark.md, "The size budgets").

use super::budget::{Check, Verdict};
use crate::image;
use rtvisor::imagesize::{self, Breakdown};
use std::fmt::Write;

/// The deployed build's budget ([`NO_SHELL_SCENARIO`]).
pub const OWN_MAX_BYTES: u64 = 96 * 1024;
/// The budget of [`CHECKED`]'s build with the shell: its size when the budgets were
/// split (111,448 bytes), rounded up to whole KiB.
pub const SHELL_MAX_BYTES: u64 = 112 * 1024;
/// The configuration the bench boots whose image (with the shell) has
/// [`SHELL_MAX_BYTES`], and whose build without the shell has [`OWN_MAX_BYTES`].
pub const CHECKED: &str = "rtvisor-virtual";

/// The scenario of the size table's full row: both interrupt modes, shared memory and
/// doorbells, a CPU for the shell, so nothing is left out of its build.
pub const FULL_SCENARIO: &str = "tests/scenarios/shm.toml";
/// The full row's name in the size table.
pub const FULL_ROW: &str = "full build (tests/scenarios/shm.toml)";
/// The scenario of the size table's row without the shell: [`CHECKED`]'s with
/// `[hypervisor] shell = false`, the build a deployed system without a serial
/// console shell would use (as ACRN's release builds leave its shell out), and the
/// one [`OWN_MAX_BYTES`] is checked on.
pub const NO_SHELL_SCENARIO: &str = "tests/bench/virtual-no-shell.toml";
/// The row without the shell's name in the size table.
pub const NO_SHELL_ROW: &str = "rtvisor-virtual, shell = false (tests/bench/virtual-no-shell.toml)";

/// The breakdown of the image configuration `name` booted (None when it has none, or it
/// cannot be read).
pub fn of(name: &str, quick: bool) -> Option<Breakdown> {
    let suffix = if quick { "-quick" } else { "" };
    let root = crate::util::root();
    let stem = format!("{name}{suffix}");
    let scenario = root
        .join("target/bench/scenarios")
        .join(format!("{stem}.toml"));
    if name.ends_with("-x86") {
        // `x86::build_scenario_iso`: the ELF beside its ISO, the blobs under images/.
        let elf = root.join("target/x86").join(format!("{stem}.elf"));
        let generated = root.join("target/images").join(format!("{stem}.gen"));
        return breakdown_of(&scenario, &elf, &generated);
    }
    of_scenario(&scenario)
}

/// The breakdown of `scenario`'s aarch64 image (relative to the repository: one of
/// [`FULL_SCENARIO`], [`NO_SHELL_SCENARIO`]), built first unless `no_build`.
pub fn built(scenario: &str, no_build: bool) -> Option<Breakdown> {
    let path = crate::util::root().join(scenario);
    if !no_build {
        if let Err(e) = image::build_image(&path) {
            eprintln!("[xtask] the build of {scenario} for the size table failed: {e:#}");
            return None;
        }
    }
    of_scenario(&path)
}

/// The breakdown of the aarch64 image built for `scenario`.
fn of_scenario(scenario: &std::path::Path) -> Option<Breakdown> {
    let img = image::Image::for_scenario(scenario).ok()?;
    let generated = img.elf.with_extension("gen");
    breakdown_of(scenario, &img.elf, &generated)
}

/// The breakdown of the image `elf` built for `scenario` (its blobs in `generated`),
/// with the parts its build leaves out.
fn breakdown_of(
    scenario: &std::path::Path,
    elf: &std::path::Path,
    generated: &std::path::Path,
) -> Option<Breakdown> {
    let elf = std::fs::read(elf).ok()?;
    let embedded = imagesize::embedded_bytes(generated).ok()?;
    let left_out = rtvisor_config::check(scenario)
        .map(|p| p.left_out())
        .unwrap_or_default();
    imagesize::breakdown(&elf, embedded, 8)
        .ok()
        .map(|bd| Breakdown { left_out, ..bd })
}

/// The size fields of configuration `name` in `latency.json` (null when unknown).
pub fn json_fields(b: Option<&Breakdown>) -> Vec<(&'static str, String)> {
    let f = |v: Option<u64>| v.map_or_else(|| "null".to_string(), |v| v.to_string());
    vec![
        ("own_size_bytes", f(b.map(Breakdown::own))),
        ("text_bytes", f(b.map(|b| b.text))),
        (
            "rodata_bytes",
            f(b.map(|b| b.rodata.saturating_sub(b.embedded))),
        ),
        ("data_bytes", f(b.map(|b| b.data))),
        ("bss_bytes", f(b.map(|b| b.bss))),
        (
            "size_build",
            b.map_or_else(|| "null".to_string(), |b| format!("\"{}\"", b.build())),
        ),
    ]
}

/// The size table of the markdown report (empty without sizes).
pub fn markdown(sizes: &[(&str, Breakdown)]) -> String {
    if sizes.is_empty() {
        return String::new();
    }
    let mut s = String::from(
        "\nHypervisor own loadable size, bytes (embedded guest images and device trees \
         excluded; .bss is zeroed at boot and not in the file; the build: `full`, or the parts \
         its scenario leaves out, docs/benchmark.md \"The hypervisor's size, third pass\"; the \
         budgets: 96 KiB for the row `shell = false`, the deployed build, and 112 KiB for \
         `rtvisor-virtual`, the same with the shell):\n\n\
         | configuration | build | own | text | rodata | data | bss |\n|---|---|---:|---:|---:|---:|---:|\n",
    );
    for (name, b) in sizes {
        let _ = writeln!(
            s,
            "| `{name}` | {} | {} | {} | {} | {} | {} |",
            b.build(),
            b.own(),
            b.text,
            b.rodata.saturating_sub(b.embedded),
            b.data,
            b.bss
        );
    }
    s
}

/// The size budgets on `sizes` (skipped when the checked configuration did not run):
/// the deployed build's ([`NO_SHELL_ROW`], [`OWN_MAX_BYTES`]) and the build with the
/// shell's ([`CHECKED`], [`SHELL_MAX_BYTES`]).
pub fn checks(sizes: &[(&str, Breakdown)], ran: bool) -> [Check; 2] {
    [
        check_one(
            sizes,
            ran,
            NO_SHELL_ROW,
            "the deployed build, shell = false",
            OWN_MAX_BYTES,
        ),
        check_one(sizes, ran, CHECKED, CHECKED, SHELL_MAX_BYTES),
    ]
}

/// The budget of `max` bytes on the size table's row `row` (`label` in the check).
fn check_one(sizes: &[(&str, Breakdown)], ran: bool, row: &str, label: &str, max: u64) -> Check {
    let what = format!("{label}: hypervisor own size <= {max} bytes");
    let found = sizes.iter().find(|(n, _)| *n == row);
    let (verdict, detail) = match (found, ran) {
        (_, false) => (Verdict::Skip, format!("{CHECKED} not run")),
        (None, true) => (Verdict::Fail, "the image's size is unknown".to_string()),
        (Some((_, b)), true) => (
            if b.own() <= max {
                Verdict::Pass
            } else {
                Verdict::Fail
            },
            format!(
                "{} bytes ({} build; text {}, rodata {}, data {})",
                b.own(),
                b.build(),
                b.text,
                b.rodata.saturating_sub(b.embedded),
                b.data
            ),
        ),
    };
    Check {
        what,
        verdict,
        detail,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bd(text: u64) -> Breakdown {
        Breakdown {
            text,
            rodata: 30_000,
            data: 1_000,
            bss: 4_096,
            embedded: 20_000,
            largest: Vec::new(),
            left_out: Vec::new(),
        }
    }

    #[test]
    fn the_budgets_hold_at_their_limits_and_not_above() {
        // own = text + 11,000 (rodata less embedded, and data).
        let deployed = OWN_MAX_BYTES - 11_000;
        let shell = SHELL_MAX_BYTES - 11_000;
        let verdicts = |d: u64, s: u64| {
            checks(&[(NO_SHELL_ROW, bd(d)), (CHECKED, bd(s))], true).map(|c| c.verdict)
        };
        assert_eq!(verdicts(deployed, shell), [Verdict::Pass, Verdict::Pass]);
        assert_eq!(
            verdicts(deployed + 1, shell),
            [Verdict::Fail, Verdict::Pass]
        );
        assert_eq!(
            verdicts(deployed, shell + 1),
            [Verdict::Pass, Verdict::Fail]
        );
        // The deployed budget is checked on the build without the shell, not on the
        // configuration the bench boots: a small image with the shell does not pass it.
        let only_booted = checks(&[(CHECKED, bd(1_000))], true).map(|c| c.verdict);
        assert_eq!(only_booted, [Verdict::Fail, Verdict::Pass]);
        assert_eq!(checks(&[], true).map(|c| c.verdict), [Verdict::Fail; 2]);
        assert_eq!(checks(&[], false).map(|c| c.verdict), [Verdict::Skip; 2]);
        let c = checks(&[(NO_SHELL_ROW, bd(deployed))], true);
        assert!(c[0].what.contains("deployed build"), "{}", c[0].what);
        assert!(c[0].detail.starts_with("98304 bytes"), "{}", c[0].detail);
        let j = json_fields(Some(&bd(50_000)));
        assert_eq!(j[0], ("own_size_bytes", "61000".to_string()));
        assert_eq!(j[2], ("rodata_bytes", "10000".to_string()));
        assert_eq!(json_fields(None)[3], ("data_bytes", "null".to_string()));
        assert_eq!(j[4], ("bss_bytes", "4096".to_string()));
        assert_eq!(j[5], ("size_build", "\"full\"".to_string()));
        let without = Breakdown {
            left_out: vec!["direct mode", "shell"],
            ..bd(50_000)
        };
        assert_eq!(without.build(), "without direct mode, shell");
        let md = markdown(&[(CHECKED, bd(50_000))]);
        assert!(
            md.contains("| `rtvisor-virtual` | full | 61000 | 50000 | 10000 | 1000 | 4096 |"),
            "{md}"
        );
    }
}
