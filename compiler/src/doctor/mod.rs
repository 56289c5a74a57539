//! `fwc doctor`: what other firewall managers do to the traffic fwc's rules
//! must let through, on the live host.

pub mod analyse;
mod command;
pub mod compiled;
pub mod drift;
pub mod finding;
pub mod fix;
pub mod flows;
pub mod live;
pub mod report;

pub use command::{diagnose, run, DoctorArgs, EXIT_TROUBLE};

#[cfg(test)]
mod tests;
