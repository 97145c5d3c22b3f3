//! Queued invalidation (VT-d 6.5.2): each unit's queue page, the descriptors the
//! hypervisor puts on it and the wait for their completion; and interrupt remapping
//! turned on, which needs the queue for its entry cache.

use super::{
    flush, publish, Page, Unit, VtdError, ANSWER_US, CFI, FSTS, FSTS_IQE, GCMD, GSTS, IQA, IQH,
    IQT, IRE, IRTA, QIE, QUEUE_LEN, SIRTP, STATUS,
};
use crate::vtd::ir::{self, Descriptor, IRTA_SIZE};
use crate::vtd::tables::command;
use core::sync::atomic::{AtomicU32, Ordering};
use rtvisor_vdev::Width;

/// Writes descriptor `d` at index `i` of `queue` and writes its line back (the unit
/// may not snoop the CPU's caches).
fn put(queue: &mut Page, i: usize, d: Descriptor) {
    let slot = &mut queue.0[2 * i..2 * i + 2];
    publish(slot, d);
    flush(slot.as_ptr() as u64 & !63, 64);
}

/// Whether the unit wrote `token` to `status` (its line read afresh).
fn reached(status: &AtomicU32, token: u32) -> bool {
    flush(status.as_ptr() as u64 & !63, 64);
    status.load(Ordering::SeqCst) == token
}

impl Unit {
    /// Puts `descs` and a wait on the unit's queue (`queue`, its page) and waits
    /// until the unit has carried them out.
    pub(super) fn submit(
        &mut self,
        queue: &mut Page,
        descs: &[Descriptor],
    ) -> Result<(), VtdError> {
        let status = &STATUS[self.slot];
        self.token = self.token.wrapping_add(1).max(1);
        let token = self.token;
        status.store(0, Ordering::SeqCst);
        let at = status.as_ptr() as u64;
        let wait = ir::inv_wait(at, token);
        for d in descs.iter().chain(core::iter::once(&wait)) {
            put(queue, self.tail, *d);
            self.tail = (self.tail + 1) % QUEUE_LEN;
        }
        self.set(IQT, Width::Double, (self.tail as u64) << 4);
        let done = || reached(status, token);
        if !crate::timer::wait_until(ANSWER_US, || {
            done() || self.reg(FSTS, Width::Word) & FSTS_IQE != 0
        }) {
            return Err(VtdError::NoAnswer(self.regs.base()));
        }
        if self.reg(FSTS, Width::Word) & FSTS_IQE != 0 {
            // The unit stopped at the descriptor it refused (IQH names it) and would
            // fetch it again: it is replaced by this batch's wait, so that the queue
            // runs on (as Linux does), and the batch counts as failed.
            let head = (self.reg(IQH, Width::Double) >> 4) as usize % QUEUE_LEN;
            put(queue, head, wait);
            self.set(FSTS, Width::Word, FSTS_IQE);
            let _ = crate::timer::wait_until(ANSWER_US, done);
            return Err(VtdError::Queue(self.regs.base()));
        }
        Ok(())
    }

    /// Turns queued invalidation on, with the queue at page `queue`.
    pub(super) fn queue_on(&mut self, queue: &Page) -> Result<(), VtdError> {
        self.set(IQT, Width::Double, 0);
        self.tail = 0;
        self.set(IQA, Width::Double, queue.0.as_ptr() as u64);
        self.command(QIE, true)?;
        self.queued = true;
        Ok(())
    }

    /// Turns interrupt remapping on with the table at `irt`, compatibility-format
    /// interrupts blocked; the interrupt entry cache is dropped first.
    pub(super) fn remapping_on(&mut self, queue: &mut Page, irt: u64) -> Result<(), VtdError> {
        self.set(IRTA, Width::Double, irt | IRTA_SIZE);
        let gsts = self.reg(GSTS, Width::Word) as u32;
        self.set(GCMD, Width::Word, u64::from(command(gsts, SIRTP, true)));
        self.wait(GSTS, Width::Word, |s| s as u32 & SIRTP != 0)?;
        self.submit(queue, &[ir::inv_iec(None)])?;
        if self.reg(GSTS, Width::Word) as u32 & CFI != 0 {
            self.command(CFI, false)?;
        }
        self.command(IRE, true)
    }
}
