//! T0: parse-level rules: unknown keys (every one, with the closest known key), wrong
//! types, bad enum values and sizes, TOML syntax; and "all errors in one run".

mod support;

use support::{assert_one, errors, gp, rules_tree, scenario, vm};

#[test]
fn unknown_key_names_the_closest_known_key() {
    let t = rules_tree();
    let s = scenario(&[vm(
        "a",
        "general",
        "[1]",
        "{ size = \"16MiB\", idenity = true }",
        "",
    )]);
    let hint = "did you mean `identity`? (keys here: size, base, identity)";
    assert_one(
        &t,
        &s,
        8,
        28,
        "unknown key `idenity` in [[vm]] memory",
        hint,
    );
}

#[test]
fn unknown_key_without_a_close_match_lists_the_keys() {
    let t = rules_tree();
    let s =
        scenario(&[gp("a", "[1]")]).replace("[hypervisor]\n", "[hypervisor]\ndebugger = true\n");
    assert_one(
        &t,
        &s,
        3,
        1,
        "unknown key `debugger` in [hypervisor]",
        "keys here: console, log-level, console-input, memory, accounting, colors, \
         shared-colors, shell",
    );
}

#[test]
fn unknown_table_is_an_unknown_key() {
    let t = rules_tree();
    let s = scenario(&[gp("a", "[1]")]) + "[[vmm]]\nname = \"b\"\n";
    let hint = "did you mean `vm`? (keys here: board, hypervisor, vm, shared-memory, qemu-device)";
    assert_one(&t, &s, 10, 3, "unknown key `vmm` in the top level", hint);
}

#[test]
fn every_unknown_key_and_every_other_error_in_one_run() {
    let t = rules_tree();
    let s = scenario(&[vm(
        "a",
        "general",
        "[9]",
        "{ size = \"16MiB\" }",
        "bootarg = \"x\"\n",
    )])
    .replace(
        "console = \"uart0\"\n",
        "console = \"uart0\"\nlog_level = \"debug\"\n",
    );
    let got: Vec<(usize, usize, String)> = errors(&t, &s)
        .into_iter()
        .map(|e| (e.1, e.2, e.3))
        .collect();
    assert_eq!(
        got,
        vec![
            (4, 1, "unknown key `log_level` in [hypervisor]".to_owned()),
            (
                8,
                9,
                "CPU 9 of VM `a` is not on board `qemu-virt-aarch64`".to_owned()
            ),
            (11, 1, "unknown key `bootarg` in [[vm]]".to_owned()),
        ]
    );
}

#[test]
fn wrong_type_is_located() {
    let t = rules_tree();
    let s = scenario(&[gp("a", "\"1\"")]);
    let hint = "write a list in brackets, e.g. cpus = [1, 2]";
    assert_one(
        &t,
        &s,
        7,
        8,
        "invalid type: string \"1\", expected a sequence",
        hint,
    );
}

#[test]
fn bad_enum_value_lists_the_choices() {
    let t = rules_tree();
    let s = scenario(&[vm("a", "realtime", "[1]", "{ size = \"16MiB\" }", "")]);
    assert_one(
        &t,
        &s,
        6,
        8,
        "unknown variant `realtime`, expected `rt` or `general`",
        "use one of: rt, general",
    );
    let s = scenario(&[vm(
        "a",
        "general",
        "[1]",
        "{ size = \"16MiB\" }",
        "restart = \"on_crash\"\n",
    )]);
    let msg = "unknown variant `on_crash`, expected one of `never`, `on-crash`, `always`";
    assert_one(&t, &s, 10, 11, msg, "did you mean `on-crash`?");
}

#[test]
fn missing_key_is_named() {
    let t = rules_tree();
    let s = scenario(&[gp("a", "[1]")]).replace("kind = \"general\"\n", "");
    assert_one(
        &t,
        &s,
        4,
        1,
        "missing field `kind`",
        "add `kind` to this table; see docs/scenario.md",
    );
}

#[test]
fn decimal_size_units_are_refused() {
    let t = rules_tree();
    let s = scenario(&[vm("a", "general", "[1]", "{ size = \"16MB\" }", "")]);
    let msg = "size unit `MB` in `16MB` is ambiguous; write `MiB`";
    assert_one(&t, &s, 8, 19, msg, "see docs/scenario.md for the schema");
}

