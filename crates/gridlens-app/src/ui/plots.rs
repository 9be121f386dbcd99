//! Plots: the time series at the clicked pixel (with its time mean) and a histogram of the
//! current result.

use crate::app::GridlensApp;
use egui::Color32;
use egui_plot::{Bar, BarChart, HLine, Line, Plot, PlotPoints, Points};

pub fn plots_ui(ui: &mut egui::Ui, app: &GridlensApp) {
    ui.heading("Time series");
    match &app.series {
        None => {
            ui.weak("Click the image to plot a pixel across the stack.");
        }
        Some(s) => {
            let units = app.data.as_ref().and_then(|d| d.units()).unwrap_or("");
            ui.label(format!("pixel row {}, col {} (data row {}, col {})", s.pixel.0, s.pixel.1, s.source_pixel.0, s.source_pixel.1));
            if let Some(e) = &s.error {
                ui.colored_label(Color32::from_rgb(220, 80, 60), e);
            } else if let Some(v) = &s.values {
                let finite: Vec<f64> = v.iter().copied().filter(|x| !x.is_nan()).collect();
                let mean = if finite.is_empty() { f64::NAN } else { finite.iter().sum::<f64>() / finite.len() as f64 };
                let labels: Vec<String> = app.data.as_ref().map(|d| (0..v.len()).map(|i| d.label(i)).collect()).unwrap_or_default();
                let pts: Vec<[f64; 2]> = v.iter().enumerate().map(|(i, &y)| [i as f64, y]).collect();
                let axis = app.data.as_ref().map(|d| d.stack_axis().to_string()).unwrap_or_else(|| "index".into());
                // dates on the axis when the stack's coordinate is a CF time (else its indices)
                let tick_labels = labels.clone();
                Plot::new("series")
                    .height(150.0)
                    .allow_scroll(false)
                    .x_axis_label(axis)
                    .x_axis_formatter(move |mark, _range| {
                        let i = mark.value;
                        if i < 0.0 || i.fract() != 0.0 {
                            return String::new();
                        }
                        tick_labels.get(i as usize).cloned().unwrap_or_else(|| format!("{i}"))
                    })
                    .y_axis_label(units)
                    .label_formatter(move |hover| {
                        let p = match hover {
                            egui_plot::HoverPosition::NearDataPoint { position, .. } => *position,
                            egui_plot::HoverPosition::Elsewhere { .. } => return None,
                        };
                        let i = p.x.round().max(0.0) as usize;
                        Some(format!("{}: {:.3}", labels.get(i).cloned().unwrap_or_else(|| i.to_string()), p.y))
                    })
                    .show(ui, |plot| {
                        plot.line(Line::new("value", PlotPoints::from(pts.clone())).color(Color32::from_rgb(60, 120, 220)));
                        plot.points(Points::new("values", PlotPoints::from(pts)).radius(2.5).color(Color32::from_rgb(60, 120, 220)));
                        if mean.is_finite() {
                            plot.hline(HLine::new("time mean", mean).color(Color32::from_rgb(230, 120, 40)));
                        }
                    });
                ui.weak(format!("time mean {} {units}", crate::ui::format_value(mean)));
            } else {
                ui.horizontal(|ui| {
                    crate::ui::busy_indicator(ui, &app.renderer);
                    ui.label("reading the stack…");
                });
            }
        }
    }
    ui.separator();
    ui.heading("Histogram");
    let (Some(g), Some(key)) = (&app.grid, &app.color_key) else {
        ui.weak("No result yet.");
        return;
    };
    let bins = 48;
    let h = g.histogram(key.range, bins);
    let w = (key.range.1 - key.range.0) as f64 / bins as f64;
    let cm = gridlens::colormap::Colormap::by_name(&key.colormap).ok().map(|c| if key.reversed { c.reversed() } else { c });
    let bars: Vec<Bar> = h
        .iter()
        .enumerate()
        .map(|(i, &n)| {
            let x = key.range.0 as f64 + (i as f64 + 0.5) * w;
            let mut b = Bar::new(x, n as f64).width(w);
            if let Some(cm) = &cm {
                let c = cm.map((i as f32 + 0.5) / bins as f32);
                b = b.fill(Color32::from_rgb(c[0], c[1], c[2]));
            }
            b
        })
        .collect();
    Plot::new("histogram").height(120.0).allow_scroll(false).show_y(false).y_axis_label("count (sampled)").show(ui, |plot| {
        plot.bar_chart(BarChart::new("values", bars));
    });
    ui.weak(format!(
        "{} of {} tiles; color range {} … {}",
        g.arrived,
        g.slots.len(),
        crate::ui::format_value(key.range.0 as f64),
        crate::ui::format_value(key.range.1 as f64)
    ));
}
