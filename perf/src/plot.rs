//! PNG charts of the results: line charts of medians with min-max error bars,
//! one or more panels side by side under one title. Text is drawn by plotters'
//! pure-Rust glyph renderer from DejaVu Sans (Debian's `fonts-dejavu-core`),
//! read once at run time, so building needs no fontconfig or freetype.

use std::path::Path;
use std::sync::OnceLock;

use anyhow::{anyhow, Context};
use plotters::coord::ranged1d::ValueFormatter;
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::register_font;

/// Where Debian keeps the font (package `fonts-dejavu-core`).
const FONT_DIR: &str = "/usr/share/fonts/truetype/dejavu";

/// A value and the spread over runs (min = max = value for one run).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    pub x: f64,
    pub y: f64,
    pub min: f64,
    pub max: f64,
}

impl Point {
    /// A point without spread (one run, or a computed bound).
    pub fn exact(x: f64, y: f64) -> Point {
        Point {
            x,
            y,
            min: y,
            max: y,
        }
    }
}

/// One line of a panel.
#[derive(Debug, Clone)]
pub struct Series {
    pub name: String,
    pub points: Vec<Point>,
    pub color: RGBColor,
    /// Dashed lines mark bounds and references rather than measurements.
    pub dashed: bool,
}

impl Series {
    pub fn new(name: impl Into<String>, color: RGBColor, points: Vec<Point>) -> Series {
        Series {
            name: name.into(),
            points,
            color,
            dashed: false,
        }
    }

    pub fn dashed(mut self) -> Series {
        self.dashed = true;
        self
    }
}

/// One chart area: axes, their labels (with units) and its lines.
#[derive(Debug, Clone)]
pub struct Panel {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub series: Vec<Series>,
    pub log_x: bool,
    pub log_y: bool,
    /// Upper end of the y axis (default: 10% above the highest max).
    pub y_max: Option<f64>,
    /// Where the legend goes, so it does not hide the lines.
    pub legend: SeriesLabelPosition,
}

impl Panel {
    pub fn new(title: &str, x_label: &str, y_label: &str, series: Vec<Series>) -> Panel {
        Panel {
            title: title.into(),
            x_label: x_label.into(),
            y_label: y_label.into(),
            series,
            log_x: false,
            log_y: false,
            y_max: None,
            legend: SeriesLabelPosition::UpperRight,
        }
    }
}

/// Colours that stay apart on white and in grey print.
pub const PALETTE: [RGBColor; 7] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(255, 127, 14),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(23, 190, 207),
];

/// Registers DejaVu Sans as plotters' `sans-serif` once per process.
fn fonts() -> anyhow::Result<()> {
    static DONE: OnceLock<Result<(), String>> = OnceLock::new();
    DONE.get_or_init(|| {
        for (file, style) in [
            ("DejaVuSans.ttf", FontStyle::Normal),
            ("DejaVuSans-Bold.ttf", FontStyle::Bold),
        ] {
            let path = Path::new(FONT_DIR).join(file);
            let bytes = std::fs::read(&path).map_err(|e| {
                format!(
                    "{}: {e} (install Debian's fonts-dejavu-core, see scripts/setup)",
                    path.display()
                )
            })?;
            // plotters keeps fonts for the life of the process; this is read once.
            let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
            register_font("sans-serif", style, bytes)
                .map_err(|_| format!("{} is not a font plotters can read", path.display()))?;
        }
        Ok(())
    })
    .clone()
    .map_err(|e| anyhow!(e))
}

/// `1000` as `1K`, `8000000` as `8M`: axis labels of counts.
pub fn count_label(v: f64) -> String {
    let a = v.abs();
    if a >= 1e6 && (v / 1e6).fract().abs() < 1e-9 {
        format!("{}M", v / 1e6)
    } else if a >= 1e3 && (v / 1e3).fract().abs() < 1e-9 {
        format!("{}K", v / 1e3)
    } else if a >= 1024.0 && (v / 1024.0).fract().abs() < 1e-9 {
        // Rule capacities are powers of two: 16384 is "16K" as NIC sheets say.
        format!("{}K", v / 1024.0)
    } else if v.fract().abs() < 1e-9 {
        format!("{v:.0}")
    } else {
        format!("{v}")
    }
}

