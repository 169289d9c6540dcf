//! The strip above the first panel that labels events and alerts (packed into lanes so no
//! label hides another), and the placement of reference-line labels where they hide the
//! least data.

use plotters::element::DashedPathElement;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::axis::{event_span_s, TimeAxis};
use super::*;
use crate::report::plotting::{text_style, SUBTITLE_COLOUR};

#[derive(Clone, Copy, PartialEq)]
pub(super) enum AnnotationKind {
    Event { colour: RGBColor },
    Alert { cleared: bool },
}

/// One labelled item in the lane strip above the first panel.
pub(super) struct Annotation {
    pub(super) kind: AnnotationKind,
    pub(super) start_s: f64,
    /// End of the shaded span (events) or of the firing bar (alerts), clamped to the axis.
    pub(super) end_s: f64,
    pub(super) label: String,
}

/// Where an annotation ended up in the strip, in root pixels.
pub(super) struct PlacedAnnotation {
    pub(super) lane: usize,
    pub(super) label: String,
    pub(super) label_left_px: i32,
    pub(super) label_width_px: i32,
}

pub(super) fn annotations(
    spec: &TimelineSpec,
    time: &TimeAxis,
) -> (Vec<Annotation>, Vec<Annotation>) {
    let clamp = |t: f64| t.clamp(time.min_s, time.max_s);
    let mut events: Vec<Annotation> = spec
        .events
        .iter()
        .enumerate()
        .map(|(index, event)| {
            let (start_s, end_s) = event_span_s(event, spec.instances);
            let when = if end_s > start_s {
                format!(
                    "{}\u{2013}{}",
                    time.format(start_s, true),
                    time.format(end_s, true)
                )
            } else {
                time.format(start_s, true)
            };
            Annotation {
                kind: AnnotationKind::Event {
                    colour: EVENT_PALETTE[index % EVENT_PALETTE.len()],
                },
                start_s: clamp(start_s),
                end_s: clamp(end_s),
                label: format!("{}  {when}", event.label),
            }
        })
        .collect();
    let mut alerts: Vec<Annotation> = spec
        .alerts
        .iter()
        .map(|alert| {
            let cleared_s = alert.cleared_s.map(|c| c.max(alert.fired_s));
            let when = match cleared_s {
                Some(cleared) => format!(
                    "{}\u{2013}{}",
                    time.format(alert.fired_s, true),
                    time.format(cleared, true)
                ),
                None => format!("{}, still firing", time.format(alert.fired_s, true)),
            };
            Annotation {
                kind: AnnotationKind::Alert {
                    cleared: cleared_s.is_some_and(|c| c <= time.max_s),
                },
                start_s: clamp(alert.fired_s),
                end_s: clamp(cleared_s.unwrap_or(time.max_s)),
                label: format!("{}  {when}", alert.name),
            }
        })
        .collect();
    events.sort_by(|a, b| a.start_s.total_cmp(&b.start_s));
    alerts.sort_by(|a, b| a.start_s.total_cmp(&b.start_s));
    (events, alerts)
}

