//! The sensitivity tornado chart: one row per `[uncertainty]` input, most influential
//! on top, with a bar from the growth the measured pool size carries as written to what
//! it carries at each end of the input's range. The widest bar is the number to
//! measure first; a row with no bar does not move the answer.

use anyhow::Result;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::output::OutputFile;
use super::plotting::{
    draw_boxed_label, draw_title, format_number, render_image, text_style, Chart, ImageFormat,
};
use super::theme::{Theme, LIMIT_COLOUR};
use crate::recommend::{sensitivity::InputSwing, Sensitivity};

const WIDTH_PX: u32 = 1200;
const THEME: Theme = Theme::for_width(WIDTH_PX);
const HEADER_PX: u32 = 150;
const ROW_PX: u32 = 96;
const FOOTER_PX: u32 = 110;
const LOW_COLOUR: RGBColor = RGBColor(49, 130, 189);
const HIGH_COLOUR: RGBColor = RGBColor(230, 85, 13);
const AS_WRITTEN_COLOUR: RGBColor = RGBColor(60, 60, 60);
/// Bar height, in rows (a row is one input).
const BAR_HEIGHT: f64 = 0.28;

/// The file stem, under `charts/`.
pub const TORNADO_STEM: &str = "sensitivity-tornado";

struct Tornado<'a> {
    model_name: &'a str,
    planned_growth: f64,
    s: &'a Sensitivity,
}

/// Renders the chart in each format (nothing without inputs).
pub fn render_tornado(
    model_name: &str,
    planned_growth: f64,
    sensitivity: &Sensitivity,
    formats: &[ImageFormat],
) -> Result<Vec<OutputFile>> {
    if sensitivity.inputs.is_empty() {
        return Ok(Vec::new());
    }
    let chart = Tornado {
        model_name,
        planned_growth,
        s: sensitivity,
    };
    let height = HEADER_PX + ROW_PX * sensitivity.inputs.len() as u32 + FOOTER_PX;
    formats
        .iter()
        .map(|&f| render_image(&chart, TORNADO_STEM, f, (WIDTH_PX, height)))
        .collect()
}

/// A carried growth as plotted: "none" (not even the lowest level) sits at 0.
fn plotted(growth: Option<f64>) -> f64 {
    growth.unwrap_or(0.0)
}

impl Tornado<'_> {
    fn x_max(&self) -> f64 {
        let ends = self
            .s
            .inputs
            .iter()
            .flat_map(|i| [i.carries_at_low, i.carries_at_high]);
        ends.chain([self.s.carries_as_written, Some(self.planned_growth)])
            .map(plotted)
            .fold(1.0, f64::max)
            * 1.2
    }

    fn end_label(end: &str, growth: Option<f64>) -> String {
        match growth {
            Some(g) => format!("{end}: {}x", format_number(g)),
            None => format!("{end}: none"),
        }
    }
}

impl Chart for Tornado<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()>
    where
        DB::ErrorType: 'static,
    {
        root.fill(&WHITE)?;
        let title = format!("{}: which assumption moves the answer", self.model_name);
        let subtitle = format!(
            "growth pool size {} carries ({}) at each end of an input's range, one at a time",
            self.s.pool_size, self.s.condition
        );
        draw_title(
            root,
            (&title, THEME.title_px),
            (&subtitle, THEME.subtitle_px),
            58,
            THEME.min_font_px,
        )?;
        let rows = self.s.inputs.len();
        let x_max = self.x_max();
        let mut chart = ChartBuilder::on(root)
            .margin_top(HEADER_PX)
            .margin_left(24)
            .margin_right(40)
            .x_label_area_size(80)
            .build_cartesian_2d(0.0..x_max, 0.0..rows as f64)?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .disable_y_axis()
            .x_desc("carried growth (x today's load)")
            .axis_desc_style(text_style(THEME.axis_desc_px, &BLACK))
            .label_style(text_style(THEME.tick_px, &BLACK))
            .x_label_formatter(&|x| format_number(*x))
            .light_line_style(WHITE)
            .draw()?;
        for (i, input) in self.s.inputs.iter().enumerate() {
            self.draw_row(&mut chart, rows - 1 - i, input)?;
        }
        self.draw_rules(root, &mut chart, rows)
    }
}

type Plot<'a, DB> = ChartContext<
    'a,
    DB,
    Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
>;

impl Tornado<'_> {
    /// One input: its name above two bars from the as-written growth to each end.
    fn draw_row<DB: DrawingBackend>(
        &self,
        chart: &mut Plot<DB>,
        row: usize,
        i: &InputSwing,
    ) -> Result<()>
    where
        DB::ErrorType: 'static,
    {
        let row_bottom = row as f64;
        let written = plotted(self.s.carries_as_written);
        let ends = [
            (
                format!("low = {}", i.low),
                i.carries_at_low,
                LOW_COLOUR,
                row_bottom + 0.70,
            ),
            (
                format!("high = {}", i.high),
                i.carries_at_high,
                HIGH_COLOUR,
                row_bottom + 0.38,
            ),
        ];
        chart.draw_series(std::iter::once(Text::new(
            format!("{}  (swing {}x)", i.path, format_number(i.growth_swing)),
            (0.0, row as f64 + 0.93),
            text_style(THEME.annotation_px, &BLACK).pos(Pos::new(HPos::Left, VPos::Top)),
        )))?;
        for (end, growth, colour, top) in ends {
            let value = plotted(growth);
            let (left, right) = (written.min(value), written.max(value));
            let right = right.max(left + 0.004);
            chart.draw_series(std::iter::once(Rectangle::new(
                [(left, top), (right, top - BAR_HEIGHT)],
                colour.mix(0.85).filled(),
            )))?;
            let label = Tornado::end_label(&end, growth);
            chart.draw_series(std::iter::once(Text::new(
                label,
                (right + self.x_max() * 0.01, top - BAR_HEIGHT / 2.0),
                text_style(THEME.annotation_px, &colour).pos(Pos::new(HPos::Left, VPos::Center)),
            )))?;
        }
        Ok(())
    }

    /// The as-written growth and the planned growth, as labelled vertical lines.
    fn draw_rules<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
        chart: &mut Plot<DB>,
        rows: usize,
    ) -> Result<()>
    where
        DB::ErrorType: 'static,
    {
        let rules = [
            (
                plotted(self.s.carries_as_written),
                format!(
                    "as written {}x",
                    self.s
                        .carries_as_written
                        .map_or("none".into(), format_number)
                ),
                AS_WRITTEN_COLOUR,
            ),
            (
                self.planned_growth,
                format!("planned {}x", format_number(self.planned_growth)),
                LIMIT_COLOUR,
            ),
        ];
        for (k, (x, label, colour)) in rules.into_iter().enumerate() {
            chart.draw_series(DashedLineSeries::new(
                [(x, 0.0), (x, rows as f64)],
                8,
                5,
                colour.stroke_width(2),
            ))?;
            let (px, py) = chart.backend_coord(&(x, rows as f64));
            draw_boxed_label(
                root,
                (px, py - 6 - 28 * k as i32),
                &label,
                &text_style(THEME.annotation_px, &colour),
                Pos::new(HPos::Center, VPos::Bottom),
            )?;
        }
        Ok(())
    }
}
