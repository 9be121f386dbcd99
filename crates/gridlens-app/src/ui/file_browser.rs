//! The in-app file browser window (multi-select), with a button for the desktop's own dialog.

use crate::app::browser::BrowseMode;
use crate::app::{Command, GridlensApp};
use gridlens::chunks::format_bytes;
use std::path::PathBuf;

pub fn browser_window(ctx: &egui::Context, app: &mut GridlensApp, cmds: &mut Vec<Command>) {
    let Some(b) = app.browser.as_mut() else { return };
    let mut open = true;
    let title = match b.mode {
        BrowseMode::Open => "Open files",
        BrowseMode::Save => "Export to",
    };
    egui::Window::new(title).open(&mut open).default_size([560.0, 420.0]).collapsible(false).show(ctx, |ui| {
        ui.horizontal(|ui| {
            if ui.button("Up").clicked()
                && let Some(p) = b.dir.parent()
            {
                cmds.push(Command::BrowseTo(p.to_path_buf()));
            }
            if ui.button("Home").clicked()
                && let Some(h) = dirs::home_dir()
            {
                cmds.push(Command::BrowseTo(h));
            }
            let r = ui.add(egui::TextEdit::singleline(&mut b.path_text).desired_width(f32::INFINITY));
            if r.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter)) {
                cmds.push(Command::BrowseTo(PathBuf::from(b.path_text.trim())));
            }
        });
        ui.separator();
        if let Some(e) = &b.error {
            ui.colored_label(egui::Color32::from_rgb(220, 80, 60), e);
        }
        if b.is_loading() {
            crate::ui::busy_indicator(ui, &app.renderer);
        }
        let mut toggle = None;
        egui::ScrollArea::vertical().max_height(300.0).show(ui, |ui| {
            for e in &b.entries {
                ui.horizontal(|ui| {
                    if e.is_dir {
                        if ui.link(format!("[dir] {}", e.name)).clicked() {
                            cmds.push(Command::BrowseTo(e.path.clone()));
                        }
                    } else {
                        let mut on = b.selected.contains(&e.path);
                        let label = if e.openable { e.name.clone() } else { format!("{} (not an array file)", e.name) };
                        if ui.add_enabled(e.openable || b.mode == BrowseMode::Save, egui::Checkbox::new(&mut on, label)).changed() {
                            toggle = Some(e.path.clone());
                        }
                        ui.weak(format_bytes(e.size_bytes as usize));
                    }
                });
            }
        });
        if let Some(p) = toggle {
            if b.mode == BrowseMode::Save {
                b.file_name = p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                b.selected = vec![p];
            } else {
                b.toggle(&p);
            }
        }
        ui.separator();
        ui.horizontal(|ui| match b.mode {
            BrowseMode::Open => {
                let n = b.selected.len();
                if ui.add_enabled(n > 0, egui::Button::new(format!("Open {n} selected"))).clicked() {
                    let mut sel: Vec<String> = b.selected.iter().map(|p| p.display().to_string()).collect();
                    sel.sort();
                    cmds.push(Command::Open(sel));
                }
                if ui.button("Select all array files").clicked() {
                    b.selected = b.entries.iter().filter(|e| e.openable && !e.is_dir).map(|e| e.path.clone()).collect();
                }
                if ui.button("System dialog…").on_hover_text("Use the desktop's file dialog (needs an XDG desktop portal)").clicked() {
                    cmds.push(Command::SystemDialog);
                }
            }
            BrowseMode::Save => {
                ui.label("File name");
                ui.text_edit_singleline(&mut b.file_name);
                if ui.button("Choose").clicked() && !b.file_name.trim().is_empty() {
                    app.export.path = b.dir.join(b.file_name.trim()).display().to_string();
                    cmds.push(Command::CloseBrowser);
                }
            }
        });
    });
    if !open {
        cmds.push(Command::CloseBrowser);
    }
}