/// Greedy interval packing: each item (its bar plus its label) goes into the first lane where
/// it does not touch the previous item. Labels sit right of the start marker, or left of it
/// when they would run off the plot. Returns None for items that did not fit in any lane.
pub(super) fn pack_lanes<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    items: &[Annotation],
    x_px: &dyn Fn(f64) -> i32,
    plot_px: (i32, i32),
) -> Result<Vec<Option<PlacedAnnotation>>>
where
    DB::ErrorType: 'static,
{
    const LABEL_OFFSET_PX: i32 = 9;
    const ITEM_GAP_PX: i32 = 12;
    let (plot_left, plot_right) = plot_px;
    let style = text_style(ANNOTATION_FONT_PX, &BLACK);
    let mut candidates: Vec<(i32, i32, PlacedAnnotation)> = Vec::new();
    for item in items {
        let (start_px, end_px) = (x_px(item.start_s), x_px(item.end_s).max(x_px(item.start_s)));
        let max_width_px = plot_right - plot_left - 2 * LABEL_OFFSET_PX;
        let label = truncate_to_width(root, &item.label, &style, max_width_px)?;
        let width_px = root.estimate_text_size(&label, &style)?.0 as i32;
        let right_side_left = start_px + LABEL_OFFSET_PX;
        let label_left_px = if right_side_left + width_px <= plot_right {
            right_side_left
        } else {
            (start_px - LABEL_OFFSET_PX - width_px).max(plot_left)
        };
        let occupied_left = label_left_px.min(start_px) - LABEL_OFFSET_PX;
        let occupied_right = (label_left_px + width_px).max(end_px) + ITEM_GAP_PX;
        candidates.push((
            occupied_left,
            occupied_right,
            PlacedAnnotation {
                lane: 0,
                label,
                label_left_px,
                label_width_px: width_px,
            },
        ));
    }
    let mut order: Vec<usize> = (0..candidates.len()).collect();
    order.sort_by_key(|&i| candidates[i].0);
    let mut lane_ends: Vec<i32> = Vec::new();
    let mut lanes: Vec<Option<usize>> = vec![None; candidates.len()];
    for index in order {
        let (left, right, _) = &candidates[index];
        if let Some(lane) = lane_ends.iter().position(|end| end < left) {
            lane_ends[lane] = *right;
            lanes[index] = Some(lane);
        } else if lane_ends.len() < MAX_LANES_PER_SECTION {
            lane_ends.push(*right);
            lanes[index] = Some(lane_ends.len() - 1);
        }
    }
    Ok(candidates
        .into_iter()
        .zip(lanes)
        .map(|((_, _, mut placed), lane)| {
            lane.map(|lane| {
                placed.lane = lane;
                placed
            })
        })
        .collect())
}

pub(super) fn lane_count(placed: &[Option<PlacedAnnotation>]) -> i32 {
    placed
        .iter()
        .flatten()
        .map(|p| p.lane as i32 + 1)
        .max()
        .unwrap_or(0)
}
/// Draws one section of the lane strip (events or alerts) and the connectors from each item
/// down to the top of the first plot.
pub(super) fn draw_lane_section<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    items: &[Annotation],
    placed: &[Option<PlacedAnnotation>],
    section_top: i32,
    plots_top: i32,
    x_px: &dyn Fn(f64) -> i32,
    section_name: &str,
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    if placed.iter().all(Option::is_none) {
        return Ok(());
    }
    root.draw(&Text::new(
        section_name.to_string(),
        (Y_LABEL_AREA_PX - 10, section_top + LANE_LABEL_CENTRE_PX),
        text_style(LEGEND_FONT_PX, &SUBTITLE_COLOUR).pos(Pos::new(HPos::Right, VPos::Center)),
    ))?;
    let lanes: Vec<(&Annotation, &PlacedAnnotation)> = items
        .iter()
        .zip(placed)
        .filter_map(|(item, p)| p.as_ref().map(|p| (item, p)))
        .collect();

    // Connectors first, so that labels further down are drawn over them.
    for (item, p) in &lanes {
        let lane_top = section_top + p.lane as i32 * LANE_HEIGHT_PX;
        let (x0, x1) = (x_px(item.start_s), x_px(item.end_s));
        match item.kind {
            AnnotationKind::Event { colour } => {
                let edges: &[i32] = if x1 > x0 { &[x0, x1] } else { &[x0] };
                for &x in edges {
                    root.draw(&DashedPathElement::new(
                        vec![(x, lane_top + LANE_BAR_TOP_PX + 5), (x, plots_top)],
                        3,
                        3,
                        colour.mix(0.8).stroke_width(1),
                    ))?;
                }
            }
            AnnotationKind::Alert { .. } => {
                root.draw(&PathElement::new(
                    vec![(x0, lane_top + 12), (x0, plots_top)],
                    ALERT_COLOUR.mix(0.85).stroke_width(2),
                ))?;
            }
        }
    }

    for (item, p) in &lanes {
        let lane_top = section_top + p.lane as i32 * LANE_HEIGHT_PX;
        draw_lane_item(
            root,
            item,
            p,
            lane_top,
            (x_px(item.start_s), x_px(item.end_s)),
        )?;
    }
    Ok(())
}

