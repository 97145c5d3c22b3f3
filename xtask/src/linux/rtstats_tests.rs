//! `rtstats` run on the host against a simulated `rt-stats` region: a fake `devmem`
//! whose writer is busy (a new summary between any two reads, or one summary held
//! mid-update) for its first reads, then quiet; or ticking (a new summary every 20
//! reads). The region is found in a device tree (aarch64) or through ACPI devices and
//! /proc/iomem (x86_64).

use super::RTSTATS;
use std::path::{Path, PathBuf};
use std::process::Command;

const BASE: u64 = 0x1000_0000;

/// The fake `devmem ADDR 64`: prints one word of the region; every call is one step
/// of the simulated writer.
const FAKE_DEVMEM: &str = r#"#!/bin/sh
k=$(($(cat "$STATE/calls") + 1))
echo $k > "$STATE/calls"
i=$((($1 - BASE) / 8))
if [ $i = 0 ]; then echo 0x5354415453565452; exit; fi
if [ "$MODE" = ticking ]; then
    seq=$((2 * (k / 20)))
    set -- $seq $seq $seq $seq $seq
elif [ $k -le $BUSY ]; then
    if [ "$MODE" = odd ]; then seq=7; else seq=$((2 * k)); fi
    set -- $seq $((k * 1000 + i)) $((k * 1000 + i)) $((k * 1000 + i)) $((k * 1000 + i))
else
    set -- 8 1000 25 50 75
fi
if [ $i = 3 ] && [ $k -gt $BUSY ] && [ "$MIN" = unavailable ]; then
    echo 0xFFFFFFFFFFFFFFFF; exit
fi
shift $((i - 1))
printf '0x%016X\n' $1
"#;

/// `/proc/iomem` of an x86 VM with the doorbell page and one shared region.
const IOMEM: &str = "00000000-0009efff : System RAM
10000000-10000fff : Reserved
  10000000-10000fff : PRP0001:01
fe000000-fe000fff : PRP0001:00
";

/// A fake `sleep` that returns at once.
const FAKE_SLEEP: &str = "#!/bin/sh\n";

struct Region {
    dir: PathBuf,
}

impl Region {
    fn new(name: &str) -> Region {
        let r = Region::bare(name);
        std::fs::create_dir_all(r.dir.join(format!("dt/uio-rt-stats@{BASE:x}"))).unwrap();
        r
    }

    /// The region as x86 Linux sees it: ACPI devices `\_SB.DBEL` (PRP0001:00) and
    /// `\_SB.SHM0` (PRP0001:01, at `BASE` in /proc/iomem), no device tree.
    fn acpi(name: &str) -> Region {
        let r = Region::bare(name);
        for (dev, path) in [("PRP0001:00", "\\_SB_.DBEL"), ("PRP0001:01", "\\_SB_.SHM0")] {
            let d = r.dir.join("acpi").join(dev);
            std::fs::create_dir_all(&d).unwrap();
            std::fs::write(d.join("path"), format!("{path}\n")).unwrap();
        }
        assert!(IOMEM.contains(&format!("{BASE:08x}-")));
        std::fs::write(r.dir.join("iomem"), IOMEM).unwrap();
        r
    }

