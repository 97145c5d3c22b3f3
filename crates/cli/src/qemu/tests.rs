use super::*;
use rtvisor_config::qemu::{QemuDevice, QemuDeviceKind};
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;

fn run(devices: Vec<QemuDevice>, semihosting: bool) -> QemuRun {
    QemuRun {
        cpus: 4,
        ram_bytes: 2 << 30,
        gic_version: 3,
        semihosting,
        devices,
    }
}

fn disk_and_nic() -> Vec<QemuDevice> {
    vec![
        QemuDevice {
            transport: "virtio-mmio@0a003e00".into(),
            base: 0x0a00_3e00,
            pcie: false,
            function: None,
            kind: QemuDeviceKind::VirtioBlk {
                file: "/t/a,b/disk.img".into(),
                read_only: true,
            },
        },
        QemuDevice {
            transport: "virtio-mmio@0a003c00".into(),
            base: 0x0a00_3c00,
            pcie: false,
            function: None,
            kind: QemuDeviceKind::VirtioNet,
        },
    ]
}

#[test]
fn a_hypervisor_on_the_board_machine() {
    let mut q = QemuCommand::hypervisor(&run(Vec::new(), true), Path::new("/i/x.bin")).unwrap();
    q.program = QEMU.into();
    assert_eq!(
        q.line(),
        "qemu-system-aarch64 -M virt,virtualization=on,gic-version=3 -cpu max,pauth-impdef=on \
         -smp 4 -m 2G -no-reboot -nographic -nic none \
         -semihosting-config enable=on,target=gdb -kernel /i/x.bin"
    );
    q.console = ConsoleMode::Captured;
    q.semihosting = false;
    q.extra = vec!["-s".into()];
    assert_eq!(
        q.args().join(" "),
        "-M virt,virtualization=on,gic-version=3 -cpu max,pauth-impdef=on -smp 4 -m 2G \
         -no-reboot -display none -serial stdio -monitor none -nic none -kernel /i/x.bin -s"
    );
}

#[test]
fn devices_go_into_their_transports_and_a_nic_replaces_nic_none() {
    let q = QemuCommand::hypervisor(&run(disk_and_nic(), true), Path::new("x.bin")).unwrap();
    let a = q.args();
    assert!(!a.iter().any(|s| s == "-nic"), "{a:?}");
    let tail: Vec<&str> = a[a.len() - 8..].iter().map(String::as_str).collect();
    assert_eq!(
        tail,
        [
            "-drive",
            "if=none,file=/t/a,,b/disk.img,format=raw,id=rtvdisk0,readonly=on",
            "-device",
            "virtio-blk-device,drive=rtvdisk0,bus=virtio-mmio-bus.31",
            "-netdev",
            "user,id=rtvnet1",
            "-device",
            "virtio-net-device,netdev=rtvnet1,bus=virtio-mmio-bus.30",
        ]
    );
    let disk_only = run(disk_and_nic()[..1].to_vec(), false);
    let q = QemuCommand::hypervisor(&disk_only, Path::new("x.bin")).unwrap();
    let a = q.args().join(" ");
    assert!(a.contains("-nic none"), "{a}");
}

#[test]
fn a_device_on_the_pcie_host_bridge_goes_on_its_root_bus() {
    let mut devices = disk_and_nic();
    devices[0].transport = "pcie@10000000".into();
    devices[0].base = 0x40_1000_0000;
    devices[0].pcie = true;
    let q = QemuCommand::hypervisor(&run(devices, true), Path::new("x.bin")).unwrap();
    let a = q.args();
    let tail: Vec<&str> = a[a.len() - 8..a.len() - 4]
        .iter()
        .map(String::as_str)
        .collect();
    assert_eq!(
        tail,
        [
            "-drive",
            "if=none,file=/t/a,,b/disk.img,format=raw,id=rtvdisk0,readonly=on",
            "-device",
            "virtio-blk-pci,drive=rtvdisk0,bus=pcie.0",
        ]
    );
}