/// One event's bar (or tick) or one alert's marker, with its label, in its lane.
fn draw_lane_item<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    item: &Annotation,
    p: &PlacedAnnotation,
    lane_top: i32,
    (x0, x1): (i32, i32),
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let label_style = text_style(ANNOTATION_FONT_PX, &BLACK);
    match item.kind {
        AnnotationKind::Event { colour } => {
            // A bar under the label spans the event; an instant is a short tick.
            if x1 > x0 {
                root.draw(&Rectangle::new(
                    [
                        (x0, lane_top + LANE_BAR_TOP_PX),
                        (x1, lane_top + LANE_BAR_TOP_PX + 5),
                    ],
                    colour.mix(EVENT_LANE_OPACITY).filled(),
                ))?;
            } else {
                root.draw(&PathElement::new(
                    vec![(x0, lane_top + 1), (x0, lane_top + LANE_BAR_TOP_PX + 5)],
                    colour.stroke_width(3),
                ))?;
            }
            draw_lane_label(root, p, lane_top + LANE_LABEL_CENTRE_PX, &label_style)?;
        }
        AnnotationKind::Alert { cleared } => {
            let bar_top = lane_top + LANE_BAR_TOP_PX;
            if x1 > x0 {
                root.draw(&Rectangle::new(
                    [(x0, bar_top), (x1, bar_top + 3)],
                    ALERT_COLOUR.filled(),
                ))?;
            }
            if cleared {
                root.draw(&PathElement::new(
                    vec![(x1, bar_top - 4), (x1, bar_top + 6)],
                    ALERT_COLOUR.stroke_width(2),
                ))?;
            }
            root.draw(&Polygon::new(
                vec![
                    (x0 - 6, lane_top + 1),
                    (x0 + 6, lane_top + 1),
                    (x0, lane_top + 12),
                ],
                ALERT_COLOUR.filled(),
            ))?;
            let text_style = text_style(ANNOTATION_FONT_PX, &ALERT_TEXT_COLOUR);
            draw_lane_label(root, p, lane_top + LANE_LABEL_CENTRE_PX, &text_style)?;
        }
    }
    Ok(())
}

pub(super) fn draw_lane_label<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    placed: &PlacedAnnotation,
    centre_y: i32,
    style: &TextStyle,
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    const HALF_HEIGHT_PX: i32 = 13;
    root.draw(&Rectangle::new(
        [
            (placed.label_left_px - 3, centre_y - HALF_HEIGHT_PX),
            (
                placed.label_left_px + placed.label_width_px + 3,
                centre_y + HALF_HEIGHT_PX,
            ),
        ],
        WHITE.mix(0.8).filled(),
    ))?;
    root.draw(&Text::new(
        placed.label.clone(),
        (placed.label_left_px, centre_y),
        style.pos(Pos::new(HPos::Left, VPos::Center)),
    ))?;
    Ok(())
}

