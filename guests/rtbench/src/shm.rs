//! `mode=shm`: two VMs talk through a shared-memory region and its doorbell
//! (docs/interfaces-draft.md, "Shared memory and doorbells").
//!
//! Bootargs: `role=ping|pong shm=<IPA> bell=<region number> intid=<doorbell INTID>
//! [line=<its GSI>] rounds=N [ro=<IPA>] [poll=1] [then=off|hang]` (x86: `intid` is the
//! vector the guest routes the doorbell's I/O APIC pin `line` to). Words of the region (u64): 0
//! ping's value, 1 pong's answer, 2 pong's ready mark.
//! - pong enables its doorbell interrupt, tries one write to `ro` (a read-only
//!   mapping: it must fault), sets the ready mark, then for each doorbell answers
//!   value + 1 000 000 and rings back.
//! - ping waits for the ready mark, then per round writes n, rings, waits for the
//!   answer's doorbell and checks it; the round trip (ring to doorbell IRQ entry,
//!   PMCCNTR) is the `doorbell` metric.
//! - `poll=1`: the same exchange without interrupts: each side still rings, but
//!   waits (bounded) for the peer's word in the region instead of its doorbell; ping's
//!   round trip (ring to the answer seen) is the `shmpoll` metric.
//!
//! Lines: `rtbench: shm ro-write refused|dropped|ALLOWED` (refused: the write
//! faulted; dropped: it did not fault and did not land), `rtbench: shm ready role=<r>`,
//! `rtbench: result metric=doorbell ...` (ping), `rtbench: shm done role=<r>
//! rounds=<n> ok=<k> doorbells=<d>`. Every wait is bounded (1 s per doorbell).

use core::sync::atomic::{AtomicU64, Ordering};

use guest_common::irq::{self, Stamp};
use guest_common::{guard, hypercall, pmu, power, println, timer, BootInfo};

use crate::bench::print_result;
use crate::number;
use crate::stats::{Figure, Stats};

const READY: u64 = 0x0052_4541_4459; // "READY"
/// What pong tries to write into its read-only mapping.
const RO_PROBE: u64 = 0xbad;
const ANSWER: u64 = 1_000_000;
const WAIT_US: u64 = 1_000_000;
const TIMER: u32 = timer::INTERRUPT;

static DOORBELL: AtomicU64 = AtomicU64::new(0);
static DOORBELLS: AtomicU64 = AtomicU64::new(0);
static LAST_PMC: AtomicU64 = AtomicU64::new(0);

fn on_irq(intid: u32, stamp: Stamp) {
    if u64::from(intid) == DOORBELL.load(Ordering::Relaxed) {
        LAST_PMC.store(stamp.pmc, Ordering::Relaxed);
        DOORBELLS.fetch_add(1, Ordering::Release);
    } else if intid == TIMER {
        timer::stop();
    }
}

fn word(base: usize, i: usize) -> *mut u64 {
    (base + 8 * i) as *mut u64
}
fn read(base: usize, i: usize) -> u64 {
    // SAFETY: `base` is the shared region the scenario maps (bootarg `shm`), at least
    // 4 KiB; the peer writes it concurrently, hence volatile.
    unsafe { word(base, i).read_volatile() }
}
fn write(base: usize, i: usize, v: u64) {
    // SAFETY: as in `read`; this VM's mapping is read-write (scenario).
    unsafe { word(base, i).write_volatile(v) }
}

/// Waits (bounded) until word `i` of the region reads `want`; false on timeout.
fn wait_word(base: usize, i: usize, want: u64) -> bool {
    let deadline = timer::counter().wrapping_add(timer::us_to_ticks(WAIT_US));
    while read(base, i) != want {
        if timer::counter() >= deadline {
            return false;
        }
        guest_common::cpu::relax();
    }
    true
}

/// Waits (bounded) until more than `seen` doorbells arrived; false on timeout.
fn wait_doorbell(seen: u64) -> bool {
    let deadline = timer::counter().wrapping_add(timer::us_to_ticks(WAIT_US));
    timer::arm(deadline);
    irq::wait_masked(|| DOORBELLS.load(Ordering::Acquire) > seen || timer::counter() >= deadline);
    timer::stop();
    DOORBELLS.load(Ordering::Acquire) > seen
}

