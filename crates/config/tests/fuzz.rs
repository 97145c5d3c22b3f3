//! Mutated scenario and board files never panic the loader: they load or give errors.
//!
//! A bounded, deterministic run (xorshift seeds) by default. Run it longer with
//! `RTVISOR_FUZZ_CASES=200000 cargo test -p rtvisor-config --release --test fuzz`,
//! and with another seed with `RTVISOR_FUZZ_SEED=<n>`.

mod support;

use support::Tree;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const TOKENS: &[&str] = &[
    "=",
    "[",
    "]",
    "{",
    "}",
    "\"",
    ",",
    ".",
    "\n",
    "#",
    "0",
    "-1",
    "0x",
    "_",
    "a",
    "0xffff_ffff_ffff_ffff",
    "9223372036854775807",
    "\"999999TiB\"",
    "\"0MiB\"",
    "\"3MiB\"",
    "[[vm]]\n",
    "[[device]]\n",
    "[[ram]]\n",
    "cpus = [99999999999]\n",
    "size = 0\n",
    "identity = true",
    "base = 0x4000_0000",
    "\"linux-image\"",
    "\"elf\"",
    "\"direct\"",
    "irqs = [0, 4000000000]\n",
    "devices = [\"uart0\", \"virtio-mmio@0a000000\"]\n",
    "version = 2\n",
    "mpidr = 0\n",
    "stride = 0\n",
    "\u{e9}",
    "'''",
    "inf",
    "1979-05-27",
    "[[shared-memory]]\n",
    "peers = []\n",
    "{ vm = \"gp\", access = \"rw\" }",
    "ipa = 0x0900_0000",
    "ipa = 0x7fff_ffff_f000",
    "\"ro\"",
    "base = 0xbfff_f000",
];

/// Appended to the demo scenario so that mutations reach the shared-memory rules.
const SHARED: &str = r#"
[[shared-memory]]
name = "stats"
size = "64KiB"
peers = [{ vm = "rt", access = "rw" }, { vm = "linux", access = "ro", ipa = 0x2000_0000 }]

[[shared-memory]]
name = "bulk"
size = "2MiB"
base = 0x7000_0000
peers = [{ vm = "linux", access = "rw" }]
"#;

fn mutate(rng: &mut Rng, text: &str) -> String {
    let mut s = text.to_owned();
    for _ in 0..1 + rng.below(4) {
        let at = (0..=rng.below(s.len() + 1))
            .rev()
            .find(|&i| s.is_char_boundary(i))
            .unwrap_or(0);
        match rng.below(4) {
            0 => s.insert_str(at, TOKENS[rng.below(TOKENS.len())]),
            1 => {
                let end = (at + 1 + rng.below(24)).min(s.len());
                let end = (end..=s.len())
                    .find(|&i| s.is_char_boundary(i))
                    .unwrap_or(s.len());
                s.replace_range(at..end, "");
            }
            2 => {
                let lines: Vec<&str> = s.lines().collect();
                if !lines.is_empty() {
                    let line = lines[rng.below(lines.len())].to_owned();
                    s.insert_str(at, &format!("\n{line}\n"));
                }
            }
            _ => {
                let lines: Vec<&str> = s.lines().collect();
                let keep: Vec<&str> = lines
                    .iter()
                    .copied()
                    .filter(|_| rng.below(8) != 0)
                    .collect();
                s = keep.join("\n");
            }
        }
    }
    s
}

#[test]
fn mutated_files_never_panic_the_loader() {
    let cases: usize = std::env::var("RTVISOR_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1500);
    let seed: u64 = std::env::var("RTVISOR_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x5eed);
    let t = Tree::with_repo_files("fuzz");
    t.write(
        "target/guests/Image",
        support::fake_linux_image(0, 0x20_0000, 4096),
    );
    let scenario = std::fs::read_to_string(t.path("scenarios/demo.toml")).unwrap() + SHARED;
    let board = std::fs::read_to_string(t.path("boards/qemu-virt-aarch64.toml")).unwrap();
    let base = t.write("scenarios/demo.toml", &scenario);
    if let Err(d) = rtvisor_config::check(&base) {
        panic!("the unmutated scenario must resolve:\n{d}");
    }
    let mut rng = Rng(seed | 1);
    for case in 0..cases {
        let mutate_board = rng.below(4) == 0;
        let s = if mutate_board {
            scenario.clone()
        } else {
            mutate(&mut rng, &scenario)
        };
        let b = if mutate_board {
            mutate(&mut rng, &board)
        } else {
            board.clone()
        };
        t.write("scenarios/demo.toml", &s);
        t.write("boards/qemu-virt-aarch64.toml", &b);
        let path = t.path("scenarios/demo.toml");
        let result = std::panic::catch_unwind(|| rtvisor_config::check(&path).map(|_| ()));
        match result {
            Ok(Ok(())) => {}
            Ok(Err(d)) => assert!(!d.0.is_empty(), "case {case}: an error without diagnostics"),
            Err(_) => panic!(
                "case {case} (seed {seed}) panicked on\n--- scenario ---\n{s}\n--- board ---\n{b}"
            ),
        }
    }
}
