use super::*;

const IF: u64 = RFLAGS_IF;

#[test]
fn nothing_pending_asks_for_nothing() {
    for s in [svm_state(IF, 0, 0), svm_state(0, 1, 0), vmx_state(0, 1, 0)] {
        assert_eq!(decide(false, s), Delivery::Idle);
    }
}

#[test]
fn svm_injects_only_when_the_guest_can_take_it() {
    assert_eq!(decide(true, svm_state(IF | 2, 0, 0)), Delivery::Inject);
    // IF clear (CLI), the shadow of STI or MOV SS, an exception queued: the window.
    assert_eq!(decide(true, svm_state(2, 0, 0)), Delivery::Window);
    assert_eq!(decide(true, svm_state(IF, 1, 0)), Delivery::Window);
    let gp = EVENT_VALID | 3 << 8 | 1 << 11 | 13;
    assert_eq!(decide(true, svm_state(IF, 0, gp)), Delivery::Window);
    // Only bit 0 of the shadow word is the shadow (bit 1 is GUEST_INTERRUPT_MASK).
    assert_eq!(decide(true, svm_state(IF, 2, 0)), Delivery::Inject);
}

#[test]
fn vmx_injects_only_when_the_guest_can_take_it() {
    assert_eq!(decide(true, vmx_state(IF, 0, 0)), Delivery::Inject);
    assert_eq!(decide(true, vmx_state(0, 0, 0)), Delivery::Window);
    // Blocking by STI (after STI; HLT), by MOV SS.
    assert_eq!(decide(true, vmx_state(IF, 1, 0)), Delivery::Window);
    assert_eq!(decide(true, vmx_state(IF, 2, 0)), Delivery::Window);
    // Blocking by SMI or NMI (bits 2, 3) does not hold interrupts back.
    assert_eq!(decide(true, vmx_state(IF, 8, 0)), Delivery::Inject);
    let ud = EVENT_VALID | 3 << 8 | 6;
    assert_eq!(decide(true, vmx_state(IF, 0, ud)), Delivery::Window);
}

#[test]
fn external_interrupt_event() {
    assert_eq!(external(0x20), 0x8000_0020);
    assert_eq!(external(0xff), 0x8000_00ff);
}

#[test]
fn cut_short_interrupts_and_exceptions_are_redelivered() {
    assert_eq!(svm_reinject(0), None);
    assert_eq!(svm_reinject(external(0x41)), Some(external(0x41)));
    // #PF with its error code in 63:32.
    let pf = 5 << 32 | EVENT_VALID | 1 << 11 | 3 << 8 | 14;
    assert_eq!(svm_reinject(pf), Some(pf));
    // INT n (type 4) and NMI (type 2) are not.
    assert_eq!(svm_reinject(EVENT_VALID | 4 << 8 | 0x80), None);
    assert_eq!(svm_reinject(EVENT_VALID | 2 << 8 | 2), None);

    assert_eq!(vmx_reinject(0x20, 0), None);
    assert_eq!(
        vmx_reinject(external(0x41), 9),
        Some((external(0x41), None))
    );
    // Bit 12 (NMI unblocking by IRET) is reserved in the entry field.
    let gp = EVENT_VALID | 1 << 12 | 1 << 11 | 3 << 8 | 13;
    assert_eq!(
        vmx_reinject(gp, 0x10),
        Some((EVENT_VALID | 1 << 11 | 3 << 8 | 13, Some(0x10)))
    );
    // Software interrupt (4), privileged software exception (5), software exception (6).
    for t in [4u64, 5, 6] {
        assert_eq!(vmx_reinject(EVENT_VALID | t << 8 | 3, 0), None);
    }
}

#[test]
fn a_hlt_in_an_sti_shadow_completes_before_the_injection() {
    let gp = EVENT_VALID | 3 << 8 | 1 << 11 | 13;
    let (on, off) = (svm_state(IF, 1, 0), svm_state(IF, 0, 0));
    let cases: &[(&str, Interruptible, u8, &[u8], u64)] = &[
        ("STI;HLT stopped between the two", on, 0, &[HLT, 0xfa], 1),
        (
            "the same on VMX (blocking by STI)",
            vmx_state(IF, 1, 0),
            0,
            &[HLT],
            1,
        ),
        ("no shadow: the HLT is not reached", off, 0, &[HLT], 0),
        (
            "IF clear: the HLT runs in the guest",
            svm_state(0, 1, 0),
            0,
            &[HLT],
            0,
        ),
        (
            "an event queued: it goes first",
            svm_state(IF, 1, gp),
            0,
            &[HLT],
            0,
        ),
        ("ring 3: its HLT faults in the guest", on, 3, &[HLT], 0),
        ("another instruction in the shadow", on, 0, &[0x90, HLT], 0),
        ("no code readable at RIP", on, 0, &[], 0),
    ];
    for &(what, s, cpl, code, skip) in cases {
        assert_eq!(halt_first(s, cpl, code), skip, "{what}");
    }
    // After the skip the shadow is over (the engines' `set_rip`): the interrupt is
    // injected at once rather than at a window.
    assert_eq!(decide(true, svm_state(IF, 0, 0)), Delivery::Inject);
}
