//! Closed forms the simulator must agree with: Erlang B and C, M/M/c, Little, USL.
//!
//! These are the yardsticks for `poolsim validate` and the correctness tests: a
//! pool of `c` connections fed by Poisson arrivals with exponential hold times is
//! an M/M/c queue, and with `acquire_timeout = "0s"` it is an Erlang loss system.

/// Erlang B: the probability that an arrival finds all `servers` busy in an M/M/c/c
/// loss system with offered load `load` erlangs (= arrival rate x mean hold time).
pub fn erlang_b(servers: u32, load: f64) -> f64 {
    // The stable recurrence B(k) = a B(k-1) / (k + a B(k-1)).
    (1..=servers).fold(1.0, |b, k| load * b / (k as f64 + load * b))
}

/// Erlang C: the probability that an arrival must wait in an M/M/c queue.
/// Requires `load < servers`; returns 1 for an unstable queue.
pub fn erlang_c(servers: u32, load: f64) -> f64 {
    let c = servers as f64;
    if load >= c {
        return 1.0;
    }
    let b = erlang_b(servers, load);
    c * b / (c - load * (1.0 - b))
}

/// Mean wait in queue of an M/M/c queue, in the unit of `mean_service`.
pub fn mm_c_mean_wait(servers: u32, arrival_rate: f64, mean_service: f64) -> f64 {
    let load = arrival_rate * mean_service;
    let c = servers as f64;
    if load >= c {
        return f64::INFINITY;
    }
    erlang_c(servers, load) * mean_service / (c - load)
}

/// Mean time in system (wait plus service) of an M/M/c queue.
pub fn mm_c_mean_response(servers: u32, arrival_rate: f64, mean_service: f64) -> f64 {
    mm_c_mean_wait(servers, arrival_rate, mean_service) + mean_service
}

/// Universal Scalability Law throughput relative to one client: N / (1 + s(N-1) + k N(N-1)).
pub fn usl_relative_throughput(clients: f64, serial: f64, crosstalk: f64) -> f64 {
    clients / (1.0 + serial * (clients - 1.0) + crosstalk * clients * (clients - 1.0))
}

/// The concurrency at which USL throughput peaks: sqrt((1 - s) / k).
pub fn usl_peak_concurrency(serial: f64, crosstalk: f64) -> f64 {
    if crosstalk <= 0.0 {
        f64::INFINITY
    } else {
        ((1.0 - serial) / crosstalk).sqrt()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erlang_b_matches_tables() {
        // Standard table values: B(1, 1) = 0.5; B(10, 5) = 0.01838; B(5, 3) = 0.11005.
        assert!((erlang_b(1, 1.0) - 0.5).abs() < 1e-12);
        assert!((erlang_b(10, 5.0) - 0.018_385).abs() < 1e-5);
        assert!((erlang_b(5, 3.0) - 0.110_054).abs() < 1e-5);
    }

    #[test]
    fn erlang_c_matches_tables() {
        // M/M/1: P(wait) = rho. C(2, 1) = 1/3. C(10, 8) = 0.40918.
        assert!((erlang_c(1, 0.7) - 0.7).abs() < 1e-12);
        assert!((erlang_c(2, 1.0) - 1.0 / 3.0).abs() < 1e-12);
        assert!((erlang_c(10, 8.0) - 0.409_18).abs() < 1e-4);
        assert_eq!(erlang_c(3, 3.5), 1.0);
    }

    #[test]
    fn mm1_wait_is_rho_over_mu_minus_lambda() {
        // M/M/1, lambda 0.5, service 1: Wq = rho / (mu - lambda) = 1.
        assert!((mm_c_mean_wait(1, 0.5, 1.0) - 1.0).abs() < 1e-12);
        assert!((mm_c_mean_response(1, 0.5, 1.0) - 2.0).abs() < 1e-12);
    }

    #[test]
    fn usl_peak_is_where_throughput_tops() {
        let (s, k) = (0.02, 0.0001);
        let peak = usl_peak_concurrency(s, k);
        let at = |n: f64| usl_relative_throughput(n, s, k);
        assert!(at(peak) >= at(peak - 5.0) && at(peak) >= at(peak + 5.0));
        assert!((peak - 98.99).abs() < 0.01);
    }
}