pub fn run(boot: &BootInfo) -> ! {
    let args = boot.args();
    let pong = args.get("role") == Some("pong");
    let poll = number(boot, "poll", 0) != 0;
    let role = if pong { "pong" } else { "ping" };
    let base = number(boot, "shm", 0) as usize;
    let bell = number(boot, "bell", 0);
    let rounds = number(boot, "rounds", 10);
    let intid = number(boot, "intid", 127);
    DOORBELL.store(intid, Ordering::Relaxed);
    irq::set_handler(on_irq);
    if let Err(e) = irq::init_global(boot).and_then(|()| irq::init_cpu(&[TIMER])) {
        println!(
            "rtbench-diag: interrupt controller setup failed: {}",
            e.name()
        );
    }
    // The doorbell's device line: its INTID on aarch64, its GSI (an I/O APIC pin)
    // on x86, where `intid` is the vector the guest routes it to.
    irq::enable_line(number(boot, "line", intid) as u32, intid as u32);
    pmu::init();
    let mut ok = 0;
    if pong {
        if let Some(Ok(ro)) = args.number("ro") {
            // SAFETY: a guarded store to the read-only mapping; a fault is caught.
            let r = unsafe { guard::write_u64(ro as usize, RO_PROBE) };
            let landed = matches!(guard::read_u64(ro as usize), Ok(v) if v == RO_PROBE);
            let how = match (r.is_err(), landed) {
                (true, _) => "refused",
                (false, false) => "dropped",
                (false, true) => "ALLOWED",
            };
            println!("rtbench: shm ro-write {}", how);
        }
        write(base, 2, READY);
        println!("rtbench: shm ready role={}", role);
        for n in 1..=rounds {
            let came = if poll {
                wait_word(base, 0, n)
            } else {
                wait_doorbell(n - 1)
            };
            if !came {
                println!("rtbench-diag: shm timeout waiting for round {}", n);
                break;
            }
            write(base, 1, read(base, 0) + ANSWER);
            hypercall::rtvisor_ring(bell);
            ok += 1;
        }
    } else {
        let deadline = timer::counter().wrapping_add(timer::us_to_ticks(5 * WAIT_US));
        while read(base, 2) != READY && timer::counter() < deadline {
            timer::delay_us(100);
        }
        println!("rtbench: shm ready role={}", role);
        let mut s = Stats::new();
        for n in 1..=rounds {
            write(base, 0, n);
            let t0 = pmu::cycles();
            let r = hypercall::rtvisor_ring(bell);
            if r != 0 {
                println!("rtbench-diag: shm ring -> {}", r);
            }
            if poll {
                if !wait_word(base, 1, n + ANSWER) {
                    println!("rtbench-diag: shm timeout waiting for answer {}", n);
                    break;
                }
                s.add(pmu::cycles().wrapping_sub(t0));
            } else {
                if !wait_doorbell(n - 1) {
                    println!("rtbench-diag: shm timeout waiting for answer {}", n);
                    break;
                }
                s.add(LAST_PMC.load(Ordering::Relaxed).wrapping_sub(t0));
            }
            if read(base, 1) == n + ANSWER {
                ok += 1;
            } else {
                println!("rtbench-diag: shm round {} answer {}", n, read(base, 1));
            }
        }
        print_result(if poll { "shmpoll" } else { "doorbell" }, &s);
    }
    println!(
        "rtbench: shm done role={} rounds={} ok={} doorbells={}",
        role,
        rounds,
        ok,
        DOORBELLS.load(Ordering::Relaxed)
    );
    match args.get("then") {
        Some("hang") => guest_common::cpu::park(),
        _ => power::system_off(),
    }
}

/// Publishes `mode=bench` timer summaries into a shared-memory region for a peer
/// (bootargs `stats=<IPA> stats-bell=<k>`): u64 words 0 magic, 1 sequence (odd while
/// being written; summaries published = sequence / 2), 2 samples, 3 min_ns
/// ([`Figure::UNAVAILABLE`] when unavailable), 4 avg_ns, 5 max_ns; then rings
/// doorbell k.
///
/// The sequence protocol (a seqlock; docs/interfaces-draft.md) holds for a reader
/// that maps the region cacheable or not: each step is cleaned to the point of
/// coherency and completed (`DC CVAC`, `DSB SY`) before the next, so the odd
/// sequence is visible before any figure changes, every figure before the even
/// sequence, and all of it before the doorbell. A reader that sees the same even
/// sequence before and after reading the figures has read one whole summary.
pub struct Publisher {
    base: usize,
    bell: Option<u64>,
    seq: u64,
}

/// `RTVSTATS`, read as a little-endian u64.
pub const STATS_MAGIC: u64 = 0x5354_4154_5356_5452;

/// Words of the region.
const MAGIC: usize = 0;
const SEQ: usize = 1;
const SAMPLES: usize = 2;
const MIN: usize = 3;
const AVG: usize = 4;
const MAX: usize = 5;
/// Bytes the words take.
const WORDS_LEN: usize = 8 * 6;

impl Publisher {
    /// From the bootargs, if `stats=` is given.
    pub fn from_boot(boot: &BootInfo) -> Option<Self> {
        let base = match boot.args().number("stats")? {
            Ok(b) => b as usize,
            Err(()) => {
                println!("rtbench-diag: bad stats=, not publishing");
                return None;
            }
        };
        let bell = boot.args().number("stats-bell").and_then(Result::ok);
        let p = Self { base, bell, seq: 0 };
        write(base, SEQ, 0);
        p.complete();
        write(base, MAGIC, STATS_MAGIC);
        p.complete();
        Some(p)
    }

    /// Makes every write so far visible to any reader, cached or not, before the
    /// next one.
    fn complete(&self) {
        guest_common::cpu::clean_dcache(self.base, WORDS_LEN);
    }

    /// Writes one summary (`min`: its minimum, possibly unavailable) and rings the
    /// doorbell.
    pub fn publish(&mut self, s: &Stats, min: Figure) {
        self.seq += 1;
        write(self.base, SEQ, self.seq); // odd: being written
        self.complete();
        write(self.base, SAMPLES, s.count());
        write(self.base, MIN, min.word());
        write(self.base, AVG, s.avg());
        write(self.base, MAX, s.max());
        self.complete();
        self.seq += 1;
        write(self.base, SEQ, self.seq);
        self.complete();
        if let Some(k) = self.bell {
            hypercall::rtvisor_ring(k);
        }
    }
}
