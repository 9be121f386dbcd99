//! The task-progress panel (the Dask dashboard's ideas, inside the app): overall and
//! per-stage bars, bytes read and throughput, elapsed time and an estimate of the time left
//! with its uncertainty, memory held against the limit, and a task-stream chart.
//! It reads the job's shared counters and recent spans; drawing cost does not grow with the
//! number of tasks (spans narrower than a pixel are merged).

use crate::app::{Command, GridlensApp};
use egui::{Color32, RichText};
use egui_plot::{Bar, BarChart, Plot};
use gridlens::chunks::format_bytes;
use gridlens::exec::{ExecError, JobState, ProgressSnapshot, TaskSpan};
use gridlens::plan::Stage;

/// Color of each stage, in the task stream and the bars.
pub fn stage_color(s: Stage) -> Color32 {
    match s {
        Stage::Read => Color32::from_rgb(70, 130, 220),
        Stage::Decode => Color32::from_rgb(150, 100, 210),
        Stage::Compute => Color32::from_rgb(60, 170, 90),
        Stage::Combine => Color32::from_rgb(230, 150, 40),
        Stage::Write => Color32::from_rgb(210, 70, 70),
    }
}

/// What draws the window, at the right of the panel's first line: a slow app on a machine
/// without a GPU says why.
fn renderer_note(ui: &mut egui::Ui, app: &GridlensApp) {
    ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
        let r = &app.renderer;
        let text = ui.weak(format!("drawn by {}", r.describe()));
        if r.software {
            text.on_hover_text(
                "No GPU: the window is drawn by the CPU. gridlens draws at most four frames a second while a job runs and \
                 keeps the software rasterizer to the main thread (LP_NUM_THREADS), so the engine keeps the cores.",
            );
        }
    });
}

pub fn progress_ui(ui: &mut egui::Ui, app: &GridlensApp, cmds: &mut Vec<Command>) {
    let (control, label, started) = match (&app.export.job, &app.job) {
        (Some(j), _) | (None, Some(j)) => (Some(j.control.clone()), j.label.clone(), Some(j.started)),
        (None, None) => (None, app.status.label.clone(), None),
    };
    let Some(control) = control else {
        ui.horizontal(|ui| {
            ui.label(RichText::new("Tasks").strong());
            match &app.status.outcome {
                Some(Ok(())) => ui.label(format!("{} — finished", app.status.label)),
                Some(Err(ExecError::Cancelled)) => ui.label(format!("{} — cancelled", app.status.label)),
                Some(Err(e)) => ui.colored_label(Color32::from_rgb(220, 80, 60), format!("{} — failed: {e}", app.status.label)),
                None => ui.weak("idle"),
            };
            renderer_note(ui, app);
        });
        cache_ui(ui, app, cmds);
        task_stream(ui, &app.spans, None);
        return;
    };
    let snap = control.progress.snapshot();
    let _ = started;
    ui.horizontal(|ui| {
        ui.label(RichText::new("Tasks").strong());
        ui.label(&label);
        let state = match &snap.state {
            JobState::Running => "running".to_string(),
            JobState::Done => "done".into(),
            JobState::Cancelled => "cancelled".into(),
            JobState::Failed(e) => format!("failed: {e}"),
        };
        ui.weak(state);
        if snap.state == JobState::Running && ui.button("Cancel").on_hover_text("Stop the job (Esc)").clicked() {
            cmds.push(Command::Cancel);
        }
        renderer_note(ui, app);
    });
    let total = snap.tasks_total().max(1);
    let done = snap.tasks_done();
    ui.add(egui::ProgressBar::new(done as f32 / total as f32).text(format!("{done} / {} tasks", snap.tasks_total())));
    ui.columns(2, |cols| {
        stage_bars(&mut cols[0], &snap);
        numbers(&mut cols[1], &snap);
    });
    cache_ui(ui, app, cmds);
    let spans = if app.export.job.is_some() {
        control.progress.spans_since(control.progress.span_count().saturating_sub(20_000))
    } else {
        app.spans.clone()
    };
    task_stream(ui, &spans, Some(snap.threads));
}