    fn bare(name: &str) -> Region {
        let dir = std::env::temp_dir().join(format!("rtstats-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("dt")).unwrap();
        std::fs::create_dir_all(dir.join("bin")).unwrap();
        for (file, text) in [("devmem", FAKE_DEVMEM), ("sleep", FAKE_SLEEP)] {
            let p = dir.join("bin").join(file);
            std::fs::write(&p, text).unwrap();
            make_executable(&p);
        }
        std::fs::write(dir.join("calls"), "0\n").unwrap();
        Region { dir }
    }

    /// Runs `rtstats ARGS` with the writer `mode`; returns its output.
    fn run_args(&self, args: &[&str], mode: &str) -> String {
        self.run_with(args, mode, 0, "", 10)
    }

    /// Runs `rtstats` (its device tree and patience pointed here) with the writer
    /// `mode`, busy for the first `busy` reads; returns its output.
    fn run(&self, mode: &str, busy: u64, min: &str, patience: u32) -> String {
        self.run_with(&[], mode, busy, min, patience)
    }

    fn run_with(&self, args: &[&str], mode: &str, busy: u64, min: &str, patience: u32) -> String {
        let script = RTSTATS
            .replace(
                "dt=/proc/device-tree\n",
                &format!("dt={}\n", self.dir.join("dt").display()),
            )
            .replace(
                "acpi=/sys/bus/acpi/devices\n",
                &format!("acpi={}\n", self.dir.join("acpi").display()),
            )
            .replace(
                "iomem=/proc/iomem\n",
                &format!("iomem={}\n", self.dir.join("iomem").display()),
            )
            .replace("patience=10\n", &format!("patience={patience}\n"));
        let path = format!(
            "{}:{}",
            self.dir.join("bin").display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let out = Command::new("sh")
            .args(["-c", &script, "rtstats"])
            .args(args)
            .env("PATH", path)
            .env("STATE", &self.dir)
            .env("BASE", BASE.to_string())
            .env("MODE", mode)
            .env("BUSY", busy.to_string())
            .env("MIN", min)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn make_executable(p: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).unwrap();
}

const QUIET: &str = "rtstats: seq=4 samples=1000 min_ns=25 avg_ns=50 max_ns=75\n";

#[test]
fn rtstats_waits_out_a_busy_writer_and_takes_one_whole_summary() {
    // 40 reads: more than five tries, far less than the patience.
    for mode in ["changing", "odd"] {
        let r = Region::new(mode);
        assert_eq!(r.run(mode, 40, "", 10), QUIET, "writer {mode}");
    }
}

#[test]
fn rtstats_gives_up_after_its_patience_and_never_prints_a_torn_summary() {
    let r = Region::new("forever");
    let out = r.run("changing", u64::MAX >> 2, "", 1);
    assert_eq!(
        out,
        "rtstats: the writer kept changing the figures for 1 s\n"
    );
}

#[test]
fn rtstats_prints_an_unavailable_minimum_as_such() {
    let r = Region::new("unavailable");
    assert_eq!(
        r.run("changing", 0, "unavailable", 10),
        "rtstats: seq=4 samples=1000 min_ns=unavailable avg_ns=50 max_ns=75\n"
    );
}

#[test]
fn rtstats_finds_the_region_through_acpi_and_iomem() {
    let r = Region::acpi("acpi");
    assert_eq!(r.run("changing", 0, "", 10), QUIET);
    // Without the device tree or an ACPI SHM device, there is no region.
    let none = Region::bare("none");
    assert_eq!(
        none.run("changing", 0, "", 10),
        "rtstats: no rt-stats region\n"
    );
}

#[test]
fn rtstats_waits_for_newer_summaries_without_a_doorbell_device_on_acpi() {
    let r = Region::acpi("ticking");
    let out = r.run_args(&["-w", "2"], "ticking");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 4, "{out}");
    assert_eq!(lines[0], "rtstats: summary 1");
    assert_eq!(lines[2], "rtstats: summary 2");
    let seq = |l: &str| -> u64 {
        let v = l.strip_prefix("rtstats: seq=").expect(l);
        v.split(' ').next().unwrap().parse().unwrap()
    };
    assert!(seq(lines[3]) > seq(lines[1]) && seq(lines[1]) > 0, "{out}");
}

#[test]
fn rtstats_with_a_device_tree_still_needs_the_doorbell_device() {
    let r = Region::new("no-ev");
    assert_eq!(
        r.run_args(&["-w", "1"], "changing"),
        "rtstats: no rtvisor-doorbells input device\n"
    );
}
