extern crate std;

use super::*;
use rtvisor_vdev::rng::Rng;
use rtvisor_vdev::x2apic::{msr, Effect, X2Apic, SVR_ENABLE};

/// What the CPU does with the page (the SDM's pseudo-code, for the parts used):
/// PPR virtualization, delivery of the pending virtual interrupt, EOI
/// virtualization with the EOI-exit bitmap, TPR virtualization.
struct Cpu {
    page: VapicPage,
    status: u16,
    eoi_exit: [u64; 4],
}

impl Cpu {
    fn ppr(&self) -> u32 {
        let tpr = self.page.reg(off::TPR);
        let svi = u32::from((self.status >> 8) as u8);
        if tpr & 0xf0 >= svi & 0xf0 {
            tpr & 0xff
        } else {
            svi & 0xf0
        }
    }

    /// The guest can take an interrupt: the CPU delivers RVI if its class is above
    /// PPR's; returns the vector.
    fn deliver(&mut self) -> Option<u8> {
        let rvi = self.status as u8;
        if u32::from(rvi & 0xf0) <= self.ppr() & 0xf0 {
            return None;
        }
        let mut irr = self.page.set(off::IRR);
        let mut isr = self.page.set(off::ISR);
        irr.set(rvi, false);
        isr.set(rvi, true);
        self.put(off::IRR, &irr);
        self.put(off::ISR, &isr);
        self.status = status(irr.highest().unwrap_or(0), rvi);
        Some(rvi)
    }

    /// The guest's EOI: the highest in-service vector retired; `Some` with it when
    /// its EOI-exit bit makes the CPU exit.
    fn eoi(&mut self) -> Option<u8> {
        let mut isr = self.page.set(off::ISR);
        let v = (self.status >> 8) as u8;
        isr.set(v, false);
        self.put(off::ISR, &isr);
        self.status = status(self.status as u8, isr.highest().unwrap_or(0));
        (self.eoi_exit[usize::from(v / 64)] & 1 << (v % 64) != 0).then_some(v)
    }

    fn put(&mut self, base: usize, s: &Vectors) {
        for n in 0..8 {
            self.page.set_word(base, n, s.word(n));
        }
    }
}

fn enabled() -> X2Apic {
    let mut a = X2Apic::new(2);
    a.write(msr::SVR, u64::from(SVR_ENABLE | 0xff), 0).unwrap();
    a
}

/// The engine's entry: the posted vectors into the page and the EOI-exit bitmap.
fn entry(model: &mut X2Apic, cpu: &mut Cpu) {
    if let Some((irr, level)) = model.take_posted() {
        cpu.status = cpu.page.post(&irr, &level, cpu.status);
        if let Some(b) = eoi_exits(cpu.eoi_exit, &irr, &level) {
            cpu.eoi_exit = b;
        }
    }
}