/// Picks the corner of the plot (above or below the reference line) where its label crosses
/// the fewest data segments. Returns the anchor in root pixels and the text position.
pub(super) fn place_rule_label<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    label: &str,
    style: &TextStyle,
    rule_y_px: i32,
    plot_px: (i32, i32, i32, i32),
    obstacles_px: &[Vec<(i32, i32)>],
) -> Result<((i32, i32), Pos)>
where
    DB::ErrorType: 'static,
{
    let (left, right, top, bottom) = plot_px;
    let (w, h) = root.estimate_text_size(label, style)?;
    let (w, h) = (w as i32, h as i32);
    const INSET_PX: i32 = 8;
    const GAP_PX: i32 = 5;
    let mut best: Option<(usize, (i32, i32), Pos)> = None;
    for (h_pos, x) in [
        (HPos::Right, right - INSET_PX),
        (HPos::Left, left + INSET_PX),
        (HPos::Center, (left + right) / 2),
    ] {
        for above in [true, false] {
            let (y, v_pos) = if above {
                (rule_y_px - GAP_PX, VPos::Bottom)
            } else {
                (rule_y_px + GAP_PX, VPos::Top)
            };
            let rect_left = match h_pos {
                HPos::Left => x,
                HPos::Center => x - w / 2,
                HPos::Right => x - w,
            };
            let rect_top = if above { y - h } else { y };
            if rect_top < top + 2 || rect_top + h > bottom - 2 {
                continue;
            }
            let rect = (
                rect_left - 3,
                rect_top - 3,
                rect_left + w + 3,
                rect_top + h + 3,
            );
            let hits = obstacles_px
                .iter()
                .flat_map(|run| run.windows(2))
                .filter(|seg| segment_hits_rect(seg[0], seg[1], rect))
                .count()
                + obstacles_px
                    .iter()
                    .filter(|run| run.len() == 1 && point_in_rect(run[0], rect))
                    .count();
            if best.as_ref().is_none_or(|(score, _, _)| hits < *score) {
                best = Some((hits, (x, y), Pos::new(h_pos, v_pos)));
            }
        }
    }
    Ok(best.map(|(_, anchor, pos)| (anchor, pos)).unwrap_or((
        (right - INSET_PX, rule_y_px - GAP_PX),
        Pos::new(HPos::Right, VPos::Bottom),
    )))
}

pub(super) fn point_in_rect(p: (i32, i32), rect: (i32, i32, i32, i32)) -> bool {
    p.0 >= rect.0 && p.0 <= rect.2 && p.1 >= rect.1 && p.1 <= rect.3
}

/// Whether the segment a-b passes through the rectangle (left, top, right, bottom).
pub(super) fn segment_hits_rect(a: (i32, i32), b: (i32, i32), rect: (i32, i32, i32, i32)) -> bool {
    let (left, top, right, bottom) = (
        f64::from(rect.0),
        f64::from(rect.1),
        f64::from(rect.2),
        f64::from(rect.3),
    );
    let (ax, ay, bx, by) = (
        f64::from(a.0),
        f64::from(a.1),
        f64::from(b.0),
        f64::from(b.1),
    );
    let (x0, x1) = (ax.min(bx).max(left), ax.max(bx).min(right));
    if x0 > x1 {
        return false;
    }
    let y_at = |x: f64| {
        if (bx - ax).abs() < 1e-9 {
            ay
        } else {
            ay + (by - ay) * (x - ax) / (bx - ax)
        }
    };
    let (y0, y1) = if (bx - ax).abs() < 1e-9 {
        (ay.min(by), ay.max(by))
    } else {
        (y_at(x0).min(y_at(x1)), y_at(x0).max(y_at(x1)))
    };
    y1 >= top && y0 <= bottom
}

/// Shortens `text` with an ellipsis until it fits `max_width_px`.
pub(super) fn truncate_to_width<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    text: &str,
    style: &TextStyle,
    max_width_px: i32,
) -> Result<String>
where
    DB::ErrorType: 'static,
{
    if area.estimate_text_size(text, style)?.0 as i32 <= max_width_px {
        return Ok(text.to_string());
    }
    let chars: Vec<char> = text.chars().collect();
    for keep in (1..chars.len()).rev() {
        let candidate: String = chars[..keep].iter().collect::<String>() + "\u{2026}";
        if area.estimate_text_size(&candidate, style)?.0 as i32 <= max_width_px {
            return Ok(candidate);
        }
    }
    Ok("\u{2026}".to_string())
}
