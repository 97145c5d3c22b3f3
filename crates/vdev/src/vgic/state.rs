//! Interrupt state storage: bit banks (one bit per INTID, private words banked per
//! vCPU), per-interrupt byte/link arrays, and the views derived from them.

use super::{ctlr, Notify, VGic, FIRST_SPI, MAX_VCPUS, NR_SPIS, WORDS};

/// Bit of `vcpu` in a vCPU mask (0 for an out-of-range index).
pub(super) fn vcpu_bit(vcpu: usize) -> u32 {
    u32::try_from(vcpu)
        .ok()
        .and_then(|v| 1u32.checked_shl(v))
        .unwrap_or(0)
}

/// Word index and bit of `intid`, if it is modelled.
fn locate(intid: u32) -> Option<(usize, u32)> {
    let w = usize::try_from(intid / 32).ok()?;
    (w < WORDS).then_some((w, 1 << (intid % 32)))
}

/// A set of INTIDs as one vCPU sees them (word 0: its SGIs and PPIs; words 1..:
/// the SPIs).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct IntidSet([u32; WORDS]);

impl IntidSet {
    /// The empty set.
    pub const EMPTY: IntidSet = IntidSet([0; WORDS]);

    /// Whether `intid` is in the set.
    pub fn contains(&self, intid: u32) -> bool {
        locate(intid).is_some_and(|(w, b)| self.word(w) & b != 0)
    }

    /// Adds `intid` (ignored when out of range).
    pub fn insert(&mut self, intid: u32) {
        if let Some((w, b)) = locate(intid) {
            if let Some(x) = self.0.get_mut(w) {
                *x |= b;
            }
        }
    }

    /// Removes `intid`.
    pub fn remove(&mut self, intid: u32) {
        if let Some((w, b)) = locate(intid) {
            if let Some(x) = self.0.get_mut(w) {
                *x &= !b;
            }
        }
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.0.iter().all(|&w| w == 0)
    }

    /// The set of word 0 (INTIDs 0-31) `bits`.
    pub const fn word0(bits: u32) -> IntidSet {
        let mut s = [0; WORDS];
        s[0] = bits;
        IntidSet(s)
    }

    /// Whether every member is in word 0 and in `mask`.
    pub fn only_in_word0(&self, mask: u32) -> bool {
        let mut rest = *self;
        rest.0[0] &= !mask;
        rest == IntidSet::EMPTY
    }

    /// The only member, when the set has exactly one.
    pub fn single(&self) -> Option<u32> {
        let mut found = None;
        for (n, &w) in self.0.iter().enumerate() {
            if w == 0 {
                continue;
            }
            if found.is_some() || !w.is_power_of_two() {
                return None;
            }
            found = u32::try_from(n).ok().map(|n| n * 32 + w.trailing_zeros());
        }
        found
    }

    /// Word `n` (INTIDs `32n..32n+32`), 0 out of range.
    pub fn word(&self, n: usize) -> u32 {
        self.0.get(n).copied().unwrap_or(0)
    }

    /// Union.
    pub fn or(self, o: IntidSet) -> IntidSet {
        self.zip(o, |a, b| a | b)
    }

    /// Intersection.
    pub fn and(self, o: IntidSet) -> IntidSet {
        self.zip(o, |a, b| a & b)
    }

    /// Difference.
    pub fn minus(self, o: IntidSet) -> IntidSet {
        self.zip(o, |a, b| a & !b)
    }

    /// The INTIDs in increasing order.
    pub fn iter(&self) -> IntidIter {
        IntidIter { set: *self, w: 0 }
    }

    pub(super) fn zip(mut self, o: IntidSet, f: impl Fn(u32, u32) -> u32) -> IntidSet {
        for (a, b) in self.0.iter_mut().zip(o.0) {
            *a = f(*a, b);
        }
        self
    }

    pub(super) fn set_word(&mut self, n: usize, v: u32) {
        if let Some(x) = self.0.get_mut(n) {
            *x = v;
        }
    }
}

/// Iterator over an [`IntidSet`].
#[derive(Clone, Debug)]
pub struct IntidIter {
    set: IntidSet,
    w: usize,
}

impl Iterator for IntidIter {
    type Item = u32;
    fn next(&mut self) -> Option<u32> {
        loop {
            let word = self.set.0.get_mut(self.w)?;
            if *word != 0 {
                let bit = word.trailing_zeros();
                *word &= *word - 1;
                return u32::try_from(self.w).ok().map(|w| w * 32 + bit);
            }
            self.w += 1;
        }
    }
}

/// One bit per INTID: word 0 banked per vCPU, the SPI words shared.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) struct Bank {
    private: [u32; MAX_VCPUS],
    shared: [u32; WORDS - 1],
}

