//! The kernel modules the initramfs loads, and the order to load them in.
//!
//! Debian's kernel .deb ships no `modules.dep` or `modules.alias`, so dependencies
//! come from each module's own `.modinfo`: `depends=a,b,c` (hard) and
//! `softdep=pre: x y` (modules the kernel would ask modprobe for at run time, e.g.
//! ext4's `crypto-crc32c`; there is no modprobe in the initramfs, so they are loaded
//! up front). A softdep may be an alias; aliases are looked up in every module's
//! `alias=` lines and in `modules.builtin.modinfo`, only when needed.
//!
//! Names are matched by file basename with `-` and `_` treated alike (the kernel does
//! the same). A name with no `.ko` is fine when `modules.builtin` lists it (it is
//! compiled into the kernel); otherwise it is an error, except for the wanted modules
//! the caller marks optional, which are reported as unavailable.

use super::elf;
use crate::util::say;
use anyhow::{bail, Context, Result};
use std::cell::OnceCell;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// `virtio-blk` and `virtio_blk` are the same module.
pub fn normalise(name: &str) -> String {
    name.trim().replace('-', "_")
}

/// The module name of a path like `kernel/fs/ext4/ext4.ko` (None if not a `.ko`).
fn module_name(path: &Path) -> Option<String> {
    let file = path.file_name()?.to_str()?;
    Some(normalise(file.strip_suffix(".ko")?))
}

/// The `pre:` names of a `softdep=` value like `pre: a b post: c`.
fn softdep_pre(value: &str) -> Vec<String> {
    let mut pre = false;
    let mut out = Vec::new();
    for word in value.split_whitespace() {
        match word {
            "pre:" => pre = true,
            "post:" => pre = false,
            w if pre => out.push(w.to_string()),
            _ => {}
        }
    }
    out
}

/// What the closure found.
#[derive(Debug, Default)]
pub struct Closure {
    /// Modules to load, dependencies first: (name, .ko file).
    pub load: Vec<(String, PathBuf)>,
    /// Names that are compiled into the kernel (nothing to load).
    pub builtin: Vec<String>,
    /// Optional wanted modules this kernel does not have at all.
    pub unavailable: Vec<String>,
}

/// The modules of one kernel release: `.ko` files by name and the built-in names.
pub struct Index {
    dir: PathBuf,
    files: BTreeMap<String, PathBuf>,
    builtin: BTreeSet<String>,
    /// alias -> module names (normalised; .ko or built in), read on first use.
    aliases: OnceCell<BTreeMap<String, Vec<String>>>,
}

impl Index {
    /// Scans `lib/modules/<release>` (the directory `dir`).
    pub fn load(dir: &Path) -> Result<Index> {
        let mut files = BTreeMap::new();
        let mut stack = vec![dir.join("kernel")];
        while let Some(d) = stack.pop() {
            let entries =
                std::fs::read_dir(&d).with_context(|| format!("reading {}", d.display()))?;
            for e in entries {
                let e = e?;
                let path = e.path();
                if e.file_type()?.is_dir() {
                    stack.push(path);
                } else if let Some(name) = module_name(&path) {
                    files.insert(name, path);
                }
            }
        }
        let builtin_file = dir.join("modules.builtin");
        let text = std::fs::read_to_string(&builtin_file)
            .with_context(|| format!("reading {}", builtin_file.display()))?;
        let builtin = text
            .lines()
            .filter_map(|l| module_name(Path::new(l)))
            .collect();
        Ok(Index {
            dir: dir.to_path_buf(),
            files,
            builtin,
            aliases: OnceCell::new(),
        })
    }

    fn modinfo(&self, name: &str) -> Result<Vec<(String, String)>> {
        let path = &self.files[name];
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        elf::modinfo(&bytes).with_context(|| format!("{}", path.display()))
    }

    /// Every alias of every module (this reads all of them, hence done lazily).
    fn aliases(&self) -> Result<&BTreeMap<String, Vec<String>>> {
        if let Some(a) = self.aliases.get() {
            return Ok(a);
        }
        let mut map: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for name in self.files.keys() {
            for (k, v) in self.modinfo(name)? {
                if k == "alias" {
                    map.entry(normalise(&v)).or_default().push(name.clone());
                }
            }
        }
        // Built-in modules' modinfo: NUL-separated `module.key=value`.
        let text = std::fs::read(self.dir.join("modules.builtin.modinfo")).unwrap_or_default();
        for entry in text.split(|&b| b == 0) {
            let entry = String::from_utf8_lossy(entry);
            if let Some((module, alias)) = entry.split_once(".alias=") {
                map.entry(normalise(alias))
                    .or_default()
                    .push(normalise(module));
            }
        }
        Ok(self.aliases.get_or_init(|| map))
    }

