//! T0: PCI functions given to x86_64 VMs: a board's `[[pcie]]` (q35's MMCONFIG) with
//! INTx on PCI GSIs, a VM's `devices` naming functions `BRIDGE/BB:DD.F`, each rule's
//! exact message, hint and location.

mod support;

use support::{errors, fake_pvh_elf, repo, Flat, Tree};

/// The q35 board (its `[[pcie]]` is the host bridge as the firmware's MCFG describes
/// it: ECAM at 0xb000_0000, 256 buses) with each `(from, to)` of `edits` replaced, and
/// a PVH guest `k.elf`.
fn tree(edits: &[(&str, &str)]) -> Tree {
    let t = Tree::new("pci-x86");
    let mut board = std::fs::read_to_string(repo().join("boards/qemu-q35-x86_64.toml")).unwrap();
    for (from, to) in edits {
        assert!(board.contains(from), "{from}");
        board = board.replace(from, to);
    }
    t.write("board.toml", board);
    t.write("k.elf", fake_pvh_elf(0x10_0000, 4096, 0x10_0010, 4));
    t
}

/// One VM `a` on CPU 1 with `devices` and `memory`, and optionally a VM `b` on CPU 2
/// with `devices_b`.
fn scenario(memory: &str, devices: &str, devices_b: Option<&str>) -> String {
    let vm = |name: &str, cpu: u32, devices: &str| {
        format!(
            "[[vm]]\nname = \"{name}\"\nkind = \"general\"\ncpus = [{cpu}]\nmemory = {memory}\n\
             kernel = {{ path = \"k.elf\", format = \"elf\" }}\ndevices = {devices}\n"
        )
    };
    let mut s = format!(
        "board = \"board.toml\"\n[hypervisor]\nconsole = \"com1\"\n{}",
        vm("a", 1, devices)
    );
    if let Some(d) = devices_b {
        s += &vm("b", 2, d);
    }
    s
}

const PLAIN: &str = "{ size = \"16MiB\" }";

/// The error for a function given to a VM that is not identity-mapped.
fn no_identity(line: usize, col: usize, d: &str, vm: &str) -> Flat {
    (
        "s.toml".into(),
        line,
        col,
        format!("PCI function `{d}` needs an identity-mapped VM; VM `{vm}` is not"),
        format!(
            "the function's DMA uses host-physical addresses with no IOMMU in between, so \
             the VM's RAM must be at its host-physical addresses: set memory = {{ ..., \
             identity = true }} in VM `{vm}` (docs/scenario.md, \"Identity-mapped x86_64 VMs\")"
        ),
    )
}

fn flat(line: usize, col: usize, msg: &str, hint: &str) -> Flat {
    ("s.toml".into(), line, col, msg.into(), hint.into())
}

#[test]
fn an_x86_board_may_describe_its_host_bridge() {
    let t = tree(&[]);
    assert_eq!(errors(&t, &scenario(PLAIN, "[]", None)), vec![]);
    let t = tree(&[("intx = [20, 21, 22, 23]", "intx = [20, 21, 22, 9]")]);
    let errs = errors(&t, &scenario(PLAIN, "[]", None));
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert_eq!(
        errs[0].3,
        "INTx interrupt 9 of `pcie@b0000000` is not a PCI GSI"
    );
    assert_eq!(
        errs[0].4,
        "on x86_64 INTx lines are the I/O APIC's PCI inputs, GSIs 16 to 255 (q35: its \
         devices 0 to 24 reach PIRQE-H, GSIs 20 to 23)"
    );
}

#[test]
fn a_function_needs_an_identity_mapped_vm() {
    let t = tree(&[]);
    let d = "pcie@b0000000/00:03.0";
    let s = scenario(PLAIN, &format!("[\"{d}\"]"), None);
    assert_eq!(errors(&t, &s), vec![no_identity(10, 12, d, "a")]);
}

