//! The image view: tiles drawn as they arrive (pending ones as a hatched placeholder), pan by
//! dragging, zoom with the wheel around the cursor, fit and 1:1, a colorbar with ticks and
//! units, and a readout of the pixel under the cursor. It also tells the app which tiles are
//! visible, so the engine computes those first.

use crate::app::operation::Preset;
use crate::app::{Command, GridlensApp};
use egui::{Color32, Pos2, Rect, Sense, Stroke, pos2, vec2};

const BAR_WIDTH: f32 = 86.0;
const READOUT_HEIGHT: f32 = 22.0;

pub fn image_ui(ui: &mut egui::Ui, app: &mut GridlensApp, cmds: &mut Vec<Command>) {
    let full = ui.available_rect_before_wrap();
    let img_rect = Rect::from_min_max(full.min, pos2(full.max.x - BAR_WIDTH, full.max.y - READOUT_HEIGHT));
    let bar_rect = Rect::from_min_max(pos2(img_rect.max.x, full.min.y), pos2(full.max.x, img_rect.max.y));
    let readout_rect = Rect::from_min_max(pos2(full.min.x, img_rect.max.y), full.max);
    let resp = ui.allocate_rect(img_rect, Sense::click_and_drag());
    let painter = ui.painter_at(img_rect);
    painter.rect_filled(img_rect, 0.0, Color32::from_gray(24));
    let Some(grid) = &app.grid else {
        let text = if app.demo.is_some() {
            "Writing the demo data…"
        } else if app.loading.is_some() {
            "Opening…"
        } else if app.job.is_some() {
            "Planning…"
        } else if app.data.is_none() {
            "Open files (Ctrl+O), drop them here, or type a glob above"
        } else {
            "Choose an operation"
        };
        painter.text(img_rect.center(), egui::Align2::CENTER_CENTER, text, egui::FontId::proportional(16.0), Color32::from_gray(200));
        return;
    };
    let (rows, cols) = (grid.rows as f64, grid.cols as f64);
    if grid.chunks.ndim() == 0 {
        let v = grid.value_at(0, 0).map(|v| crate::ui::format_value(v as f64)).unwrap_or_else(|| "…".into());
        let units = app.data.as_ref().and_then(|d| d.units()).unwrap_or("");
        painter.text(
            img_rect.center(),
            egui::Align2::CENTER_CENTER,
            format!("{v} {units}"),
            egui::FontId::proportional(28.0),
            Color32::WHITE,
        );
        return;
    }
    // fit, pan, zoom
    let view = &mut app.view;
    if view.fit {
        view.zoom = ((img_rect.width() as f64 / cols).min(img_rect.height() as f64 / rows) * 0.98).max(1e-4);
        view.center = (cols / 2.0, rows / 2.0);
        view.fit = false;
    }
    let to_img = |p: Pos2, v: &crate::app::View| -> (f64, f64) {
        (v.center.0 + (p.x - img_rect.center().x) as f64 / v.zoom, v.center.1 + (p.y - img_rect.center().y) as f64 / v.zoom)
    };
    if resp.dragged() {
        let d = resp.drag_delta();
        view.center.0 -= d.x as f64 / view.zoom;
        view.center.1 -= d.y as f64 / view.zoom;
    }
    if let Some(hover) = resp.hover_pos() {
        let (scroll, pinch) = ui.input(|i| (i.smooth_scroll_delta.y, i.zoom_delta()));
        let factor = (scroll as f64 * 0.003).exp() * pinch as f64;
        if (factor - 1.0).abs() > 1e-6 {
            let before = to_img(hover, view);
            let min_zoom = 32.0 / cols.max(rows);
            view.zoom = (view.zoom * factor).clamp(min_zoom, 64.0);
            let after = to_img(hover, view);
            view.center.0 += before.0 - after.0;
            view.center.1 += before.1 - after.1;
        }
    }
    app.view.screen = img_rect;
    let flip = app.flip_rows();
    // image rows as drawn: reversed (north up) when the data's latitudes ascend
    let drawn_row = |row: f64| if flip { rows - row } else { row };
    let view = app.view.clone();
    let to_screen = |x: f64, y: f64| -> Pos2 {
        pos2(img_rect.center().x + ((x - view.center.0) * view.zoom) as f32, img_rect.center().y + ((y - view.center.1) * view.zoom) as f32)
    };
    let mut visible: Vec<(f32, usize)> = Vec::new();
    let c = img_rect.center();
    for (i, s) in grid.slots.iter().enumerate() {
        let (top, bottom) = (drawn_row(s.row0 as f64), drawn_row((s.row0 + s.rows) as f64));
        let r = Rect::from_min_max(to_screen(s.col0 as f64, top.min(bottom)), to_screen((s.col0 + s.cols) as f64, top.max(bottom)));
        if !r.intersects(img_rect) {
            continue;
        }
        match &s.texture {
            Some(t) => {
                // a flipped tile samples its texture bottom row first
                let uv = if flip {
                    Rect::from_min_max(pos2(0.0, 1.0), pos2(1.0, 0.0))
                } else {
                    Rect::from_min_max(pos2(0.0, 0.0), pos2(1.0, 1.0))
                };
                painter.image(t.id(), r, uv, Color32::WHITE);
            }
            None => placeholder(&painter, r, s.values.is_some()),
        }
        if let Some(mark) = s.partial.map(|(func, done, total)| partial_mark(func, done, total)) {
            // a snapshot part-way says so, on the tile itself
            let at = r.intersect(img_rect).left_top() + vec2(6.0, 6.0);
            let galley = painter.layout_no_wrap(mark, egui::FontId::proportional(13.0), Color32::WHITE);
            let bg = Rect::from_min_size(at, galley.size()).expand(3.0);
            painter.rect_filled(bg, 3.0, Color32::from_black_alpha(170));
            painter.galley(at, galley, Color32::WHITE);
        }
        if s.values.is_none() || s.partial.is_some() {
            visible.push((r.center().distance_sq(c), i));
        }
    }
    visible.sort_by(|a, b| a.0.total_cmp(&b.0));
    let order: Vec<usize> = visible.into_iter().map(|v| v.1).collect();
    // image outline
    let outline = Rect::from_min_max(to_screen(0.0, 0.0), to_screen(cols, rows));
    painter.rect_stroke(outline, 0.0, Stroke::new(1.0, Color32::from_gray(90)), egui::StrokeKind::Outside);
    // buttons over the image
    let mut child =
        ui.new_child(egui::UiBuilder::new().max_rect(img_rect.shrink(6.0)).layout(egui::Layout::left_to_right(egui::Align::Min)));
    if child.small_button("Fit").on_hover_text("Fit to window (F)").clicked() {
        cmds.push(Command::Fit);
    }
    if child.small_button("1:1").on_hover_text("One image pixel per screen point").clicked() {
        cmds.push(Command::OneToOne);
    }
    if app.op.preset != Preset::Expression
        && app.data.as_ref().is_some_and(|d| d.south_first())
        && child
            .selectable_label(app.settings.north_up, "North up")
            .on_hover_text("North up: the latitudes of this data ascend, so its first row is the southernmost")
            .clicked()
    {
        cmds.push(Command::ToggleNorthUp);
    }
    child.weak(format!("{:.0} %", view.zoom * 100.0));
    // readout
    let mut readout = String::new();
    if let Some(p) = resp.hover_pos() {
        let (x, y) = to_img(p, &view);
        if x >= 0.0 && y >= 0.0 && x < cols && y < rows {
            let (row, col) = (data_row(y, grid.rows, flip), x as usize);
            readout = readout_text(app, row, col);
            if resp.clicked() {
                cmds.push(Command::Pick(row, col));
            }
        }
    }
    if readout.is_empty() {
        let g = app.grid.as_ref().expect("checked above");
        readout = format!("{} × {} pixels, {} of {} tiles", g.rows, g.cols, g.arrived, g.slots.len());
        if let Some((func, done, total)) = g.partial_progress() {
            readout.push_str(&format!(" — showing {} so far", partial_mark(func, done, total)));
        }
    }
    // a label, not painted text: screen readers (and the tests) read it
    ui.scope_builder(
        egui::UiBuilder::new().max_rect(readout_rect.shrink2(vec2(6.0, 0.0))).layout(egui::Layout::left_to_right(egui::Align::Center)),
        |ui| ui.add(egui::Label::new(egui::RichText::new(readout).monospace().size(13.0)).truncate()),
    );
    colorbar(ui, app, bar_rect);
    cmds.push(Command::SetVisible(order));
}

