//! Plotting groundwork shared by the capacity charts (`charts`) and the incident timeline
//! chart (`timeline_chart`). The two were written separately and had grown identical copies
//! of the same machinery: registering the bundled DejaVu Sans font (CI machines have no
//! system fonts), rendering a chart to PNG or SVG bytes in memory (the caller decides when
//! files are written), text styles that shrink to fit, number labels, 1-2-5 axis ticks with
//! optional log or symlog scale, an axis with ticks chosen by us rather than by plotters, and
//! boxed labels. Keeping one copy here means a fix (a font, a tick rule) lands in every chart
//! at once; what each chart draws stays in its own module, and how it looks in `theme`.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Once;

use anyhow::{bail, Context, Result};
use image::ImageEncoder;
use plotters::chart::MeshStyle;
use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint};
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::register_font;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::output::OutputFile;

/// Output formats for the chart writers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImageFormat {
    Png,
    Svg,
}

impl ImageFormat {
    /// `<file_stem>.png` or `<file_stem>.svg`.
    pub(super) fn file_name(self, file_stem: &str) -> String {
        match self {
            ImageFormat::Png => format!("{file_stem}.png"),
            ImageFormat::Svg => format!("{file_stem}.svg"),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Font and files
// ---------------------------------------------------------------------------------------------

pub(super) const FONT_FAMILY: &str = "sans-serif";
const DEJAVU_SANS_TTF: &[u8] = include_bytes!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/assets/fonts/DejaVuSans.ttf"
));

static FONT_REGISTRATION: Once = Once::new();
static FONT_REGISTERED: AtomicBool = AtomicBool::new(false);

/// plotters keeps fonts in a process-wide table; registering once is enough and avoids
/// re-parsing the TTF for every chart.
pub(super) fn register_bundled_font() -> Result<()> {
    FONT_REGISTRATION.call_once(|| {
        let ok = register_font(FONT_FAMILY, FontStyle::Normal, DEJAVU_SANS_TTF).is_ok();
        FONT_REGISTERED.store(ok, Ordering::Release);
    });
    if !FONT_REGISTERED.load(Ordering::Acquire) {
        bail!("bundled DejaVuSans.ttf could not be parsed as a font");
    }
    Ok(())
}

/// A chart that can draw itself on any plotters backend (bitmap for PNG, SVG).
pub(super) trait Chart {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()>
    where
        DB::ErrorType: 'static;
}

/// Renders `chart` as `<file_stem>.<format>` into memory.
pub(super) fn render_image(
    chart: &impl Chart,
    file_stem: &str,
    format: ImageFormat,
    size_px: (u32, u32),
) -> Result<OutputFile> {
    register_bundled_font()?;
    let bytes = match format {
        ImageFormat::Png => {
            let (width, height) = size_px;
            let mut rgb = vec![0u8; width as usize * height as usize * 3];
            {
                let root = BitMapBackend::with_buffer(&mut rgb, size_px).into_drawing_area();
                chart.draw(&root)?;
                root.present()?;
            }
            let mut png = Vec::new();
            image::codecs::png::PngEncoder::new(&mut png)
                .write_image(&rgb, width, height, image::ColorType::Rgb8)
                .context("encoding PNG")?;
            png
        }
        ImageFormat::Svg => {
            let mut svg = String::new();
            {
                let root = SVGBackend::with_string(&mut svg, size_px).into_drawing_area();
                chart.draw(&root)?;
                root.present()?;
            }
            svg.into_bytes()
        }
    };
    Ok(OutputFile::new(format.file_name(file_stem), bytes))
}

/// Writes rendered charts into `dir` (each atomically); returns their paths relative to `dir`.
/// For `run --timeseries`, which writes one chart beside its CSV rather than a sweep's set.
pub fn write_rendered(dir: &Path, files: &[OutputFile]) -> Result<Vec<String>> {
    for file in files {
        super::output::write_atomically(&dir.join(&file.path), &file.bytes)
            .with_context(|| format!("writing chart {}", dir.join(&file.path).display()))?;
    }
    Ok(files.iter().map(|f| f.path.clone()).collect())
}

// ---------------------------------------------------------------------------------------------
// Value axes
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Debug)]
pub(super) enum YScale {
    Linear,
    Log10,
    /// Linear within `linear_width` of zero, logarithmic beyond: zero, small and large
    /// values (0, 0.1% and 10% error rates) all stay distinguishable.
    SymLog {
        linear_width: f64,
    },
}

