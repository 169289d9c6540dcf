//! The engine against closed-form queueing theory.
//!
//! Each check runs independent replications and requires the theoretical value
//! to lie inside the 99% Student-t interval of the simulated estimate, with an
//! interval narrow enough (a few percent) that a wrong engine cannot slip through.

mod common;

use common::assert_check;
use poolsim::validate::{database_check, erlang_b_check, erlang_c_checks, littles_law_check};

const REPLICATIONS: u32 = 10;

#[test]
fn pool_wait_matches_erlang_c_at_moderate_load() {
    for check in erlang_c_checks(10, 0.5, REPLICATIONS, 200) {
        assert_check(&check);
    }
}

#[test]
fn pool_wait_matches_erlang_c_at_high_load() {
    for check in erlang_c_checks(10, 0.8, REPLICATIONS, 200) {
        assert_check(&check);
    }
}

#[test]
fn pool_wait_matches_erlang_c_at_rho_0_9() {
    for check in erlang_c_checks(10, 0.9, REPLICATIONS, 300) {
        assert_check(&check);
    }
}

#[test]
fn pool_wait_matches_erlang_c_for_a_small_pool() {
    for check in erlang_c_checks(2, 0.9, REPLICATIONS, 300) {
        assert_check(&check);
    }
}

#[test]
fn zero_acquire_timeout_loses_like_erlang_b() {
    assert_check(&erlang_b_check(10, 8.0, REPLICATIONS, 200));
    assert_check(&erlang_b_check(4, 2.0, REPLICATIONS, 200));
}

#[test]
fn database_is_m_m_cores() {
    assert_check(&database_check(4, 0.8, REPLICATIONS, 200));
    assert_check(&database_check(8, 0.6, REPLICATIONS, 200));
}

#[test]
fn littles_law_holds_with_retries_and_timeouts() {
    assert_check(&littles_law_check(REPLICATIONS, 200));
}

#[test]
fn a_wrong_theory_is_caught() {
    // The same simulation compared against a 5% wrong value must fail: the checks can fail.
    let mut check = erlang_c_checks(10, 0.8, REPLICATIONS, 200).remove(0);
    assert!(check.passed());
    check.theory *= 1.05;
    assert!(!check.passed(), "a 5% error in P(wait) went unnoticed");
}
