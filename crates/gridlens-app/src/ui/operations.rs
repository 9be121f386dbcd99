//! The operations panel (presets, day picker, subsample factors, the expression box with
//! its inline error and cost preview) and the color settings.

use crate::app::operation::Preset;
use crate::app::settings::RangeMode;
use crate::app::{Command, GridlensApp};
use egui::{Color32, RichText};
use gridlens::chunks::format_bytes;
use gridlens::exec::ExecError;
use gridlens::source::fmt_shape;

pub fn operations_ui(ui: &mut egui::Ui, app: &mut GridlensApp, cmds: &mut Vec<Command>) {
    ui.heading("Operation");
    ui.horizontal_wrapped(|ui| {
        for p in Preset::ALL {
            if ui.selectable_label(app.op.preset == p, p.label()).clicked() && app.op.preset != p {
                cmds.push(Command::SetPreset(p));
            }
        }
    });
    if app.op.preset != Preset::Expression
        && let Some(data) = &app.data
    {
        // what the preset computes, in the expression language the Expression box takes
        ui.weak(RichText::new(app.op.display_expression(data.array.ndim())).monospace());
    }
    let days = app.days();
    if days > 1 && (app.op.preset.uses_day() || app.op.preset == Preset::Expression) {
        ui.horizontal(|ui| {
            if ui.button("<").on_hover_text("Previous day (Left arrow)").clicked() {
                cmds.push(Command::StepDay(-1));
            }
            let mut day = app.op.day;
            let label = app.data.as_ref().map(|d| d.label(day)).unwrap_or_default();
            let slider = ui.add(egui::Slider::new(&mut day, 0..=days - 1).show_value(false));
            if slider.changed() {
                cmds.push(Command::SetDay(day));
            }
            if ui.button(">").on_hover_text("Next day (Right arrow)").clicked() {
                cmds.push(Command::StepDay(1));
            }
            ui.label(RichText::new(label).monospace());
        });
    }
    if app.op.preset == Preset::Subsample {
        ui.horizontal(|ui| {
            let (mut a, mut b) = app.op.factor;
            ui.label("Every");
            let ra = ui.add(egui::DragValue::new(&mut a).range(1..=64).prefix("row ×"));
            let rb = ui.add(egui::DragValue::new(&mut b).range(1..=64).prefix("col ×"));
            if (ra.changed() || rb.changed()) && (a, b) != app.op.factor {
                cmds.push(Command::SetFactor(a, b));
            }
        });
    }
    if app.op.preset == Preset::Expression {
        ui.label("Expression (the data is x):");
        let edit = ui.add(
            egui::TextEdit::multiline(&mut app.op.expression)
                .code_editor()
                .desired_rows(2)
                .desired_width(f32::INFINITY)
                .hint_text("x[0] - x.mean(axis=0)"),
        );
        let submit = edit.has_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter) && i.modifiers.command);
        if let Some(e) = &app.expr_error {
            let col = e.column.saturating_sub(1);
            let width = e.end.saturating_sub(e.column).max(1);
            let marker = format!("{}{}", " ".repeat(col), "^".repeat(width));
            ui.label(RichText::new(format!("{}\n{marker}", app.op.expression)).monospace().color(Color32::from_rgb(220, 80, 60)));
            ui.label(RichText::new(format!("column {}: {}", e.column, e.message)).color(Color32::from_rgb(220, 80, 60)));
        }
        if let Some(data) = &app.data {
            match app.parsed.get(&app.op.expression, &data.array) {
                Ok(p) => {
                    ui.weak(format!(
                        "result {} {}, {}; reads up to {}",
                        fmt_shape(&p.array.shape()),
                        p.array.dtype(),
                        format_bytes(p.array.nbytes()),
                        format_bytes(p.reads)
                    ));
                }
                Err(e) if edit.changed() || app.expr_error.is_none() => {
                    ui.weak(format!("column {}: {}", e.column, e.message));
                }
                Err(_) => {}
            }
        }
        if ui.button("Compute (Ctrl+Enter)").clicked() || submit {
            cmds.push(Command::ComputeExpression);
        }
    }
    cost_ui(ui, app, cmds);
}

