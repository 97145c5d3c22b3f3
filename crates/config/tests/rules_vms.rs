//! T0: one test per scenario rule on VMs (names, CPUs, memory, consoles, images),
//! each asserting the exact message, hint and location.
//!
//! Line map of the helpers: 1-3 header (board, [hypervisor], console); the first
//! `[[vm]]` block is lines 4-9 (name 5, kind 6, cpus 7, memory 8, kernel 9), the
//! second starts at line 10 (name 11, cpus 13, memory 14).

mod support;

use support::{assert_one, errors, gp, rules_tree, scenario, vm};

const MEM16: &str = "{ size = \"16MiB\" }";

#[test]
fn a_valid_scenario_has_no_error() {
    let t = rules_tree();
    assert_eq!(
        errors(&t, &scenario(&[gp("a", "[1]"), gp("b", "[2, 3]")])),
        vec![]
    );
}

#[test]
fn vm_name_must_be_lowercase_digits_and_dashes() {
    let t = rules_tree();
    let s = scenario(&[gp("Web_Server", "[1]")]);
    let msg = "VM name `Web_Server` is not made of lowercase letters, digits and `-`";
    let hint = "use a name like `web-server`: it prefixes console lines and names generated files";
    assert_one(&t, &s, 5, 8, msg, hint);
}

#[test]
fn vm_names_are_unique() {
    let t = rules_tree();
    let s = scenario(&[gp("a", "[1]"), gp("a", "[2]")]);
    let hint = "the first VM named `a` is at line 5; rename one of them";
    assert_one(&t, &s, 11, 8, "VM name `a` is used twice", hint);
}

#[test]
fn a_scenario_needs_a_vm() {
    let t = rules_tree();
    assert_one(
        &t,
        &scenario(&[]),
        1,
        1,
        "the scenario defines no VM",
        "add a [[vm]] table; see scenarios/demo.toml",
    );
}

#[test]
fn a_vm_needs_cpus() {
    let t = rules_tree();
    let hint = "list the physical CPUs its vCPUs run on, e.g. cpus = [1]";
    assert_one(
        &t,
        &scenario(&[gp("a", "[]")]),
        7,
        8,
        "VM `a` has no CPUs",
        hint,
    );
}

#[test]
fn cpu_must_be_on_the_board() {
    let t = rules_tree();
    let msg = "CPU 7 of VM `a` is not on board `qemu-virt-aarch64`";
    let hint = "board `qemu-virt-aarch64` has CPUs 0 to 3 (positions in its [[cpu]] list)";
    assert_one(&t, &scenario(&[gp("a", "[7]")]), 7, 9, msg, hint);
}

#[test]
fn cpu_listed_twice_in_one_vm() {
    let t = rules_tree();
    let hint = "each vCPU needs its own physical CPU; remove the second 1";
    assert_one(
        &t,
        &scenario(&[gp("a", "[1, 1]")]),
        7,
        12,
        "CPU 1 is listed twice in VM `a`",
        hint,
    );
}

#[test]
fn cpu_given_to_two_vms() {
    let t = rules_tree();
    let s = scenario(&[gp("a", "[1]"), gp("b", "[2, 1]")]);
    let msg = "CPU 1 is given to both VM `a` and VM `b`";
    let hint = "vCPUs are pinned 1:1 to physical CPUs, nothing is time-shared; give each VM its own CPUs; free CPUs: 0, 3";
    assert_one(&t, &s, 13, 12, msg, hint);
}

#[test]
fn rt_vm_never_shares_a_cpu() {
    let t = rules_tree();
    let s = scenario(&[gp("a", "[3]"), vm("rt", "rt", "[3]", MEM16, "")]);
    let msg = "CPU 3 of real-time VM `rt` is also given to VM `a`";
    let hint = "a real-time VM never shares a CPU; give `a` a different CPU; free CPUs: 0, 1, 2";
    assert_one(&t, &s, 13, 9, msg, hint);
}

#[test]
fn direct_mode_vm_never_shares_a_cpu() {
    let t = rules_tree();
    let direct = vm(
        "d",
        "general",
        "[2]",
        MEM16,
        "interrupt-mode = \"direct\"\n",
    );
    let all = errors(&t, &scenario(&[direct, gp("b", "[2]")]));
    let s = |x: &str| x.to_owned();
    assert_eq!(
        all,
        vec![
            (
                s("s.toml"),
                10,
                18,
                s("VM `d` is `general` but asks for interrupt-mode = \"direct\""),
                s("direct interrupt delivery is for rt VMs; set kind = \"rt\" or interrupt-mode = \"virtual\"")
            ),
            (
                s("s.toml"),
                14,
                9,
                s("CPU 2 of VM `d` (interrupt-mode \"direct\") is also given to VM `b`"),
                s("a direct-mode VM owns its CPUs' interrupts; give `b` a different CPU; free CPUs: 0, 1, 3")
            ),
        ]
    );
}

