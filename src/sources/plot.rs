//! SVG pictures of the demos (plotters' SVG backend, text as `<text>` elements).
//!
//! - [`coin_svg`]: three panels. Bits per toss against N for each coder (achieved
//!   solid, payload dashed, log scale) with `h(p)` and the 1-bit floor of Huffman on
//!   single tosses; block Huffman as stacked bars (payload, table, framing) against b
//!   at the largest N and at the smallest N >= 1000, with the payload of an unlimited
//!   Huffman code, `h(p)` and the bound `h(p) + 1/b`; block Huffman's total against b
//!   for every N >= 1000, where the table's price shows at small N.
//! - [`typical_svg`]: `-log2 p(x)/N` of the sampled sequences against N (min-max thin,
//!   5-95 % thick, mean dot) closing in on `h(p)` inside `h +- eps`, with
//!   `log2 |A_eps| / N`; and the fraction of sequences in the typical set, sampled and
//!   exact.
//! - [`orders_svg`]: `H_k`, adaptive achieved and cross entropy, the learning cost
//!   (achieved - `H_k`) and the static runs against k, with the best order marked.
//!
//! Legends are drawn by hand in a column right of each chart, so they cover nothing.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::demo::{CoinReport, Cost, OrderRow, OrdersReport, TypicalReport};
use crate::error::Result;

const WIDTH: u32 = 1000;
const PANEL_HEIGHT: u32 = 460;
const LEGEND_WIDTH: u32 = 260;

// The analyser's palette and helpers, so both kinds of plot look alike.
use crate::analysis::plot::{COLOURS, GREY, RAW_RED as RED, draw_err};

type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;

/// How a legend row's sample is drawn.
#[derive(Clone, Copy)]
enum Mark {
    /// A solid line of this width, with a filled dot if `true`.
    Line(u32, bool),
    /// A dashed line, with an open dot if `true`.
    Dashed(bool),
    /// A filled box.
    Bar,
}

/// The hand-drawn legend column.
struct Legend<'a, 'b> {
    area: &'b Area<'a>,
    y: i32,
}

impl<'a, 'b> Legend<'a, 'b> {
    const X0: i32 = 8;
    const X1: i32 = 48;

    fn new(area: &'b Area<'a>, title: &str) -> Result<Legend<'a, 'b>> {
        area.draw(&Text::new(
            title.to_string(),
            (Self::X0, 30),
            ("sans-serif", 16).into_font().style(FontStyle::Bold),
        ))
        .map_err(draw_err)?;
        Ok(Legend { area, y: 60 })
    }

    fn row(&mut self, colour: RGBColor, mark: Mark, label: &str) -> Result<()> {
        let (x0, x1, y) = (Self::X0, Self::X1, self.y);
        let mid = (x0 + x1) / 2;
        match mark {
            Mark::Line(w, dot) => {
                self.area
                    .draw(&PathElement::new(
                        vec![(x0, y), (x1, y)],
                        colour.stroke_width(w),
                    ))
                    .map_err(draw_err)?;
                if dot {
                    self.area
                        .draw(&Circle::new((mid, y), 4, colour.filled()))
                        .map_err(draw_err)?;
                }
            }
            Mark::Dashed(dot) => {
                let mut x = x0;
                while x < x1 {
                    self.area
                        .draw(&PathElement::new(
                            vec![(x, y), ((x + 6).min(x1), y)],
                            colour.stroke_width(2),
                        ))
                        .map_err(draw_err)?;
                    x += 10;
                }
                if dot {
                    self.area
                        .draw(&Circle::new((mid, y), 5, WHITE.filled()))
                        .map_err(draw_err)?;
                    self.area
                        .draw(&Circle::new((mid, y), 5, colour.stroke_width(2)))
                        .map_err(draw_err)?;
                }
            }
            Mark::Bar => {
                self.area
                    .draw(&Rectangle::new(
                        [(x0 + 8, y - 7), (x1 - 8, y + 7)],
                        colour.filled(),
                    ))
                    .map_err(draw_err)?;
            }
        }
        self.area
            .draw(&Text::new(
                label.to_string(),
                (x1 + 8, y - 8),
                ("sans-serif", 15).into_font(),
            ))
            .map_err(draw_err)?;
        self.y += 24;
        Ok(())
    }
}

