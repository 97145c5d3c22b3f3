//! T2 tests of inter-VM communication and lifecycle: shared memory with doorbells
//! (`shm`), and the per-VM watchdog (`watchdog`).

use super::cases::stays_up;
use super::shell::type_line;
use super::{guest, hv, Timeouts};
use crate::console::{Console, Pattern};
use anyhow::Result;

/// `ping` (virtual mode) and `pong` (direct mode) exchange 50 values through `chan`,
/// each round trip two doorbells; `pong`'s write to its read-only `stats` mapping
/// faults and is contained.
pub fn shm(c: &mut Console, t: &Timeouts) -> Result<()> {
    c.fail_on(Pattern::contains("rtbench-diag: shm"));
    c.expect(
        &Pattern::contains("[pong] rtbench: shm ro-write refused"),
        t.boot,
    )?;
    c.expect_all(
        &[
            Pattern::contains("[ping] rtbench: shm ready role=ping"),
            Pattern::contains("[pong] rtbench: shm ready role=pong"),
        ],
        t.boot,
    )?;
    c.expect_all(
        &[
            Pattern::regex(r"^\[ping\] rtbench: result metric=doorbell samples=50 "),
            Pattern::contains("[ping] rtbench: shm done role=ping rounds=50 ok=50 doorbells=50"),
            Pattern::contains("[pong] rtbench: shm done role=pong rounds=50 ok=50 doorbells=50"),
        ],
        t.step,
    )?;
    c.set_cursor(0);
    let stops = c.expect_all(&[hv::stopped("ping"), hv::stopped("pong")], t.step)?;
    stays_up(c, t, &stops)?;
    c.expect_not(&Pattern::contains("ro-write ALLOWED"))
}

/// `wd` stops kicking its watchdog: it is restarted for it (reason `watchdog`), boots
/// again, and the shell's `vm list` shows the reason; `other` keeps counting.
pub fn watchdog(c: &mut Console, t: &Timeouts) -> Result<()> {
    c.expect(&Pattern::contains("[rtvisor] shell on cpu 0"), t.boot)?;
    c.expect(
        &Pattern::contains("[wd] rtbench: watchdog armed ms=300 -> 0"),
        t.boot,
    )?;
    c.expect(&guest::count("wd", 3), t.step)?;
    c.expect(
        &Pattern::contains("[rtvisor] vm wd: restarting (watchdog)"),
        t.step,
    )?;
    c.expect(&guest::banner("wd"), t.step)?;
    c.expect(&guest::count("wd", 1), t.step)?;
    let before = c.cursor();
    c.expect(&guest::count_any("other"), t.step)?;
    let _ = before;
    type_line(c, "vm list", t)?;
    c.expect(
        &Pattern::regex(r"^\[rtvisor\] wd\s+running\s+1\s+16M\s+[1-9]\d*\s+watchdog$"),
        t.step,
    )?;
    c.expect(
        &Pattern::regex(r"^\[rtvisor\] other\s+running\s+3\s+16M\s+0\s+-$"),
        t.step,
    )?;
    Ok(())
}