impl YScale {
    pub(super) fn value_to_plot(self, value: f64) -> f64 {
        match self {
            YScale::Linear => value,
            YScale::Log10 => value.log10(),
            YScale::SymLog { linear_width } => {
                value.signum() * (1.0 + value.abs() / linear_width).log10()
            }
        }
    }

    pub(super) fn plot_to_value(self, value: f64) -> f64 {
        match self {
            YScale::Linear => value,
            YScale::Log10 => 10f64.powf(value),
            YScale::SymLog { linear_width } => {
                value.signum() * (10f64.powf(value.abs()) - 1.0) * linear_width
            }
        }
    }

    pub(super) fn is_plottable(self, value: f64) -> bool {
        value.is_finite() && (self != YScale::Log10 || value > 0.0)
    }
}

/// A value axis in data units; ticks are drawn as labelled grid lines, minor ticks as light
/// grid lines.
#[derive(Debug)]
pub(super) struct Axis {
    pub(super) min: f64,
    pub(super) max: f64,
    pub(super) ticks: Vec<f64>,
    pub(super) minor_ticks: Vec<f64>,
}

/// 0, then decades from `linear_width` up past `max_value`; 2x and 5x as minor grid lines.
pub(super) fn symlog_axis(max_value: f64, linear_width: f64) -> Axis {
    let mut ticks = vec![0.0];
    let mut minor_ticks = Vec::new();
    let mut decade = linear_width;
    loop {
        ticks.push(decade);
        if decade >= max_value * 0.999 || decade >= 100.0 {
            break;
        }
        minor_ticks.extend([2.0 * decade, 5.0 * decade]);
        decade *= 10.0;
    }
    let max = *ticks.last().unwrap_or(&1.0);
    Axis {
        min: -linear_width * 0.15,
        max,
        ticks,
        minor_ticks,
    }
}

/// Zero is a common value (no errors, no waiters, an idle database); starting the axis a
/// little below zero keeps such lines visible instead of hidden under the x axis.
pub(super) const ZERO_LINE_HEADROOM: f64 = 0.02;

/// A linear axis from zero to a round value above `max_value` (which already includes any
/// headroom the caller wants).
pub(super) fn linear_axis(max_value: f64, target_ticks: u32) -> Axis {
    let top = if max_value.is_finite() && max_value > 0.0 {
        max_value
    } else {
        // Nothing to show: any sane range will do for the empty frame.
        1.0
    };
    let ticks = nice_ticks(0.0, top, target_ticks);
    let axis_max = ticks.last().copied().unwrap_or(top).max(top);
    Axis {
        min: -axis_max * ZERO_LINE_HEADROOM,
        max: axis_max,
        ticks,
        minor_ticks: Vec::new(),
    }
}

/// Chooses the value axis from every value that will be drawn. Latency may span orders of
/// magnitude (100 ms healthy, 30 s at the timeout), where a linear axis would flatten the
/// healthy part into the floor, so with `allow_log` the axis switches to log above a 30x
/// spread. A linear axis gets 8% headroom above the largest value and about
/// `linear_ticks` ticks; a log axis keeps to decades beyond `max_log_ticks` ticks.
pub(super) fn value_axis(
    observed: &[f64],
    allow_log: bool,
    linear_ticks: u32,
    max_log_ticks: u32,
) -> (YScale, Axis) {
    let max = observed
        .iter()
        .copied()
        .filter(|v| v.is_finite())
        .fold(f64::NEG_INFINITY, f64::max);
    let min_positive = observed
        .iter()
        .copied()
        .filter(|v| v.is_finite() && *v > 0.0)
        .fold(f64::INFINITY, f64::min);
    const LOG_SCALE_SPREAD: f64 = 30.0;
    if allow_log && min_positive.is_finite() && max / min_positive > LOG_SCALE_SPREAD {
        return (YScale::Log10, log_axis(min_positive, max, max_log_ticks));
    }
    (YScale::Linear, linear_axis(max * 1.08, linear_ticks))
}