    /// The modules behind a softdep name: itself, or whatever has it as an alias.
    fn resolve_soft(&self, dep: &str) -> Result<Vec<String>> {
        let n = normalise(dep);
        if self.files.contains_key(&n) || self.builtin.contains(&n) {
            return Ok(vec![n]);
        }
        Ok(self.aliases()?.get(&n).cloned().unwrap_or_default())
    }

    /// Hard dependencies, then the `pre:` softdeps, of module `name` (a `.ko`).
    fn depends(&self, name: &str) -> Result<Vec<String>> {
        let mut out = Vec::new();
        for (k, v) in self.modinfo(name)? {
            if k == "depends" {
                out.extend(v.split(',').filter(|d| !d.trim().is_empty()).map(normalise));
            } else if k == "softdep" {
                for soft in softdep_pre(&v) {
                    let found = self.resolve_soft(&soft)?;
                    if found.is_empty() {
                        say(format!(
                            "note: {name} soft-depends on {soft}, which no module provides"
                        ));
                    }
                    out.extend(found);
                }
            }
        }
        Ok(out)
    }

    /// The modules `wanted` need, in load order, and which of them are built in.
    /// A name in `optional` that this kernel lacks is reported, not an error.
    pub fn closure(&self, wanted: &[&str], optional: &[&str]) -> Result<Closure> {
        let mut c = Closure::default();
        let mut roots = Vec::new();
        for w in wanted.iter().map(|w| normalise(w)) {
            let absent = !self.files.contains_key(&w) && !self.builtin.contains(&w);
            if absent && optional.iter().any(|o| normalise(o) == w) {
                c.unavailable.push(w);
            } else {
                roots.push(w);
            }
        }
        let order = load_order(&roots, |name| {
            if self.files.contains_key(name) {
                self.depends(name).map(Some)
            } else if self.builtin.contains(name) {
                Ok(None)
            } else {
                bail!(
                    "module {name} is neither a .ko under {} nor listed in its modules.builtin",
                    self.dir.display()
                )
            }
        })?;
        for name in order {
            match self.files.get(&name) {
                Some(p) => c.load.push((name, p.clone())),
                None => c.builtin.push(name),
            }
        }
        Ok(c)
    }
}

