//! The export dialog: format, target, subsample factors, chunking and compression, the
//! estimated size, and the outcome with a button to open the containing folder.

use crate::app::browser::BrowseMode;
use crate::app::export::{ExportFormat, estimated_bytes, target};
use crate::app::{Command, GridlensApp};
use egui::{Color32, RichText};
use gridlens::chunks::format_bytes;

pub fn export_window(ctx: &egui::Context, app: &mut GridlensApp, cmds: &mut Vec<Command>) {
    let mut open = true;
    let estimate = estimated_bytes(app);
    let running = app.export.job.is_some() || app.export.png.is_some();
    let is_map = app.map_frame().is_some();
    egui::Window::new("Export")
        .open(&mut open)
        .default_width(460.0)
        .collapsible(false)
        .pivot(egui::Align2::CENTER_CENTER)
        .default_pos(ctx.content_rect().center())
        .show(ctx, |ui| {
            let f = &mut app.export;
            ui.horizontal(|ui| {
                ui.label("Format");
                for fmt in ExportFormat::ALL {
                    if ui.selectable_label(f.format == fmt, fmt.label()).clicked() {
                        f.format = fmt;
                        // keep the path's stem, change its extension
                        let p = std::path::PathBuf::from(&f.path).with_extension(fmt.extension());
                        f.path = p.display().to_string();
                    }
                }
            });
            ui.horizontal(|ui| {
                ui.label("File");
                ui.add(egui::TextEdit::singleline(&mut f.path).desired_width(300.0));
                if ui.button("Browse…").clicked() {
                    cmds.push(Command::ShowBrowser(BrowseMode::Save));
                }
            });
            if f.format == ExportFormat::Png && is_map {
                ui.horizontal(|ui| {
                    ui.add_enabled(!f.plain, egui::DragValue::new(&mut f.figure_width).range(300..=8000).suffix(" px").prefix("width "));
                    ui.add_enabled(!f.plain, egui::DragValue::new(&mut f.dpi).range(50.0..=600.0).suffix(" dpi"));
                    ui.checkbox(&mut f.plain, "Plain image").on_hover_text("One pixel per value, no map furniture");
                });
            }
            if f.format != ExportFormat::Png {
                ui.horizontal(|ui| {
                    ui.label("Subsample");
                    for (i, k) in f.factors.iter_mut().enumerate() {
                        ui.add(egui::DragValue::new(k).range(1..=64).prefix(format!("axis {i} ×")));
                    }
                    if f.factors.len() >= 2 && ui.button("½ resolution").on_hover_text("x[..., ::2, ::2]").clicked() {
                        let n = f.factors.len();
                        f.factors[n - 1] = 2;
                        f.factors[n - 2] = 2;
                    }
                });
                ui.horizontal(|ui| {
                    ui.label("Chunks");
                    ui.add(egui::TextEdit::singleline(&mut f.chunks).hint_text("as computed, e.g. 1,500,500").desired_width(160.0));
                    ui.label("gzip");
                    let mut level = f.compression.unwrap_or(0);
                    let mut on = f.compression.is_some();
                    ui.checkbox(&mut on, "");
                    ui.add_enabled(on, egui::DragValue::new(&mut level).range(1..=9));
                    f.compression = on.then_some(level.max(1));
                });
            }
            ui.checkbox(&mut f.overwrite, "Replace an existing file");
            ui.label(format!(
                "Target: {}    estimated size: {}",
                target(f),
                estimate.map(format_bytes).unwrap_or_else(|| "unknown".into())
            ));
            ui.horizontal(|ui| {
                if ui.add_enabled(!running, egui::Button::new("Start export")).clicked() {
                    cmds.push(Command::StartExport);
                }
                if running {
                    crate::ui::busy_indicator(ui, &app.renderer);
                    ui.label("exporting…");
                    if ui.button("Cancel export").clicked() {
                        cmds.push(Command::Cancel);
                    }
                }
            });
            match &f.outcome {
                Some(Ok(p)) => {
                    ui.horizontal(|ui| {
                        ui.label(RichText::new(format!("Wrote {}", p.display())).color(Color32::from_rgb(60, 170, 90)));
                        if ui.button("Open folder").clicked() {
                            cmds.push(Command::OpenFolder(p.clone()));
                        }
                    });
                }
                Some(Err(e)) => {
                    ui.label(RichText::new(format!("Export failed: {e}")).color(Color32::from_rgb(220, 80, 60)));
                    ui.weak("Nothing was written at the target.");
                }
                None => {}
            }
        });
    if !open {
        cmds.push(Command::ShowExport(false));
    }
}
