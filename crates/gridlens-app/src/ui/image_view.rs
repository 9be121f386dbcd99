//! The image view: tiles drawn as they arrive (pending ones as a hatched placeholder), pan by
//! dragging, zoom with the wheel around the cursor, fit and 1:1, a colorbar with ticks and
//! units, and a readout of the pixel under the cursor. It also tells the app which tiles are
//! visible, so the engine computes those first.

use super::map_overlay::{self, BOTTOM_AXIS, LEFT_AXIS, Placement};
use super::projected_view;
use crate::app::operation::Preset;
use crate::app::{Command, GridlensApp};
use crate::map::coastlines::Surface;
use crate::map::geo::data_row;
use crate::map::projection::Projection;
use egui::{Color32, Rect, Sense, Stroke, pos2, vec2};

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
    // the map inside its frame: room for the axis labels on the left and at the bottom
    let map_rect = Rect::from_min_max(pos2(img_rect.min.x + LEFT_AXIS, img_rect.min.y), pos2(img_rect.max.x, img_rect.max.y - BOTTOM_AXIS));
    let frame = app.map_frame();
    let projected = frame.clone().and_then(|f| app.projected_frame(f));
    // the image the view pans over: the data's grid, or the projected map
    let (width, height) = projected.as_ref().map_or((cols, rows), |p| p.size);
    // fit, pan, zoom
    let view = &mut app.view;
    if view.fit || view.fitted.is_some_and(|s| s != map_rect.size()) {
        view.zoom = ((map_rect.width() as f64 / width).min(map_rect.height() as f64 / height) * 0.98).max(1e-4);
        view.center = (width / 2.0, height / 2.0);
        view.fit = false;
        view.fitted = Some(map_rect.size());
    }
    if resp.dragged() && resp.drag_delta() != egui::Vec2::ZERO {
        view.fitted = None;
        let d = resp.drag_delta();
        view.center.0 -= d.x as f64 / view.zoom;
        view.center.1 -= d.y as f64 / view.zoom;
    }
    if let Some(hover) = resp.hover_pos() {
        let (scroll, pinch) = ui.input(|i| (i.smooth_scroll_delta.y, i.zoom_delta()));
        let factor = (scroll as f64 * 0.003).exp() * pinch as f64;
        if (factor - 1.0).abs() > 1e-6 {
            view.fitted = None;
            let before = Placement::new(map_rect, view).to_image(hover);
            let min_zoom = 32.0 / width.max(height);
            view.zoom = (view.zoom * factor).clamp(min_zoom, 64.0);
            let after = Placement::new(map_rect, view).to_image(hover);
            view.center.0 += before.0 - after.0;
            view.center.1 += before.1 - after.1;
        }
    }
    app.view.screen = map_rect;
    let flip = app.flip_rows();
    // image rows as drawn: reversed (north up) when the data's latitudes ascend
    let drawn_row = |row: f64| if flip { rows - row } else { row };
    // image columns as drawn: rotated when a globe-spanning grid is centred elsewhere
    let shift = frame.as_ref().map_or(0, |f| f.shift);
    let view = app.view.clone();
    let at = Placement::new(map_rect, &view);
    let painter = ui.painter_at(map_rect);
    let mut visible: Vec<(f32, usize)> = Vec::new();
    let c = map_rect.center();
    if let Some(pf) = &projected {
        let ppp = ui.ctx().pixels_per_point();
        projected_view::draw(&painter, (&mut app.reprojector, grid, app.color_key.as_ref()), pf, &at, ppp);
        // the engine computes the pending tiles in their order (a projected view shows most)
        visible =
            grid.slots.iter().enumerate().filter(|(_, s)| s.values.is_none() || s.partial.is_some()).map(|(i, _)| (i as f32, i)).collect();
    }
    let tiles = if projected.is_some() { &[][..] } else { &grid.slots[..] };
    for (i, s) in tiles.iter().enumerate() {
        let (top, bottom) = (drawn_row(s.row0 as f64), drawn_row((s.row0 + s.rows) as f64));
        let (top, bottom) = (top.min(bottom), top.max(bottom));
        // a flipped tile samples its texture bottom row first
        let (v0, v1) = if flip { (1.0, 0.0) } else { (0.0, 1.0) };
        let mut shown = false;
        for (x0, x1, u0, u1) in drawn_columns(s.col0, s.cols, grid.cols, shift) {
            let r = Rect::from_min_max(at.to_screen(x0, top), at.to_screen(x1, bottom));
            if !r.intersects(map_rect) {
                continue;
            }
            match &s.texture {
                Some(t) => {
                    painter.image(t.id(), r, Rect::from_min_max(pos2(u0, v0), pos2(u1, v1)), Color32::WHITE);
                }
                None => placeholder(&painter, r, s.values.is_some()),
            }
            if let (false, Some(mark)) = (shown, s.partial.map(|(func, done, total)| partial_mark(func, done, total))) {
                // a snapshot part-way says so, on the tile itself
                let at = r.intersect(map_rect).left_top() + vec2(6.0, 6.0);
                let galley = painter.layout_no_wrap(mark, egui::FontId::proportional(13.0), Color32::WHITE);
                let bg = Rect::from_min_size(at, galley.size()).expand(3.0);
                painter.rect_filled(bg, 3.0, Color32::from_black_alpha(170));
                painter.galley(at, galley, Color32::WHITE);
            }
            if !shown && (s.values.is_none() || s.partial.is_some()) {
                visible.push((r.center().distance_sq(c), i));
            }
            shown = true;
        }
    }
    visible.sort_by(|a, b| a.0.total_cmp(&b.0));
    let order: Vec<usize> = visible.into_iter().map(|v| v.1).collect();
    // image outline (a projected map draws its own, the globe's)
    let outline = Rect::from_min_max(at.to_screen(0.0, 0.0), at.to_screen(width, height));
    if projected.is_none() {
        painter.rect_stroke(outline, 0.0, Stroke::new(1.0, Color32::from_gray(90)), egui::StrokeKind::Outside);
    }
    // coastlines, lat/lon lines and the frame's labels
    let on_map = painter.with_clip_rect(outline.intersect(map_rect));
    let surface = match (&projected, &frame) {
        (Some(p), _) => Some(Surface::Projected(p.clone())),
        (None, Some(f)) => Some(Surface::Grid(f.clone())),
        _ => app.curvilinear().map(|g| Surface::Curvilinear(g, flip)),
    };
    app.outline_segments = 0;
    if let Some(surface) = &surface
        && (app.settings.coastlines || app.settings.borders)
        && let Some(o) = app.outlines()
    {
        app.outline_segments = map_overlay::outlines(&on_map, &app.settings, &mut app.placed, surface, &at, &o);
    }
    let full = ui.painter_at(img_rect);
    match &projected {
        Some(p) => projected_view::graticule(&full, &on_map, p, &at, app.settings.graticule),
        None => {
            let lines = (frame.is_some() && app.settings.graticule).then_some(&on_map);
            map_overlay::frame_axes(&full, lines, frame.as_ref(), &at, (grid.rows, grid.cols), flip);
        }
    }
    // buttons over the image
    let mut child =
        ui.new_child(egui::UiBuilder::new().max_rect(map_rect.shrink(6.0)).layout(egui::Layout::left_to_right(egui::Align::Min)));
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
    if surface.is_some() {
        if child.selectable_label(app.settings.coastlines, "Coast").on_hover_text("Coastlines (Natural Earth)").clicked() {
            cmds.push(Command::ToggleCoastlines);
        }
        if child.selectable_label(app.settings.borders, "Borders").on_hover_text("Country borders (Natural Earth)").clicked() {
            cmds.push(Command::ToggleBorders);
        }
    }
    if let Some(f) = &frame {
        if child.selectable_label(app.settings.graticule, "Grid").on_hover_text("Latitude and longitude lines").clicked() {
            cmds.push(Command::ToggleGraticule);
        }
        if f.periodic {
            centre_menu(&mut child, app.settings.centre_lon, cmds);
        }
        projection_menu(&mut child, app.settings.projection, cmds);
    }
    child.weak(format!("{:.0} %", view.zoom * 100.0));
    // readout
    let mut readout = String::new();
    if let Some(p) = resp.hover_pos() {
        let (x, y) = at.to_image(p);
        // the data cell under the cursor: through the projection's inverse, or the grid's
        let cell = match &projected {
            Some(pf) => pf.cell(x, y),
            None => (x >= 0.0 && y >= 0.0 && x < cols && y < rows).then(|| {
                let col = frame.as_ref().map_or((x as usize).min(grid.cols - 1), |f| f.data_col(x));
                (data_row(y, grid.rows, flip), col)
            }),
        };
        if let Some((row, col)) = cell.filter(|_| map_rect.contains(p)) {
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

/// Where data columns [col0, col0 + n) of a `cols`-wide image are drawn when drawn column k
/// shows data column (k + shift) % cols: one or two spans (x0, x1, u0, u1) of image x and
/// texture u (two when the tile straddles the drawn seam).
fn drawn_columns(col0: usize, n: usize, cols: usize, shift: usize) -> Vec<(f64, f64, f32, f32)> {
    let x0 = (col0 + cols - shift % cols) % cols;
    if x0 + n <= cols {
        return vec![(x0 as f64, (x0 + n) as f64, 0.0, 1.0)];
    }
    let first = cols - x0;
    let u = first as f32 / n as f32;
    vec![(x0 as f64, cols as f64, 0.0, u), (0.0, (n - first) as f64, u, 1.0)]
}

/// How the map is drawn: the data's grid, or one of the projections.
fn projection_menu(ui: &mut egui::Ui, current: Projection, cmds: &mut Vec<Command>) {
    ui.menu_button(current.label(), |ui| {
        for p in Projection::ALL {
            if ui.radio(p == current, p.label()).clicked() {
                cmds.push(Command::SetProjection(p));
                ui.close();
            }
        }
    })
    .response
    .on_hover_text("Projection");
}

/// The longitude drawn in the middle: as stored, 0°, 180°, or any.
fn centre_menu(ui: &mut egui::Ui, centre: Option<f64>, cmds: &mut Vec<Command>) {
    let label = match centre {
        None => "Centre: as stored".to_string(),
        Some(c) => format!("Centre: {}", crate::map::geo::lon_label(c, 1.0)),
    };
    ui.menu_button(label, |ui| {
        for (text, value) in [("As stored", None), ("0° (Greenwich)", Some(0.0)), ("180° (Pacific)", Some(180.0))] {
            if ui.radio(centre == value, text).clicked() {
                cmds.push(Command::SetCentre(value));
                ui.close();
            }
        }
        let mut v = centre.unwrap_or(0.0);
        ui.horizontal(|ui| {
            ui.label("Longitude");
            if ui.add(egui::DragValue::new(&mut v).range(-180.0..=360.0).speed(1.0).suffix("°")).changed() {
                cmds.push(Command::SetCentre(Some(v)));
            }
        });
    });
}

/// A pending tile: hatched dark gray, lighter when its values arrived but colors have not.
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
        // a curvilinear grid's own latitude and longitude of the cell
        if let Some((r, c)) = pixel
            && !d.geographic
            && let Some((lat, lon)) = d.curvilinear.as_ref().and_then(|g| g.0.lat_lon(r, c))
        {
            s.push_str(&format!(" | lat {lat:.3}, lon {lon:.3}"));
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
    use super::drawn_columns;

    #[test]
    fn a_tile_straddling_the_seam_is_drawn_in_two_parts() {
        // 8 columns shifted by 4: data columns 2..6 are drawn at 6..8 and 0..2
        assert_eq!(drawn_columns(2, 4, 8, 4), vec![(6.0, 8.0, 0.0, 0.5), (0.0, 2.0, 0.5, 1.0)]);
        assert_eq!(drawn_columns(4, 4, 8, 4), vec![(0.0, 4.0, 0.0, 1.0)]);
        assert_eq!(drawn_columns(0, 3, 8, 0), vec![(0.0, 3.0, 0.0, 1.0)]);
    }
}
