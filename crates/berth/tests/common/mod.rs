//! The shared harness (`berth-testkit`), under the name every test uses.
#![allow(unused_imports)]

pub use berth_testkit::*;