#[test]
fn a_device_at_a_function_goes_into_that_slot_modern_only() {
    let mut devices = disk_and_nic();
    for (d, (name, dev)) in devices
        .iter_mut()
        .zip([("pcie@b0000000/00:03.0", 3), ("pcie@b0000000/00:04.0", 4)])
    {
        d.transport = name.into();
        d.base = 0xb000_0000;
        d.pcie = true;
        d.function = Some(rtvisor_config::pcie::FunctionAddress {
            bus: 0,
            dev,
            func: 0,
        });
    }
    let devices: Vec<Device> = devices
        .iter()
        .map(Device::from_scenario)
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(has_nic(&devices));
    assert_eq!(
        device_args(&devices),
        [
            "-drive",
            "if=none,file=/t/a,,b/disk.img,format=raw,id=rtvdisk0,readonly=on",
            "-device",
            "virtio-blk-pci,drive=rtvdisk0,bus=pcie.0,addr=03.0,disable-legacy=on,iommu_platform=on",
            "-netdev",
            "user,id=rtvnet1",
            "-device",
            "virtio-net-pci,netdev=rtvnet1,bus=pcie.0,addr=04.0,disable-legacy=on,iommu_platform=on,romfile=",
        ]
    );
}

#[test]
fn a_bare_guest_in_the_benchmark_machine() {
    let mut q = QemuCommand::bare(
        2,
        512,
        Boot {
            kernel: "/g/rtbench.bin".into(),
            initrd: Some("/g/i.gz".into()),
            append: Some("mode=bench ipi=1".into()),
        },
    );
    q.program = QEMU.into();
    q.cpu = CpuModel::CortexA72;
    q.icount = Some(Icount::BENCH);
    assert_eq!(
        q.line(),
        "qemu-system-aarch64 -M virt,gic-version=3 -cpu cortex-a72 -icount shift=0,sleep=off \
         -smp 2 -m 512M -no-reboot -nographic -nic none -kernel /g/rtbench.bin \
         -initrd /g/i.gz -append 'mode=bench ipi=1'"
    );
}

#[test]
fn transports_are_the_virt_machines() {
    assert_eq!(Transport::at(0x0a00_0000), Some(Transport(0)));
    assert_eq!(Transport::at(0x0a00_3e00), Some(Transport(31)));
    assert_eq!(Transport::at(0x0a00_4000), None);
    assert_eq!(Transport::at(0x0a00_0100), None);
    assert_eq!(Transport::at(0x0900_0000), None);
    let mut bad = disk_and_nic();
    bad[0].base = 0x0c00_0000;
    let e = QemuCommand::hypervisor(&run(bad, true), Path::new("x")).unwrap_err();
    assert_eq!(
        e.to_string(),
        "`virtio-mmio@0a003e00` at 0xc000000 is not a virtio-mmio transport of QEMU virt \
         (32 of 0x200 bytes from 0x0a000000)"
    );
}

#[test]
fn cpu_and_icount_options_parse() {
    assert_eq!("max".parse(), Ok(CpuModel::Max));
    assert_eq!("cortex-a72".parse(), Ok(CpuModel::CortexA72));
    assert!("a72".parse::<CpuModel>().is_err());
    assert_eq!("shift=0,sleep=off".parse(), Ok(Icount::BENCH));
    assert_eq!("0".parse(), Ok(Icount::BENCH));
    let on = Icount {
        shift: 3,
        sleep: true,
    };
    assert_eq!("sleep=on,shift=3".parse(), Ok(on));
    assert_eq!(on.to_string(), "shift=3,sleep=on");
    for bad in [
        "",
        "sleep=off",
        "shift=11",
        "shift=x",
        "auto",
        "0,1",
        "shift=0,sleep=maybe",
    ] {
        assert!(bad.parse::<Icount>().is_err(), "{bad}");
    }
}

#[test]
fn exit_statuses_are_named() {
    let code = |c: i32| ExitStatus::from_raw(c << 8);
    assert_eq!(exit_result(code(0)), Ok(()));
    assert_eq!(exit_result(code(70)), Err(QemuFailure::Fatal));
    assert_eq!(exit_result(code(1)), Err(QemuFailure::Exited(code(1))));
    let killed = ExitStatus::from_raw(9);
    assert_eq!(exit_result(killed), Err(QemuFailure::Exited(killed)));
    assert!(QemuFailure::Fatal
        .to_string()
        .contains("FATAL error (QEMU exit status 70)"));
}

#[test]
fn quoting() {
    assert_eq!(quote("a,b=c"), "a,b=c");
    assert_eq!(quote("a b"), "'a b'");
    assert_eq!(quote("it's"), r"'it'\''s'");
    assert_eq!(quote(""), "''");
}
