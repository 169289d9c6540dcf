//! Unit tests of the capacity charts' number formats and axes.

use super::heatmap::format_p99_cell;
use super::lines::value_axis;
use crate::report::plotting::YScale;

#[test]
fn p99_cells_switch_to_compact_form() {
    assert_eq!(format_p99_cell(28_451.2, false), "28,451");
    assert_eq!(format_p99_cell(28_451.2, true), "28k");
    assert_eq!(format_p99_cell(1_342.0, true), "1.3k");
    assert_eq!(format_p99_cell(f64::NAN, true), "n/a");
}

#[test]
fn wide_latency_spread_uses_log_axis_with_1_2_5_ticks() {
    let (scale, axis) = value_axis(&[60.0, 300.0, 30_000.0], true);
    assert!(scale == YScale::Log10);
    assert_eq!(axis.min, 50.0);
    assert_eq!(axis.max, 50_000.0);
    assert_eq!(axis.ticks.first().copied(), Some(50.0));
    assert!(axis.ticks.contains(&1_000.0));
}

#[test]
fn all_zero_values_still_get_a_linear_axis() {
    let (scale, axis) = value_axis(&[0.0, 0.0], false);
    assert!(scale == YScale::Linear);
    assert!(axis.min < 0.0 && axis.max > 0.0);
    let (_, empty) = value_axis(&[], true);
    assert!(empty.max > empty.min);
}