/// An SVG of `panels` stacked panels, each split into a chart and a legend column.
fn render(
    panels: usize,
    mut draw: impl FnMut(usize, &Area<'_>, &Area<'_>) -> Result<()>,
) -> Result<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, PANEL_HEIGHT * panels as u32))
            .into_drawing_area();
        root.fill(&WHITE).map_err(draw_err)?;
        for (i, panel) in root.split_evenly((panels, 1)).iter().enumerate() {
            let (chart, legend) = panel.split_horizontally(WIDTH - LEGEND_WIDTH);
            draw(i, &chart, &legend)?;
        }
        root.present().map_err(draw_err)?;
    }
    Ok(svg)
}

/// Formats `log10 N` ticks as `10^e`, other ticks as nothing.
fn pow10_label(x: &f64) -> String {
    if (x - x.round()).abs() < 1e-6 {
        format!("10^{}", x.round())
    } else {
        String::new()
    }
}

/// Formats integer ticks, other ticks as nothing.
fn int_label(x: &f64) -> String {
    if (x - x.round()).abs() < 1e-6 {
        format!("{}", x.round())
    } else {
        String::new()
    }
}

/// Smallest and largest of `values`, or `(1, 1)` for none.
fn bounds(values: impl Iterator<Item = f64>) -> (f64, f64) {
    values
        .filter(|v| v.is_finite())
        .fold(None, |acc: Option<(f64, f64)>, v| {
            Some(acc.map_or((v, v), |(lo, hi)| (lo.min(v), hi.max(v))))
        })
        .unwrap_or((1.0, 1.0))
}

