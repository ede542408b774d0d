//! Measured numbers, printed in a greppable form: `MEASURE name=value`.

use std::fmt::Display;

/// Prints `MEASURE <name>=<value>` on stdout.
pub fn measure(name: &str, value: impl Display) {
    println!("MEASURE {name}={value}");
}
