//! Reading and parsing board and scenario files, and the `check` pipeline:
//! parse (all unknown keys) -> board rules -> scenario rules -> layout.

use crate::diag::{has_errors, Diagnostic, Diagnostics, Source};
use crate::keys;
use crate::parse::parse_file;
use crate::plan::Plan;
use crate::schema::{BoardFile, ScenarioFile};
use crate::{layout, validate};
use std::path::Path;

/// Both files of a scenario, parsed.
pub(crate) struct Inputs {
    pub scenario_src: Source,
    pub board_src: Source,
    pub scenario: ScenarioFile,
    pub board: BoardFile,
}

/// Validates `scenario` and its board, and resolves the layout: every error in one
/// run, or the plan that the tables, device trees and `rtvisor check`'s map come from
/// (with the warnings in [`Plan::warnings`]).
///
/// The pipeline is linear: parse both files (every unknown key and type error),
/// validate (board rules, then scenario rules against the board), lay out (placement
/// and device trees). Generation ([`crate::codegen::emit`]) takes the plan; nothing
/// after this reads the TOML again.
pub fn check(scenario: &Path) -> Result<Plan, Diagnostics> {
    let (inputs, mut diags) = load(scenario)?;
    let board_diags = validate::board(&inputs);
    let board_ok = !has_errors(&board_diags);
    diags.extend(board_diags);
    diags.extend(validate::scenario(&inputs));
    if !board_ok {
        return Err(Diagnostics::sorted(diags));
    }
    let (plan, layout_diags) = layout::resolve(&inputs);
    diags.extend(layout_diags);
    let plan = match plan {
        Some(plan) if !has_errors(&diags) => layout::finish(&inputs, plan, &mut diags),
        _ => None,
    };
    let errors = has_errors(&diags);
    match plan {
        Some(mut plan) if !errors => {
            plan.warnings = Diagnostics::sorted(diags).0;
            Ok(plan)
        }
        None if !errors => {
            let msg = "the layout could not be resolved, and no rule says why".to_owned();
            let hint =
                "this is a bug in rtvisor-config: please report it with this scenario and board"
                    .to_owned();
            Err(Diagnostics(vec![inputs.scenario_src.diag(0..0, msg, hint)]))
        }
        _ => Err(Diagnostics::sorted(diags)),
    }
}

/// Reads and parses both files. Unknown keys come back as diagnostics next to the
/// parsed files, so the semantic rules still run.
pub(crate) fn load(path: &Path) -> Result<(Inputs, Vec<Diagnostic>), Diagnostics> {
    let scenario_src = Source::read(path).map_err(|e| {
        let src = Source::new(path, String::new());
        let hint = "check the path of the scenario file".to_owned();
        Diagnostics(vec![src.diag(
            0..0,
            format!("cannot read scenario: {e}"),
            hint,
        )])
    })?;
    let (scenario, mut diags) = parse_file::<ScenarioFile>(&scenario_src, &keys::scenario_shape());
    let Some(scenario) = scenario else {
        return Err(Diagnostics::sorted(diags));
    };
    let board_path = scenario_src.resolve(scenario.board.get_ref());
    let board_read = if board_path.exists() && !board_path.is_file() {
        Err(std::io::Error::other("not a regular file"))
    } else {
        Source::read(&board_path)
    };
    let board_src = match board_read {
        Ok(src) => src,
        Err(e) => {
            let msg = format!("cannot read board file `{}`: {e}", board_path.display());
            let hint = format!(
                "the board path is relative to {}; boards live in boards/",
                scenario_src.path.display()
            );
            diags.push(scenario_src.diag(scenario.board.span(), msg, hint));
            return Err(Diagnostics::sorted(diags));
        }
    };
    let (board, board_diags) = parse_file::<BoardFile>(&board_src, &keys::board_shape());
    diags.extend(board_diags);
    let Some(board) = board else {
        return Err(Diagnostics::sorted(diags));
    };
    Ok((
        Inputs {
            scenario_src,
            board_src,
            scenario,
            board,
        },
        diags,
    ))
}

/// Parses and checks a board file on its own (for `rtvisor board` and its tests).
pub fn check_board(path: &Path) -> Result<BoardFile, Diagnostics> {
    let src = Source::read(path).map_err(|e| {
        let src = Source::new(path, String::new());
        Diagnostics(vec![src.diag(
            0..0,
            format!("cannot read board: {e}"),
            "check the path".into(),
        )])
    })?;
    let (board, mut diags) = parse_file::<BoardFile>(&src, &keys::board_shape());
    if let Some(board) = &board {
        diags.extend(validate::board_rules(&src, board));
    }
    match board {
        Some(board) if !has_errors(&diags) => Ok(board),
        _ => Err(Diagnostics::sorted(diags)),
    }
}
