//! A writer for the `newc` cpio format the kernel unpacks as an initramfs.
//!
//! Each entry is a 110-byte ASCII header (`070701` and 13 eight-digit hex fields),
//! the NUL-terminated name padded to a multiple of 4 bytes, then the data padded
//! the same way. The archive ends with an entry named `TRAILER!!!`. The kernel does
//! not create missing parent directories, so [`Cpio`] adds them itself, parents
//! first. Every entry is owned by root with mtime 0, so the archive is reproducible.

use std::collections::BTreeSet;

const MAGIC: &str = "070701";
const TRAILER: &str = "TRAILER!!!";

/// File type bits of `st_mode`.
pub const S_IFDIR: u32 = 0o040000;
pub const S_IFREG: u32 = 0o100000;
pub const S_IFLNK: u32 = 0o120000;
pub const S_IFCHR: u32 = 0o020000;

/// An archive being built in memory.
#[derive(Default)]
pub struct Cpio {
    out: Vec<u8>,
    next_ino: u32,
    dirs: BTreeSet<String>,
}

/// One header's fields (the ones that are not always zero).
struct Header<'a> {
    name: &'a str,
    mode: u32,
    nlink: u32,
    rdev: (u32, u32),
    data: &'a [u8],
}

impl Cpio {
    pub fn new() -> Cpio {
        Cpio {
            next_ino: 1,
            ..Cpio::default()
        }
    }

    fn entry(&mut self, h: Header) {
        let ino = if h.name == TRAILER { 0 } else { self.next_ino };
        self.next_ino += 1;
        let fields = [
            ino,
            h.mode,
            0, // uid
            0, // gid
            h.nlink,
            0, // mtime
            u32::try_from(h.data.len()).expect("cpio newc files are under 4 GiB"),
            0, // devmajor
            0, // devminor
            h.rdev.0,
            h.rdev.1,
            h.name.len() as u32 + 1,
            0, // check (only used by the `070702` crc format)
        ];
        self.out.extend_from_slice(MAGIC.as_bytes());
        for f in fields {
            self.out.extend_from_slice(format!("{f:08x}").as_bytes());
        }
        self.out.extend_from_slice(h.name.as_bytes());
        self.out.push(0);
        self.pad();
        self.out.extend_from_slice(h.data);
        self.pad();
    }

    fn pad(&mut self) {
        self.out.resize(self.out.len().next_multiple_of(4), 0);
    }

    /// Adds the directories above `path` that are not in the archive yet.
    fn parents(&mut self, path: &str) {
        let mut at = 0;
        while let Some(i) = path[at..].find('/') {
            let dir = &path[..at + i];
            at += i + 1;
            if !self.dirs.contains(dir) {
                self.dir(dir, 0o755);
            }
        }
    }

    /// A directory (its parents are added when missing; adding one twice is a no-op).
    pub fn dir(&mut self, path: &str, perm: u32) {
        let path = path.trim_matches('/');
        if path.is_empty() || self.dirs.contains(path) {
            return;
        }
        self.parents(path);
        self.dirs.insert(path.to_string());
        self.entry(Header {
            name: path,
            mode: S_IFDIR | perm,
            nlink: 2,
            rdev: (0, 0),
            data: &[],
        });
    }

    /// A regular file with permission bits `perm` (e.g. 0o755).
    pub fn file(&mut self, path: &str, perm: u32, data: &[u8]) {
        let path = path.trim_start_matches('/');
        self.parents(path);
        let mode = S_IFREG | perm;
        self.entry(Header {
            name: path,
            mode,
            nlink: 1,
            rdev: (0, 0),
            data,
        });
    }

    /// A symbolic link at `path` pointing to `target`.
    pub fn symlink(&mut self, path: &str, target: &str) {
        let path = path.trim_start_matches('/');
        self.parents(path);
        let data = target.as_bytes();
        let mode = S_IFLNK | 0o777;
        self.entry(Header {
            name: path,
            mode,
            nlink: 1,
            rdev: (0, 0),
            data,
        });
    }

    /// A character device node `major:minor`.
    pub fn char_dev(&mut self, path: &str, perm: u32, major: u32, minor: u32) {
        let path = path.trim_start_matches('/');
        self.parents(path);
        let mode = S_IFCHR | perm;
        let rdev = (major, minor);
        self.entry(Header {
            name: path,
            mode,
            nlink: 1,
            rdev,
            data: &[],
        });
    }

    /// Ends the archive and returns its bytes.
    pub fn finish(mut self) -> Vec<u8> {
        self.entry(Header {
            name: TRAILER,
            mode: 0,
            nlink: 1,
            rdev: (0, 0),
            data: &[],
        });
        self.out
    }
}

/// One entry read back by [`parse`] (for tests).
#[cfg(test)]
#[derive(Debug)]
pub struct Entry {
    pub name: String,
    pub ino: u32,
    pub mode: u32,
    pub uid: u32,
    pub nlink: u32,
    pub rdev: (u32, u32),
    pub data: Vec<u8>,
}