/// Log axis bounded by 1-2-5 values; major ticks on 1-2-5 (decades only when there would be
/// more than `max_ticks` of them), light grid lines on every integer multiple of each decade.
fn log_axis(min_positive: f64, max: f64, max_ticks: u32) -> Axis {
    let lo_exp = min_positive.log10().floor() as i32 - 1;
    let hi_exp = max.log10().ceil() as i32 + 1;
    let steps: Vec<f64> = (lo_exp..=hi_exp)
        .flat_map(|exp| [1.0, 2.0, 5.0].map(|m| m * 10f64.powi(exp)))
        .collect();
    let axis_min = steps
        .iter()
        .copied()
        .filter(|v| *v <= min_positive * 1.000_001)
        .fold(min_positive, |_, v| v);
    let axis_max = steps
        .iter()
        .copied()
        .find(|v| *v >= max * 0.999_999)
        .unwrap_or(max);
    let within = |v: &f64| *v >= axis_min * 0.999_999 && *v <= axis_max * 1.000_001;
    let mut ticks: Vec<f64> = steps.iter().copied().filter(within).collect();
    if ticks.len() > max_ticks as usize {
        ticks.retain(|v| (v.log10().round() - v.log10()).abs() < 1e-9);
    }
    let minor_ticks = (lo_exp..=hi_exp)
        .flat_map(|exp| (1..=9).map(move |m| f64::from(m) * 10f64.powi(exp)))
        .filter(within)
        .collect();
    Axis {
        min: axis_min,
        max: axis_max,
        ticks,
        minor_ticks,
    }
}

/// Ticks at 1, 2, 2.5 or 5 times a power of ten, from `min` up to the first tick >= `max`.
pub(super) fn nice_ticks(min: f64, max: f64, target_count: u32) -> Vec<f64> {
    let span = max - min;
    if !(span.is_finite() && span > 0.0) {
        return vec![min];
    }
    let raw_step = span / f64::from(target_count.max(1));
    let magnitude = 10f64.powf(raw_step.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|s| *s >= raw_step)
        .unwrap_or(10.0 * magnitude);
    let first = (min / step).ceil() as i64;
    let last = (max / step).ceil() as i64;
    (first..=last).map(|i| i as f64 * step).collect()
}

/// A linear f64 axis whose tick positions we choose ourselves (plotters' own choice cannot
/// put ticks exactly on simulated pool sizes, round wall-clock minutes or 1-2-5 steps of a
/// log axis).
pub(super) struct TickedRange {
    pub(super) min: f64,
    pub(super) max: f64,
    pub(super) major_ticks: Vec<f64>,
    pub(super) minor_ticks: Vec<f64>,
}

impl TickedRange {
    /// The plot coordinates of `axis` drawn with `scale`.
    pub(super) fn for_axis(axis: &Axis, scale: YScale) -> Self {
        let to_plot = |values: &[f64]| -> Vec<f64> {
            values.iter().map(|v| scale.value_to_plot(*v)).collect()
        };
        TickedRange {
            min: scale.value_to_plot(axis.min),
            max: scale.value_to_plot(axis.max),
            major_ticks: to_plot(&axis.ticks),
            minor_ticks: to_plot(&axis.minor_ticks),
        }
    }
}

impl Ranged for TickedRange {
    // Labels always come from our own formatter; this only satisfies the mesh's bound.
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        RangedCoordf64::from(self.min..self.max).map(value, limit)
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        if hint.weight().allow_light_points() {
            self.minor_ticks.clone()
        } else {
            self.major_ticks.clone()
        }
    }

    fn range(&self) -> std::ops::Range<f64> {
        self.min..self.max
    }
}

/// Grid lines on the major ticks.
const GRID_COLOUR: RGBColor = RGBColor(215, 215, 215);