/// How a snapshot part-way is marked: "mean of 312 of 744 records".
pub fn partial_mark(func: &str, done: usize, total: usize) -> String {
    let what = match func {
        "nanmean" => "mean",
        "nansum" => "sum",
        "nanmax" => "max",
        "nanmin" => "min",
        f => f,
    };
    format!("{what} of {done} of {total} records")
}

/// A pending tile: hatched dark gray, lighter when its values arrived but colors have not.
/// The data row under image point `y` (0 ≤ y < rows, from the top as drawn): drawn row k
/// shows data row rows - 1 - k when the rows are flipped.
fn data_row(y: f64, rows: usize, flip: bool) -> usize {
    let k = (y as usize).min(rows - 1);
    if flip { rows - 1 - k } else { k }
}

fn placeholder(p: &egui::Painter, r: Rect, arrived: bool) {
    p.rect_filled(r, 0.0, if arrived { Color32::from_gray(70) } else { Color32::from_gray(44) });
    let step = 12.0;
    let stroke = Stroke::new(1.0, Color32::from_gray(62));
    let clip = p.with_clip_rect(r.intersect(p.clip_rect()));
    let mut x = r.left() - r.height();
    while x < r.right() {
        clip.line_segment([pos2(x, r.bottom()), pos2(x + r.height(), r.top())], stroke);
        x += step;
    }
}