#[test]
fn an_identity_mapped_vm_takes_a_function() {
    let t = tree(&[]);
    let d = "pcie@b0000000/00:03.0";
    let s = scenario(
        "{ size = \"16MiB\", identity = true }",
        &format!("[\"{d}\"]"),
        None,
    )
    .replace(
        "console = \"com1\"\n",
        "console = \"com1\"\nmemory = { size = \"32MiB\", base = 0x1000_0000 }\n",
    );
    assert_eq!(errors(&t, &s), vec![]);
    // The plan carries it, with its bridge's ECAM window and INTx GSIs, for the
    // hypervisor's tables.
    let plan = rtvisor_config::check(&t.path("s.toml")).unwrap();
    let f = &plan.vms[0].pci;
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].name, d);
    assert_eq!((f[0].addr.bus, f[0].addr.dev, f[0].addr.func), (0, 3, 0));
    assert_eq!(f[0].ecam.raw(), 0xb000_0000);
    assert_eq!(f[0].intx, [20, 21, 22, 23]);
    let tables = rtvisor_config::codegen::render(&plan, std::path::Path::new("$OUT_DIR")).unwrap();
    assert!(
        tables.contains(
            "PciFunctionMap { name: \"pcie@b0000000/00:03.0\", bus: 0, dev: 3, func: 0, \
             ecam: Hpa::new(0xb000_0000), intx: [20, 21, 22, 23] }"
        ),
        "{tables}"
    );
    // With its host bridge's 32-bit windows, where its BARs must be (DSDT PCI0).
    assert!(
        tables.contains(
            "pci_windows: &[MemRegion { base: Ipa::new(0xf000_0000), size: 0x0eb0_0000 }, \
             MemRegion { base: Ipa::new(0xfeb0_1000), size: 0x000f_f000 }],"
        ),
        "{tables}"
    );
}

#[test]
fn a_bridge_is_never_given_whole() {
    let t = tree(&[]);
    let s = scenario(PLAIN, "[\"pcie@b0000000\"]", None);
    let msg = "VM `a` lists host bridge `pcie@b0000000` whole; on x86_64 a VM gets functions \
               of it";
    let hint = "name each function as `pcie@b0000000/BB:DD.F` (bus, device and function as \
                lspci shows them, for example `pcie@b0000000/00:03.0`); the host's own \
                functions stay on the bridge";
    assert_eq!(errors(&t, &s), vec![flat(10, 12, msg, hint)]);
}

#[test]
fn function_addresses_have_one_form_and_a_bus_of_the_bridge() {
    let t = tree(&[("bus-range = [0, 255]", "bus-range = [0, 3]")]);
    let s = scenario(
        PLAIN,
        "[\"pcie@b0000000/0:3.0\", \"pcie@b0000000/04:03.0\"]",
        None,
    );
    let hint = "write `pcie@b0000000/BB:DD.F`: bus and device in two lower-case hex digits, \
                the function from 0 to 7 (for example `pcie@b0000000/00:03.0`)";
    assert_eq!(
        errors(&t, &s),
        vec![
            flat(
                10,
                12,
                "`pcie@b0000000/0:3.0` is not a function address: the bus is not two \
                 lower-case hex digits",
                hint
            ),
            flat(
                10,
                35,
                "function 04:03.0 is on bus 4, outside buses 0-3 of `pcie@b0000000`",
                "give a function on a bus of `pcie@b0000000` (its `bus-range`)"
            ),
            no_identity(10, 35, "pcie@b0000000/04:03.0", "a"),
        ]
    );
}

#[test]
fn a_function_belongs_to_one_vm() {
    let t = tree(&[]);
    let d = "pcie@b0000000/00:03.0";
    let s = scenario(PLAIN, &format!("[\"{d}\"]"), Some(&format!("[\"{d}\"]")));
    let errs = errors(&t, &s);
    let both = flat(
        17,
        12,
        "device `pcie@b0000000/00:03.0` is given to both VM `a` and VM `b`",
        "a device belongs to one VM; remove it from one of them",
    );
    assert!(errs.contains(&both), "{errs:?}");
}