/// The coin demo's picture (module docs).
///
/// Errors: plotters failed to draw ([`crate::Error::Io`] with its message).
pub fn coin_svg(r: &CoinReport) -> Result<String> {
    let h = r.entropy_rate;
    let log_n = |n: u64| (n as f64).log10();
    let (n_lo, n_hi) = bounds(r.rows.iter().map(|row| log_n(row.n)));
    let x_range = n_lo - 0.3..n_hi + 0.3;
    let largest = r.rows.iter().map(|row| row.n).max().unwrap_or(0);
    // Panel 2 compares the largest N with a smaller one where the table shows.
    let small = r
        .rows
        .iter()
        .map(|row| row.n)
        .filter(|&n| n >= 1000 && n < largest)
        .min()
        .unwrap_or(largest);
    render(3, |i, chart_area, legend_area| match i {
        0 => {
            // Log scale: a payload of 0 (a run block) cannot be drawn and is left out.
            let (lo, hi) = bounds(
                r.rows
                    .iter()
                    .flat_map(|row| row.coders.iter().flat_map(|c| [c.achieved, c.payload]))
                    .chain([h, 1.0])
                    .filter(|&v| v > 0.0),
            );
            let mut chart = ChartBuilder::on(chart_area)
                .caption(
                    format!("coin p = {:.4}: bits per toss, every coder", r.p),
                    ("sans-serif", 20),
                )
                .margin(12)
                .x_label_area_size(40)
                .y_label_area_size(60)
                .build_cartesian_2d(x_range.clone(), (lo * 0.8..hi * 1.25).log_scale())
                .map_err(draw_err)?;
            chart
                .configure_mesh()
                .x_desc("tosses N")
                .y_desc("bits per toss (log scale)")
                .x_label_formatter(&pow10_label)
                .y_label_formatter(&|y| format!("{y:.2}"))
                .label_style(("sans-serif", 14))
                .light_line_style(WHITE.mix(0.0))
                .draw()
                .map_err(draw_err)?;
            let span = [x_range.start, x_range.end];
            chart
                .draw_series(LineSeries::new(span.map(|x| (x, h)), BLACK.stroke_width(3)))
                .map_err(draw_err)?;
            chart
                .draw_series(DashedLineSeries::new(
                    span.map(|x| (x, 1.0)),
                    4,
                    4,
                    GREY.stroke_width(2),
                ))
                .map_err(draw_err)?;
            let mut legend = Legend::new(legend_area, "legend")?;
            legend.row(BLACK, Mark::Line(3, false), &format!("h(p) = {h:.4}"))?;
            legend.row(GREY, Mark::Dashed(false), "1 bit per toss")?;
            let coders: Vec<&str> = r
                .rows
                .first()
                .map(|row| row.coders.iter().map(|c| c.coder).collect())
                .unwrap_or_default();
            for (ci, name) in coders.iter().enumerate() {
                let colour = COLOURS[ci % COLOURS.len()];
                let pts = |f: fn(&Cost) -> f64| -> Vec<(f64, f64)> {
                    r.rows
                        .iter()
                        .filter_map(|row| Some((log_n(row.n), f(row.coders.get(ci)?))))
                        .filter(|p| p.1 > 0.0)
                        .collect()
                };
                let achieved = pts(|c| c.achieved);
                let payload = pts(|c| c.payload);
                chart
                    .draw_series(LineSeries::new(
                        achieved.iter().copied(),
                        colour.stroke_width(2),
                    ))
                    .map_err(draw_err)?;
                chart
                    .draw_series(achieved.iter().map(|&p| Circle::new(p, 4, colour.filled())))
                    .map_err(draw_err)?;
                chart
                    .draw_series(DashedLineSeries::new(
                        payload.iter().copied(),
                        6,
                        4,
                        colour.stroke_width(2),
                    ))
                    .map_err(draw_err)?;
                chart
                    .draw_series(
                        payload
                            .iter()
                            .map(|&p| Circle::new(p, 5, colour.stroke_width(2))),
                    )
                    .map_err(draw_err)?;
                legend.row(colour, Mark::Line(2, false), name)?;
            }
            legend.y += 12;
            legend.row(BLACK, Mark::Line(2, true), "achieved (all bytes)")?;
            legend.row(BLACK, Mark::Dashed(true), "payload only")
        }
        1 => {
            let groups: Vec<(u64, f64)> = if small == largest {
                vec![(largest, 0.0)]
            } else {
                vec![(small, -0.2), (largest, 0.2)]
            };
            let width = if groups.len() == 1 { 0.3 } else { 0.17 };
            let rows: Vec<_> = r
                .blocks
                .iter()
                .filter(|b| groups.iter().any(|g| g.0 == b.n))
                .collect();
            let (_, hi) = bounds(rows.iter().map(|b| b.cost.achieved).chain([h + 1.0]));
            let max_b = rows.iter().map(|b| b.b).max().unwrap_or(1);
            let caption = if groups.len() == 1 {
                format!("Huffman on blocks of b tosses, N = {largest}")
            } else {
                format!("Huffman on blocks of b tosses: N = {small} (left), {largest} (right)")
            };
            let mut chart = ChartBuilder::on(chart_area)
                .caption(caption, ("sans-serif", 20))
                .margin(12)
                .x_label_area_size(40)
                .y_label_area_size(60)
                .build_cartesian_2d(0.4..f64::from(max_b) + 0.6, 0.0..hi * 1.08)
                .map_err(draw_err)?;
            chart
                .configure_mesh()
                .x_desc("tosses per symbol b (alphabet 2^b)")
                .y_desc("bits per toss")
                .x_labels(max_b as usize + 2)
                .x_label_formatter(&int_label)
                .y_label_formatter(&|y| format!("{y:.2}"))
                .label_style(("sans-serif", 14))
                .light_line_style(WHITE.mix(0.0))
                .draw()
                .map_err(draw_err)?;
            let parts = [
                (COLOURS[0], "payload (code words)"),
                (COLOURS[1], "table (code lengths)"),
                (GREY, "framing (container)"),
            ];
            for b in &rows {
                let shift = groups.iter().find(|g| g.0 == b.n).map_or(0.0, |g| g.1);
                let x = f64::from(b.b) + shift;
                let mut base = 0.0;
                for (j, v) in [b.cost.payload, b.cost.table, b.cost.framing]
                    .into_iter()
                    .enumerate()
                {
                    chart
                        .draw_series([Rectangle::new(
                            [(x - width, base), (x + width, base + v)],
                            parts[j].0.filled(),
                        )])
                        .map_err(draw_err)?;
                    base += v;
                }
                chart
                    .draw_series([Circle::new(
                        (x, b.unlimited_payload),
                        4,
                        COLOURS[2].filled(),
                    )])
                    .map_err(draw_err)?;
            }
            let xs = [0.4, f64::from(max_b) + 0.6];
            chart
                .draw_series(LineSeries::new(xs.map(|x| (x, h)), BLACK.stroke_width(2)))
                .map_err(draw_err)?;
            let bound: Vec<(f64, f64)> = (1..=max_b)
                .map(|b| (f64::from(b), h + 1.0 / f64::from(b)))
                .collect();
            chart
                .draw_series(DashedLineSeries::new(bound, 6, 4, RED.stroke_width(2)))
                .map_err(draw_err)?;
            let mut legend = Legend::new(legend_area, "legend")?;
            for (colour, label) in parts {
                legend.row(colour, Mark::Bar, label)?;
            }
            legend.row(COLOURS[2], Mark::Line(0, true), "payload, no length limit")?;
            legend.row(BLACK, Mark::Line(2, false), &format!("h(p) = {h:.4}"))?;
            legend.row(RED, Mark::Dashed(false), "bound h(p) + 1/b")
        }
        _ => {
            // Small N are dominated by the container (stored and run blocks): left out.
            let ns: Vec<u64> = r
                .rows
                .iter()
                .map(|row| row.n)
                .filter(|&n| n >= 1000)
                .collect();
            let shown: Vec<_> = r.blocks.iter().filter(|b| ns.contains(&b.n)).collect();
            let (_, hi) = bounds(shown.iter().map(|b| b.cost.achieved).chain([h + 0.1]));
            let max_b = r.blocks.iter().map(|b| b.b).max().unwrap_or(1);
            let mut chart = ChartBuilder::on(chart_area)
                .caption(
                    "block Huffman, all bytes: the table's price at small N",
                    ("sans-serif", 20),
                )
                .margin(12)
                .x_label_area_size(40)
                .y_label_area_size(60)
                .build_cartesian_2d(0.6..f64::from(max_b) + 0.4, (h * 0.9)..hi * 1.05)
                .map_err(draw_err)?;
            chart
                .configure_mesh()
                .x_desc("tosses per symbol b")
                .y_desc("bits per toss")
                .x_labels(max_b as usize + 2)
                .x_label_formatter(&int_label)
                .y_label_formatter(&|y| format!("{y:.2}"))
                .label_style(("sans-serif", 14))
                .light_line_style(WHITE.mix(0.0))
                .draw()
                .map_err(draw_err)?;
            let xs = [0.6, f64::from(max_b) + 0.4];
            chart
                .draw_series(LineSeries::new(xs.map(|x| (x, h)), BLACK.stroke_width(3)))
                .map_err(draw_err)?;
            let mut legend = Legend::new(legend_area, "tosses N")?;
            legend.row(BLACK, Mark::Line(3, false), &format!("h(p) = {h:.4}"))?;
            for (ni, &n) in ns.iter().enumerate() {
                let colour = COLOURS[ni % COLOURS.len()];
                let pts: Vec<(f64, f64)> = shown
                    .iter()
                    .filter(|b| b.n == n)
                    .map(|b| (f64::from(b.b), b.cost.achieved))
                    .collect();
                chart
                    .draw_series(LineSeries::new(pts.iter().copied(), colour.stroke_width(2)))
                    .map_err(draw_err)?;
                chart
                    .draw_series(pts.iter().map(|&p| Circle::new(p, 4, colour.filled())))
                    .map_err(draw_err)?;
                legend.row(colour, Mark::Line(2, true), &format!("N = {n}"))?;
            }
            Ok(())
        }
    })
}

