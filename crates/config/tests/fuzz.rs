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
    "arch = \"x86_64\"\n",
    "arch = \"aarch64\"\n",
    "apic-id = 300\n",
    "port = 0xfffc\n",
    "[[io-apic]]\nid = 0\nbase = 0xfec0_0000\ngsi-base = 0\n",
    "[local-apic]\nbase = 0xfee0_0800\n",
    "direct-trust = \"trusted\"\n",
    "bootargs = \"console=ttyS0\"\n",
];

/// Appended to the demo scenario so that mutations reach the shared-memory rules.
const SHARED: &str = r#"
[[shared-memory]]
name = "stats"
size = "64KiB"
peers = [{ vm = "rt", access = "rw" }, { vm = "linux", access = "ro", ipa = 0x3f80_0000 }]

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

/// The number of cases (`RTVISOR_FUZZ_CASES`, else `default`) and the seed.
fn settings(default: usize) -> (usize, u64) {
    let cases: usize = std::env::var("RTVISOR_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default);
    let seed: u64 = std::env::var("RTVISOR_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x5eed);
    (cases, seed)
}

#[test]
fn mutated_files_never_panic_the_loader() {
    let (cases, seed) = settings(1500);
    let t = Tree::with_repo_files("fuzz");
    t.write(
        "target/guests/Image",
        support::fake_linux_image(0, 0x20_0000, 4096),
    );
    let scenario = std::fs::read_to_string(t.path("scenarios/demo.toml")).unwrap() + SHARED;
    run(&t, "demo", &scenario, "qemu-virt-aarch64", cases, seed);
}

/// The x86 demo (LAPIC pass-through, shared memory, an initrd) on the q35 board: the
/// architecture rules, the x86 layout and the boot-data generator and its checker.
#[test]
fn mutated_x86_files_never_panic_the_loader() {
    let (cases, seed) = settings(1000);
    let t = Tree::with_repo_files("fuzz-x86");
    let scenario = std::fs::read_to_string(t.path("scenarios/x86-demo.toml")).unwrap();
    run(&t, "x86-demo", &scenario, "qemu-q35-x86_64", cases, seed);
}

/// Checks `cases` mutations of `scenarios/<stem>.toml` (as `scenario`) and of its
/// board `boards/<board>.toml`, one file at a time.
fn run(t: &Tree, stem: &str, scenario: &str, board: &str, cases: usize, seed: u64) {
    let (s_rel, b_rel) = (
        format!("scenarios/{stem}.toml"),
        format!("boards/{board}.toml"),
    );
    let board = std::fs::read_to_string(t.path(&b_rel)).unwrap();
    let base = t.write(&s_rel, scenario);
    if let Err(d) = rtvisor_config::check(&base) {
        panic!("the unmutated scenario must resolve:\n{d}");
    }
    let mut rng = Rng(seed | 1);
    for case in 0..cases {
        let mutate_board = rng.below(4) == 0;
        let s = if mutate_board {
            scenario.to_owned()
        } else {
            mutate(&mut rng, scenario)
        };
        let b = if mutate_board {
            mutate(&mut rng, &board)
        } else {
            board.clone()
        };
        t.write(&s_rel, &s);
        t.write(&b_rel, &b);
        let path = t.path(&s_rel);
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