#[test]
fn an_intx_line_belongs_to_one_vm() {
    let t = tree(&[]);
    let (a, b) = ("pcie@b0000000/00:03.0", "pcie@b0000000/00:07.0");
    let ident = "{ size = \"16MiB\", identity = true }";
    // 00:03.0 and 00:07.0 both raise INTA on GSI 23; 00:04.0 on GSI 20.
    let s = scenario(ident, &format!("[\"{a}\"]"), Some(&format!("[\"{b}\"]")));
    let errs = errors(&t, &s);
    let shared = flat(
        17,
        12,
        "PCI function `pcie@b0000000/00:07.0` of VM `b` raises INTA on GSI 23, the line of \
         function `pcie@b0000000/00:03.0` of VM `a`",
        "a level-triggered INTx line cannot be shared between VMs (one guest would hold the \
         other's interrupts off); give both functions to one VM, or plug one at a device \
         number whose INTA reaches another GSI (INTA of device d reaches `intx[d % 4]` of \
         `pcie@b0000000` (the board's [[pcie]] `intx`))",
    );
    assert!(errs.contains(&shared), "{errs:?}");
    let s = scenario(
        ident,
        &format!("[\"{a}\"]"),
        Some("[\"pcie@b0000000/00:04.0\"]"),
    );
    assert!(!errors(&t, &s).iter().any(|e| e.3.contains("raises INTA")));
    // One VM may have both.
    let s = scenario(ident, &format!("[\"{a}\", \"{b}\"]"), None);
    assert!(!errors(&t, &s).iter().any(|e| e.3.contains("raises INTA")));
    // A direct-mode VM's function forwards no INTx (MSI or MSI-X only): no clash.
    let s = scenario(ident, &format!("[\"{a}\"]"), Some(&format!("[\"{b}\"]"))).replace(
        "name = \"b\"\nkind = \"general\"",
        "name = \"b\"\nkind = \"rt\"\ninterrupt-mode = \"direct\"",
    );
    assert!(s.contains("interrupt-mode"));
    assert!(!errors(&t, &s).iter().any(|e| e.3.contains("raises INTA")));
}

#[test]
fn an_intx_line_is_a_device_pin_of_the_vm() {
    let t = tree(&[("intx = [20, 21, 22, 23]", "intx = [40, 41, 42, 43]")]);
    let s = scenario(PLAIN, "[\"pcie@b0000000/00:03.0\"]", None);
    let errs = errors(&t, &s);
    let past = flat(
        10,
        12,
        "PCI function `pcie@b0000000/00:03.0` raises INTA on GSI 43, past the device pins of \
         VM `a`'s I/O APIC (GSIs below 32)",
        "the VM sees the function's INTx on the host's GSI; INTA of device d reaches \
         `intx[d % 4]` of `pcie@b0000000` (the board's [[pcie]] `intx`): give a function \
         whose line is below 32, or raise DEVICE_GSIS in crates/config/src/contract/x86_64.rs",
    );
    assert!(errs.contains(&past), "{errs:?}");
}

#[test]
fn an_unknown_bridge_is_an_unknown_device() {
    let t = tree(&[]);
    let s = scenario(PLAIN, "[\"pcie@c0000000/00:03.0\"]", None);
    let errs = errors(&t, &s);
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert_eq!(
        errs[0].3,
        "device `pcie@c0000000/00:03.0` is not on board `qemu-q35-x86_64`"
    );
}

#[test]
fn a_vm_gets_at_most_the_contracts_functions() {
    let t = tree(&[]);
    let list: Vec<String> = (0..9)
        .map(|d| format!("\"pcie@b0000000/00:{:02x}.0\"", d + 2))
        .collect();
    let s = scenario(PLAIN, &format!("[{}]", list.join(", ")), None);
    let errs = errors(&t, &s);
    let over: Vec<&Flat> = errs
        .iter()
        .filter(|e| e.3 == "VM `a` is given more than 8 PCI functions")
        .collect();
    assert_eq!(over.len(), 1, "{errs:?}");
    assert_eq!(errs.len(), 10, "nine identity errors and the limit");
}

/// VM `a` (identity-mapped) given `devices`, then `qemu` (TOML lines), with the
/// hypervisor out of its way.
fn with_qemu(devices: &str, qemu: &str) -> String {
    scenario("{ size = \"16MiB\", identity = true }", devices, None).replace(
        "console = \"com1\"\n",
        "console = \"com1\"\nmemory = { size = \"32MiB\", base = 0x1000_0000 }\n",
    ) + qemu
}

fn qemu_device(transport: &str, body: &str) -> String {
    format!("[[qemu-device]]\ntransport = \"{transport}\"\n{body}")
}

const BLK: &str = "kind = \"virtio-blk\"\nfile = \"disk.img\"\nread-only = true\n";
const NET: &str = "kind = \"virtio-net\"\n";