fn cost_ui(ui: &mut egui::Ui, app: &GridlensApp, cmds: &mut Vec<Command>) {
    let s = &app.status;
    if s.label.is_empty() {
        return;
    }
    ui.add_space(4.0);
    ui.horizontal(|ui| {
        ui.label(RichText::new(&s.label).strong());
        if app.job.is_some() {
            crate::ui::busy_indicator(ui, &app.renderer);
            if ui.button("Cancel").on_hover_text("Stop the computation (Esc)").clicked() {
                cmds.push(Command::Cancel);
            }
        } else if ui.small_button("Recompute").on_hover_text("Compute again").clicked() {
            cmds.push(Command::Recompute);
        }
    });
    if let Some(e) = &s.explain {
        egui::Grid::new("cost").num_columns(2).show(ui, |ui| {
            ui.label("reads");
            ui.label(format_bytes(e.read_bytes));
            ui.end_row();
            ui.label("tasks");
            ui.label(format!("{} ({} stages)", e.tasks, e.stages.iter().filter(|&&n| n > 0).count()));
            ui.end_row();
            ui.label("output");
            ui.label(format!("{} {}, {}", fmt_shape(&e.shape), e.dtype, format_bytes(e.bytes)));
            ui.end_row();
        });
    }
    match (&s.outcome, s.started, s.finished) {
        (Some(Ok(())), Some(a), Some(b)) => {
            let first = s.first_tile.map(|t| format!(", first tile after {:.0} ms", t.as_secs_f64() * 1e3)).unwrap_or_default();
            ui.weak(format!("done in {:.2} s{first}", (b - a).as_secs_f64()));
        }
        (Some(Err(e)), _, _) => {
            ui.label(RichText::new(e.to_string()).color(if *e == ExecError::Cancelled {
                ui.visuals().weak_text_color()
            } else {
                Color32::from_rgb(220, 80, 60)
            }));
        }
        _ => {}
    }
}

pub fn color_ui(ui: &mut egui::Ui, app: &mut GridlensApp, cmds: &mut Vec<Command>) {
    ui.heading("Colors");
    ui.horizontal(|ui| {
        let label = ui.label("Colormap");
        let mut current = app.settings.colormap.clone();
        egui::ComboBox::from_id_salt("colormap")
            .selected_text(&current)
            .show_ui(ui, |ui| {
                for name in gridlens::colormap::names() {
                    ui.selectable_value(&mut current, name.to_string(), name);
                }
            })
            .response
            .labelled_by(label.id);
        if current != app.settings.colormap {
            cmds.push(Command::SetColormap(current));
        }
        let mut rev = app.settings.reversed;
        if ui.checkbox(&mut rev, "reversed").changed() {
            cmds.push(Command::SetReversed(rev));
        }
    });
    ui.horizontal_wrapped(|ui| {
        ui.label("Range");
        for m in RangeMode::ALL {
            if ui.selectable_label(app.settings.range_mode == m, m.label()).clicked() {
                cmds.push(Command::SetRangeMode(m));
            }
        }
    });
    let (mut lo, mut hi) = match (&app.settings.range_mode, &app.color_key) {
        (RangeMode::Manual, _) => app.settings.manual_range,
        (_, Some(k)) => (k.range.0 as f64, k.range.1 as f64),
        _ => app.settings.manual_range,
    };
    ui.horizontal(|ui| {
        let speed = ((hi - lo).abs() / 200.0).max(1e-6);
        let a = ui.add(egui::DragValue::new(&mut lo).speed(speed).prefix("min "));
        let b = ui.add(egui::DragValue::new(&mut hi).speed(speed).prefix("max "));
        if (a.changed() || b.changed()) && lo < hi {
            cmds.push(Command::SetManualRange(lo, hi));
        }
    });
}