impl Bank {
    pub(super) const ZERO: Bank = Bank::filled(0, 0);
    pub(super) const ONES: Bank = Bank::filled(u32::MAX, u32::MAX);
    /// SGIs (0-15) set, the rest clear.
    pub(super) const SGIS_EDGE: Bank = Bank::filled(0xffff, 0);

    const fn filled(private: u32, shared: u32) -> Bank {
        Bank {
            private: [private; MAX_VCPUS],
            shared: [shared; WORDS - 1],
        }
    }

    /// Word `n` as `vcpu` sees it (0 out of range).
    pub(super) fn word(&self, vcpu: usize, n: usize) -> u32 {
        match n.checked_sub(1) {
            None => self.private.get(vcpu).copied().unwrap_or(0),
            Some(s) => self.shared.get(s).copied().unwrap_or(0),
        }
    }

    pub(super) fn word_mut(&mut self, vcpu: usize, n: usize) -> Option<&mut u32> {
        match n.checked_sub(1) {
            None => self.private.get_mut(vcpu),
            Some(s) => self.shared.get_mut(s),
        }
    }

    /// SPI word `s` (word `s + 1` of every vCPU's view; 0 out of range).
    pub(super) fn spi_word(&self, s: usize) -> u32 {
        self.shared.get(s).copied().unwrap_or(0)
    }

    /// SPI word `s`, to change.
    pub(super) fn spi_word_mut(&mut self, s: usize) -> Option<&mut u32> {
        self.shared.get_mut(s)
    }

    /// Applies `f` to word `n` of `vcpu`; returns (old, new).
    pub(super) fn update(&mut self, vcpu: usize, n: usize, f: impl Fn(u32) -> u32) -> (u32, u32) {
        match self.word_mut(vcpu, n) {
            Some(w) => {
                let old = *w;
                *w = f(old);
                (old, *w)
            }
            None => (0, 0),
        }
    }

    /// The whole bank as `vcpu` sees it.
    pub(super) fn view(&self, vcpu: usize) -> IntidSet {
        let mut s = IntidSet::EMPTY;
        for n in 0..WORDS {
            s.set_word(n, self.word(vcpu, n));
        }
        s
    }

    pub(super) fn get(&self, vcpu: usize, intid: u32) -> bool {
        locate(intid).is_some_and(|(w, b)| self.word(vcpu, w) & b != 0)
    }

    pub(super) fn set(&mut self, vcpu: usize, intid: u32, on: bool) {
        if let Some((w, b)) = locate(intid) {
            self.update(vcpu, w, |x| if on { x | b } else { x & !b });
        }
    }
}

/// One value per INTID: private ones banked per vCPU, SPIs shared.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) struct PerIrq<T: Copy> {
    private: [[T; FIRST_SPI as usize]; MAX_VCPUS],
    shared: [T; NR_SPIS],
}

impl<T: Copy> PerIrq<T> {
    pub(super) const fn filled(v: T) -> Self {
        Self {
            private: [[v; FIRST_SPI as usize]; MAX_VCPUS],
            shared: [v; NR_SPIS],
        }
    }

    pub(super) fn get(&self, vcpu: usize, intid: u32) -> Option<&T> {
        let i = usize::try_from(intid).ok()?;
        match i.checked_sub(FIRST_SPI as usize) {
            None => self.private.get(vcpu)?.get(i),
            Some(s) => self.shared.get(s),
        }
    }

    /// The value of SPI `i` (INTID 32 + `i`).
    pub(super) fn spi(&self, i: usize) -> Option<&T> {
        self.shared.get(i)
    }

    pub(super) fn get_mut(&mut self, vcpu: usize, intid: u32) -> Option<&mut T> {
        let i = usize::try_from(intid).ok()?;
        match i.checked_sub(FIRST_SPI as usize) {
            None => self.private.get_mut(vcpu)?.get_mut(i),
            Some(s) => self.shared.get_mut(s),
        }
    }
}

/// `GICD_IROUTER` bits kept: Aff3 (39:32), IRM (31), Aff2..Aff0 (23:0).
pub(super) const IROUTER_MASK: u64 = 0xff_80ff_ffff;
const IROUTER_IRM: u64 = 1 << 31;

impl VGic {
    /// Mask of all existing vCPUs.
    pub(super) fn all_vcpus(&self) -> u32 {
        // One bit below `nvcpus` each: nvcpus <= MAX_VCPUS <= 16 (checked at compile
        // time in mod.rs), so the shift never leaves the word.
        vcpu_bit(self.nvcpus).wrapping_sub(1)
    }

