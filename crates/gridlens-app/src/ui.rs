//! Panels: functions that draw one part of the window from the app's state and return the
//! [`Command`]s the user gave (rerun/egui style). They do no I/O and no computation.

pub mod data_panel;
pub mod export_dialog;
pub mod file_browser;
pub mod image_view;
pub mod map_overlay;
pub mod operations;
pub mod plots;
pub mod progress;
pub mod projected_view;

use crate::app::{Command, GridlensApp};
use egui::{Color32, RichText};

/// Draws the whole window and returns the commands given this frame.
pub fn draw(ui: &mut egui::Ui, app: &mut GridlensApp) -> Vec<Command> {
    let mut cmds = Vec::new();
    egui::Panel::top("top").show(ui, |ui| top_bar(ui, app, &mut cmds));
    if app.settings.show_progress_panel {
        egui::Panel::bottom("progress").resizable(true).default_size(250.0).show(ui, |ui| progress::progress_ui(ui, app, &mut cmds));
    }
    if app.settings.show_data_panel {
        egui::Panel::left("data").resizable(true).default_size(330.0).show(ui, |ui| {
            egui::ScrollArea::vertical().show(ui, |ui| data_panel::data_ui(ui, app, &mut cmds));
        });
    }
    egui::Panel::right("controls").resizable(true).default_size(330.0).show(ui, |ui| {
        egui::ScrollArea::vertical().show(ui, |ui| {
            operations::operations_ui(ui, app, &mut cmds);
            ui.separator();
            operations::color_ui(ui, app, &mut cmds);
            if app.settings.show_plots_panel {
                ui.separator();
                plots::plots_ui(ui, app);
            }
        });
    });
    egui::CentralPanel::default().show(ui, |ui| image_view::image_ui(ui, app, &mut cmds));
    let ctx = ui.ctx().clone();
    if app.browser.is_some() {
        file_browser::browser_window(&ctx, app, &mut cmds);
    }
    if app.export.open {
        export_dialog::export_window(&ctx, app, &mut cmds);
    }
    cmds
}

fn top_bar(ui: &mut egui::Ui, app: &mut GridlensApp, cmds: &mut Vec<Command>) {
    ui.horizontal(|ui| {
        ui.heading("gridlens");
        ui.separator();
        if ui.button("Open…").on_hover_text("Open files (Ctrl+O)").clicked() {
            cmds.push(Command::ShowBrowser(crate::app::browser::BrowseMode::Open));
        }
        let glob = ui.add(egui::TextEdit::singleline(&mut app.glob_text).hint_text("data/*.nc:/t2m").desired_width(220.0));
        let enter = glob.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
        if (ui.button("Open glob").clicked() || enter) && !app.glob_text.trim().is_empty() {
            cmds.push(Command::Open(vec![app.glob_text.trim().to_string()]));
        }
        ui.menu_button("Recent", |ui| {
            if app.settings.recent.is_empty() {
                ui.label("nothing yet");
            }
            for r in app.settings.recent.clone() {
                if ui.button(r.join(" + ")).clicked() {
                    cmds.push(Command::Open(r));
                    ui.close();
                }
            }
            ui.separator();
            if ui.button("Demo data").clicked() {
                cmds.push(Command::Open(vec![app.options.demo.source()]));
                ui.close();
            }
        });
        if ui.add_enabled(app.data.is_some(), egui::Button::new("Export…")).clicked() {
            cmds.push(Command::ShowExport(true));
        }
        ui.separator();
        ui.toggle_value(&mut app.settings.show_data_panel, "Data");
        ui.toggle_value(&mut app.settings.show_plots_panel, "Plots");
        ui.toggle_value(&mut app.settings.show_progress_panel, "Tasks");
    });
    if let Some((done, total)) = app.demo.as_ref().map(|d| d.1) {
        ui.horizontal(|ui| {
            busy_indicator(ui, &app.renderer);
            ui.label(format!("Writing the demo data set (first start): day {done} of {total}"));
            ui.add(egui::ProgressBar::new(done as f32 / total.max(1) as f32).desired_width(200.0));
        });
    }
    if let Some((s, _)) = &app.loading {
        ui.horizontal(|ui| {
            busy_indicator(ui, &app.renderer);
            ui.label(format!("Opening {}", s.join(" + ")));
        });
    }
    let mut dismiss = None;
    for (i, m) in app.messages.iter().enumerate().rev().take(3) {
        ui.horizontal(|ui| {
            let color = if m.error { Color32::from_rgb(220, 80, 60) } else { ui.visuals().text_color() };
            ui.label(RichText::new(if m.error { "!" } else { "i" }).color(color));
            ui.label(RichText::new(&m.text).color(color));
            if ui.small_button("x").on_hover_text("Dismiss").clicked() {
                dismiss = Some(i);
            }
        });
    }
    if let Some(i) = dismiss {
        cmds.push(Command::DismissMessage(i));
    }
}

/// A sign that work is under way: egui's spinner, which asks for a frame at every display
/// refresh; when the window is drawn in software, a still mark (the work in progress asks
/// for frames itself, four a second), so the spinner does not take the engine's cores.
pub fn busy_indicator(ui: &mut egui::Ui, renderer: &crate::app::Renderer) {
    if renderer.software {
        ui.label(RichText::new("…").strong());
    } else {
        ui.spinner();
    }
}

/// A value for the readout: 5 significant digits.
pub fn format_value(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    let a = v.abs();
    if a != 0.0 && !(1e-3..1e6).contains(&a) { format!("{v:.4e}") } else { format!("{v:.4}") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readout_values_have_five_significant_digits() {
        assert_eq!(format_value(f64::NAN), "NaN");
        assert_eq!(format_value(273.15), "273.1500");
        assert_eq!(format_value(1.5e-6), "1.5000e-6");
    }
}
