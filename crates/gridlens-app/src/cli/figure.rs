//! `gridlens eval … -o map.png` on a latitude/longitude field: a figure (the map with
//! coastlines, graticule, colorbar and title) instead of the bare colormapped image
//! (`--plain`).

use super::EvalArgs;
use crate::map::figure::{self, FigureSpec};
use crate::map::geo::{MapFrame, lat_lon};
use crate::map::projection::Projection;
use anyhow::{Result, anyhow};
use gridlens::colormap::{Colormap, finite_range};
use gridlens::exec::{ExecOptions, JobControl, Whole, execute};
use gridlens::expr::{Array, Op};
use gridlens::plan::Plan;
use gridlens::source::fmt_shape;
use std::collections::HashMap;
use std::sync::Arc;

/// A figure holds at most this many values (the whole field is computed into memory).
const MAX_CELLS: usize = 200_000_000;

/// The map frame of `result` when it is a latitude/longitude field: its last two axes are
/// those of an input whose coordinates are latitude and longitude, and any others have
/// length 1.
pub fn frame_of(result: &Array, inputs: &HashMap<String, Array>, centre: Option<f64>) -> Option<MapFrame> {
    let shape = result.shape();
    let n = shape.len();
    if n < 2 || shape[..n - 2].iter().any(|&d| d != 1) {
        return None;
    }
    let mut names: Vec<&String> = inputs.keys().collect();
    names.sort();
    names.into_iter().find_map(|name| {
        let Op::Source(s) = inputs[name].op() else { return None };
        let (lat, lon) = lat_lon(&s.metadata())?;
        ((lat.len(), lon.len()) == (shape[n - 2], shape[n - 1])).then_some(())?;
        // north up, as the app draws it
        let flip = lat[0] < lat[lat.len() - 1];
        MapFrame::new(lat, lon, flip, centre)
    })
}

/// Parses `--projection`.
pub fn parse_projection(name: &str) -> Result<Projection> {
    Ok(match name {
        "equirectangular" | "plate-carree" => Projection::Equirectangular,
        "robinson" => Projection::Robinson,
        "mollweide" => Projection::Mollweide,
        "north-polar" => Projection::NorthPolar,
        "south-polar" => Projection::SouthPolar,
        _ => anyhow::bail!("--projection {name}: expected equirectangular, robinson, mollweide, north-polar or south-polar"),
    })
}

/// Parses `--centre`: a longitude, or `stored` (`None`).
pub fn parse_centre(text: Option<&str>) -> Result<Option<f64>> {
    match text {
        None => Ok(Some(0.0)),
        Some("stored") => Ok(None),
        Some(v) => v.parse::<f64>().map(Some).map_err(|_| anyhow!("--centre {v}: expected a longitude in degrees or 'stored'")),
    }
}

/// Computes `array` and writes its figure to `target`.
pub fn write(
    args: &EvalArgs,
    array: &Array,
    frame: &MapFrame,
    attrs: &[(String, gridlens::source::AttrValue)],
    target: &str,
) -> Result<()> {
    if array.len() > MAX_CELLS {
        anyhow::bail!("{}: {} values are too many for a figure; write it with --plain", target, array.len());
    }
    let colormap = Colormap::by_name(&args.colormap).map_err(|e| anyhow!("--colormap: {e}"))?;
    let text = |key: &str| {
        attrs.iter().find(|(k, _)| k == key).and_then(|(_, v)| match v {
            gridlens::source::AttrValue::Text(t) => Some(t.clone()),
            _ => None,
        })
    };
    let plan = Plan::build(array, false)?;
    let whole = Whole::new(&plan);
    let opts = ExecOptions { threads: args.threads, ..Default::default() };
    let control = Arc::new(JobControl::new());
    execute(&plan, None, &opts, &control, &|k, b| whole.paste(k, b))?;
    let values = whole.into_block().to_f32_vec();
    let range = match &args.range {
        Some(r) => {
            let (a, b) = r.split_once(',').ok_or_else(|| anyhow!("--range {r}: expected MIN,MAX"))?;
            (a.trim().parse()?, b.trim().parse()?)
        }
        None => finite_range(&values).unwrap_or((0.0, 1.0)),
    };
    let mut spec = FigureSpec::new(colormap, range);
    spec.title = args.title.clone().unwrap_or_else(|| match text("long_name") {
        Some(name) => format!("{name} — {}", args.input.expr),
        None => args.input.expr.clone(),
    });
    spec.units = text("units").unwrap_or_default();
    spec.projection = args.projection.as_deref().map(parse_projection).transpose()?.unwrap_or(Projection::Equirectangular);
    spec.centre = parse_centre(args.centre.as_deref())?;
    spec.borders = args.borders;
    spec.width = args.width;
    spec.dpi = args.dpi;
    let cols = frame.cols();
    let pixmap = figure::render(frame, &|r, c| values.get(r * cols + c).copied(), &spec).map_err(|e| anyhow!("{target}: {e}"))?.pixmap;
    let path = figure::write(&pixmap, std::path::Path::new(target), args.overwrite, args.dpi).map_err(|e| anyhow!("{target}: {e}"))?;
    eprintln!("wrote a {} × {} figure of {} to {}", pixmap.width(), pixmap.height(), fmt_shape(&array.shape()), path.display());
    Ok(())
}
