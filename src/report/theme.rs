//! One look for every chart: font sizes, the colours that carry a meaning, and the growth
//! colour scale.
//!
//! Charts are pasted into planning documents at about 650 px wide, so each size is given in
//! document pixels and scaled to the width the image is rendered at; no text ends up below
//! 11 px at document width. The colours that mean something (SLO and limits in red, the
//! current size in grey, the recommendation in dark green, alerts in orange, infeasible in
//! hatched grey) are the same on every chart, so a reader learns them once.

use plotters::style::RGBColor;

use super::plotting::AxisLook;

/// The width, in pixels, at which a chart is read in a document.
pub(super) const DOCUMENT_WIDTH_PX: u32 = 650;

/// plotters' font size per pixel of em, in percent.
const PLOTTERS_SIZE_PER_EM_PERCENT: u32 = 124;

/// Font sizes (plotters sizes) in pixels of the rendered image.
#[derive(Clone, Copy, Debug)]
pub(super) struct Theme {
    pub(super) title_px: u32,
    pub(super) subtitle_px: u32,
    pub(super) panel_title_px: u32,
    pub(super) axis_desc_px: u32,
    pub(super) tick_px: u32,
    pub(super) legend_px: u32,
    pub(super) annotation_px: u32,
    /// The smallest text any chart may draw (11 px at document width).
    pub(super) min_font_px: u32,
}

impl Theme {
    /// The theme for an image `width_px` wide.
    pub(super) const fn for_width(width_px: u32) -> Theme {
        // Sizes in tenths of a document pixel, rounded up to whole image pixels. plotters
        // draws a font of size s with an em of s / 1.24 (its SVG font-size), so sizes are
        // given 24% larger to make the em itself the stated size.
        const fn px(tenths: u32, width_px: u32) -> u32 {
            (tenths * width_px * PLOTTERS_SIZE_PER_EM_PERCENT).div_ceil(DOCUMENT_WIDTH_PX * 1000)
        }
        Theme {
            title_px: px(150, width_px),
            subtitle_px: px(110, width_px),
            panel_title_px: px(120, width_px),
            axis_desc_px: px(115, width_px),
            tick_px: px(110, width_px),
            legend_px: px(110, width_px),
            annotation_px: px(110, width_px),
            min_font_px: px(110, width_px),
        }
    }

    /// Axis look with this theme's fonts.
    pub(super) const fn axes(&self, minor_grid: RGBColor) -> AxisLook {
        AxisLook {
            desc_font_px: self.axis_desc_px,
            tick_font_px: self.tick_px,
            minor_grid,
        }
    }
}

/// SLO lines, database limits and failing verdicts.
pub(super) const LIMIT_COLOUR: RGBColor = RGBColor(214, 39, 40);
/// The pool size in production today.
pub(super) const CURRENT_COLOUR: RGBColor = RGBColor(110, 110, 110);
/// The recommended pool size.
pub(super) const RECOMMENDED_COLOUR: RGBColor = RGBColor(0, 109, 44);
/// The band of pool sizes that meet the SLO with the planned headroom.
pub(super) const SAFE_RANGE_COLOUR: RGBColor = RGBColor(161, 217, 155);
/// Hatching over what the database cannot hold.
pub(super) const INFEASIBLE_COLOUR: RGBColor = RGBColor(120, 120, 120);
/// Alert onsets and alert thresholds.
pub(super) const ALERT_COLOUR: RGBColor = RGBColor(255, 127, 14);
pub(super) const ALERT_TEXT_COLOUR: RGBColor = RGBColor(166, 77, 0);
/// Confidence bands are faint so that they never hide the lines drawn over them.
pub(super) const CI_BAND_OPACITY: f64 = 0.10;

/// A sequential blue scale for ordered levels (traffic growth): light for the lowest level,
/// dark for the highest. Its lightest end is still dark enough to read on white.
pub(super) fn sequential_colour(index: usize, count: usize) -> RGBColor {
    const STOPS: [(f64, f64, f64); 3] = [
        (120.0, 175.0, 220.0),
        (33.0, 102.0, 172.0),
        (8.0, 29.0, 88.0),
    ];
    let t = if count <= 1 {
        1.0
    } else {
        index as f64 / (count - 1) as f64
    };
    let (from, to, local) = if t <= 0.5 {
        (STOPS[0], STOPS[1], t * 2.0)
    } else {
        (STOPS[1], STOPS[2], (t - 0.5) * 2.0)
    };
    let mix = |a: f64, b: f64| (a + (b - a) * local).round() as u8;
    RGBColor(mix(from.0, to.0), mix(from.1, to.1), mix(from.2, to.2))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fonts_stay_legible_at_document_width() {
        for width in [650, 1000, 1200, 1600] {
            let theme = Theme::for_width(width);
            let at_document_width = |px: u32| f64::from(px) / 1.24 * 650.0 / f64::from(width);
            for px in [
                theme.subtitle_px,
                theme.tick_px,
                theme.legend_px,
                theme.annotation_px,
                theme.min_font_px,
            ] {
                assert!(at_document_width(px) >= 11.0, "{px} px at width {width}");
            }
        }
    }

    #[test]
    fn growth_scale_darkens_with_growth() {
        let lightness = |c: RGBColor| u32::from(c.0) + u32::from(c.1) + u32::from(c.2);
        let colours: Vec<RGBColor> = (0..9).map(|i| sequential_colour(i, 9)).collect();
        assert!(colours
            .windows(2)
            .all(|w| lightness(w[0]) > lightness(w[1])));
    }
}
