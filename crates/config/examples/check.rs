//! Development aid: `cargo run -p rtvisor-config --features std --example check -- FILE...`
//! prints each scenario's map or its errors (the `rtvisor check` command does this for
//! users).

fn main() {
    for arg in std::env::args().skip(1) {
        match rtvisor_config::check(std::path::Path::new(&arg)) {
            Ok(plan) => print!("{}", plan.map()),
            Err(diags) => println!("{diags}"),
        }
    }
}