/// How a chart's axes look: font sizes of the axis descriptions and tick labels, and the
/// colour of the light grid lines on minor ticks.
pub(super) struct AxisLook {
    pub(super) desc_font_px: u32,
    pub(super) tick_font_px: u32,
    pub(super) minor_grid: RGBColor,
}

impl AxisLook {
    /// Black axes and text, tick labels from our own formatters, grey grid lines.
    pub(super) fn apply<'m, 'a, 'b, DB: DrawingBackend>(
        &self,
        mesh: &'m mut MeshStyle<'a, 'b, TickedRange, TickedRange, DB>,
        format_x: &'b dyn Fn(&f64) -> String,
        format_y: &'b dyn Fn(&f64) -> String,
    ) -> &'m mut MeshStyle<'a, 'b, TickedRange, TickedRange, DB> {
        mesh.axis_desc_style(text_style(self.desc_font_px, &BLACK))
            .label_style(text_style(self.tick_font_px, &BLACK))
            .x_label_formatter(format_x)
            .y_label_formatter(format_y)
            .bold_line_style(GRID_COLOUR.stroke_width(1))
            .light_line_style(self.minor_grid.stroke_width(1))
            .axis_style(BLACK.stroke_width(1))
    }
}

/// Splits a series into maximal runs of points that `plot` accepts (mapped to what it
/// returns), so a missing point leaves a visible gap instead of a line drawn across it.
pub(super) fn plottable_runs<T: Copy, U>(
    points: &[(f64, T)],
    plot: impl Fn(T) -> Option<U>,
) -> Vec<Vec<(f64, U)>> {
    let mut runs: Vec<Vec<(f64, U)>> = Vec::new();
    let mut current: Vec<(f64, U)> = Vec::new();
    for &(x, value) in points {
        match plot(value).filter(|_| x.is_finite()) {
            Some(plotted) => current.push((x, plotted)),
            None if !current.is_empty() => runs.push(std::mem::take(&mut current)),
            None => {}
        }
    }
    if !current.is_empty() {
        runs.push(current);
    }
    runs
}

// ---------------------------------------------------------------------------------------------
// Text
// ---------------------------------------------------------------------------------------------

pub(super) const SUBTITLE_COLOUR: RGBColor = RGBColor(80, 80, 80);

pub(super) fn text_style(size_px: u32, colour: &RGBColor) -> TextStyle<'static> {
    TextStyle {
        font: (FONT_FAMILY, f64::from(size_px)).into_font(),
        color: colour.to_backend_color(),
        pos: Pos::default(),
    }
}

/// Long titles must not run off the canvas: shrink the font until the text fits, but not
/// below `smallest_px` (the theme's legible minimum).
pub(super) fn fitted_text_style<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    text: &str,
    (preferred_px, smallest_px): (u32, u32),
    max_width_px: u32,
    colour: &RGBColor,
) -> Result<TextStyle<'static>>
where
    DB::ErrorType: 'static,
{
    let mut size_px = preferred_px;
    loop {
        let style = text_style(size_px, colour);
        let (width_px, _) = area.estimate_text_size(text, &style)?;
        if width_px <= max_width_px || size_px <= smallest_px {
            return Ok(style);
        }
        size_px -= 1;
    }
}

/// Draws a black title 12 px from the top and a grey subtitle at `subtitle_top_px`, both
/// centred and shrunk to fit the width of `root`, never below `min_font_px`.
pub(super) fn draw_title<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    (title, title_px): (&str, u32),
    (subtitle, subtitle_px): (&str, u32),
    subtitle_top_px: i32,
    min_font_px: u32,
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let (width_px, _) = root.dim_in_pixel();
    let max_text_width_px = width_px.saturating_sub(40);
    let centre_x = (width_px / 2) as i32;
    let top_centre = Pos::new(HPos::Center, VPos::Top);
    let title_style = fitted_text_style(
        root,
        title,
        (title_px, min_font_px),
        max_text_width_px,
        &BLACK,
    )?;
    root.draw(&Text::new(
        title.to_string(),
        (centre_x, 12),
        title_style.pos(top_centre),
    ))?;
    let subtitle_style = fitted_text_style(
        root,
        subtitle,
        (subtitle_px, min_font_px),
        max_text_width_px,
        &SUBTITLE_COLOUR,
    )?;
    root.draw(&Text::new(
        subtitle.to_string(),
        (centre_x, subtitle_top_px),
        subtitle_style.pos(top_centre),
    ))?;
    Ok(())
}