#[test]
fn toml_syntax_error_is_located() {
    let t = rules_tree();
    let s = scenario(&[gp("a", "[1")]);
    // The parser notices at the start of the next line.
    assert_one(
        &t,
        &s,
        8,
        1,
        "invalid array; expected `]`",
        "fix the TOML syntax (https://toml.io)",
    );
}

#[test]
fn dotted_keys_work_and_unknown_dotted_keys_do_not_hide_other_errors() {
    let t = rules_tree();
    let s = scenario(&[vm("a", "general", "[1]", "{ size = \"16MiB\" }", "")]);
    let dotted = s.replace("memory = { size = \"16MiB\" }", "memory.size = \"16MiB\"");
    assert_eq!(errors(&t, &dotted), vec![]);
    let s = dotted.replace(
        "memory.size = \"16MiB\"",
        "memory.size = \"16MiB\"\nmemory.sise = 1",
    ) + &gp("b", "[1]");
    let got: Vec<(usize, usize, String)> = errors(&t, &s)
        .into_iter()
        .map(|e| (e.1, e.2, e.3))
        .collect();
    assert_eq!(
        got,
        vec![
            (9, 8, "unknown key `sise` in [[vm]] memory".to_owned()),
            (14, 9, "CPU 1 is given to both VM `a` and VM `b`".to_owned()),
        ]
    );
}

#[test]
fn every_wrong_type_in_one_run() {
    let t = rules_tree();
    let s = "board = \"board.toml\"\n\
             [hypervisor]\n\
             console = 1\n\
             log-level = 2\n\
             [[vm]]\n\
             name = 3\n\
             kind = \"general\"\n\
             cpus = \"x\"\n\
             memory = { size = true }\n\
             kernel = { path = \"k.bin\", format = \"raw\" }\n\
             [[vm]]\n\
             name = \"b\"\n\
             kind = 7\n\
             cpus = [2]\n\
             memory = 5\n\
             kernel = { path = \"k.bin\", format = \"raw\" }\n";
    let got: Vec<(usize, usize, String)> =
        errors(&t, s).into_iter().map(|e| (e.1, e.2, e.3)).collect();
    let want = [
        (3, 11, "invalid type: integer `1`, expected a string"),
        (4, 13, "wanted string or table"),
        (6, 8, "invalid type: integer `3`, expected a string"),
        (8, 8, "invalid type: string \"x\", expected a sequence"),
        (
            9,
            19,
            "invalid type: boolean `true`, expected a size such as \"64MiB\" or an integer \
             number of bytes",
        ),
        (13, 8, "wanted string or table"),
        (15, 10, "invalid type: integer `5`, expected a table"),
    ];
    let want: Vec<(usize, usize, String)> = want
        .into_iter()
        .map(|(l, c, m)| (l, c, m.to_owned()))
        .collect();
    assert_eq!(got, want);
}

#[test]
fn a_type_hint_says_what_the_key_takes() {
    let t = rules_tree();
    let s = scenario(&[gp("a", "[1]")]).replace("console = \"uart0\"", "console = 0");
    assert_one(
        &t,
        &s,
        3,
        11,
        "invalid type: integer `0`, expected a string",
        "write it in double quotes, e.g. console = \"...\"",
    );
}

#[test]
fn an_integer_beyond_64_bits_is_not_called_a_syntax_error() {
    let t = rules_tree();
    let s = scenario(&[vm(
        "a",
        "general",
        "[1]",
        "{ size = \"16MiB\", base = 0xffff_ffff_ffff_ffff }",
        "",
    )]);
    let msg = "`0xffff_ffff_ffff_ffff` is too large for a TOML integer (signed 64 bits: at most \
               0x7fff_ffff_ffff_ffff)";
    let hint = "no address or size rtvisor takes is that large (physical addresses have at most \
                52 bits): check the digits; a size can also be a string with a unit, such as \
                \"64GiB\"";
    assert_one(&t, &s, 8, 35, msg, hint);
}