/// Reads a newc archive back, checking magic, padding and the trailer.
#[cfg(test)]
pub fn parse(mut b: &[u8]) -> Result<Vec<Entry>, String> {
    let total = b.len();
    let mut out = Vec::new();
    loop {
        let at = total - b.len();
        if !at.is_multiple_of(4) {
            return Err(format!("entry at {at} is not 4-byte aligned"));
        }
        if b.len() < 110 || &b[..6] != MAGIC.as_bytes() {
            return Err(format!("bad header at {at}"));
        }
        let field = |i: usize| {
            let s = std::str::from_utf8(&b[6 + 8 * i..14 + 8 * i]).map_err(|e| e.to_string())?;
            u32::from_str_radix(s, 16).map_err(|e| format!("field {i} {s:?}: {e}"))
        };
        let (size, namesize) = (field(6)? as usize, field(11)? as usize);
        let name_end = 110 + namesize;
        if b.get(name_end - 1) != Some(&0) {
            return Err(format!("name at {at} is not NUL-terminated"));
        }
        let name = String::from_utf8_lossy(&b[110..name_end - 1]).into_owned();
        let data_at = name_end.next_multiple_of(4);
        let end = (data_at + size).next_multiple_of(4);
        if b.len() < end
            || b[name_end..data_at]
                .iter()
                .chain(&b[data_at + size..end])
                .any(|&x| x != 0)
        {
            return Err(format!("bad padding or truncated entry {name:?}"));
        }
        let e = Entry {
            ino: field(0)?,
            mode: field(1)?,
            uid: field(2)?,
            nlink: field(4)?,
            rdev: (field(9)?, field(10)?),
            data: b[data_at..data_at + size].to_vec(),
            name,
        };
        b = &b[end..];
        if e.name == TRAILER {
            return if b.is_empty() {
                Ok(out)
            } else {
                Err("bytes after the trailer".into())
            };
        }
        out.push(e);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let mut c = Cpio::new();
        c.dir("dev", 0o755);
        c.char_dev("/dev/console", 0o600, 5, 1);
        c.file("/init", 0o755, b"#!/bin/sh\n");
        c.file("lib/modules/ext4.ko", 0o644, &[1, 2, 3, 4, 5]);
        c.symlink("/bin/sh", "busybox");
        c.dir("/dev/", 0o755); // already there: no second entry
        let bytes = c.finish();
        assert_eq!(bytes.len() % 4, 0);
        let es = parse(&bytes).unwrap();
        let names: Vec<&str> = es.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "dev",
                "dev/console",
                "init",
                "lib",
                "lib/modules",
                "lib/modules/ext4.ko",
                "bin",
                "bin/sh"
            ]
        );
        let get = |n: &str| es.iter().find(|e| e.name == n).unwrap();
        assert_eq!(get("dev").mode, S_IFDIR | 0o755);
        assert_eq!(get("dev/console").mode, S_IFCHR | 0o600);
        assert_eq!(get("dev/console").rdev, (5, 1));
        assert_eq!(get("init").mode, 0o100755);
        assert_eq!(get("init").data, b"#!/bin/sh\n");
        assert_eq!(get("lib/modules/ext4.ko").data, [1, 2, 3, 4, 5]);
        assert_eq!(get("bin/sh").mode, 0o120777);
        assert_eq!(get("bin/sh").data, b"busybox");
        assert!(es.iter().all(|e| e.uid == 0 && e.nlink >= 1));
        // Inode numbers are unique.
        let inos: BTreeSet<u32> = es.iter().map(|e| e.ino).collect();
        assert_eq!(inos.len(), es.len());
    }

    #[test]
    fn header_layout_is_exact() {
        let mut c = Cpio::new();
        c.file("ab", 0o644, b"xyz");
        let b = c.finish();
        // 110-byte header + "ab\0" = 113, padded to 116; 3 data bytes padded to 4.
        assert_eq!(&b[..6], b"070701");
        assert_eq!(&b[6..14], b"00000001"); // ino
        assert_eq!(&b[14..22], b"000081a4"); // mode 0100644
        assert_eq!(&b[54..62], b"00000003"); // filesize
        assert_eq!(&b[94..102], b"00000003"); // namesize incl. NUL
        assert_eq!(&b[110..116], b"ab\0\0\0\0");
        assert_eq!(&b[116..120], b"xyz\0");
        assert_eq!(&b[120..126], b"070701"); // the trailer follows
        assert_eq!(b.len(), 120 + 110 + 11 + 3); // trailer name 11 bytes, pad to 4
    }

    #[test]
    fn parse_rejects_damage() {
        let mut c = Cpio::new();
        c.file("a", 0o644, b"1");
        let good = c.finish();
        assert!(parse(&good[..good.len() - 4]).is_err());
        let mut bad = good.clone();
        bad[0] = b'1';
        assert!(parse(&bad).is_err());
    }
}