/// Columns wide enough for the counts and rates a job shows as it runs: a grid whose column
/// widths change asks egui for another frame at once to lay itself out again, so counters
/// that change width (proportional digits) kept the window redrawing back to back, which in
/// software rendering took a core from the engine.
const STEADY_COLUMN: f32 = 240.0;

/// A label in a cell of [`STEADY_COLUMN`] points, left-aligned.
fn steady_label(ui: &mut egui::Ui, text: RichText) {
    let size = egui::vec2(STEADY_COLUMN, ui.spacing().interact_size.y);
    ui.allocate_ui_with_layout(size, egui::Layout::left_to_right(egui::Align::Center), |ui| {
        ui.set_min_size(size);
        ui.label(text);
    });
}

/// The decoded-block cache shared by the app's jobs: what it holds against its budget, the
/// budget (settable), and a button that empties it.
fn cache_ui(ui: &mut egui::Ui, app: &GridlensApp, cmds: &mut Vec<Command>) {
    let s = app.cache.stats();
    ui.horizontal(|ui| {
        ui.label("cache");
        let frac = s.bytes as f32 / s.budget.max(1) as f32;
        ui.add(egui::ProgressBar::new(frac).desired_width(220.0).text(format!("{} of {}", format_bytes(s.bytes), format_bytes(s.budget))))
            .on_hover_text(format!(
                "Decoded blocks kept for the next job ({} blocks; {} found, {} decoded): a time series or a day − mean after a mean reads memory.",
                s.blocks, s.hits, s.misses
            ));
        let mut gib = s.budget as f64 / (1u64 << 30) as f64;
        if ui.add(egui::DragValue::new(&mut gib).range(0.0..=1024.0).speed(0.1).suffix(" GiB")).on_hover_text("the cache's budget").changed() {
            cmds.push(Command::SetCacheBudget(gib));
        }
        if ui.small_button("Clear").on_hover_text("Forget every decoded block").clicked() {
            cmds.push(Command::ClearCache);
        }
    });
    if let Some((_, fill)) = &app.filling {
        let snap = fill.progress.snapshot();
        let i = Stage::Decode.index();
        ui.label(RichText::new(format!("keeping the decoded blocks for a second look: {} of {}", snap.done[i], snap.total[i])).weak())
            .on_hover_text(
                "Fresh memory is slow on this machine (a virtual machine that hands freed memory back to its host), so the job \
                 ran without keeping its blocks and they are decoded again now, at the lowest priority.",
            );
    }
}

fn stage_bars(ui: &mut egui::Ui, snap: &ProgressSnapshot) {
    egui::Grid::new("stages").num_columns(3).min_col_width(60.0).show(ui, |ui| {
        for st in Stage::ALL {
            let i = st.index();
            let total = snap.total[i];
            if total == 0 {
                continue;
            }
            ui.label(RichText::new(st.name()).color(stage_color(st)));
            let frac = snap.done[i] as f32 / total as f32;
            ui.add(egui::ProgressBar::new(frac).desired_width(160.0).fill(stage_color(st)));
            steady_label(
                ui,
                RichText::new(format!("{} queued, {} running, {} done", snap.queued(st), snap.running[i], snap.done[i])).weak(),
            );
            ui.end_row();
        }
    });
}