#[test]
fn direct_trust_needs_direct_mode() {
    let t = rules_tree();
    let s = scenario(&[vm("rt", "rt", "[1]", MEM16, "direct-trust = \"trusted\"\n")]);
    let msg = "VM `rt` sets direct-trust but its interrupt-mode is not \"direct\"";
    let hint = "direct-trust says how far a direct-mode guest is trusted with the physical \
                GIC CPU interface; remove it, or set interrupt-mode = \"direct\"";
    assert_one(&t, &s, 10, 16, msg, hint);
    let ok = vm(
        "rt",
        "rt",
        "[1]",
        MEM16,
        "interrupt-mode = \"direct\"\ndirect-trust = \"untrusted\"\n",
    );
    let ok = scenario(&[ok]);
    assert_eq!(errors(&t, &ok), vec![]);
    assert_eq!(support::warnings(&t, &ok), vec![]);
}

#[test]
fn a_trusted_direct_vm_is_warned_about() {
    let t = rules_tree();
    let extra = "interrupt-mode = \"direct\"\ndirect-trust = \"trusted\"\n";
    let s = scenario(&[vm("rt", "rt", "[1]", MEM16, extra)]);
    assert_eq!(errors(&t, &s), vec![]);
    let msg = "VM `rt` is trusted with its cores' physical GIC CPU interface \
               (direct-trust = \"trusted\")";
    let hint = "a guest that writes ICC_AP1R0_EL1 keeps its cores from the hypervisor, which \
                then reports the VM unresponsive and neither restarts it nor reuses its memory; \
                keep \"trusted\" for guests you wrote or audited, else use \"untrusted\" (an \
                exit per interrupt acknowledge and end)";
    assert_eq!(
        support::warnings(&t, &s),
        vec![("s.toml".into(), 11, 16, msg.into(), hint.into())]
    );
}

#[test]
fn memory_size_must_not_be_zero() {
    let t = rules_tree();
    let s = scenario(&[vm("a", "general", "[1]", "{ size = 0 }", "")]);
    let hint = "give it at least 2 MiB, e.g. size = \"64MiB\"";
    assert_one(&t, &s, 8, 19, "memory size of VM `a` is zero", hint);
}

#[test]
fn memory_size_must_be_2mib_multiple() {
    let t = rules_tree();
    let s = scenario(&[vm("a", "general", "[1]", "{ size = \"3MiB\" }", "")]);
    let msg = "memory size of VM `a` (3 MiB) is not a multiple of 2 MiB";
    assert_one(
        &t,
        &s,
        8,
        19,
        msg,
        "memory is mapped in 2 MiB blocks; use \"4MiB\"",
    );
}

#[test]
fn memory_base_must_be_2mib_aligned() {
    let t = rules_tree();
    let s = scenario(&[vm(
        "a",
        "general",
        "[1]",
        "{ size = \"16MiB\", base = 0x5010_0000 }",
        "",
    )]);
    let msg = "memory base 0x5010_0000 of VM `a` is not 2 MiB aligned";
    assert_one(&t, &s, 8, 35, msg, "use 0x5000_0000 or 0x5020_0000");
}

#[test]
fn memory_must_be_in_board_ram() {
    let t = rules_tree();
    // Ending exactly at the end of RAM is fine; one 2 MiB block further is not.
    let s = scenario(&[vm(
        "a",
        "general",
        "[1]",
        "{ size = \"16MiB\", base = 0xbf00_0000 }",
        "",
    )]);
    assert_eq!(errors(&t, &s), vec![]);
    let s = s.replace("0xbf00_0000", "0xbf20_0000");
    let msg = "memory of VM `a` (0xbf20_0000..0xc020_0000) is not inside the board's RAM";
    assert_one(
        &t,
        &s,
        8,
        35,
        msg,
        "board `qemu-virt-aarch64` RAM: 0x4000_0000..0xc000_0000",
    );
}

#[test]
fn memory_must_not_overlap_the_hypervisor() {
    let t = rules_tree();
    let s = scenario(&[vm(
        "a",
        "general",
        "[1]",
        "{ size = \"16MiB\", base = 0x4200_0000 }",
        "",
    )]);
    let msg = "memory of VM `a` (0x4200_0000..0x4300_0000) overlaps the hypervisor (0x4020_0000..0x4220_0000)";
    let hint = "use a base of 0x4220_0000 or above, or leave out `base` to place it automatically";
    assert_one(&t, &s, 8, 35, msg, hint);
}

