//! The analyser's picture: bits per byte against the context order k, as SVG.
//!
//! One panel per file. Left, the chart: the empirical entropy H_k (thick black, filled
//! dots), the order-0 entropy H_0 and the raw 8 bits/byte as horizontal reference
//! lines, and for each model/coder pair its achieved rate (solid line, filled dots) and
//! its cross entropy (dashed line, open dots) at the orders it was run. Right, the
//! legend, drawn by hand so that it never covers a curve.
//!
//! Text goes out as SVG `<text>` elements (plotters' SVG backend without a font
//! library), so its width is estimated: labels are kept short.

use std::collections::BTreeMap;

use plotters::coord::Shift;
use plotters::prelude::*;

use super::report::FileReport;
use crate::error::{Error, Result};
use crate::format::{CoderKind, ModelKind};

/// Width of the SVG in pixels.
const WIDTH: u32 = 1000;
/// Height of one file's panel in pixels.
const PANEL_HEIGHT: u32 = 560;
/// Width of the legend column on the right of each panel.
const LEGEND_WIDTH: u32 = 270;

/// One colour per model/coder pair, in report order (no red: red marks 8 bits/byte).
pub(crate) const COLOURS: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(23, 190, 207),
    RGBColor(188, 189, 34),
];
/// Reference lines and axes.
pub(crate) const GREY: RGBColor = RGBColor(120, 120, 120);
/// The 8 bits/byte (raw) line.
pub(crate) const RAW_RED: RGBColor = RGBColor(190, 30, 30);

/// A plotters error as the crate's error.
pub(crate) fn draw_err(e: impl std::fmt::Display) -> Error {
    Error::Io(std::io::Error::other(format!("plot: {e}")))
}

/// The points of one model/coder pair: (k, achieved) and (k, cross entropy).
#[derive(Default)]
struct Curve {
    achieved: Vec<(f64, f64)>,
    cross: Vec<(f64, f64)>,
}

/// Model/coder pairs in report order, with their points sorted by order.
fn curves(file: &FileReport) -> Vec<((ModelKind, CoderKind), Curve)> {
    let mut order: Vec<(ModelKind, CoderKind)> = Vec::new();
    let mut map: BTreeMap<usize, Curve> = BTreeMap::new();
    for r in &file.runs {
        let key = (r.model, r.coder);
        let i = order.iter().position(|&k| k == key).unwrap_or_else(|| {
            order.push(key);
            order.len() - 1
        });
        let c = map.entry(i).or_default();
        let k = f64::from(r.order);
        if let Some(a) = r.achieved() {
            c.achieved.push((k, a));
        }
        if let Some(x) = r.cross_entropy() {
            c.cross.push((k, x));
        }
    }
    for c in map.values_mut() {
        c.achieved.sort_by(|a, b| a.0.total_cmp(&b.0));
        c.cross.sort_by(|a, b| a.0.total_cmp(&b.0));
    }
    order.into_iter().zip(map.into_values()).collect()
}

/// Renders one SVG document with a panel per file.
///
/// Errors: plotters failed to draw ([`Error::Io`] with its message).
pub fn render_svg(files: &[FileReport]) -> Result<String> {
    let mut svg = String::new();
    {
        let height = PANEL_HEIGHT * files.len().max(1) as u32;
        let root = SVGBackend::with_string(&mut svg, (WIDTH, height)).into_drawing_area();
        root.fill(&WHITE).map_err(draw_err)?;
        let panels = root.split_evenly((files.len().max(1), 1));
        for (panel, file) in panels.iter().zip(files) {
            draw_panel(panel, file)?;
        }
        root.present().map_err(draw_err)?;
    }
    Ok(svg)
}

fn draw_panel(panel: &DrawingArea<SVGBackend<'_>, Shift>, file: &FileReport) -> Result<()> {
    let (chart_area, legend_area) = panel.split_horizontally(WIDTH - LEGEND_WIDTH);
    let curves = curves(file);
    let max_k = file
        .entropy
        .iter()
        .map(|e| e.order)
        .chain(file.runs.iter().map(|r| r.order))
        .max()
        .unwrap_or(0);
    let top = curves
        .iter()
        .flat_map(|(_, c)| c.achieved.iter().chain(&c.cross).map(|p| p.1))
        .fold(8.0f64, f64::max);
    let y_max = (top * 1.08).ceil();
    let x_range = -0.25..f64::from(max_k) + 0.25;

    let title = format!("{} ({} bytes)", file.path, file.bytes);
    let mut chart = ChartBuilder::on(&chart_area)
        .caption(title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(45)
        .y_label_area_size(55)
        .build_cartesian_2d(x_range.clone(), 0.0..y_max)
        .map_err(draw_err)?;
    chart
        .configure_mesh()
        .x_desc("context order k")
        .y_desc("bits per byte")
        .x_labels(max_k as usize + 1)
        .x_label_formatter(&|x| {
            if (x - x.round()).abs() < 1e-6 {
                format!("{}", x.round())
            } else {
                String::new()
            }
        })
        .y_labels(y_max as usize + 1)
        .y_label_formatter(&|y| format!("{y:.0}"))
        .label_style(("sans-serif", 14))
        .light_line_style(WHITE.mix(0.0))
        .draw()
        .map_err(draw_err)?;

    // Reference lines: raw 8 bits and H_0.
    let span = [x_range.start, x_range.end];
    chart
        .draw_series(DashedLineSeries::new(
            span.map(|x| (x, 8.0)),
            8,
            5,
            RAW_RED.stroke_width(2),
        ))
        .map_err(draw_err)?;
    if let Some(h0) = file.entropy.first() {
        chart
            .draw_series(DashedLineSeries::new(
                span.map(|x| (x, h0.bits_per_byte)),
                3,
                4,
                GREY.stroke_width(2),
            ))
            .map_err(draw_err)?;
    }

    // Model/coder curves: achieved solid and filled, cross entropy dashed and open.
    for (i, (_, c)) in curves.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        chart
            .draw_series(LineSeries::new(
                c.achieved.iter().copied(),
                colour.stroke_width(2),
            ))
            .map_err(draw_err)?;
        chart
            .draw_series(
                c.achieved
                    .iter()
                    .map(|&p| Circle::new(p, 4, colour.filled())),
            )
            .map_err(draw_err)?;
        chart
            .draw_series(DashedLineSeries::new(
                c.cross.iter().copied(),
                6,
                4,
                colour.stroke_width(2),
            ))
            .map_err(draw_err)?;
        chart
            .draw_series(
                c.cross
                    .iter()
                    .map(|&p| Circle::new(p, 5, colour.stroke_width(2))),
            )
            .map_err(draw_err)?;
    }

    // H_k on top of everything.
    let hk: Vec<(f64, f64)> = file
        .entropy
        .iter()
        .map(|e| (f64::from(e.order), e.bits_per_byte))
        .collect();
    chart
        .draw_series(LineSeries::new(hk.iter().copied(), BLACK.stroke_width(3)))
        .map_err(draw_err)?;
    chart
        .draw_series(hk.iter().map(|&p| Circle::new(p, 4, BLACK.filled())))
        .map_err(draw_err)?;

    draw_legend(&legend_area, file, &curves)
}