/// Whether `v` is 1, 2 or 5 times a power of ten (or a power of two, the
/// rule capacities' steps).
fn round_mantissa(v: f64) -> bool {
    if v <= 0.0 {
        return false;
    }
    let m = v / 10f64.powf(v.log10().floor());
    let pow2 = (v.log2() - v.log2().round()).abs() < 1e-9 && v >= 64.0;
    [1.0, 2.0, 5.0].iter().any(|x| (m - x).abs() < 1e-6) || pow2
}

fn bounds(panel: &Panel) -> (f64, f64, f64, f64) {
    let pts = panel.series.iter().flat_map(|s| &s.points);
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for p in pts {
        x0 = x0.min(p.x);
        x1 = x1.max(p.x);
        y0 = y0.min(p.min);
        y1 = y1.max(p.max);
    }
    if x0 > x1 {
        return (0.0, 1.0, 0.0, 1.0);
    }
    (x0, x1, y0, y1)
}

/// Draws `panels` side by side under `title` into a PNG of `width` x 520 per row.
pub fn draw(path: &Path, title: &str, panels: &[Panel], width: u32) -> anyhow::Result<()> {
    fonts()?;
    let root = BitMapBackend::new(path, (width, 560)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let root = root
        .titled(title, ("sans-serif", 24).into_font().style(FontStyle::Bold))
        .map_err(err)?;
    let areas = root.split_evenly((1, panels.len().max(1)));
    for (area, panel) in areas.iter().zip(panels) {
        draw_panel(area, panel)?;
    }
    root.present()
        .map_err(err)
        .with_context(|| format!("write {}", path.display()))?;
    Ok(())
}

fn err<E: std::fmt::Debug>(e: E) -> anyhow::Error {
    anyhow!("plotting: {e:?}")
}

type Area<'a> = DrawingArea<BitMapBackend<'a>, plotters::coord::Shift>;

fn draw_panel(area: &Area<'_>, panel: &Panel) -> anyhow::Result<()> {
    let (x0, x1, y0, y1) = bounds(panel);
    let y_top = panel
        .y_max
        .unwrap_or(if y1 > 0.0 { y1 * 1.12 } else { 1.0 });
    let mut builder = ChartBuilder::on(area);
    builder
        .caption(&panel.title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(48)
        .y_label_area_size(70);
    let (xa, xb) = if panel.log_x {
        (x0 / 1.5, x1 * 1.5)
    } else {
        let pad = ((x1 - x0) * 0.05).max(0.5);
        (x0 - pad, x1 + pad)
    };
    // Four axis kinds; the drawing after building is the same for each.
    match (panel.log_x, panel.log_y) {
        (false, false) => {
            let mut c = builder
                .build_cartesian_2d(xa..xb, 0.0..y_top)
                .map_err(err)?;
            fill(&mut c, panel)
        }
        (true, false) => {
            let mut c = builder
                .build_cartesian_2d((xa..xb).log_scale(), 0.0..y_top)
                .map_err(err)?;
            fill(&mut c, panel)
        }
        (false, true) => {
            let mut c = builder
                .build_cartesian_2d(xa..xb, (y0.max(1e-9) / 2.0..y_top * 2.0).log_scale())
                .map_err(err)?;
            fill(&mut c, panel)
        }
        (true, true) => {
            let mut c = builder
                .build_cartesian_2d(
                    (xa..xb).log_scale(),
                    (y0.max(1e-9) / 2.0..y_top * 2.0).log_scale(),
                )
                .map_err(err)?;
            fill(&mut c, panel)
        }
    }
}

fn fill<'a, X, Y>(
    chart: &mut ChartContext<'a, BitMapBackend<'a>, Cartesian2d<X, Y>>,
    panel: &Panel,
) -> anyhow::Result<()>
where
    X: Ranged<ValueType = f64> + ValueFormatter<f64>,
    Y: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    let log_x = panel.log_x;
    let x_fmt = move |v: &f64| {
        if log_x && !round_mantissa(*v) {
            // A log axis gets a label at every step (1..9 x 10^k): keep 1, 2, 5.
            String::new()
        } else if !log_x && v.fract().abs() > 1e-9 {
            // Linear x axes count things (VFs): whole numbers only.
            String::new()
        } else {
            count_label(*v)
        }
    };
    chart
        .configure_mesh()
        .x_desc(&panel.x_label)
        .y_desc(&panel.y_label)
        .x_label_formatter(&x_fmt)
        .y_label_formatter(&|v| {
            if v.abs() >= 1000.0 {
                count_label(v.round())
            } else {
                format!("{}", (v * 1000.0).round() / 1000.0)
            }
        })
        .label_style(("sans-serif", 14))
        .axis_desc_style(("sans-serif", 15))
        .light_line_style(WHITE.mix(0.0))
        .bold_line_style(BLACK.mix(0.12))
        .draw()
        .map_err(err)?;
    for s in &panel.series {
        let color = s.color;
        let style = color.stroke_width(2);
        let pts: Vec<(f64, f64)> = s.points.iter().map(|p| (p.x, p.y)).collect();
        let drawn = if s.dashed {
            chart
                .draw_series(DashedLineSeries::new(pts.clone(), 8, 5, style))
                .map_err(err)?
        } else {
            chart
                .draw_series(LineSeries::new(pts.clone(), style))
                .map_err(err)?
        };
        if s.dashed {
            drawn.label(&s.name).legend(move |(x, y)| {
                DashedPathElement::new(vec![(x, y), (x + 22, y)], 5, 3, color.stroke_width(3))
            });
        } else {
            drawn.label(&s.name).legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 22, y)], color.stroke_width(3))
            });
        }
        if !s.dashed {
            chart
                .draw_series(pts.iter().map(|&p| Circle::new(p, 4, color.filled())))
                .map_err(err)?;
            // Min-max over runs, where there was more than one.
            chart
                .draw_series(s.points.iter().filter(|p| p.max > p.min).map(|p| {
                    ErrorBar::new_vertical(p.x, p.min, p.y, p.max, color.stroke_width(2), 10)
                }))
                .map_err(err)?;
        }
    }
    chart
        .configure_series_labels()
        .position(panel.legend.clone())
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.4))
        .label_font(("sans-serif", 14))
        .draw()
        .map_err(err)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_read_as_people_write_them() {
        assert_eq!(count_label(1.0), "1");
        assert_eq!(count_label(16384.0), "16K");
        assert_eq!(count_label(16000.0), "16K");
        assert_eq!(count_label(8_000_000.0), "8M");
        assert_eq!(count_label(0.5), "0.5");
        assert!(round_mantissa(2e6) && round_mantissa(500.0) && round_mantissa(1.0));
        assert!(!round_mantissa(3e6) && !round_mantissa(900_000.0));
    }

    #[test]
    fn draws_a_two_panel_chart() {
        if !Path::new(FONT_DIR).join("DejaVuSans.ttf").exists() {
            // scripts/setup installs the font; without it the error says so.
            assert!(fonts().is_err());
            return;
        }
        let path = std::env::temp_dir().join(format!("flowlift-plot-{}.png", std::process::id()));
        let s = Series::new(
            "a",
            PALETTE[0],
            vec![
                Point {
                    x: 1.0,
                    y: 2.0,
                    min: 1.5,
                    max: 2.5,
                },
                Point::exact(4.0, 3.0),
            ],
        );
        let mut log = Panel::new("log", "x (count)", "y (%)", vec![s.clone().dashed()]);
        log.log_x = true;
        draw(
            &path,
            "test",
            &[Panel::new("lin", "x", "y", vec![s]), log],
            900,
        )
        .unwrap();
        let len = std::fs::metadata(&path).unwrap().len();
        let _ = std::fs::remove_file(&path);
        assert!(len > 1000, "{len} bytes");
    }
}
