//! The header (title, subtitle) and the legend column shared by the capacity charts, and
//! the hatching that marks what the database cannot hold.

use plotters::element::DashedPathElement;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::*;
use crate::report::plotting::{draw_notice, draw_title, rectangle_outline, text_style};

#[derive(Clone, Copy)]
pub(super) enum LegendSample {
    Line {
        colour: RGBColor,
        dashed: bool,
        with_band: bool,
    },
    Band(RGBColor),
    DashedRule(RGBColor),
    VerticalRule(RGBColor),
    Swatch(RGBColor),
    Outline(RGBColor),
    DashedOutline(RGBColor),
    /// Hatched grey: beyond the database limit.
    Hatched,
    Text(&'static str),
}

pub(super) struct LegendEntry {
    pub(super) label: String,
    pub(super) sample: LegendSample,
}

impl LegendEntry {
    pub(super) fn new(label: impl Into<String>, sample: LegendSample) -> Self {
        Self {
            label: label.into(),
            sample,
        }
    }
}

/// The narrowest sample column; text samples ("\u{2191}312") widen it to fit.
pub(super) const LEGEND_SAMPLE_WIDTH_PX: i32 = 44;
pub(super) const LEGEND_ROW_HEIGHT_PX: i32 = 38;
pub(super) const LEGEND_PADDING_PX: i32 = 12;
pub(super) const LEGEND_GAP_PX: i32 = 10;
pub(super) const LEGEND_OUTER_MARGIN_PX: i32 = 8;

/// Draws the white header with title and subtitle, then splits the rest into the plot and a
/// legend column on the right. The legend lives outside the plot so it can never hide data.
pub(super) fn layout<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    subtitle: &str,
    legend: &[LegendEntry],
) -> Result<(DrawingArea<DB, Shift>, DrawingArea<DB, Shift>)>
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE)?;
    let (width_px, _) = root.dim_in_pixel();
    draw_title(
        root,
        (title, TITLE_FONT_PX),
        (subtitle, SUBTITLE_FONT_PX),
        64,
        THEME.min_font_px,
    )?;

    let (_, body) = root.split_vertically(HEADER_HEIGHT_PX);
    let legend_style = text_style(LEGEND_FONT_PX, &BLACK);
    let mut widest_label_px = 0u32;
    for entry in legend {
        widest_label_px =
            widest_label_px.max(root.estimate_text_size(&entry.label, &legend_style)?.0);
    }
    let legend_width_px = (widest_label_px as i32
        + sample_width_px(root, legend)?
        + LEGEND_GAP_PX
        + 2 * LEGEND_PADDING_PX
        + 2 * LEGEND_OUTER_MARGIN_PX)
        .min(width_px as i32 * 2 / 5);
    let (plot_area, legend_area) = body.split_horizontally(width_px as i32 - legend_width_px);
    Ok((plot_area, legend_area))
}

/// The width of the sample column: wide enough for every text sample.
fn sample_width_px<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    legend: &[LegendEntry],
) -> Result<i32>
where
    DB::ErrorType: 'static,
{
    let style = text_style(LEGEND_FONT_PX, &BLACK);
    let mut width_px = LEGEND_SAMPLE_WIDTH_PX;
    for entry in legend {
        if let LegendSample::Text(text) = entry.sample {
            width_px = width_px.max(area.estimate_text_size(text, &style)?.0 as i32 + 8);
        }
    }
    Ok(width_px)
}

pub(super) fn draw_legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    entries: &[LegendEntry],
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    if entries.is_empty() {
        return Ok(());
    }
    let (width_px, _) = area.dim_in_pixel();
    let left = 0;
    let right = width_px as i32 - 2 * LEGEND_OUTER_MARGIN_PX;
    // Align the box top with the top of the plotting area.
    let top = CHART_MARGIN_PX as i32;
    let bottom = top + 2 * LEGEND_PADDING_PX + LEGEND_ROW_HEIGHT_PX * entries.len() as i32;
    area.draw(&Rectangle::new(
        [(left, top), (right, bottom)],
        WHITE.filled(),
    ))?;
    area.draw(&Rectangle::new(
        [(left, top), (right, bottom)],
        BLACK.stroke_width(1),
    ))?;

    let label_style = text_style(LEGEND_FONT_PX, &BLACK);
    let sample_width_px = sample_width_px(area, entries)?;
    for (index, entry) in entries.iter().enumerate() {
        let centre_y = top
            + LEGEND_PADDING_PX
            + LEGEND_ROW_HEIGHT_PX * index as i32
            + LEGEND_ROW_HEIGHT_PX / 2;
        let sample_left = left + LEGEND_PADDING_PX;
        let sample_right = sample_left + sample_width_px;
        draw_legend_sample(area, entry.sample, sample_left, sample_right, centre_y)?;
        area.draw(&Text::new(
            entry.label.clone(),
            (sample_right + LEGEND_GAP_PX, centre_y),
            label_style.pos(Pos::new(HPos::Left, VPos::Center)),
        ))?;
    }
    Ok(())
}