/// A random walk of accepted vectors (edge and level), deliveries, EOIs and TPR
/// writes, the model alone (`plain`, which the hypervisor uses without the hardware)
/// against the model handing its vectors to the CPU above (`split`, after a random
/// start in the plain way): the same vector is delivered at every step, the same
/// level-triggered EOIs are reported, the guest reads the same TPR, PPR, ISR, TMR
/// and IRR, and a halted vCPU wakes in the same cases.
#[test]
fn the_split_model_behaves_as_the_model_alone() {
    for seed in 1..=40u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let mut plain = enabled();
        let mut split = enabled();
        let vec = |rng: &mut Rng| 16 + rng.below(240) as u8;
        // A start in the plain way, then the hand-over.
        for _ in 0..rng.below(20) {
            let v = vec(&mut rng);
            let level = rng.below(3) == 0;
            plain.accept(v, level);
            split.accept(v, level);
            if rng.below(2) == 0 {
                assert_eq!(plain.ack(), split.ack());
            }
        }
        let hw = split.hand_over();
        let mut cpu = Cpu {
            page: VapicPage::ZERO,
            status: 0,
            eoi_exit: eoi_exits_of(&hw),
        };
        cpu.status = cpu.page.load(&hw);
        let mut delivered = 0;
        for step in 0..5_000 {
            let why = (seed, step);
            match rng.below(5) {
                0 => {
                    let v = vec(&mut rng);
                    let level = rng.below(4) == 0;
                    plain.accept(v, level);
                    split.accept(v, level);
                }
                1 => {
                    entry(&mut split, &mut cpu);
                    let got = cpu.deliver();
                    assert_eq!(got, plain.ack(), "{why:?}");
                    delivered += usize::from(got.is_some());
                }
                2 => {
                    entry(&mut split, &mut cpu);
                    if (cpu.status >> 8) != 0 {
                        let hw = cpu.eoi().map_or(Effect::None, |v| split.hw_eoi(v));
                        assert_eq!(hw, plain.write(msr::EOI, 0, 0).unwrap(), "{why:?}");
                    }
                }
                3 => {
                    let t = rng.below(256) as u32;
                    cpu.page.set_reg(off::TPR, t);
                    plain.write(msr::TPR, u64::from(t), 0).unwrap();
                }
                _ => {
                    entry(&mut split, &mut cpu);
                    assert_eq!(
                        cpu.page.deliverable(cpu.status),
                        plain.pending().is_some(),
                        "{why:?}"
                    );
                    assert_eq!(
                        cpu.ppr(),
                        plain.read(msr::PPR, 0).unwrap() as u32,
                        "{why:?}"
                    );
                    assert_eq!(
                        u64::from(cpu.page.reg(off::TPR)),
                        plain.read(msr::TPR, 0).unwrap()
                    );
                    for n in 0..8 {
                        for (base, m) in [(off::ISR, msr::ISR0), (off::IRR, msr::IRR0)] {
                            let want = plain.read(m + n as u32, 0).unwrap();
                            assert_eq!(
                                u64::from(cpu.page.word(base, n)),
                                want,
                                "{why:?} {m:#x}+{n}"
                            );
                        }
                    }
                }
            }
        }
        assert!(delivered > 100, "seed {seed}: {delivered} deliveries");
    }
}

#[test]
fn load_sets_status_ppr_and_the_level_vectors_exits() {
    let mut a = enabled();
    a.accept(0x41, true);
    a.accept(0x62, false);
    a.accept(0x30, false);
    assert_eq!(a.ack(), Some(0x62));
    a.write(msr::TPR, 0x45, 0).unwrap();
    let hw = a.hand_over();
    let mut p = VapicPage::ZERO;
    assert_eq!(p.load(&hw), status(0x41, 0x62));
    assert_eq!(p.reg(off::PPR), 0x60);
    assert_eq!(p.reg(off::TPR), 0x45);
    assert_eq!(p.word(off::TMR, 2), 1 << 1);
    assert_eq!(eoi_exits_of(&hw), [0, 1 << 1, 0, 0]);
    // RVI 0x41 is below PPR's class 6: nothing to deliver yet.
    assert!(!p.deliverable(status(0x41, 0x62)));
    assert!(p.deliverable(status(0x71, 0x62)));
}

#[test]
fn post_raises_rvi_and_sets_or_clears_tmr() {
    let mut p = VapicPage::ZERO;
    let mut irr = Vectors::EMPTY;
    let mut level = Vectors::EMPTY;
    irr.set(0x50, true);
    irr.set(0x21, true);
    level.set(0x50, true);
    assert_eq!(p.post(&irr, &level, status(0x40, 0x33)), status(0x50, 0x33));
    assert_eq!(p.word(off::IRR, 2), 1 << 0x10);
    assert_eq!(p.word(off::IRR, 1), 1 << 1);
    assert_eq!(p.word(off::TMR, 2), 1 << 0x10);
    // The same vector edge-triggered: TMR cleared, RVI kept where it is higher.
    let none = Vectors::EMPTY;
    let mut again = Vectors::EMPTY;
    again.set(0x50, true);
    assert_eq!(p.post(&again, &none, status(0x60, 0)), status(0x60, 0));
    assert_eq!(p.word(off::TMR, 2), 0);
    assert_eq!(eoi_exits([0, 1 << 0x10, 0, 0], &again, &none), Some([0; 4]));
    assert_eq!(eoi_exits([0; 4], &again, &none), None);
}