#[test]
fn memory_of_two_vms_must_not_overlap() {
    let t = rules_tree();
    let a = vm(
        "a",
        "general",
        "[1]",
        "{ size = \"16MiB\", base = 0x5000_0000 }",
        "",
    );
    let b = vm(
        "b",
        "general",
        "[2]",
        "{ size = \"16MiB\", base = 0x5080_0000 }",
        "",
    );
    let msg =
        "memory of VM `b` (0x5080_0000..0x5180_0000) overlaps VM `a` (0x5000_0000..0x5100_0000)";
    let hint = "move one of them, or leave out `base` to place memory automatically";
    assert_one(&t, &scenario(&[a, b]), 14, 35, msg, hint);
}

#[test]
fn memory_must_fit_in_board_ram() {
    let t = rules_tree();
    let s = scenario(&[vm("a", "general", "[1]", "{ size = \"2GiB\" }", "")]);
    let msg = "no room for the 2 GiB of VM `a` in the board's RAM";
    let hint = "give it less memory, or the others less; `rtvisor check` prints the map";
    assert_one(&t, &s, 8, 19, msg, hint);
}

#[test]
fn hypervisor_memory_must_be_2mib_multiple() {
    let t = rules_tree();
    let s = scenario(&[gp("a", "[1]")]).replace(
        "console = \"uart0\"\n",
        "console = \"uart0\"\nmemory = { size = \"3MiB\" }\n",
    );
    let msg = "memory size of the hypervisor (3 MiB) is not a multiple of 2 MiB";
    assert_one(
        &t,
        &s,
        4,
        19,
        msg,
        "memory is mapped in 2 MiB blocks; use \"4MiB\"",
    );
}

#[test]
fn console_must_be_a_board_uart() {
    let t = rules_tree();
    let s = scenario(&[gp("a", "[1]")]).replace("\"uart0\"", "\"uart1\"");
    let msg = "console `uart1` is not a UART of board `qemu-virt-aarch64`";
    assert_one(
        &t,
        &s,
        3,
        11,
        msg,
        "did you mean `uart0`? (board UARTs: uart0)",
    );
    let s = scenario(&[vm("a", "general", "[1]", MEM16, "console = \"serial\"\n")]);
    let msg = "console `serial` is not a UART of board `qemu-virt-aarch64`";
    assert_one(&t, &s, 10, 11, msg, "board UARTs: uart0");
}

#[test]
fn kernel_image_must_exist() {
    let t = rules_tree();
    let s = scenario(&[gp("a", "[1]")]).replace("k.bin", "sub/nope.bin");
    let msg = "kernel image `sub/nope.bin` of VM `a` does not exist";
    let hint = "looked for $T/sub/nope.bin; paths are relative to $T/s.toml; \
                build the guests (`cargo xtask build --guests-only`), or fix the path";
    assert_one(&t, &s, 9, 19, msg, hint);
}

#[test]
fn a_missing_linux_kernel_names_the_command_that_fetches_it() {
    let t = rules_tree();
    let s = scenario(&[gp("a", "[1]")]).replace("k.bin", "target/linux/Image");
    let hint = "looked for $T/target/linux/Image; paths are relative to $T/s.toml; \
                fetch Debian's arm64 kernel and build its initramfs (`cargo xtask linux`), \
                or fix the path";
    let msg = "kernel image `target/linux/Image` of VM `a` does not exist";
    assert_one(&t, &s, 9, 19, msg, hint);
}

#[test]
fn initrd_must_exist() {
    let t = rules_tree();
    std::fs::create_dir_all(t.path("dir")).unwrap();
    let s = scenario(&[vm("a", "general", "[1]", MEM16, "initrd = \"dir\"\n")]);
    let hint = "looked for $T/dir; paths are relative to $T/s.toml; \
                build the guests (`cargo xtask build --guests-only`), or fix the path";
    assert_one(&t, &s, 10, 10, "initrd `dir` of VM `a` is not a file", hint);
}

#[test]
fn board_file_must_be_readable() {
    let t = rules_tree();
    let s = scenario(&[gp("a", "[1]")]).replace("board.toml", "boards/none.toml");
    let msg =
        "cannot read board file `$T/boards/none.toml`: No such file or directory (os error 2)";
    let hint = "the board path is relative to $T/s.toml; boards live in boards/";
    assert_one(&t, &s, 1, 9, msg, hint);
}

#[test]
fn console_input_must_name_a_vm() {
    let t = rules_tree();
    let s = scenario(&[gp("linux", "[1]")]).replace(
        "console = \"uart0\"\n",
        "console = \"uart0\"\nconsole-input = \"linx\"\n",
    );
    let msg = "console-input `linx` is not a VM of this scenario";
    let hint = "did you mean `linux`? (remove the key to give input to the shell)";
    assert_one(&t, &s, 4, 17, msg, hint);
    let ok = scenario(&[gp("linux", "[1]")]).replace(
        "console = \"uart0\"\n",
        "console = \"uart0\"\nconsole-input = \"linux\"\n",
    );
    assert_eq!(support::errors(&t, &ok), vec![]);
}

