extern crate std;
use super::*;
use std::cell::RefCell;
use std::string::{String, ToString};
use std::vec::Vec;

struct Mock {
    states: RefCell<Vec<VmState>>,
    out: RefCell<Vec<String>>,
    calls: RefCell<Vec<String>>,
}

impl Mock {
    fn new() -> Self {
        Self {
            states: RefCell::new(std::vec![VmState::Running, VmState::Stopped]),
            out: RefCell::new(Vec::new()),
            calls: RefCell::new(Vec::new()),
        }
    }
    fn run(&self, line: &str) -> Vec<String> {
        self.out.borrow_mut().clear();
        execute(line, self);
        self.out.borrow().clone()
    }
}

const NAMES: [&str; 2] = ["rt", "linux"];
const CPUS: [&[u32]; 2] = [&[3], &[1, 2]];

impl ShellOps for Mock {
    fn vm_count(&self) -> usize {
        2
    }
    fn vm_name(&self, vm: usize) -> &str {
        NAMES[vm]
    }
    fn vm_status(&self, vm: usize) -> (VmState, u32, Option<StopReason>) {
        let s = self.states.borrow()[vm];
        (s, vm as u32, (vm == 1).then_some(StopReason::SystemOff))
    }
    fn vm_resources(&self, vm: usize) -> (&[u32], u64) {
        (CPUS[vm], 64 << 20)
    }
    fn stop(&self, vm: usize) {
        self.calls.borrow_mut().push(std::format!("stop {vm}"));
    }
    fn start(&self, vm: usize) {
        self.calls.borrow_mut().push(std::format!("start {vm}"));
    }
    fn restart(&self, vm: usize) {
        self.calls.borrow_mut().push(std::format!("restart {vm}"));
    }
    fn console_to(&self, vm: usize) {
        self.calls.borrow_mut().push(std::format!("console {vm}"));
    }
    fn out(&self, args: fmt::Arguments<'_>) {
        self.out.borrow_mut().push(args.to_string());
    }
}

#[test]
fn help_lists_every_command() {
    let m = Mock::new();
    let out = m.run("help");
    assert_eq!(out.len(), COMMANDS.len());
    assert!(out.iter().any(|l| l.contains("vm restart NAME")));
}

#[test]
fn vm_list_shows_state_cpus_memory_restarts_and_last_stop() {
    let m = Mock::new();
    let out = m.run("vm list");
    assert_eq!(out.len(), 3);
    assert!(out[1].starts_with("rt "), "{}", out[1]);
    assert!(out[1].contains("running") && out[1].contains(" 3 ") && out[1].contains("64M"));
    assert!(out[2].contains("stopped") && out[2].contains("1,2") && out[2].ends_with("system-off"));
}

#[test]
fn lifecycle_commands_reach_the_hypervisor_only_when_they_make_sense() {
    let m = Mock::new();
    m.run("vm stop rt");
    m.run("vm start linux");
    m.run("vm restart linux");
    assert_eq!(*m.calls.borrow(), ["stop 0", "start 1", "restart 1"]);
    assert_eq!(m.run("vm start rt"), ["vm rt is already running"]);
    assert_eq!(m.run("vm stop linux"), ["vm linux is already stopped"]);
    assert_eq!(m.calls.borrow().len(), 3);
}

#[test]
fn mistakes_get_a_precise_answer() {
    let m = Mock::new();
    assert_eq!(
        m.run("vm stop nope"),
        ["no VM named `nope`; `vm list` shows them"]
    );
    assert_eq!(m.run("vm stop"), ["usage: vm stop NAME"]);
    assert_eq!(
        m.run("reboot now"),
        ["unknown command `reboot now`; try `help`"]
    );
    assert_eq!(m.run("   "), Vec::<String>::new());
    assert_eq!(m.run("a b c d e f g h i"), ["too many words; try `help`"]);
    assert_eq!(m.run("version"), [std::format!("rtvisor {VERSION}")]);
}

#[test]
fn vm_console_hands_input_to_the_named_vm() {
    let m = Mock::new();
    let out = m.run("vm console linux");
    assert_eq!(m.calls.borrow().as_slice(), ["console 1"]);
    assert!(out[0].contains("Ctrl-]"), "{out:?}");
    m.run("vm console nope");
    assert_eq!(m.calls.borrow().len(), 1);
    m.run("vm console");
    assert_eq!(m.calls.borrow().len(), 1);
}
