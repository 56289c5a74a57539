//! Interface names an IR ruleset refers to, so a harness can create them.

/// Every interface name the ruleset matches on, sorted and deduplicated.
pub fn interfaces(rs: &ir::Ruleset) -> Vec<String> {
    rs.interface_names()
}