/// The scenario of [`gp`] `a` with `[hypervisor] memory = {mem}` (line 4).
fn with_hv_memory(mem: &str) -> String {
    scenario(&[gp("a", "[1]")]).replace(
        "console = \"uart0\"\n",
        &format!("console = \"uart0\"\nmemory = {mem}\n"),
    )
}

#[test]
fn hypervisor_memory_base_moves_the_image_and_its_text_offset() {
    let t = rules_tree();
    let s = with_hv_memory("{ base = 0x5000_0000, size = \"32MiB\" }");
    let path = t.write("s.toml", &s);
    let plan = rtvisor_config::check(&path).expect("valid");
    assert_eq!(plan.hypervisor.memory.base.raw(), 0x5000_0000);
    assert_eq!(plan.hypervisor.text_offset, 0x1000_0000);
    let ld = rtvisor_config::linker::script(&plan);
    assert!(ld.contains(". = 0x50000000;"), "{ld}");
    assert!(ld.contains("__rtvisor_text_offset = 0x10000000;"), "{ld}");
    // Automatic VM memory goes after the hypervisor, wherever that is.
    assert_eq!(plan.vms[0].ram.hpa.raw(), 0x5200_0000);
    // Without `base`: 2 MiB into the first bank, as before.
    let path = t.write("s.toml", with_hv_memory("{ size = \"32MiB\" }"));
    let plan = rtvisor_config::check(&path).expect("valid");
    assert_eq!(
        (
            plan.hypervisor.memory.base.raw(),
            plan.hypervisor.text_offset
        ),
        (0x4020_0000, 0x20_0000)
    );
}

#[test]
fn hypervisor_memory_base_must_be_2mib_aligned() {
    let t = rules_tree();
    let s = with_hv_memory("{ base = 0x5010_0000, size = \"32MiB\" }");
    let msg = "hypervisor memory base 0x5010_0000 is not 2 MiB aligned";
    assert_one(&t, &s, 4, 19, msg, "use 0x5000_0000 or 0x5020_0000");
}

#[test]
fn hypervisor_memory_base_must_leave_2mib_below_it() {
    let t = rules_tree();
    let s = with_hv_memory("{ base = 0x4000_0000, size = \"32MiB\" }");
    let msg = "hypervisor memory base 0x4000_0000 is less than 2 MiB into the first RAM bank \
               (0x4000_0000)";
    let hint = "the image's load offset (text_offset) from the bank's start must be at least \
                2 MiB; use 0x4020_0000 or higher";
    assert_one(&t, &s, 4, 19, msg, hint);
}

#[test]
fn hypervisor_memory_base_must_keep_it_in_the_first_bank() {
    let t = rules_tree();
    let s = with_hv_memory("{ base = 0xbf00_0000, size = \"32MiB\" }");
    let msg = "hypervisor memory (0xbf00_0000..0xc100_0000) is not inside the first RAM bank";
    let hint = "it starts 2 MiB into the first RAM bank (0x4000_0000..0xc000_0000), or at its \
                `base`; make it smaller";
    assert_one(&t, &s, 4, 39, msg, hint);
}

/// The scenario of [`gp`] VMs with `[hypervisor]` lines `hv` after its console (line 4).
fn with_hv(vms: &[String], hv: &str) -> String {
    scenario(vms).replace(
        "console = \"uart0\"\n",
        &format!("console = \"uart0\"\n{hv}"),
    )
}

#[test]
fn shell_true_needs_a_free_cpu_and_false_takes_console_input_away() {
    let t = rules_tree();
    // The virt board has 4 CPUs: all taken.
    let full = [gp("a", "[0, 1]"), gp("b", "[2, 3]")];
    let msg = "shell = true, but the VMs take every CPU of board `qemu-virt-aarch64` (4), \
               and the shell runs only on a CPU that hosts no vCPU";
    let hint = "leave a CPU out of every VM's `cpus`, or remove the key (the image is then \
                built without the shell)";
    assert_one(&t, &with_hv(&full, "shell = true\n"), 4, 9, msg, hint);
    assert_eq!(
        support::errors(&t, &with_hv(&full, "shell = false\n")),
        vec![]
    );
    let free = [gp("a", "[1]")];
    assert_eq!(
        support::errors(&t, &with_hv(&free, "shell = true\n")),
        vec![]
    );
    let s = with_hv(&free, "shell = false\nconsole-input = \"a\"\n");
    let msg = "console-input `a` with shell = false: the shell CPU is what reads the console, \
               so no VM would get input";
    assert_one(
        &t,
        &s,
        5,
        17,
        msg,
        "remove console-input, or remove shell = false",
    );
}
