//! The data panel: files, the group tree, the variable's attributes, and the stacked
//! array as dask's table shows it, with a drawing of its chunk grid.

use crate::app::{Command, GridlensApp};
use egui::{Color32, RichText, Stroke};
use gridlens::chunks::format_bytes;
use gridlens::source::fmt_shape;

pub fn data_ui(ui: &mut egui::Ui, app: &mut GridlensApp, cmds: &mut Vec<Command>) {
    ui.heading("Data");
    let Some(d) = &app.data else {
        ui.label(if app.loading.is_some() || app.demo.is_some() { "Opening…" } else { "No data open. Use Open… or drop files here." });
        return;
    };
    ui.label(RichText::new(d.name()).strong());
    if let Some(u) = d.units() {
        ui.label(format!("units: {u}"));
    }
    ui.label(format!("{} files, {}", d.files.len(), format_bytes(d.total_bytes() as usize)));
    egui::CollapsingHeader::new("Files").default_open(false).show(ui, |ui| {
        egui::ScrollArea::vertical().max_height(160.0).id_salt("files").show(ui, |ui| {
            for (f, size) in &d.files {
                ui.horizontal(|ui| {
                    ui.label(f.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default());
                    ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| ui.weak(format_bytes(*size as usize)));
                });
            }
        });
    });
    if let Some(tree) = &d.tree {
        egui::CollapsingHeader::new("Groups and datasets").default_open(true).show(ui, |ui| {
            group_ui(ui, &tree.root, cmds);
        });
    }
    egui::CollapsingHeader::new("Attributes").default_open(false).show(ui, |ui| {
        egui::Grid::new("attrs").striped(true).num_columns(2).show(ui, |ui| {
            for (k, v) in &d.metadata.attrs {
                ui.label(k);
                let text = v.to_string();
                ui.label(if text.len() > 80 {
                    format!("{}…", &text[..text.char_indices().nth(80).map_or(text.len(), |c| c.0)])
                } else {
                    text
                });
                ui.end_row();
            }
        });
    });
    ui.separator();
    ui.label(RichText::new("Stacked array").strong());
    let a = &d.array;
    let chunk = a.chunks().max_block_shape();
    let chunk_bytes = chunk.iter().product::<usize>() * a.dtype().size_bytes();
    egui::Grid::new("array-table").striped(true).num_columns(3).show(ui, |ui| {
        ui.label("");
        ui.label(RichText::new("Array").strong());
        ui.label(RichText::new("Chunk").strong());
        ui.end_row();
        ui.label("Bytes");
        ui.label(format_bytes(a.nbytes()));
        ui.label(format_bytes(chunk_bytes));
        ui.end_row();
        ui.label("Shape");
        ui.label(fmt_shape(&a.shape()));
        ui.label(fmt_shape(&chunk));
        ui.end_row();
        ui.label("Dtype");
        ui.label(a.dtype().name());
        ui.label("");
        ui.end_row();
        ui.label("Count");
        ui.label(format!("{} chunks", a.chunks().num_blocks()));
        ui.label(format!("{} tasks", d.read_tasks));
        ui.end_row();
    });
    chunk_grid(ui, a.chunks(), d.stack_axis());
}

fn group_ui(ui: &mut egui::Ui, g: &gridlens::io::hdf5::GroupNode, cmds: &mut Vec<Command>) {
    for ds in &g.datasets {
        ui.horizontal(|ui| {
            let name = ds.path.rsplit('/').next().unwrap_or(&ds.path).to_string();
            let text = format!("{name}  {}  {}", fmt_shape(&ds.shape), ds.dtype);
            if ds.readable && ds.role.is_none() {
                if ui.link(text).on_hover_text("Open this dataset across the files").clicked() {
                    cmds.push(Command::OpenDataset(ds.path.clone()));
                }
            } else {
                ui.weak(text);
            }
        });
    }
    for sub in &g.groups {
        egui::CollapsingHeader::new(&sub.path).default_open(false).show(ui, |ui| group_ui(ui, sub, cmds));
    }
}

/// A small drawing of the blocks of the last two axes (and a count of the leading ones).
/// `along`: the name of the stack's axis.
fn chunk_grid(ui: &mut egui::Ui, chunks: &gridlens::Chunks, along: &str) {
    let nd = chunks.ndim();
    if nd < 2 {
        return;
    }
    let shape = chunks.shape();
    let (h, w) = (shape[nd - 2] as f32, shape[nd - 1] as f32);
    let avail = ui.available_width().min(300.0);
    let scale = (avail / w).min(140.0 / h.max(1.0));
    let size = egui::vec2(w * scale, h * scale);
    let (rect, _) = ui.allocate_exact_size(size + egui::vec2(8.0, 8.0), egui::Sense::hover());
    let p = ui.painter_at(rect);
    let depth = if nd >= 3 { shape[0].min(6) } else { 1 };
    let stroke = Stroke::new(1.0, Color32::from_rgb(60, 110, 200));
    for k in (0..depth).rev() {
        let off = egui::vec2(k as f32 * 1.3, k as f32 * 1.3);
        let r = egui::Rect::from_min_size(rect.min + off, size);
        p.rect_filled(r, 0.0, Color32::from_rgb(215, 228, 250));
        p.rect_stroke(r, 0.0, stroke, egui::StrokeKind::Inside);
        if k == 0 {
            let mut y = 0.0;
            for &c in chunks.axis(nd - 2) {
                y += c as f32 * scale;
                p.line_segment([r.left_top() + egui::vec2(0.0, y), r.right_top() + egui::vec2(0.0, y)], stroke);
            }
            let mut x = 0.0;
            for &c in chunks.axis(nd - 1) {
                x += c as f32 * scale;
                p.line_segment([r.left_top() + egui::vec2(x, 0.0), r.left_bottom() + egui::vec2(x, 0.0)], stroke);
            }
        }
    }
    let nb = chunks.blocks_per_axis();
    ui.weak(format!(
        "{} × {} blocks per {}",
        nb[nd - 2],
        nb[nd - 1],
        if nd >= 3 { format!("field, {} fields along {along}", shape[0]) } else { "image".into() }
    ));
}
