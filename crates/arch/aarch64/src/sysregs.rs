//! Trapped system registers (MRS/MSR), as a table: the first rule whose masked
//! encoding matches gives the register's class for the exit handler
//! ([`RegClass`]) and its name for logs. Anything not listed is refused (Undefined
//! Instruction), which is what the architecture gives for a register that does not
//! exist. The GIC's registers go to the VM's interrupt controller ([`crate::chip`]).

use rtvisor_core::exit::RegClass;

/// A system-register encoding `op0, op1, CRn, CRm, op2`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SysRegId {
    /// op0.
    pub op0: u8,
    /// op1.
    pub op1: u8,
    /// CRn.
    pub crn: u8,
    /// CRm.
    pub crm: u8,
    /// op2.
    pub op2: u8,
}

impl SysRegId {
    /// A register encoding.
    pub const fn new(op0: u8, op1: u8, crn: u8, crm: u8, op2: u8) -> Self {
        Self {
            op0,
            op1,
            crn,
            crm,
            op2,
        }
    }

    /// From its [`pack`]ed form.
    pub const fn unpack(v: u32) -> Self {
        Self::new(
            (v >> 14) as u8 & 3,
            (v >> 11) as u8 & 7,
            (v >> 7) as u8 & 15,
            (v >> 3) as u8 & 15,
            v as u8 & 7,
        )
    }
}

/// ICC_SGI1R_EL1, packed: trapped whenever HCR_EL2.IMO or FMO is set; a Group-1 SGI
/// to vCPUs of the same VM, through the vGIC, or filtered to the VM's own cores in
/// direct mode.
pub const ICC_SGI1R_EL1: u32 = enc(3, 0, 12, 11, 5);

/// The Group-1 GIC CPU interface registers an untrusted direct-mode guest reaches only
/// through the hypervisor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CpuIfReg {
    /// ICC_IAR1_EL1: acknowledge (read).
    Iar1,
    /// ICC_EOIR1_EL1: end of interrupt (write).
    Eoir1,
    /// ICC_HPPIR1_EL1: highest pending (read).
    Hppir1,
    /// ICC_BPR1_EL1: binary point; the hypervisor fixes it (writes ignored).
    Bpr1,
    /// ICC_IGRPEN1_EL1: Group 1 enable.
    Igrpen1,
    /// ICC_AP1R<n>_EL1: active priorities; writes ignored (a written bit could make
    /// the running priority outrank the hypervisor's interrupts).
    Ap1r(u8),
}

impl CpuIfReg {
    /// The register the packed encoding `id` names, if it is one of these.
    pub fn of(id: u32) -> Option<Self> {
        let id = SysRegId::unpack(id);
        match (id.op0, id.op1, id.crn, id.crm, id.op2) {
            (3, 0, 12, 9, n @ 0..=3) => Some(Self::Ap1r(n)),
            (3, 0, 12, 12, 0) => Some(Self::Iar1),
            (3, 0, 12, 12, 1) => Some(Self::Eoir1),
            (3, 0, 12, 12, 2) => Some(Self::Hppir1),
            (3, 0, 12, 12, 3) => Some(Self::Bpr1),
            (3, 0, 12, 12, 7) => Some(Self::Igrpen1),
            _ => None,
        }
    }

    /// Whether a guest write goes to the hardware (others are dropped).
    pub const fn writable(self) -> bool {
        matches!(self, Self::Eoir1 | Self::Igrpen1)
    }
}

/// One table row.
#[derive(Debug)]
struct Rule {
    value: u32,
    mask: u32,
    name: &'static str,
    class: RegClass,
}

/// Packs an encoding as op0:op1:CRn:CRm:op2 (2:3:4:4:3 bits).
pub const fn pack(id: SysRegId) -> u32 {
    ((id.op0 as u32 & 3) << 14)
        | ((id.op1 as u32 & 7) << 11)
        | ((id.crn as u32 & 15) << 7)
        | ((id.crm as u32 & 15) << 3)
        | (id.op2 as u32 & 7)
}

const OP0: u32 = 3 << 14;
const OP1: u32 = 7 << 11;
const CRN: u32 = 15 << 7;
const CRM: u32 = 15 << 3;
const OP2: u32 = 7;
const EXACT: u32 = OP0 | OP1 | CRN | CRM | OP2;

const fn enc(op0: u8, op1: u8, crn: u8, crm: u8, op2: u8) -> u32 {
    pack(SysRegId::new(op0, op1, crn, crm, op2))
}

const RULES: &[Rule] = &[
    // SGI generation traps with HCR_EL2.IMO/FMO: Group 1 goes through the vGIC; the
    // other-security-state and Group-0 forms have no meaning for a guest.
    Rule {
        value: ICC_SGI1R_EL1,
        mask: EXACT,
        name: "ICC_SGI1R_EL1",
        class: RegClass::IrqChip,
    },
    Rule {
        value: enc(3, 0, 12, 11, 6),
        mask: EXACT,
        name: "ICC_ASGI1R_EL1",
        class: RegClass::Ignored,
    },
    Rule {
        value: enc(3, 0, 12, 11, 7),
        mask: EXACT,
        name: "ICC_SGI0R_EL1",
        class: RegClass::Ignored,
    },
    // No debug register: self-hosted debug is the guest's and does not trap
    // (crate::debug); one that trapped anyway would be refused, not faked.
    // Auxiliary control: IMPLEMENTATION DEFINED, trapped so it cannot change cores.
    Rule {
        value: enc(3, 0, 1, 0, 1),
        mask: EXACT,
        name: "ACTLR_EL1",
        class: RegClass::Ignored,
    },
    // The Group-1 CPU interface (ICC_AP1R<n>_EL1; ICC_IAR1/EOIR1/HPPIR1/BPR1/IGRPEN1_EL1
    // among CRm 12): traps only for an untrusted direct-mode guest. Last, so that the
    // lookup of the SGI register, on the IPI path, stays short.
    Rule {
        value: enc(3, 0, 12, 9, 0),
        mask: OP0 | OP1 | CRN | CRM | 4,
        name: "ICC_AP1R<n>_EL1",
        class: RegClass::IrqChip,
    },
    Rule {
        value: enc(3, 0, 12, 12, 0),
        mask: OP0 | OP1 | CRN | CRM,
        name: "ICC_*1_EL1",
        class: RegClass::IrqChip,
    },
];