/// Orders `roots` and everything they depend on so that each name comes after all of
/// its dependencies. `deps(name)` gives a module's dependencies, or `None` for a name
/// that has none to load (built in); built-in names are still listed. Roots and
/// dependencies are visited in the order given, so the result is deterministic.
/// A dependency cycle is an error.
pub fn load_order(
    roots: &[String],
    mut deps: impl FnMut(&str) -> Result<Option<Vec<String>>>,
) -> Result<Vec<String>> {
    #[derive(PartialEq)]
    enum Mark {
        InProgress,
        Done,
    }
    let mut marks: BTreeMap<String, Mark> = BTreeMap::new();
    let mut order = Vec::new();
    // Iterative depth-first search; each frame is (name, its deps, next dep to visit).
    for root in roots {
        if marks.contains_key(root) {
            continue;
        }
        let first = deps(root).with_context(|| format!("needed for {root}"))?;
        marks.insert(root.clone(), Mark::InProgress);
        let mut stack = vec![(root.clone(), first.unwrap_or_default(), 0usize)];
        while let Some((name, ds, next)) = stack.last_mut() {
            if let Some(d) = ds.get(*next).cloned() {
                *next += 1;
                match marks.get(&d) {
                    Some(Mark::Done) => {}
                    Some(Mark::InProgress) => {
                        let path: Vec<&str> = stack.iter().map(|f| f.0.as_str()).collect();
                        bail!("module dependency cycle: {} -> {d}", path.join(" -> "));
                    }
                    None => {
                        let parent = name.clone();
                        let sub = deps(&d).with_context(|| format!("needed by {parent}"))?;
                        marks.insert(d.clone(), Mark::InProgress);
                        stack.push((d, sub.unwrap_or_default(), 0));
                    }
                }
            } else {
                let name = name.clone();
                stack.pop();
                marks.insert(name.clone(), Mark::Done);
                order.push(name);
            }
        }
    }
    Ok(order)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `load_order` over a table of `name: deps` (`*` marks a built-in name).
    fn order(table: &[(&str, &[&str])], roots: &[&str]) -> Result<Vec<String>> {
        let map: BTreeMap<&str, &[&str]> = table.iter().copied().collect();
        let roots: Vec<String> = roots.iter().map(|r| r.to_string()).collect();
        load_order(&roots, |n| match map.get(n) {
            Some(ds) if ds == &["*"] => Ok(None),
            Some(ds) => Ok(Some(ds.iter().map(|d| d.to_string()).collect())),
            None => bail!("missing {n}"),
        })
    }

    #[test]
    fn dependencies_come_first() {
        let table: &[(&str, &[&str])] = &[
            ("virtio_blk", &["virtio", "virtio_ring"]),
            ("virtio_net", &["net_failover", "virtio", "virtio_ring"]),
            ("net_failover", &["failover"]),
            ("failover", &[]),
            ("virtio_ring", &["virtio"]),
            ("virtio", &[]),
            ("ext4", &["mbcache", "jbd2", "crc16"]),
            ("mbcache", &[]),
            ("jbd2", &[]),
            ("crc16", &["*"]),
        ];
        let got = order(table, &["virtio_blk", "virtio_net", "ext4"]).unwrap();
        assert_eq!(
            got,
            [
                "virtio",
                "virtio_ring",
                "virtio_blk",
                "failover",
                "net_failover",
                "virtio_net",
                "mbcache",
                "jbd2",
                "crc16",
                "ext4"
            ]
        );
        // Every name appears once, after each of its dependencies.
        for (name, ds) in table {
            let at = |n: &str| got.iter().position(|g| g == n).unwrap();
            for d in ds.iter().filter(|d| **d != "*") {
                assert!(at(d) < at(name), "{d} must load before {name}");
            }
        }
    }

    #[test]
    fn shared_and_repeated_roots_appear_once() {
        let table: &[(&str, &[&str])] = &[("a", &["c"]), ("b", &["c"]), ("c", &[])];
        assert_eq!(
            order(table, &["a", "b", "a", "c"]).unwrap(),
            ["c", "a", "b"]
        );
    }

    #[test]
    fn cycles_and_missing_modules_are_errors() {
        let cyc: &[(&str, &[&str])] = &[("a", &["b"]), ("b", &["c"]), ("c", &["a"])];
        let e = order(cyc, &["a"]).unwrap_err().to_string();
        assert!(e.contains("cycle: a -> b -> c -> a"), "{e}");
        let missing: &[(&str, &[&str])] = &[("a", &["nope"])];
        let e = format!("{:#}", order(missing, &["a"]).unwrap_err());
        assert!(
            e.contains("missing nope") && e.contains("needed by a"),
            "{e}"
        );
    }

    #[test]
    fn softdeps_keep_only_pre() {
        assert_eq!(softdep_pre("pre: crypto-crc32c"), ["crypto-crc32c"]);
        assert_eq!(softdep_pre("pre: a b post: c pre: d"), ["a", "b", "d"]);
        assert!(softdep_pre("post: x").is_empty());
    }

    #[test]
    fn names_are_normalised() {
        assert_eq!(normalise("virtio-blk"), "virtio_blk");
        let p = Path::new("kernel/drivers/uio/uio_pdrv-genirq.ko");
        assert_eq!(module_name(p).unwrap(), "uio_pdrv_genirq");
        assert!(module_name(Path::new("modules.order")).is_none());
    }

    #[test]
    fn index_reads_depends_and_builtins() {
        let dir = std::env::temp_dir().join(format!("rtvisor-modtest-{}", std::process::id()));
        let kdir = dir.join("kernel/drivers");
        std::fs::create_dir_all(&kdir).unwrap();
        let ko = |info: &str| elf::synthetic(&[(".modinfo", info.replace(';', "\0").as_bytes())]);
        let put = |name: &str, info: &str| std::fs::write(kdir.join(name), ko(info)).unwrap();
        put("virtio-blk.ko", "depends=virtio_ring,virtio;");
        put("virtio_ring.ko", "depends=;");
        put("ext4.ko", "softdep=pre: crypto-crc32c;depends=crc16;");
        put(
            "crc32c_generic.ko",
            "alias=crypto-crc32c;alias=crc32c;depends=;",
        );
        let builtin = "kernel/drivers/virtio/virtio.ko\nkernel/lib/crc16.ko\n";
        std::fs::write(dir.join("modules.builtin"), builtin).unwrap();
        let idx = Index::load(&dir).unwrap();
        let c = idx.closure(
            &["virtio_blk", "ext4", "uio_pdrv_genirq"],
            &["uio_pdrv_genirq"],
        );
        let c = c.unwrap();
        let names: Vec<&str> = c.load.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            ["virtio_ring", "virtio_blk", "crc32c_generic", "ext4"]
        );
        assert_eq!(c.builtin, ["virtio", "crc16"]);
        assert_eq!(c.unavailable, ["uio_pdrv_genirq"]);
        let e = format!("{:#}", idx.closure(&["uio"], &[]).unwrap_err());
        assert!(e.contains("module uio is neither"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