fn numbers(ui: &mut egui::Ui, snap: &ProgressSnapshot) {
    let secs = snap.elapsed.as_secs_f64();
    let rate = if secs > 0.0 { snap.bytes_read as f64 / secs } else { 0.0 };
    let steady = |ui: &mut egui::Ui, text: String| steady_label(ui, RichText::new(text));
    egui::Grid::new("numbers").num_columns(2).min_col_width(80.0).show(ui, |ui| {
        ui.label("read");
        steady(ui, format!("{}  ({}/s)", format_bytes(snap.bytes_read as usize), format_bytes(rate as usize)));
        ui.end_row();
        ui.label("elapsed");
        steady(ui, format!("{secs:.1} s"));
        ui.end_row();
        ui.label("time left");
        steady(ui, eta(snap));
        ui.end_row();
        ui.label("memory");
        let frac = snap.held_bytes as f32 / snap.memory_limit.max(1) as f32;
        ui.add(egui::ProgressBar::new(frac).desired_width(220.0).text(format!(
            "{} of {}",
            format_bytes(snap.held_bytes),
            format_bytes(snap.memory_limit)
        )))
        .on_hover_text(format!("peak {}", format_bytes(snap.peak_held_bytes)));
        ui.end_row();
        ui.label("threads");
        steady(ui, snap.threads.to_string());
        ui.end_row();
    });
}

/// Time left as a range, from the task rate so far; nothing until 5 % is done.
fn eta(snap: &ProgressSnapshot) -> String {
    if snap.state != JobState::Running {
        return "—".into();
    }
    let (done, total) = (snap.tasks_done() as f64, snap.tasks_total() as f64);
    let secs = snap.elapsed.as_secs_f64();
    if done < total * 0.05 || secs < 0.3 {
        return "estimating…".into();
    }
    let left = (total - done) / (done / secs);
    // the uncertainty shrinks as more of the job is seen: ±(remaining fraction)
    let spread = (1.0 - done / total).max(0.1);
    format!("{:.1} – {:.1} s", left * (1.0 - spread * 0.5), left * (1.0 + spread))
}

/// One row per worker thread, each task a bar from its start to its end, colored by stage,
/// showing the last ten seconds. Spans closer than a pixel are merged into one bar.
fn task_stream(ui: &mut egui::Ui, spans: &[TaskSpan], threads: Option<usize>) {
    if spans.is_empty() {
        return;
    }
    let end = spans.iter().map(|s| s.end_us).max().unwrap_or(0) as f64 / 1e6;
    let start = (end - 10.0).max(0.0);
    let width_px = ui.available_width().max(100.0) as f64;
    let min_dt = (end - start).max(1e-3) / width_px; // merge spans closer than a pixel
    let rows = threads.unwrap_or_else(|| spans.iter().map(|s| s.thread as usize + 1).max().unwrap_or(1));
    Plot::new("task-stream")
        .height(ui.available_height().clamp(90.0, 200.0))
        .allow_scroll(false)
        .show_y(false)
        .x_axis_label("seconds")
        .include_y(-0.5)
        .include_y(rows as f64 - 0.5)
        .show(ui, |plot| {
            for st in Stage::ALL {
                let mut bars = Vec::new();
                for t in 0..rows {
                    let mut cur: Option<(f64, f64)> = None;
                    let mut push = |(a, b): (f64, f64)| {
                        bars.push(Bar::new(t as f64, b - a).base_offset(a).width(0.8).fill(stage_color(st)).stroke(egui::Stroke::NONE));
                    };
                    for s in spans.iter().filter(|s| s.stage == st && s.thread as usize == t) {
                        let a = s.start_us as f64 / 1e6;
                        let b = (s.end_us as f64 / 1e6).max(a + min_dt * 0.5);
                        if b < start {
                            continue;
                        }
                        cur = match cur {
                            Some((ca, cb)) if a - cb < min_dt => Some((ca, cb.max(b))),
                            Some(prev) => {
                                push(prev);
                                Some((a, b))
                            }
                            None => Some((a, b)),
                        };
                    }
                    if let Some(prev) = cur {
                        push(prev);
                    }
                }
                if !bars.is_empty() {
                    plot.bar_chart(BarChart::new(st.name(), bars).horizontal().color(stage_color(st)).allow_hover(false));
                }
            }
        });
}