/// The class of the register with packed encoding `key`, and its name for logs.
#[inline]
pub fn class(key: u32) -> (RegClass, &'static str) {
    RULES
        .iter()
        .find(|r| key & r.mask == r.value & r.mask)
        .map_or((RegClass::Refused, "unknown"), |r| (r.class, r.name))
}

/// The name of the register with packed encoding `key`, for logs.
pub fn name(key: u32) -> &'static str {
    class(key).1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_debug_register_is_emulated() {
        // DBGBVR0_EL1, MDSCR_EL1, OSLAR_EL1, MDCCSR_EL0: the guest's own (MDCR_EL2 does
        // not trap them), so none is faked as reading zero.
        for id in [
            SysRegId::new(2, 0, 0, 0, 4),
            SysRegId::new(2, 0, 0, 2, 2),
            SysRegId::new(2, 0, 1, 0, 4),
            SysRegId::new(2, 3, 0, 1, 0),
        ] {
            assert_eq!(class(pack(id)), (RegClass::Refused, "unknown"), "{id:?}");
        }
    }

    #[test]
    fn group1_cpu_interface_registers() {
        let iar1 = SysRegId::new(3, 0, 12, 12, 0);
        assert_eq!(class(pack(iar1)).0, RegClass::IrqChip);
        assert_eq!(CpuIfReg::of(pack(iar1)), Some(CpuIfReg::Iar1));
        let ap1r3 = SysRegId::new(3, 0, 12, 9, 3);
        assert_eq!(class(pack(ap1r3)).0, RegClass::IrqChip);
        assert_eq!(CpuIfReg::of(pack(ap1r3)), Some(CpuIfReg::Ap1r(3)));
        // ICC_AP0R0_EL1 (CRm 8) and ICC_CTLR_EL1 (CRm 12, op2 4) are not among them.
        assert_eq!(CpuIfReg::of(pack(SysRegId::new(3, 0, 12, 8, 4))), None);
        assert_eq!(CpuIfReg::of(pack(SysRegId::new(3, 0, 12, 12, 4))), None);
        assert!(!CpuIfReg::Ap1r(0).writable());
        assert!(!CpuIfReg::Bpr1.writable());
        assert!(CpuIfReg::Eoir1.writable());
        // Group 0 (ICC_IAR0_EL1) is not the guest's in any mode.
        assert_eq!(
            class(pack(SysRegId::new(3, 0, 12, 8, 0))).0,
            RegClass::Refused
        );
    }

    #[test]
    fn sgi_registers() {
        assert_eq!(
            class(pack(SysRegId::new(3, 0, 12, 11, 5))).0,
            RegClass::IrqChip
        );
        assert_eq!(
            class(pack(SysRegId::new(3, 0, 12, 11, 7))).0,
            RegClass::Ignored
        );
    }

    #[test]
    fn unknown_is_undefined() {
        assert_eq!(
            class(pack(SysRegId::new(3, 0, 15, 0, 0))),
            (RegClass::Refused, "unknown")
        );
        assert_eq!(
            class(pack(SysRegId::new(3, 0, 1, 0, 1))),
            (RegClass::Ignored, "ACTLR_EL1")
        );
    }

    #[test]
    fn unknown_and_implementation_defined_registers_are_refused() {
        let cases = [
            (SysRegId::new(3, 0, 15, 0, 0), "unknown"), // IMPLEMENTATION DEFINED space
            (SysRegId::new(3, 1, 15, 2, 0), "unknown"), // CPUACTLR_EL1 (Cortex-A57)
            (SysRegId::new(3, 0, 11, 0, 0), "unknown"), // IMPLEMENTATION DEFINED space
            (SysRegId::new(3, 4, 1, 1, 0), "unknown"),  // HCR_EL2
            (SysRegId::new(1, 0, 7, 6, 1), "unknown"),  // a cache maintenance op
        ];
        for (id, want) in cases {
            assert_eq!(class(pack(id)), (RegClass::Refused, want), "{id:?}");
        }
    }

    #[test]
    fn read_as_zero_registers() {
        let ids = [
            (SysRegId::new(3, 0, 1, 0, 1), "ACTLR_EL1"),
            (SysRegId::new(3, 0, 12, 11, 6), "ICC_ASGI1R_EL1"),
            (SysRegId::new(3, 0, 12, 11, 7), "ICC_SGI0R_EL1"),
        ];
        for (id, want) in ids {
            assert_eq!(class(pack(id)), (RegClass::Ignored, want), "{id:?}");
        }
    }

    #[test]
    fn encodings_pack_and_unpack() {
        for id in [
            SysRegId::new(3, 0, 12, 11, 5),
            SysRegId::new(2, 7, 15, 15, 7),
            SysRegId::new(0, 0, 0, 0, 0),
        ] {
            assert_eq!(SysRegId::unpack(pack(id)), id);
        }
        assert_eq!(
            SysRegId::unpack(ICC_SGI1R_EL1),
            SysRegId::new(3, 0, 12, 11, 5)
        );
        assert_eq!(name(ICC_SGI1R_EL1), "ICC_SGI1R_EL1");
    }
}