/// Left and right end of a legend row's line sample.
const LEGEND_X0: i32 = 8;
const LEGEND_X1: i32 = 48;
/// Height of a legend row.
const ROW_H: i32 = 24;

/// Draws one legend row at `*y` (a line sample, then its label) and moves `*y` down.
fn legend_row(
    area: &DrawingArea<SVGBackend<'_>, Shift>,
    y: &mut i32,
    sample: &dyn Fn(i32) -> Result<()>,
    label: &str,
) -> Result<()> {
    sample(*y)?;
    area.draw(&Text::new(
        label.to_string(),
        (LEGEND_X1 + 8, *y - 8),
        ("sans-serif", 15).into_font(),
    ))
    .map_err(draw_err)?;
    *y += ROW_H;
    Ok(())
}

/// The legend column: one row per reference line and per model/coder pair, then a key
/// to the line styles.
fn draw_legend(
    area: &DrawingArea<SVGBackend<'_>, Shift>,
    file: &FileReport,
    curves: &[((ModelKind, CoderKind), Curve)],
) -> Result<()> {
    let mut y = 60;
    let (x0, x1) = (LEGEND_X0, LEGEND_X1);
    let solid = |colour: RGBColor, width: u32, dot: bool| {
        move |y: i32| -> Result<()> {
            area.draw(&PathElement::new(
                vec![(x0, y), (x1, y)],
                colour.stroke_width(width),
            ))
            .map_err(draw_err)?;
            if dot {
                area.draw(&Circle::new(((x0 + x1) / 2, y), 4, colour.filled()))
                    .map_err(draw_err)?;
            }
            Ok(())
        }
    };
    let dashed = |colour: RGBColor, open_dot: bool| {
        move |y: i32| -> Result<()> {
            let mut x = x0;
            while x < x1 {
                area.draw(&PathElement::new(
                    vec![(x, y), ((x + 6).min(x1), y)],
                    colour.stroke_width(2),
                ))
                .map_err(draw_err)?;
                x += 10;
            }
            if open_dot {
                area.draw(&Circle::new(
                    ((x0 + x1) / 2, y),
                    5,
                    WHITE.filled().stroke_width(0),
                ))
                .map_err(draw_err)?;
                area.draw(&Circle::new(((x0 + x1) / 2, y), 5, colour.stroke_width(2)))
                    .map_err(draw_err)?;
            }
            Ok(())
        }
    };
    area.draw(&Text::new(
        "legend",
        (LEGEND_X0, 30),
        ("sans-serif", 16).into_font().style(FontStyle::Bold),
    ))
    .map_err(draw_err)?;
    legend_row(
        area,
        &mut y,
        &solid(BLACK, 3, true),
        "H_k (empirical entropy)",
    )?;
    if let Some(h0) = file.entropy.first() {
        legend_row(
            area,
            &mut y,
            &dashed(GREY, false),
            &format!("H_0 = {:.4}", h0.bits_per_byte),
        )?;
    }
    legend_row(area, &mut y, &dashed(RAW_RED, false), "8 bits/byte (raw)")?;
    y += ROW_H / 2;
    for (i, ((model, coder), _)) in curves.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        legend_row(
            area,
            &mut y,
            &solid(colour, 2, false),
            &format!("{} {}", model.name(), coder.name()),
        )?;
    }
    y += ROW_H / 2;
    legend_row(area, &mut y, &solid(BLACK, 2, true), "achieved rate")?;
    legend_row(area, &mut y, &dashed(BLACK, true), "cross entropy")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::{AnalyseConfig, analyse};

    #[test]
    fn degenerate_reports_still_draw() {
        // No file, an empty file (no rates), and a one-symbol file (H_k = 0 throughout).
        assert!(render_svg(&[]).unwrap().starts_with("<svg"));
        let config = AnalyseConfig {
            max_order: 1,
            ..AnalyseConfig::default()
        };
        let empty = analyse("empty", &[], &config).unwrap();
        let flat = analyse("flat", &[b'x'; 300], &config).unwrap();
        let svg = render_svg(&[empty, flat]).unwrap();
        assert_eq!(svg.matches("(empirical entropy)").count(), 2);
        assert!(svg.contains("flat (300 bytes)"));
    }
}