fn readout_text(app: &GridlensApp, row: usize, col: usize) -> String {
    let g = app.grid.as_ref().expect("a grid");
    let mut s = format!("row {row}, col {col}");
    if let Some(d) = &app.data {
        let pixel = match app.op.source_pixel(row, col) {
            Some(p) => Some(p),
            None => {
                let shape = d.array.shape();
                let nd = shape.len();
                (nd >= 2 && (g.rows, g.cols) == (shape[nd - 2], shape[nd - 1])).then_some((row, col))
            }
        };
        if let Some((r, c)) = pixel
            && let (Some((rn, rv)), Some((cn, cv))) = (&d.rows_coord, &d.cols_coord)
            && let (Some(a), Some(b)) = (rv.get(r), cv.get(c))
        {
            s.push_str(&format!(" | {rn} {a:.3}, {cn} {b:.3}"));
        }
    }
    let units = app.data.as_ref().and_then(|d| d.units()).unwrap_or("");
    match g.value_at(row, col) {
        Some(v) => s.push_str(&format!(" | {} {units}", crate::ui::format_value(v as f64))),
        None => s.push_str(" | pending"),
    }
    s
}

fn colorbar(ui: &mut egui::Ui, app: &GridlensApp, rect: Rect) {
    let Some(key) = &app.color_key else { return };
    let cm = crate::app::tiles::screen_colormap(key);
    let p = ui.painter_at(rect);
    let bar = Rect::from_min_max(pos2(rect.left() + 10.0, rect.top() + 28.0), pos2(rect.left() + 30.0, rect.bottom() - 16.0));
    let n = bar.height().max(2.0) as usize;
    let mut mesh = egui::Mesh::default();
    for i in 0..n {
        let t = 1.0 - i as f32 / (n - 1) as f32;
        let c = cm.map(t);
        let y = bar.top() + i as f32;
        mesh.add_colored_rect(Rect::from_min_max(pos2(bar.left(), y), pos2(bar.right(), y + 1.0)), Color32::from_rgb(c[0], c[1], c[2]));
    }
    p.add(egui::Shape::mesh(mesh));
    p.rect_stroke(bar, 0.0, Stroke::new(1.0, Color32::from_gray(120)), egui::StrokeKind::Outside);
    let (lo, hi) = (key.range.0 as f64, key.range.1 as f64);
    let text = ui.visuals().text_color();
    for v in gridlens::colormap::nice_ticks(lo, hi, 6) {
        let y = bar.bottom() - ((v - lo) / (hi - lo)) as f32 * bar.height();
        p.line_segment([pos2(bar.right(), y), pos2(bar.right() + 5.0, y)], Stroke::new(1.0, text));
        p.text(
            pos2(bar.right() + 8.0, y),
            egui::Align2::LEFT_CENTER,
            gridlens::colormap::format_tick(v),
            egui::FontId::proportional(12.0),
            text,
        );
    }
    let units = app.data.as_ref().and_then(|d| d.units()).unwrap_or("");
    p.text(pos2(rect.left() + 8.0, rect.top() + 12.0), egui::Align2::LEFT_CENTER, units, egui::FontId::proportional(13.0), text);
    let nan = cm.nan_color();
    let nan_rect = Rect::from_min_size(pos2(bar.left(), bar.bottom() + 4.0), vec2(10.0, 8.0));
    p.rect_filled(nan_rect, 0.0, Color32::from_rgb(nan[0], nan[1], nan[2]));
    p.text(nan_rect.right_center() + vec2(4.0, 0.0), egui::Align2::LEFT_CENTER, "NaN", egui::FontId::proportional(11.0), text);
}

#[cfg(test)]
mod tests {
    use super::data_row;

    #[test]
    fn points_map_to_the_data_row_drawn_there() {
        // five rows; drawn row k covers [k, k + 1)
        for (y, plain, flipped) in [(0.0, 0, 4), (0.5, 0, 4), (1.0, 1, 3), (3.999, 3, 1), (4.0, 4, 0), (4.5, 4, 0)] {
            assert_eq!(data_row(y, 5, false), plain, "y = {y}");
            assert_eq!(data_row(y, 5, true), flipped, "y = {y}, flipped");
        }
    }
}
