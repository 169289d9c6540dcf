//! A plain chart of a few labelled lines, for `fit` (CDFs on a log time axis) and
//! `calibrate` (observed vs simulated series over time).
//!
//! Both commands need the same picture: two to five lines on shared axes with a
//! legend. It takes plain numbers, so those commands depend on `report` and not the
//! other way round, and it reuses this module's bundled font and atomic file writing.

use std::path::Path;

use anyhow::Result;
use plotters::coord::Shift;
use plotters::prelude::*;

pub use super::plotting::ImageFormat;
use super::plotting::{draw_title, register_bundled_font, text_style, write_image, Chart};

/// One line: its legend label, points (x, y), and whether it is drawn as steps of data.
#[derive(Debug, Clone)]
pub struct Line {
    pub label: String,
    pub points: Vec<(f64, f64)>,
    /// Data (drawn thicker, in black) rather than a model.
    pub is_data: bool,
}

/// A chart of lines; with `log_x` the x values must be positive and the axis is log10.
#[derive(Debug, Clone)]
pub struct LineChart {
    pub title: String,
    pub subtitle: String,
    pub x_label: String,
    pub y_label: String,
    pub log_x: bool,
    pub lines: Vec<Line>,
}

const PALETTE: [RGBColor; 5] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
    RGBColor(255, 127, 14),
];

impl LineChart {
    fn x_of(&self, x: f64) -> f64 {
        if self.log_x {
            x.log10()
        } else {
            x
        }
    }

    fn plotted(&self, line: &Line) -> Vec<(f64, f64)> {
        line.points
            .iter()
            .filter(|(x, y)| y.is_finite() && x.is_finite() && (!self.log_x || *x > 0.0))
            .map(|(x, y)| (self.x_of(*x), *y))
            .collect()
    }

    fn ranges(&self) -> ((f64, f64), (f64, f64)) {
        let points: Vec<(f64, f64)> = self.lines.iter().flat_map(|l| self.plotted(l)).collect();
        let min_max = |values: Vec<f64>| {
            let low = values.iter().copied().fold(f64::INFINITY, f64::min);
            let high = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            if low.is_finite() && high > low {
                (low, high)
            } else if low.is_finite() {
                (low - 1.0, low + 1.0)
            } else {
                (0.0, 1.0)
            }
        };
        let mut x = min_max(points.iter().map(|p| p.0).collect());
        if self.log_x {
            // Whole decades, so that the ticks fall on 1, 10, 100, ...
            x = (x.0.floor(), x.1.ceil().max(x.0.floor() + 1.0));
        }
        let (y_low, y_high) = min_max(points.iter().map(|p| p.1).collect());
        (
            x,
            (y_low.min(0.0), y_high + 0.05 * (y_high - y_low.min(0.0))),
        )
    }

    /// Writes `<stem>.png` and `<stem>.svg` in `dir`; returns the file names.
    pub fn write(&self, dir: &Path, stem: &str) -> Result<Vec<String>> {
        register_bundled_font()?;
        std::fs::create_dir_all(dir)?;
        [ImageFormat::Png, ImageFormat::Svg]
            .into_iter()
            .map(|format| write_image(self, dir, stem, format, (1000, 600)))
            .collect()
    }
}

impl Chart for LineChart {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()>
    where
        DB::ErrorType: 'static,
    {
        root.fill(&WHITE)?;
        draw_title(root, (&self.title, 22), (&self.subtitle, 15), 40)?;
        let ((x_low, x_high), (y_low, y_high)) = self.ranges();
        let mut chart = ChartBuilder::on(root)
            .margin_top(70)
            .margin_left(20)
            .margin_right(30)
            .margin_bottom(20)
            .x_label_area_size(45)
            .y_label_area_size(70)
            .build_cartesian_2d(x_low..x_high, y_low..y_high)?;
        let log_x = self.log_x;
        let format_x = move |x: &f64| {
            let value = if log_x { 10f64.powf(*x) } else { *x };
            super::plotting::format_number(value)
        };
        let format_y = |y: &f64| super::plotting::format_number(*y);
        let x_ticks = if log_x {
            (x_high - x_low).round() as usize + 1
        } else {
            10
        };
        chart
            .configure_mesh()
            .x_labels(x_ticks)
            .x_desc(self.x_label.as_str())
            .y_desc(self.y_label.as_str())
            .axis_desc_style(text_style(15, &BLACK))
            .label_style(text_style(13, &BLACK))
            .x_label_formatter(&format_x)
            .y_label_formatter(&format_y)
            .light_line_style(WHITE)
            .draw()?;
        let mut colours = PALETTE.iter().cycle();
        for line in &self.lines {
            let (colour, width) = if line.is_data {
                (BLACK, 3)
            } else {
                (*colours.next().expect("cycle never ends"), 2)
            };
            chart
                .draw_series(LineSeries::new(
                    self.plotted(line),
                    colour.stroke_width(width),
                ))?
                .label(line.label.clone())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(width))
                });
        }
        chart
            .configure_series_labels()
            .label_font(text_style(13, &BLACK))
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .position(if self.log_x {
                SeriesLabelPosition::LowerRight
            } else {
                SeriesLabelPosition::UpperLeft
            })
            .draw()?;
        Ok(())
    }
}
