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
use plotters::style::text_anchor::{HPos, Pos, VPos};

pub use super::plotting::ImageFormat;
use super::plotting::{draw_title, render_image, text_style, write_rendered, Chart};
use super::theme::Theme;

const IMAGE_WIDTH_PX: u32 = 1000;
/// The plot's height; the legend adds a row per line below it.
const PLOT_HEIGHT_PX: u32 = 600;
const LEGEND_ROW_PX: u32 = 30;
/// Fonts that stay legible when the chart is pasted at document width.
const THEME: Theme = Theme::for_width(IMAGE_WIDTH_PX);

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

    /// The plot with the legend below it, where it cannot hide a line.
    fn size_px(&self) -> (u32, u32) {
        let legend_px = LEGEND_ROW_PX * self.lines.len() as u32 + 20;
        (IMAGE_WIDTH_PX, PLOT_HEIGHT_PX + legend_px)
    }

    /// Writes `<stem>.png` and `<stem>.svg` in `dir`; returns the file names.
    pub fn write(&self, dir: &Path, stem: &str) -> Result<Vec<String>> {
        let rendered = [ImageFormat::Png, ImageFormat::Svg]
            .into_iter()
            .map(|format| render_image(self, stem, format, self.size_px()))
            .collect::<Result<Vec<_>>>()?;
        write_rendered(dir, &rendered)
    }
}

impl Chart for LineChart {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()>
    where
        DB::ErrorType: 'static,
    {
        root.fill(&WHITE)?;
        draw_title(
            root,
            (&self.title, THEME.title_px),
            (&self.subtitle, THEME.subtitle_px),
            52,
            THEME.min_font_px,
        )?;
        let ((x_low, x_high), (y_low, y_high)) = self.ranges();
        let (plot_area, legend_area) = root.split_vertically(PLOT_HEIGHT_PX);
        let mut chart = ChartBuilder::on(&plot_area)
            .margin_top(96)
            .margin_left(20)
            .margin_right(30)
            .margin_bottom(20)
            .x_label_area_size(70)
            .y_label_area_size(100)
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
            .axis_desc_style(text_style(THEME.axis_desc_px, &BLACK))
            .label_style(text_style(THEME.tick_px, &BLACK))
            .x_label_formatter(&format_x)
            .y_label_formatter(&format_y)
            .light_line_style(WHITE)
            .draw()?;
        let mut colours = PALETTE.iter().cycle();
        let label_style =
            text_style(THEME.legend_px, &BLACK).pos(Pos::new(HPos::Left, VPos::Center));
        for (row, line) in self.lines.iter().enumerate() {
            let (colour, width) = if line.is_data {
                (BLACK, 3)
            } else {
                (*colours.next().expect("cycle never ends"), 2)
            };
            chart.draw_series(LineSeries::new(
                self.plotted(line),
                colour.stroke_width(width),
            ))?;
            let y = (LEGEND_ROW_PX * row as u32 + LEGEND_ROW_PX / 2) as i32;
            legend_area.draw(&PathElement::new(
                vec![(120, y), (160, y)],
                colour.stroke_width(width + 1),
            ))?;
            legend_area.draw(&Text::new(
                line.label.clone(),
                (172, y),
                label_style.clone(),
            ))?;
        }
        Ok(())
    }
}