/// A grey notice such as "no data to plot", centred on `centre_px`.
pub(super) fn draw_notice<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    text: &str,
    centre_px: (i32, i32),
    font_px: u32,
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    root.draw(&Text::new(
        text,
        centre_px,
        text_style(font_px, &SUBTITLE_COLOUR).pos(Pos::new(HPos::Center, VPos::Center)),
    ))?;
    Ok(())
}

/// A text label with a white box behind it, so it stays legible where it crosses lines.
/// `anchor_px` is in backend pixels, which equal `root` coordinates because root starts at 0,0.
pub(super) fn draw_boxed_label<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    anchor_px: (i32, i32),
    label: &str,
    style: &TextStyle,
    pos: Pos,
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let (width_px, height_px) = root.estimate_text_size(label, style)?;
    let (width_px, height_px) = (width_px as i32, height_px as i32);
    let (x, y) = anchor_px;
    let left = match pos.h_pos {
        HPos::Left => x,
        HPos::Center => x - width_px / 2,
        HPos::Right => x - width_px,
    };
    let top = match pos.v_pos {
        VPos::Top => y,
        VPos::Center => y - height_px / 2,
        VPos::Bottom => y - height_px,
    };
    const PADDING_PX: i32 = 3;
    root.draw(&Rectangle::new(
        [
            (left - PADDING_PX, top - PADDING_PX),
            (left + width_px + PADDING_PX, top + height_px + PADDING_PX),
        ],
        WHITE.mix(0.85).filled(),
    ))?;
    root.draw(&Text::new(label.to_string(), (x, y), style.pos(pos)))?;
    Ok(())
}

/// A closed path around a rectangle. Used instead of an unfilled `Rectangle` because the SVG
/// backend ignores the stroke width of rectangles.
pub(super) fn rectangle_outline<T: Copy>(corner: (T, T), opposite: (T, T)) -> Vec<(T, T)> {
    vec![
        corner,
        (opposite.0, corner.1),
        opposite,
        (corner.0, opposite.1),
        corner,
    ]
}

/// Plain numbers for tick labels: thousands separators for big values, up to four decimals
/// (trailing zeros trimmed) for small ones.
pub(super) fn format_number(value: f64) -> String {
    if !value.is_finite() {
        return "n/a".to_string();
    }
    if value.abs() >= 1000.0 {
        return group_thousands(value.round() as i64);
    }
    let text = format!("{value:.4}");
    let trimmed = text.trim_end_matches('0').trim_end_matches('.');
    if trimmed == "-0" {
        "0".to_string()
    } else {
        trimmed.to_string()
    }
}

pub(super) fn group_thousands(value: i64) -> String {
    let digits = value.unsigned_abs().to_string();
    let mut grouped = String::new();
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    if value < 0 {
        format!("-{grouped}")
    } else {
        grouped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_formatted_for_tick_labels() {
        assert_eq!(format_number(0.0), "0");
        assert_eq!(format_number(12.5), "12.5");
        assert_eq!(format_number(0.05), "0.05");
        assert_eq!(format_number(300.0), "300");
        assert_eq!(format_number(30_000.0), "30,000");
        assert_eq!(format_number(f64::NAN), "n/a");
        assert_eq!(group_thousands(-1_234_567), "-1,234,567");
    }

    #[test]
    fn runs_break_at_unplottable_points() {
        let points = [
            (0.0, 1.0),
            (1.0, f64::NAN),
            (2.0, 3.0),
            (f64::NAN, 4.0),
            (4.0, 5.0),
        ];
        let runs = plottable_runs(&points, |v: f64| v.is_finite().then_some(v * 2.0));
        assert_eq!(
            runs,
            [vec![(0.0, 2.0)], vec![(2.0, 6.0)], vec![(4.0, 10.0)]]
        );
    }
}
