//! Interference accounting per physical CPU (`rtvisor_core::account`): every entry
//! from the guest by [`Cause`], and the time spent in the hypervisor, split into "on
//! behalf of the VM that owns the CPU" and "anyone else".
//!
//! Only with the `accounting` feature (`[hypervisor] accounting = true`): it costs
//! every entry a few instructions and two counter reads (docs/benchmark.md), so the
//! default build compiles all of it out: every function here returns at once on
//! [`BUILT`], a constant, and the shell says the accounting is not built in.
//!
//! How an entry is accounted: the backend's entry calls [`start`] first (reads the
//! counter), [`Entry::count`] once it knows the cause (before the
//! exit handler runs, so an entry after which the vCPU parks is counted too), and
//! [`Entry::finish`] before it returns to the guest (adds the time since [`start`]). The
//! backend's fast paths that never reach this module count themselves (aarch64: the
//! forwarded-timer vector, `rtvisor_arch_aarch64::fast`), and [`raw`] adds them in
//! through [`Backend::fast_counts`].
//!
//! A kick (an IPI of the hypervisor) is attributed by its sender: [`kicking`] leaves
//! the cause on the target CPU (another VM's or the shell's kick, a doorbell) unless
//! the sender runs a vCPU of the target's own VM; the target takes it in
//! [`kick_cause`].
//!
//! Discipline: as `stats`: a CPU writes only its own block, with Relaxed loads and
//! stores (it is the only writer, with interrupts masked). Exceptions: the foreign
//! cause of a kick (one byte per CPU, on a line of its own, written by senders), the
//! shell's baselines (written by the shell CPU only), and the window start (its own
//! CPU only, under a lock no one else takes while it runs).

use crate::backend::{Arch, Backend, Clock};
use crate::percpu::{self, MAX_CPUS};
use core::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use rtvisor_core::account::{Account, Cause};
use rtvisor_core::ids::CpuId;
use rtvisor_core::seam::Timer;
use rtvisor_core::sync::Mutex;

/// Whether this image has the accounting (the `accounting` feature).
pub const BUILT: bool = cfg!(feature = "accounting");

/// One CPU's counters (counter ticks for the times).
#[derive(Debug)]
#[repr(align(64))]
struct Block {
    entries: [AtomicU64; Cause::COUNT],
    own: AtomicU64,
    other: AtomicU64,
    /// This CPU is ringing a doorbell: its kicks are doorbells.
    ringing: AtomicBool,
    /// A window opens when the current entry finishes.
    opening: AtomicBool,
}

impl Block {
    const fn new() -> Self {
        Self {
            entries: [const { AtomicU64::new(0) }; Cause::COUNT],
            own: AtomicU64::new(0),
            other: AtomicU64::new(0),
            ringing: AtomicBool::new(false),
            opening: AtomicBool::new(false),
        }
    }
}

/// Per CPU: the cause a sender left with its kick (`cause as u8 + 1`; 0: the target's
/// own VM, or no kick).
#[repr(align(64))]
struct Foreign(AtomicU8);

static BLOCKS: [Block; MAX_CPUS] = [const { Block::new() }; MAX_CPUS];
static FOREIGN: [Foreign; MAX_CPUS] = [const { Foreign(AtomicU8::new(0)) }; MAX_CPUS];
/// Per CPU: what `cpu stats reset` saw (the shell's zero).
static BASELINE: [Mutex<Account>; MAX_CPUS] = [const { Mutex::new(ZERO) }; MAX_CPUS];
/// Per CPU: the counters when its measurement window opened.
static WINDOW: [Mutex<Account>; MAX_CPUS] = [const { Mutex::new(ZERO) }; MAX_CPUS];

const ZERO: Account = Account {
    entries: [0; Cause::COUNT],
    own_ns: 0,
    other_ns: 0,
};