/// The typical-set demo's picture (module docs).
///
/// Errors: plotters failed to draw ([`crate::Error::Io`] with its message).
pub fn typical_svg(r: &TypicalReport) -> Result<String> {
    let (h, eps) = (r.entropy_rate, r.epsilon);
    let log_n = |n: u64| (n as f64).log10();
    let (n_lo, n_hi) = bounds(r.rows.iter().map(|row| log_n(row.n)));
    let x_range = n_lo - 0.3..n_hi + 0.3;
    let span = [x_range.start, x_range.end];
    render(2, |i, chart_area, legend_area| {
        if i == 0 {
            let (lo, hi) = bounds(
                r.rows
                    .iter()
                    .flat_map(|row| [row.min, row.max, row.typical_set_log2_per_toss])
                    .chain([h - eps, h + eps]),
            );
            let pad = 0.05 * (hi - lo).max(1e-3);
            let mut chart = ChartBuilder::on(chart_area)
                .caption(
                    format!("-log2 p(x) / N of sampled sequences, p = {:.4}", r.p),
                    ("sans-serif", 20),
                )
                .margin(12)
                .x_label_area_size(40)
                .y_label_area_size(60)
                .build_cartesian_2d(x_range.clone(), lo - pad..hi + pad)
                .map_err(draw_err)?;
            chart
                .configure_mesh()
                .x_desc("sequence length N")
                .y_desc("bits per toss")
                .x_label_formatter(&pow10_label)
                .y_label_formatter(&|y| format!("{y:.2}"))
                .label_style(("sans-serif", 14))
                .light_line_style(WHITE.mix(0.0))
                .draw()
                .map_err(draw_err)?;
            chart
                .draw_series(LineSeries::new(span.map(|x| (x, h)), BLACK.stroke_width(2)))
                .map_err(draw_err)?;
            for y in [h - eps, h + eps] {
                chart
                    .draw_series(DashedLineSeries::new(
                        span.map(|x| (x, y)),
                        6,
                        4,
                        RED.stroke_width(2),
                    ))
                    .map_err(draw_err)?;
            }
            for row in &r.rows {
                let x = log_n(row.n);
                chart
                    .draw_series([PathElement::new(
                        vec![(x, row.min), (x, row.max)],
                        GREY.stroke_width(1),
                    )])
                    .map_err(draw_err)?;
                chart
                    .draw_series([PathElement::new(
                        vec![(x, row.q05), (x, row.q95)],
                        COLOURS[0].stroke_width(6),
                    )])
                    .map_err(draw_err)?;
                chart
                    .draw_series([Circle::new((x, row.mean), 4, BLACK.filled())])
                    .map_err(draw_err)?;
            }
            let size: Vec<(f64, f64)> = r
                .rows
                .iter()
                .filter(|row| row.typical_set_log2_per_toss.is_finite())
                .map(|row| (log_n(row.n), row.typical_set_log2_per_toss))
                .collect();
            chart
                .draw_series(DashedLineSeries::new(
                    size.iter().copied(),
                    6,
                    4,
                    COLOURS[2].stroke_width(2),
                ))
                .map_err(draw_err)?;
            chart
                .draw_series(
                    size.iter()
                        .map(|&p| Circle::new(p, 5, COLOURS[2].stroke_width(2))),
                )
                .map_err(draw_err)?;
            let mut legend = Legend::new(legend_area, "legend")?;
            legend.row(BLACK, Mark::Line(2, false), &format!("h(p) = {h:.4}"))?;
            legend.row(RED, Mark::Dashed(false), &format!("h(p) +- {eps}"))?;
            legend.row(GREY, Mark::Line(1, false), "sampled min .. max")?;
            legend.row(COLOURS[0], Mark::Line(6, false), "sampled 5% .. 95%")?;
            legend.row(BLACK, Mark::Line(0, true), "sampled mean")?;
            legend.row(COLOURS[2], Mark::Dashed(true), "log2 |A_eps| / N (exact)")
        } else {
            let mut chart = ChartBuilder::on(chart_area)
                .caption(
                    format!("fraction of sequences in the typical set A_eps, eps = {eps}"),
                    ("sans-serif", 20),
                )
                .margin(12)
                .x_label_area_size(40)
                .y_label_area_size(60)
                .build_cartesian_2d(x_range.clone(), 0.0..1.05)
                .map_err(draw_err)?;
            chart
                .configure_mesh()
                .x_desc("sequence length N")
                .y_desc("probability")
                .x_label_formatter(&pow10_label)
                .y_label_formatter(&|y| format!("{y:.1}"))
                .label_style(("sans-serif", 14))
                .light_line_style(WHITE.mix(0.0))
                .draw()
                .map_err(draw_err)?;
            let exact: Vec<(f64, f64)> = r
                .rows
                .iter()
                .map(|row| (log_n(row.n), row.exact_within))
                .collect();
            let sampled: Vec<(f64, f64)> = r
                .rows
                .iter()
                .map(|row| (log_n(row.n), row.within))
                .collect();
            chart
                .draw_series(LineSeries::new(
                    exact.iter().copied(),
                    COLOURS[0].stroke_width(2),
                ))
                .map_err(draw_err)?;
            chart
                .draw_series(
                    exact
                        .iter()
                        .map(|&p| Circle::new(p, 4, COLOURS[0].filled())),
                )
                .map_err(draw_err)?;
            chart
                .draw_series(
                    sampled
                        .iter()
                        .map(|&p| Circle::new(p, 6, COLOURS[1].stroke_width(2))),
                )
                .map_err(draw_err)?;
            let mut legend = Legend::new(legend_area, "legend")?;
            legend.row(COLOURS[0], Mark::Line(2, true), "P(A_eps), exact")?;
            legend.row(COLOURS[1], Mark::Dashed(true), "fraction sampled")
        }
    })
}

