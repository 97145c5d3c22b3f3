//! The guest's initramfs: busybox, the modules, and an `/init` that loads them,
//! mounts the test disk and hands the console to a shell.
//!
//! Lines `/init` prints (the contract with `boot_bare` and the system tests):
//! - `rtvisor-linux: insmod <module> failed` — a module did not load;
//! - `rtvisor-linux: disk mounted`, `... no disk` or `... disk mount failed` (`/dev/vda`
//!   read-only on `/mnt`);
//! - `rtvisor-linux: ready` — the last line before the shell prompt.

use super::cpio::Cpio;
use anyhow::{Context, Result};
use flate2::{write::GzEncoder, Compression};
use std::io::Write;
use std::path::PathBuf;

/// The busybox applets linked in `/bin` (the shell finds the rest through `busybox`).
pub const APPLETS: &[&str] = &[
    "sh", "mount", "umount", "insmod", "lsmod", "mkdir", "cat", "echo", "nproc", "poweroff",
    "reboot", "ls", "grep", "sleep", "dd", "hexdump", "setsid", "cttyhack", "uname", "head",
    "sync", "dmesg", "ps", "free", "ip", "ifconfig", "date", "true", "false", "test", "[",
    "devmem", "tr",
];

/// `/bin/rtstats [-w N]`: prints the RT VM's latest timer statistics from the
/// shared-memory region `rt-stats` (rtbench `stats=`; docs/interfaces-draft.md); with
/// `-w N` it waits for N doorbells and prints the figures after each.
///
/// Debian's kernel has no uio_pdrv_genirq, so the region is read through /dev/mem
/// (`devmem`; it is not RAM, so STRICT_DEVMEM allows it), and the doorbell arrives as
/// an input event: the doorbell GPIO's `gpio-keys` device `rtvisor-doorbells`
/// (evdev). A read blocks until a doorbell, which comes as two events of 24 bytes
/// (the key and the report that ends it); nothing polls.
///
/// On x86_64 (ACPI) there is no device tree: each shared region is a device
/// `\_SB.SHMk` of the DSDT, whose memory Linux lists in /proc/iomem under the
/// device's name (`PRP0001:NN`); `rt-stats` is the one whose first word is rtbench's
/// magic (else the first, which then has no figures yet). Linux has no driver for the
/// doorbell's vector there, so `-w N` looks for a new summary (a new even sequence
/// word) once a second instead of waiting for a doorbell.
///
/// The figures follow rtbench's sequence protocol: the sequence word is read before
/// and after them, and they are taken only when both reads give the same even value
/// (odd: rt is writing). Otherwise the read is tried again, for up to `patience`
/// seconds (each `devmem` is a process, so one try can take long on a loaded machine;
/// a fixed count of tries gave up too soon). A minimum rtbench could not measure
/// comes as all ones and is printed `unavailable`.
pub const RTSTATS: &str = r#"#!/bin/sh
dt=/proc/device-tree
acpi=/sys/bus/acpi/devices
iomem=/proc/iomem
patience=10
magic=0x5354415453565452
w() { devmem $((base + 8 * $1)) 64; }
base=
node=$(ls -d $dt/uio-rt-stats@* 2>/dev/null | head -n 1)
if [ -n "$node" ]; then
    base=$((0x${node##*@}))
else
    first=
    for d in $acpi/PRP0001:*; do
        case "$(cat "$d/path" 2>/dev/null)" in *.SHM*) ;; *) continue ;; esac
        r=$(grep " : ${d##*/}\$" $iomem | head -n 1)
        r=${r%%-*}
        r=${r##* }
        if [ -z "$r" ]; then continue; fi
        base=$((0x$r))
        if [ -z "$first" ]; then first=$base; fi
        if [ "$(w 0)" = $magic ]; then first=$base; break; fi
    done
    base=$first
fi
if [ -z "$base" ]; then echo "rtstats: no rt-stats region"; exit 1; fi
show() {
    if [ "$(w 0)" != $magic ]; then
        echo "rtstats: no figures yet"; return 1
    fi
    read -r up _ < /proc/uptime
    end=$((${up%.*} + patience))
    while :; do
        s1=$(w 1)
        if [ $((${s1:-1} % 2)) = 0 ]; then
            n=$(w 2); min=$(w 3); avg=$(w 4); max=$(w 5); s2=$(w 1)
            if [ "$s1" = "$s2" ]; then
                if [ $(($s1)) = 0 ]; then echo "rtstats: no figures yet"; return 1; fi
                if [ "$min" = 0xFFFFFFFFFFFFFFFF ]; then min=unavailable; else min=$((${min:-0})); fi
                echo "rtstats: seq=$(($s1 / 2)) samples=$((${n:-0})) min_ns=$min avg_ns=$((${avg:-0})) max_ns=$((${max:-0}))"
                return 0
            fi
        fi
        read -r up _ < /proc/uptime
        if [ "${up%.*}" -ge "$end" ]; then break; fi
    done
    echo "rtstats: the writer kept changing the figures for $patience s"; return 1
}
if [ "$1" != "-w" ]; then show; exit; fi
if [ -z "$node" ]; then
    i=0
    last=$(w 1)
    while [ $i -lt "${2:-1}" ]; do
        sleep 1
        s=$(w 1)
        if [ "$s" = "$last" ] || [ $((${s:-1} % 2)) = 1 ]; then continue; fi
        last=$s
        i=$((i + 1))
        echo "rtstats: summary $i"
        show
    done
    exit
fi
ev=
for d in /sys/class/input/event*; do
    if grep -qx rtvisor-doorbells "$d/device/name" 2>/dev/null; then ev=/dev/input/${d##*/}; fi
done
if [ -z "$ev" ]; then echo "rtstats: no rtvisor-doorbells input device"; exit 1; fi
i=0
while [ $i -lt "${2:-1}" ]; do
    dd if="$ev" bs=48 count=1 of=/dev/null 2>/dev/null
    i=$((i + 1))
    echo "rtstats: doorbell $i"
    show
done
"#;

/// Module parameters `/init` passes to `insmod`.
const MODULE_PARAMS: &[(&str, &str)] = &[
    // Bind uio_pdrv_genirq to device-tree nodes `compatible = "generic-uio"`.
    ("uio_pdrv_genirq", "of_id=generic-uio"),
];

/// Printed by `/init` just before [`READY`], with the virtual counter and its
/// frequency in hex (`/bin/vclock`): `rtvisor-linux: vclock ticks=<hex> hz=<hex>`.
pub const VCLOCK: &str = "rtvisor-linux: vclock";
/// Printed by `/init` first, the same way, with the kernel's uptime: where the
/// kernel's boot ends and `/init`'s work begins.
pub const VCLOCK_INIT: &str = "rtvisor-linux: init vclock";
/// Printed by `/init` once the shell is about to start.
pub const READY: &str = "rtvisor-linux: ready";
pub const DISK_MOUNTED: &str = "rtvisor-linux: disk mounted";
pub const NO_DISK: &str = "rtvisor-linux: no disk";
pub const DISK_FAILED: &str = "rtvisor-linux: disk mount failed";

/// What goes into the archive.
pub struct Contents {
    /// The statically linked busybox binary.
    pub busybox: PathBuf,
    /// Modules in load order: (name, .ko file).
    pub modules: Vec<(String, PathBuf)>,
    /// `/bin/vclock` for the guest's architecture (`vclock.rs`, `vclock_x86.rs`):
    /// with it, `/init` prints its lines.
    pub vclock: Option<Vec<u8>>,
}

/// The `/init` script for modules `names` (in load order); `vclock`: print the
/// [`VCLOCK_INIT`] and [`VCLOCK`] lines.
pub fn init_script(names: &[String], vclock: bool) -> String {
    let mut s = String::from(
        "#!/bin/sh\n\
         # rtvisor guest init (generated by `cargo xtask linux`).\n\
         export PATH=/bin HOME=/ PS1='# ' TERM=vt100\n\
         mount -t proc proc /proc\n\
         mount -t sysfs sysfs /sys\n\
         mount -t devtmpfs devtmpfs /dev\n\
         load() {\n\
         \x20   insmod \"/lib/modules/$1.ko\" $2 || echo \"rtvisor-linux: insmod $1 failed\"\n\
         }\n",
    );
    if vclock {
        s += &format!(
            "set -- $(vclock)\n\
             echo \"{VCLOCK_INIT} ticks=$1 hz=$2 uptime=$(cat /proc/uptime)\"\n"
        );
    }
    for name in names {
        let params = MODULE_PARAMS
            .iter()
            .find(|(m, _)| m == name)
            .map_or("", |(_, p)| p);
        s += &format!("load {name} '{params}'\n");
    }
    s += &format!(
        "if [ ! -b /dev/vda ]; then\n\
         \x20   echo '{NO_DISK}'\n\
         elif mount -t ext4 -o ro /dev/vda /mnt; then\n\
         \x20   echo '{DISK_MOUNTED}'\n\
         else\n\
         \x20   echo '{DISK_FAILED}'\n\
         fi\n"
    );
    if vclock {
        s += &format!(
            "# Virtual time at the ready line: the counter since the machine started\n\
             # (the Linux boot row of the benchmark reads it).\n\
             set -- $(vclock)\n\
             echo \"{VCLOCK} ticks=$1 hz=$2\"\n"
        );
    }
    s += &format!(
        "echo '{READY}'\n\
         # A shell with job control needs a controlling terminal: cttyhack opens the\n\
         # real console device (ttyAMA0, ttyS0) in a new session.\n\
         if busybox --list | grep -qx cttyhack && busybox --list | grep -qx setsid; then\n\
         \x20   exec setsid cttyhack sh\n\
         fi\n\
         exec sh\n"
    );
    s
}

/// The uncompressed newc archive.
pub fn archive(c: &Contents) -> Result<Vec<u8>> {
    let mut a = Cpio::new();
    for d in ["dev", "proc", "sys", "mnt", "tmp", "bin", "lib/modules"] {
        a.dir(d, 0o755);
    }
    a.dir("root", 0o700);
    // Early output (before devtmpfs is mounted) goes through this node.
    a.char_dev("dev/console", 0o600, 5, 1);
    let busybox =
        std::fs::read(&c.busybox).with_context(|| format!("reading {}", c.busybox.display()))?;
    a.file("bin/busybox", 0o755, &busybox);
    for applet in APPLETS {
        a.symlink(&format!("bin/{applet}"), "busybox");
    }
    for (name, path) in &c.modules {
        let ko = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        a.file(&format!("lib/modules/{name}.ko"), 0o644, &ko);
    }
    let names: Vec<String> = c.modules.iter().map(|(n, _)| n.clone()).collect();
    a.file(
        "init",
        0o755,
        init_script(&names, c.vclock.is_some()).as_bytes(),
    );
    a.file("bin/rtstats", 0o755, RTSTATS.as_bytes());
    if let Some(program) = &c.vclock {
        a.file("bin/vclock", 0o755, program);
    }
    Ok(a.finish())
}

/// The archive, gzip-compressed (what QEMU's `-initrd` takes).
pub fn build(c: &Contents) -> Result<Vec<u8>> {
    let mut gz = GzEncoder::new(Vec::new(), Compression::default());
    gz.write_all(&archive(c)?)?;
    Ok(gz.finish()?)
}

#[cfg(test)]
#[path = "rtstats_tests.rs"]
mod rtstats_tests;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::linux::cpio::{parse, S_IFCHR, S_IFLNK};

    #[test]
    fn init_loads_in_order_with_params() {
        let names: Vec<String> = ["uio", "uio_pdrv_genirq"].map(String::from).into();
        let s = init_script(&names, true);
        assert!(s.starts_with("#!/bin/sh\n"));
        let uio = s.find("load uio ''").unwrap();
        let genirq = s.find("load uio_pdrv_genirq 'of_id=generic-uio'").unwrap();
        assert!(uio < genirq);
        assert!(s.contains("mount -t devtmpfs devtmpfs /dev"));
        assert!(s.find(READY).unwrap() > s.find(NO_DISK).unwrap());
        assert!(s.find(READY).unwrap() > s.find(VCLOCK).unwrap());
        assert!(s.find(VCLOCK_INIT).unwrap() < s.find("load uio ''").unwrap());
        assert!(s.trim_end().ends_with("exec sh"));
        let plain = init_script(&names, false);
        assert!(
            !plain.contains("vclock") && plain.contains(READY),
            "{plain}"
        );
    }

    #[test]
    fn archive_has_the_layout() {
        let dir = std::env::temp_dir().join(format!("rtvisor-initramfs-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (bb, ko) = (dir.join("busybox"), dir.join("x.ko"));
        std::fs::write(&bb, b"\x7fELF busybox").unwrap();
        std::fs::write(&ko, b"\x7fELF module").unwrap();
        let c = Contents {
            busybox: bb,
            modules: vec![("virtio_blk".into(), ko)],
            vclock: Some(crate::linux::vclock::elf()),
        };
        let es = parse(&archive(&c).unwrap()).unwrap();
        let get = |n: &str| {
            es.iter()
                .find(|e| e.name == n)
                .unwrap_or_else(|| panic!("{n}"))
        };
        assert_eq!(get("dev/console").mode, S_IFCHR | 0o600);
        assert_eq!(get("bin/busybox").data, b"\x7fELF busybox");
        assert_eq!(get("bin/cttyhack").mode, S_IFLNK | 0o777);
        assert_eq!(get("lib/modules/virtio_blk.ko").data, b"\x7fELF module");
        assert_eq!(get("init").mode & 0o777, 0o755);
        assert_eq!(get("bin/vclock").data, crate::linux::vclock::elf());
        for d in ["proc", "sys", "mnt", "tmp"] {
            get(d);
        }
        // Gzip magic on the compressed form.
        assert_eq!(build(&c).unwrap()[..2], [0x1f, 0x8b]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
