//! Unit tests of the ebiptables lowering; the corpus parity lives in
//! `tests/tests/nwfilter_parity.rs`.