/// This CPU's block (by the backend's CPU index alone: only entries from a guest,
/// which boot has set up, count; the bound is the table's).
#[inline(always)]
fn mine() -> Option<&'static Block> {
    BLOCKS.get(Arch::this_cpu())
}

#[inline(always)]
fn add(c: &AtomicU64, n: u64) {
    c.store(c.load(Ordering::Relaxed).wrapping_add(n), Ordering::Relaxed);
}

/// An entry in progress: this CPU's block, and when it began (counter ticks; none
/// and 0 without the accounting).
#[derive(Debug, Clone, Copy)]
pub struct Entry {
    block: Option<&'static Block>,
    at: u64,
}

/// Begins an entry on this CPU: finds its block, reads the counter.
#[inline(always)]
pub fn start() -> Entry {
    if !BUILT {
        return Entry { block: None, at: 0 };
    }
    Entry {
        block: mine(),
        at: Clock::now(),
    }
}

impl Entry {
    /// Counts it under cause `c`.
    #[inline(always)]
    pub fn count(&self, c: Cause) {
        if !BUILT {
            return;
        }
        if let Some(n) = self.block.and_then(|b| b.entries.get(c as usize)) {
            add(n, 1);
        }
    }

    /// Ends it: adds its time to the side cause `c` is on.
    #[inline(always)]
    pub fn finish(self, c: Cause) {
        if !BUILT {
            return;
        }
        let now = Clock::now();
        if let Some(b) = self.block {
            add(
                if c.is_own() { &b.own } else { &b.other },
                now.wrapping_sub(self.at),
            );
            if b.opening.load(Ordering::Relaxed) {
                b.opening.store(false, Ordering::Relaxed);
                open_now();
            }
        }
    }

    /// Counts it under cause `c` and ends it.
    #[inline(always)]
    pub fn done(self, c: Cause) {
        self.count(c);
        self.finish(c);
    }
}

/// Keeps `c` as the cause of the entry in progress unless one was found first (an
/// interrupt entry takes the cause of its first interrupt); nothing without the
/// accounting.
#[inline(always)]
pub fn found(f: &mut Option<Cause>, c: Cause) {
    if BUILT && f.is_none() {
        *f = Some(c);
    }
}

/// The cause of an exit the vCPU itself made (decoded from a synchronous exception).
#[inline(always)]
pub fn of_exit(exit: &rtvisor_core::exit::VcpuExit) -> Cause {
    use rtvisor_core::exit::VcpuExit as E;
    match exit {
        E::CpuOn { .. }
        | E::CpuOff
        | E::CpuState { .. }
        | E::SystemOff
        | E::SystemReset
        | E::Hypercall { .. }
        | E::UnknownCall { .. } => Cause::Call,
        E::Mmio { .. } | E::MemFault { .. } | E::Pio { .. } => Cause::Mmio,
        E::SysReg { .. } => Cause::SysReg,
        E::Halt => Cause::Wfx,
        E::Interrupt => Cause::Spurious,
        E::FetchFault { .. } | E::Fatal { .. } => Cause::Trap,
    }
}

/// This CPU is about to kick CPU `target`: leave the cause with it when the kick is
/// not its own VM's doing (this CPU runs no vCPU of the VM `target` hosts).
#[inline(always)]
pub fn kicking(target: CpuId) {
    if BUILT {
        leave_cause(target);
    }
}

fn leave_cause(target: CpuId) {
    let theirs = percpu::of(target).and_then(|c| c.hosts()).map(|h| h.0);
    let ours = percpu::this_cpu()
        .and_then(percpu::of)
        .and_then(|c| c.hosts())
        .map(|h| h.0);
    if theirs.is_some() && theirs == ours {
        return;
    }
    let ringing = mine().is_some_and(|b| b.ringing.load(Ordering::Relaxed));
    let cause = if ringing {
        Cause::Doorbell
    } else {
        Cause::Kick
    };
    if let Some(f) = FOREIGN.get(target.index()) {
        f.0.store(cause as u8 + 1, Ordering::Relaxed);
    }
}