pub(super) fn draw_legend_sample<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    sample: LegendSample,
    left: i32,
    right: i32,
    centre_y: i32,
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let half_height = LEGEND_ROW_HEIGHT_PX / 2 - 4;
    let centre_x = (left + right) / 2;
    match sample {
        LegendSample::Line {
            colour,
            dashed,
            with_band,
        } => draw_line_sample(area, colour, (dashed, with_band), (left, right), centre_y)?,
        LegendSample::Band(colour) => {
            area.draw(&Rectangle::new(
                [
                    (left, centre_y - half_height),
                    (right, centre_y + half_height),
                ],
                colour.mix(CI_BAND_OPACITY * 2.0).filled(),
            ))?;
        }
        LegendSample::DashedRule(colour) => {
            area.draw(&DashedPathElement::new(
                vec![(left, centre_y), (right, centre_y)],
                9,
                6,
                colour.stroke_width(2),
            ))?;
        }
        LegendSample::VerticalRule(colour) => {
            area.draw(&PathElement::new(
                vec![
                    (centre_x, centre_y - half_height - 2),
                    (centre_x, centre_y + half_height + 2),
                ],
                colour.stroke_width(2),
            ))?;
        }
        LegendSample::Swatch(colour) => {
            area.draw(&Rectangle::new(
                [
                    (left + 4, centre_y - half_height),
                    (right - 4, centre_y + half_height),
                ],
                colour.filled(),
            ))?;
        }
        LegendSample::Outline(colour) => {
            area.draw(&PathElement::new(
                rectangle_outline(
                    (left + 4, centre_y - half_height),
                    (right - 4, centre_y + half_height),
                ),
                colour.stroke_width(3),
            ))?;
        }
        LegendSample::DashedOutline(colour) => {
            area.draw(&DashedPathElement::new(
                rectangle_outline(
                    (left + 4, centre_y - half_height),
                    (right - 4, centre_y + half_height),
                ),
                6,
                4,
                colour.stroke_width(3),
            ))?;
        }
        LegendSample::Hatched => {
            let base = area.get_base_pixel();
            draw_hatching(
                area,
                (base.0 + left + 4, base.1 + centre_y - half_height),
                (base.0 + right - 4, base.1 + centre_y + half_height),
            )?;
        }
        LegendSample::Text(text) => {
            area.draw(&Text::new(
                text,
                (centre_x, centre_y),
                text_style(LEGEND_FONT_PX, &BLACK).pos(Pos::new(HPos::Center, VPos::Center)),
            ))?;
        }
    }
    Ok(())
}

/// A line sample: solid with a filled dot, or dashed with a hollow one, over an optional band.
fn draw_line_sample<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    colour: RGBColor,
    (dashed, with_band): (bool, bool),
    (left, right): (i32, i32),
    centre_y: i32,
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let half_height = LEGEND_ROW_HEIGHT_PX / 2 - 4;
    let centre_x = (left + right) / 2;
    if with_band {
        area.draw(&Rectangle::new(
            [
                (left, centre_y - half_height),
                (right, centre_y + half_height),
            ],
            colour.mix(CI_BAND_OPACITY).filled(),
        ))?;
    }
    if dashed {
        area.draw(&DashedPathElement::new(
            vec![(left, centre_y), (right, centre_y)],
            8,
            5,
            colour.stroke_width(2),
        ))?;
        area.draw(&Circle::new(
            (centre_x, centre_y),
            4,
            ShapeStyle {
                color: colour.to_rgba(),
                filled: false,
                stroke_width: 2,
            },
        ))?;
    } else {
        area.draw(&PathElement::new(
            vec![(left, centre_y), (right, centre_y)],
            colour.stroke_width(3),
        ))?;
        area.draw(&Circle::new((centre_x, centre_y), 4, colour.filled()))?;
    }
    Ok(())
}

pub(super) fn draw_no_data_notice<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    plot_pixel_range: (std::ops::Range<i32>, std::ops::Range<i32>),
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let (x_range, y_range) = plot_pixel_range;
    let centre_px = (
        (x_range.start + x_range.end) / 2,
        (y_range.start + y_range.end) / 2,
    );
    draw_notice(root, "no data to plot", centre_px, AXIS_DESC_FONT_PX)
}

/// Hatches the rectangle between two backend-pixel corners (over a faint grey fill) on
/// `area`: the mark of pool sizes the database cannot hold.
pub(super) fn draw_hatching<DB: DrawingBackend, CT: plotters::coord::CoordTranslate>(
    area: &DrawingArea<DB, CT>,
    top_left: (i32, i32),
    bottom_right: (i32, i32),
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let area = area.strip_coord_spec();
    let base = area.get_base_pixel();
    let (x0, y0) = (
        top_left.0.min(bottom_right.0) - base.0,
        top_left.1.min(bottom_right.1) - base.1,
    );
    let (x1, y1) = (
        top_left.0.max(bottom_right.0) - base.0,
        top_left.1.max(bottom_right.1) - base.1,
    );
    if x1 <= x0 || y1 <= y0 {
        return Ok(());
    }
    area.draw(&Rectangle::new(
        [(x0, y0), (x1, y1)],
        INFEASIBLE_COLOUR.mix(0.10).filled(),
    ))?;
    const SPACING_PX: i32 = 12;
    // Lines x + y = c, clipped to the rectangle, every SPACING_PX.
    let mut c = x0 + y0 + SPACING_PX / 2;
    while c < x1 + y1 {
        let start = (c - y1).max(x0);
        let end = (c - y0).min(x1);
        if end > start {
            area.draw(&PathElement::new(
                vec![(start, c - start), (end, c - end)],
                INFEASIBLE_COLOUR.mix(0.55).stroke_width(1),
            ))?;
        }
        c += SPACING_PX;
    }
    Ok(())
}