    /// The vCPU an `IROUTER` value names in this VM, if any.
    pub(super) fn route_of(&self, irouter: u64) -> Option<usize> {
        if irouter & IROUTER_IRM != 0 {
            return (self.nvcpus > 0).then_some(0);
        }
        let aff0 = usize::try_from(irouter & 0xff).ok()?;
        (irouter & IROUTER_MASK & !0xff == 0 && aff0 < self.nvcpus).then_some(aff0)
    }

    /// Rebuilds every vCPU's reachable set from the routes.
    pub(super) fn recompute_reach(&mut self) {
        let mut reach = [IntidSet::EMPTY; MAX_VCPUS];
        for r in reach.iter_mut().take(self.nvcpus) {
            r.set_word(0, u32::MAX);
        }
        for (spi, &irouter) in (FIRST_SPI..).zip(self.irouter.iter()) {
            if let Some(r) = self.route_of(irouter).and_then(|v| reach.get_mut(v)) {
                r.insert(spi);
            }
        }
        self.reach = reach;
    }

    /// Enabled groups as a bit mask over word `n` of `vcpu`.
    pub(super) fn group_ok(&self, vcpu: usize, n: usize) -> u32 {
        let g = self.group.word(vcpu, n);
        let mut m = 0;
        if self.ctlr & ctlr::ENABLE_GRP1 != 0 {
            m |= g;
        }
        if self.ctlr & ctlr::ENABLE_GRP0 != 0 {
            m |= !g;
        }
        m
    }

    /// Pending as the model holds it (latch or high level line), without the
    /// list registers.
    pub(super) fn model_pending(&self, vcpu: usize, n: usize) -> u32 {
        self.latch.word(vcpu, n) | (self.level.word(vcpu, n) & !self.edge.word(vcpu, n))
    }

    /// The list-register sets of all vCPUs, OR-ed, as `vcpu` sees them (private
    /// word from `vcpu` only).
    fn lr_union(&self, vcpu: usize, sets: &[IntidSet; MAX_VCPUS]) -> IntidSet {
        let mut u = IntidSet::EMPTY;
        for s in sets.iter().take(self.nvcpus) {
            u = u.or(*s);
        }
        u.set_word(0, sets.get(vcpu).map_or(0, |s| s.word(0)));
        u
    }

    /// Pending as the guest sees it from `vcpu`.
    pub(super) fn pending_view(&self, vcpu: usize) -> IntidSet {
        let mut s = self.lr_union(vcpu, &self.lr_pend);
        for n in 0..WORDS {
            s.set_word(n, s.word(n) | self.model_pending(vcpu, n));
        }
        s
    }

    /// Active as the guest sees it from `vcpu`.
    pub(super) fn active_view(&self, vcpu: usize) -> IntidSet {
        self.lr_union(vcpu, &self.lr_act).or(self.active.view(vcpu))
    }

    /// Whether `intid` would be delivered to `vcpu` now if pending.
    pub(super) fn deliverable(&self, vcpu: usize, intid: u32) -> bool {
        let Some((w, b)) = locate(intid) else {
            return false;
        };
        self.enabled.word(vcpu, w) & self.group_ok(vcpu, w) & b != 0
            && self.reach.get(vcpu).is_some_and(|r| r.contains(intid))
    }

    /// vCPUs concerned by a change of `bits` in word `n` of `vcpu`: the vCPU
    /// itself for private interrupts; for SPIs their targets and the vCPUs whose
    /// list registers hold them.
    pub(super) fn concerned(&self, vcpu: usize, n: usize, bits: u32) -> Notify {
        if bits == 0 {
            return Notify::NONE;
        }
        let mut kick = 0;
        if n == 0 {
            kick = vcpu_bit(vcpu);
        } else {
            for v in 0..self.nvcpus {
                let mine = self.reach.get(v).map_or(0, |r| r.word(n));
                let held = self.in_lr.get(v).map_or(0, |r| r.word(n));
                if (mine | held) & bits != 0 {
                    kick |= vcpu_bit(v);
                }
            }
        }
        Notify {
            kick,
            ..Notify::NONE
        }
    }

    /// HW-linked INTIDs among `bits` of word `n` (of `vcpu`), as a notification.
    pub(super) fn hw_notify(&self, vcpu: usize, n: usize, bits: u32) -> Notify {
        let mut set = IntidSet::EMPTY;
        let base = u32::try_from(n).unwrap_or(u32::MAX).saturating_mul(32);
        let mut rest = bits;
        while rest != 0 {
            let intid = base.saturating_add(rest.trailing_zeros());
            rest &= rest - 1;
            if self.hw.get(vcpu, intid).is_some_and(Option::is_some) {
                set.insert(intid);
            }
        }
        Notify {
            kick: 0,
            hw_changed: set,
        }
    }
}
