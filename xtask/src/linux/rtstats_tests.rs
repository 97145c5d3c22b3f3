//! `rtstats` run on the host against a simulated `rt-stats` region: a fake `devmem`
//! whose writer is busy (a new summary between any two reads, or one summary held
//! mid-update) for its first reads, then quiet.

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
if [ $k -le $BUSY ]; then
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

struct Region {
    dir: PathBuf,
}

impl Region {
    fn new(name: &str) -> Region {
        let dir = std::env::temp_dir().join(format!("rtstats-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join(format!("dt/uio-rt-stats@{BASE:x}"))).unwrap();
        std::fs::create_dir_all(dir.join("bin")).unwrap();
        let devmem = dir.join("bin/devmem");
        std::fs::write(&devmem, FAKE_DEVMEM).unwrap();
        make_executable(&devmem);
        std::fs::write(dir.join("calls"), "0\n").unwrap();
        Region { dir }
    }

    /// Runs `rtstats` (its device tree and patience pointed here) with the writer
    /// `mode`, busy for the first `busy` reads; returns its output.
    fn run(&self, mode: &str, busy: u64, min: &str, patience: u32) -> String {
        let script = RTSTATS
            .replace(
                "dt=/proc/device-tree\n",
                &format!("dt={}\n", self.dir.join("dt").display()),
            )
            .replace("patience=10\n", &format!("patience={patience}\n"));
        let path = format!(
            "{}:{}",
            self.dir.join("bin").display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let out = Command::new("sh")
            .args(["-c", &script, "rtstats"])
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