/// The orders demo's picture (module docs).
///
/// Errors: plotters failed to draw ([`crate::Error::Io`] with its message).
pub fn orders_svg(r: &OrdersReport) -> Result<String> {
    let max_k = r.rows.iter().map(|row| row.k).max().unwrap_or(0);
    render(1, |_, chart_area, legend_area| {
        let (_, hi) = bounds(r.rows.iter().flat_map(|row| {
            [
                Some(row.entropy),
                row.adaptive_achieved,
                row.adaptive_cross,
                row.static_achieved,
            ]
            .into_iter()
            .flatten()
        }));
        let x_range = -0.3..f64::from(max_k) + 0.3;
        let mut chart = ChartBuilder::on(chart_area)
            .caption(
                format!("{} ({} bytes), {}", r.path, r.bytes, r.coder),
                ("sans-serif", 20),
            )
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(x_range, 0.0..hi * 1.08)
            .map_err(draw_err)?;
        chart
            .configure_mesh()
            .x_desc("context order k")
            .y_desc("bits per byte")
            .x_labels(max_k as usize + 1)
            .x_label_formatter(&int_label)
            .y_label_formatter(&|y| format!("{y:.1}"))
            .label_style(("sans-serif", 14))
            .light_line_style(WHITE.mix(0.0))
            .draw()
            .map_err(draw_err)?;
        let series = |f: &dyn Fn(&OrderRow) -> Option<f64>| -> Vec<(f64, f64)> {
            r.rows
                .iter()
                .filter_map(|row| Some((f64::from(row.k), f(row)?)))
                .collect()
        };
        let mut legend = Legend::new(legend_area, "legend")?;
        if let Some(best) = r.best_adaptive_order {
            chart
                .draw_series(DashedLineSeries::new(
                    [(f64::from(best), 0.0), (f64::from(best), hi * 1.08)],
                    3,
                    5,
                    GREY.stroke_width(2),
                ))
                .map_err(draw_err)?;
            legend.row(
                GREY,
                Mark::Dashed(false),
                &format!("best adaptive order k = {best}"),
            )?;
        }
        // (colour, dashed, label, points)
        type Line<'s> = (RGBColor, bool, &'s str, Vec<(f64, f64)>);
        let lines: [Line<'_>; 5] = [
            (
                COLOURS[0],
                false,
                "adaptive achieved",
                series(&|row| row.adaptive_achieved),
            ),
            (
                COLOURS[0],
                true,
                "adaptive cross entropy",
                series(&|row| row.adaptive_cross),
            ),
            (
                COLOURS[2],
                false,
                "learning cost (adaptive - H_k)",
                series(&|row| row.learning_cost()),
            ),
            (
                COLOURS[1],
                false,
                "static achieved",
                series(&|row| row.static_achieved),
            ),
            (
                COLOURS[1],
                true,
                "static cross entropy",
                series(&|row| row.static_cross),
            ),
        ];
        for (colour, dashed, label, pts) in lines {
            if pts.is_empty() {
                continue;
            }
            if dashed {
                chart
                    .draw_series(DashedLineSeries::new(
                        pts.iter().copied(),
                        6,
                        4,
                        colour.stroke_width(2),
                    ))
                    .map_err(draw_err)?;
                chart
                    .draw_series(
                        pts.iter()
                            .map(|&p| Circle::new(p, 5, colour.stroke_width(2))),
                    )
                    .map_err(draw_err)?;
                legend.row(colour, Mark::Dashed(true), label)?;
            } else {
                chart
                    .draw_series(LineSeries::new(pts.iter().copied(), colour.stroke_width(2)))
                    .map_err(draw_err)?;
                chart
                    .draw_series(pts.iter().map(|&p| Circle::new(p, 4, colour.filled())))
                    .map_err(draw_err)?;
                legend.row(colour, Mark::Line(2, true), label)?;
            }
        }
        let hk = series(&|row| Some(row.entropy));
        chart
            .draw_series(LineSeries::new(hk.iter().copied(), BLACK.stroke_width(3)))
            .map_err(draw_err)?;
        chart
            .draw_series(hk.iter().map(|&p| Circle::new(p, 4, BLACK.filled())))
            .map_err(draw_err)?;
        legend.row(BLACK, Mark::Line(3, true), "H_k (empirical entropy)")
    })
}