/// The cause of a kick that arrived on this CPU: what its sender left, or the
/// owning VM's own IPI.
pub fn kick_cause() -> Cause {
    if !BUILT {
        return Cause::Ipi;
    }
    let left = percpu::this_cpu()
        .and_then(|c| FOREIGN.get(c.index()))
        .map_or(0, |f| f.0.swap(0, Ordering::Relaxed));
    match left.checked_sub(1).and_then(|i| Cause::ALL.get(i as usize)) {
        Some(&c) => c,
        None => Cause::Ipi,
    }
}

/// Runs `f` with this CPU's kicks counted as doorbells.
#[inline(always)]
pub fn ringing<R>(f: impl FnOnce() -> R) -> R {
    if !BUILT {
        return f();
    }
    let b = mine();
    if let Some(b) = b {
        b.ringing.store(true, Ordering::Relaxed);
    }
    let r = f();
    if let Some(b) = b {
        b.ringing.store(false, Ordering::Relaxed);
    }
    r
}

/// CPU `cpu`'s counters since boot, times in counter ticks, the backend's fast
/// paths included.
fn raw(cpu: CpuId) -> Account {
    let Some(b) = BLOCKS.get(cpu.index()) else {
        return ZERO;
    };
    let mut a = Account {
        entries: core::array::from_fn(|i| b.entries[i].load(Ordering::Relaxed)),
        own_ns: b.own.load(Ordering::Relaxed),
        other_ns: b.other.load(Ordering::Relaxed),
    };
    let (timer, ticks) = Arch::fast_counts(cpu);
    let t = &mut a.entries[Cause::Timer as usize];
    *t = t.wrapping_add(timer);
    a.own_ns = a.own_ns.wrapping_add(ticks);
    a
}

/// `a` (times in ticks) with its times in nanoseconds.
fn in_ns(mut a: Account) -> Account {
    let hz = Clock::frequency();
    let ns = |t: u64| rtvisor_core::account::ticks_to_ns(t, hz);
    a.own_ns = ns(a.own_ns);
    a.other_ns = ns(a.other_ns);
    a
}

/// CPU `cpu`'s counters since the shell last reset them.
pub fn since_reset(cpu: CpuId) -> Account {
    let base = BASELINE.get(cpu.index()).map_or(ZERO, |b| *b.lock());
    in_ns(raw(cpu).since(&base))
}

/// `cpu stats reset`: every CPU's counters start from zero for the shell.
pub fn reset_all(cpus: usize) {
    for cpu in (0..cpus.min(MAX_CPUS)).map(CpuId::new) {
        let now = raw(cpu);
        if let Some(b) = BASELINE.get(cpu.index()) {
            *b.lock() = now;
        }
    }
}

/// Opens (`close` false) this CPU's measurement window, or closes it and returns what
/// happened in it. Called inside the entry of the call that asks, which is counted
/// already (as a call): the window opens when that entry finishes (with its time, at
/// [`Entry::finish`]) and closes at this point of the closing entry, which is taken out, so
/// neither call is in it.
pub fn window(close: bool) -> Option<Account> {
    if !BUILT {
        return None;
    }
    let cpu = percpu::this_cpu()?;
    if !close {
        match mine() {
            Some(b) => b.opening.store(true, Ordering::Relaxed),
            None => open_now(),
        }
        return None;
    }
    let mut now = raw(cpu);
    let calls = &mut now.entries[Cause::Call as usize];
    *calls = calls.wrapping_sub(1);
    let slot = WINDOW.get(cpu.index())?;
    let opened = *slot.lock();
    Some(in_ns(now.since(&opened)))
}

/// Opens this CPU's window with the counters as they are.
fn open_now() {
    let Some(cpu) = percpu::this_cpu() else {
        return;
    };
    let now = raw(cpu);
    if let Some(slot) = WINDOW.get(cpu.index()) {
        *slot.lock() = now;
    }
}
