//! Addresses the linker script (`rtvisor_config::linker`) defines, each loaded from a
//! literal (an absolute 64-bit address beside the code): the hypervisor is built with
//! the tiny code model, whose `adr` reaches 1 MiB, and the stacks, the pool, the
//! guests and `__stack_size` (a size, not an address) are farther.

unsafe extern "C" {
    static __image_start: u8;
    static __text_end: u8;
    static __rodata_end: u8;
    static __image_end: u8;
    static __boot_stack_end: u8;
    static __stacks_start: u8;
    static __stack_size: u8;
    static __pt_pool_start: u8;
    static __pt_pool_end: u8;
    static __payload_start: u8;
}

macro_rules! sym {
    ($($f:ident => $s:ident),*) => { $(
        /// Address of the linker symbol.
        pub fn $f() -> u64 {
            let at: u64;
            // SAFETY: loads the symbol's absolute address from a literal pool entry;
            // nothing is dereferenced.
            unsafe {
                core::arch::asm!("ldr {0}, ={1}", out(reg) at, sym $s,
                    options(pure, nomem, nostack))
            };
            at
        }
    )* };
}

sym!(image_start => __image_start, text_end => __text_end, rodata_end => __rodata_end,
    image_end => __image_end, boot_stack_end => __boot_stack_end,
    stacks_start => __stacks_start, stack_size => __stack_size,
    pool_start => __pt_pool_start, pool_end => __pt_pool_end,
    payload_start => __payload_start);