#[test]
fn qemu_plugs_devices_in_at_the_functions_a_vm_is_given() {
    let t = tree(&[]);
    let (disk, nic) = ("pcie@b0000000/00:03.0", "pcie@b0000000/00:04.0");
    let s = with_qemu(
        &format!("[\"{disk}\", \"{nic}\"]"),
        &(qemu_device(disk, BLK) + &qemu_device(nic, NET)),
    );
    assert_eq!(errors(&t, &s), vec![]);
    let run = rtvisor_config::qemu_run(&t.path("s.toml")).unwrap();
    assert_eq!((run.cpus, run.gic_version, run.semihosting), (4, 0, false));
    let placed: Vec<_> = run
        .devices
        .iter()
        .map(|d| {
            let f = d.function.unwrap();
            (d.transport.as_str(), d.base, d.pcie, (f.bus, f.dev, f.func))
        })
        .collect();
    assert_eq!(
        placed,
        [
            (disk, 0xb000_0000, true, (0, 3, 0)),
            (nic, 0xb000_0000, true, (0, 4, 0))
        ]
    );
}

#[test]
fn a_qemu_device_names_a_free_function_0_of_bus_0_that_a_vm_has() {
    let t = tree(&[]);
    // The header is 5 lines (with the hypervisor's memory), the VM 6: the
    // [[qemu-device]] begins on line 12, its transport on line 13.
    let cases: [(&str, &str, &str, &str); 7] = [
        (
            "pcie@b0000000",
            "",
            "[[qemu-device]] names host bridge `pcie@b0000000` whole; on x86_64 it names a \
             function a VM is given",
            "write the function QEMU plugs the device in at, as the VM's `devices` lists it: \
             transport = \"pcie@b0000000/00:03.0\" (a free slot of bus 00)",
        ),
        (
            "pcie@b0000000/00:05.0",
            "pcie@b0000000/00:03.0",
            "transport `pcie@b0000000/00:05.0` is not passed to any VM",
            "add \"pcie@b0000000/00:05.0\" to the `devices` of the VM that uses it",
        ),
        (
            "pcie@b0000000/01:03.0",
            "pcie@b0000000/01:03.0",
            "QEMU plugs devices into bus 00 of `pcie@b0000000`; `pcie@b0000000/01:03.0` is on \
             bus 01",
            "give a function on bus 00, for example `pcie@b0000000/00:03.0`",
        ),
        (
            "pcie@b0000000/00:03.1",
            "pcie@b0000000/00:03.1",
            "`pcie@b0000000/00:03.1` is function 1 of its slot; QEMU plugs a device in as \
             function 0",
            "use function 0: `pcie@b0000000/00:03.0`",
        ),
        (
            "pcie@b0000000/00:01.0",
            "pcie@b0000000/00:01.0",
            "slot 01 of QEMU q35's bus 00 holds the VGA",
            "use a free slot, 02 to 1e (for example `pcie@b0000000/00:03.0`)",
        ),
        (
            "pcie@b0000000/00:3.0",
            "pcie@b0000000/00:03.0",
            "`pcie@b0000000/00:3.0` is not a function address",
            "write `pcie@b0000000/BB:DD.F`: bus and device in two lower-case hex digits, the \
             function from 0 to 7 (for example `pcie@b0000000/00:03.0`)",
        ),
        (
            "pcie@c0000000/00:03.0",
            "pcie@b0000000/00:03.0",
            "`pcie@c0000000/00:03.0` is not a function of a PCIe host bridge of board \
             `qemu-q35-x86_64`",
            "did you mean `pcie@b0000000/00:03.0`?",
        ),
    ];
    for (transport, given, msg, hint) in cases {
        let devices = match given {
            "" => "[]".to_owned(),
            g => format!("[\"{g}\"]"),
        };
        let s = with_qemu(&devices, &qemu_device(transport, NET));
        let errs: Vec<Flat> = errors(&t, &s).into_iter().filter(|e| e.1 >= 12).collect();
        assert_eq!(errs, vec![flat(13, 13, msg, hint)], "{transport}");
    }
    // A function takes one device.
    let d = "pcie@b0000000/00:03.0";
    let s = with_qemu(
        &format!("[\"{d}\"]"),
        &(qemu_device(d, BLK) + &qemu_device(d, NET)),
    );
    assert_eq!(
        errors(&t, &s),
        vec![flat(
            18,
            13,
            "transport `pcie@b0000000/00:03.0` gets two QEMU devices",
            "a transport holds one device"
        )]
    );
}
