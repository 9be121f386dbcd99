//! What a file says about its data besides the values: attributes, coordinate variables,
//! and the tree of groups and datasets (xarray's `attrs` and `coords`, `h5dump -H`).
//!
//! NetCDF4 files are HDF5 files with conventions: every dimension is a *dimension scale*
//! dataset (attribute `CLASS = "DIMENSION_SCALE"`), and every variable's `DIMENSION_LIST`
//! attribute holds object references to the scale of each axis. Dimensions without a
//! coordinate variable still get a scale, named "This is a netCDF dimension but not a
//! netCDF variable", which is not data and is hidden here.

use super::storage::{self, FilterInfo, Layout};
use crate::dtype::DType;
use crate::source::{AttrValue, Coordinate, GeoGrid};
use hdf5::{Dataset, Group, LinkType, Location};
use std::fmt;

/// An attribute as stored: its value (when gridlens can represent it) and element type.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredAttr {
    /// The attribute's name.
    pub name: String,
    /// `None` for types with no [`AttrValue`] form (references, compounds).
    pub value: Option<AttrValue>,
    /// The numeric element type, for CF decoding (which looks at `scale_factor`'s type).
    pub dtype: Option<DType>,
    /// The stored type as [`storage::describe_type`] writes it.
    pub type_description: String,
}

impl StoredAttr {
    /// The attributes that have a value, as CF decoding sees them (with their stored type).
    pub fn cf(attrs: &[StoredAttr]) -> Vec<crate::io::cf::CfAttr> {
        attrs
            .iter()
            .filter_map(|a| a.value.clone().map(|value| crate::io::cf::CfAttr { name: a.name.clone(), value, dtype: a.dtype }))
            .collect()
    }

    /// All values as f64 when the attribute is numeric.
    pub fn numbers(&self) -> Option<Vec<f64>> {
        self.value.as_ref().and_then(AttrValue::numbers)
    }

    /// The value when the attribute is text.
    pub fn text(&self) -> Option<&str> {
        self.value.as_ref().and_then(AttrValue::text)
    }
}

/// Attributes that carry NetCDF4/HDF5 bookkeeping rather than information about the data.
pub fn is_internal_attr(name: &str) -> bool {
    matches!(
        name,
        "DIMENSION_LIST"
            | "REFERENCE_LIST"
            | "CLASS"
            | "NAME"
            | "_Netcdf4Dimid"
            | "_Netcdf4Coordinates"
            | "_nc3_strict"
            | "_NCProperties"
            | "_SuperblockVersion"
            | "_IsNetcdf4"
    )
}

/// The `NAME` of a NetCDF4 dimension that has no coordinate variable.
const PHONY_DIMENSION: &str = "This is a netCDF dimension but not a netCDF variable";

/// Reads every attribute of an object, in creation order when the file tracks it.
pub fn read_attrs(loc: &Location) -> Vec<StoredAttr> {
    let names = loc
        .attr_names_by(hdf5::IndexType::CreationOrder, hdf5::IterationOrder::Increasing)
        .or_else(|_| loc.attr_names())
        .unwrap_or_default();
    names.into_iter().filter_map(|name| loc.attr(&name).ok().map(|a| read_attr(name, &a))).collect()
}

fn read_attr(name: String, attr: &hdf5::Attribute) -> StoredAttr {
    let Ok(ty) = attr.dtype() else {
        return StoredAttr { name, value: None, dtype: None, type_description: "unknown type".into() };
    };
    let type_description = storage::describe_type(ty.id());
    let class = hdf5::sync::sync(|| unsafe { hdf5_sys::h5t::H5Tget_class(ty.id()) });
    let (value, dtype) = match class {
        hdf5_sys::h5t::H5T_class_t::H5T_STRING => (read_text_attr(attr, &ty).map(AttrValue::Text), None),
        hdf5_sys::h5t::H5T_class_t::H5T_INTEGER | hdf5_sys::h5t::H5T_class_t::H5T_FLOAT => {
            match storage::classify(&ty) {
                Ok(st) if st.dtype.is_float() => (attr.read_raw::<f64>().ok().map(AttrValue::Float), Some(st.dtype)),
                Ok(st) if st.dtype == DType::U64 => (
                    // u64 above i64::MAX does not fit an Int; keep it exact as far as f64 goes.
                    attr.read_raw::<u64>().ok().map(|v| {
                        if v.iter().all(|&x| x <= i64::MAX as u64) {
                            AttrValue::Int(v.into_iter().map(|x| x as i64).collect())
                        } else {
                            AttrValue::Float(v.into_iter().map(|x| x as f64).collect())
                        }
                    }),
                    Some(st.dtype),
                ),
                Ok(st) => (attr.read_raw::<i64>().ok().map(AttrValue::Int), Some(st.dtype)),
                Err(_) => (None, None),
            }
        }
        _ => (None, None),
    };
    StoredAttr { name, value, dtype, type_description }
}

/// A text attribute: fixed-length (NetCDF's NC_CHAR) or variable-length strings, several
/// values joined with ", ".
fn read_text_attr(attr: &hdf5::Attribute, ty: &hdf5::Datatype) -> Option<String> {
    use hdf5::types::{TypeDescriptor, VarLenAscii, VarLenUnicode};
    let parts: Vec<String> = match ty.to_descriptor().ok()? {
        TypeDescriptor::VarLenUnicode => attr.read_raw::<VarLenUnicode>().ok()?.iter().map(|s| s.as_str().to_owned()).collect(),
        TypeDescriptor::VarLenAscii => attr.read_raw::<VarLenAscii>().ok()?.iter().map(|s| s.as_str().to_owned()).collect(),
        TypeDescriptor::FixedAscii(size) | TypeDescriptor::FixedUnicode(size) => {
            let n = attr.size();
            let mut buf = vec![0u8; size * n];
            if size * n > 0 {
                // Read the bytes as stored (the file type as memory type: no conversion).
                let rc = hdf5::sync::sync(|| unsafe { hdf5_sys::h5a::H5Aread(attr.id(), ty.id(), buf.as_mut_ptr().cast()) });
                if rc < 0 {
                    return None;
                }
            }
            let space_padded = storage::is_space_padded(ty.id());
            buf.chunks(size.max(1))
                .map(|s| {
                    let end = s.iter().position(|&b| b == 0).unwrap_or(s.len());
                    let text = String::from_utf8_lossy(&s[..end]).into_owned();
                    if space_padded { text.trim_end_matches(' ').to_owned() } else { text }
                })
                .collect()
        }
        _ => return None,
    };
    Some(parts.join(", "))
}

/// The attributes a source reports: all but NetCDF4/HDF5 bookkeeping and those in `applied`
/// (CF attributes whose meaning was already applied to the values).
pub fn public_attrs(attrs: &[StoredAttr], applied: &[&str]) -> Vec<(String, AttrValue)> {
    attrs
        .iter()
        .filter(|a| !is_internal_attr(&a.name) && !applied.contains(&a.name.as_str()))
        .filter_map(|a| a.value.clone().map(|v| (a.name.clone(), v)))
        .collect()
}

/// The text of attribute `name` of an object, if it is a text attribute.
fn text_attr(loc: &Location, name: &str) -> Option<String> {
    let a = loc.attr(name).ok()?;
    let ty = a.dtype().ok()?;
    read_text_attr(&a, &ty)
}

/// One dataset of a file, as listed in messages and used to pick a default.
#[derive(Clone, Debug)]
pub struct DatasetSummary {
    /// Absolute path: `/group/name`.
    pub path: String,
    /// The dataset's current shape.
    pub shape: Vec<usize>,
    /// The type as `float64`, `>i2`, `variable-length string`.
    pub type_description: String,
    /// Whether gridlens can read it (a numeric or boolean type).
    pub numeric: bool,
    /// A coordinate variable: a dimension scale, or a 1-D dataset with a coordinate's name.
    pub coordinate: bool,
}

impl fmt::Display for DatasetSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.path, crate::source::fmt_shape(&self.shape), self.type_description)
    }
}

/// Names that mark a 1-D dataset as a coordinate variable in files without dimension scales.
const COORDINATE_NAMES: &[&str] =
    &["lat", "latitude", "lon", "longitude", "time", "x", "y", "z", "lev", "level", "depth", "height", "plev", "rlat", "rlon"];

/// Whether a dataset is a NetCDF4 dimension without coordinate variable (not data).
fn is_phony_dimension(ds: &Dataset) -> bool {
    text_attr(ds, "NAME").is_some_and(|n| n.starts_with(PHONY_DIMENSION))
}

fn is_dimension_scale(ds: &Dataset) -> bool {
    text_attr(ds, "CLASS").is_some_and(|c| c == "DIMENSION_SCALE")
}

fn leaf_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// Calls `f` for every group (with its absolute path) reachable through hard links, depth
/// first in name order. Soft and external links are not followed: they may form cycles or
/// point into other files.
fn walk_groups(group: &Group, path: &str, f: &mut dyn FnMut(&Group, &str, &[(String, LinkKind)])) {
    let mut members = Vec::new();
    let _ = group.iter_visit(hdf5::IndexType::Name, hdf5::IterationOrder::Increasing, |name, info| {
        members.push((name.to_owned(), info.link_type));
        Ok(())
    });
    let kinds: Vec<(String, LinkKind)> = members
        .iter()
        .map(|(name, lt)| {
            let kind = if *lt != LinkType::Hard {
                LinkKind::Other
            } else {
                match group.loc_type_by_name(name) {
                    Ok(hdf5::LocationType::Group) => LinkKind::Group,
                    Ok(hdf5::LocationType::Dataset) => LinkKind::Dataset,
                    _ => LinkKind::Other,
                }
            };
            (name.clone(), kind)
        })
        .collect();
    f(group, path, &kinds);
    for (name, kind) in &kinds {
        if *kind == LinkKind::Group
            && let Ok(g) = group.group(name)
        {
            walk_groups(&g, &join(path, name), f);
        }
    }
}

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum LinkKind {
    Group,
    Dataset,
    Other,
}

fn join(parent: &str, name: &str) -> String {
    if parent.ends_with('/') { format!("{parent}{name}") } else { format!("{parent}/{name}") }
}

/// Lists the datasets of a file (hiding NetCDF4's dimensions without coordinate variables).
pub fn list_datasets(file: &hdf5::File) -> Vec<DatasetSummary> {
    let mut out = Vec::new();
    walk_groups(file, "/", &mut |group, path, members| {
        for (name, kind) in members {
            if *kind != LinkKind::Dataset {
                continue;
            }
            let Ok(ds) = group.dataset(name) else {
                continue;
            };
            if is_phony_dimension(&ds) {
                continue;
            }
            out.push(summarize(&ds, join(path, name)));
        }
    });
    out
}

fn summarize(ds: &Dataset, path: String) -> DatasetSummary {
    let shape = ds.shape();
    let (type_description, numeric) = match ds.dtype() {
        Ok(ty) => match storage::classify(&ty) {
            Ok(st) => (st.description, true),
            Err(e) => (e, false),
        },
        Err(e) => (format!("unreadable type ({e})"), false),
    };
    let coordinate =
        is_dimension_scale(ds) || (shape.len() == 1 && COORDINATE_NAMES.contains(&leaf_name(&path).to_ascii_lowercase().as_str()));
    DatasetSummary { path, shape, type_description, numeric, coordinate }
}

/// Lists datasets for a message: `/t2m (180, 360) float64, /lat (180,) float64`.
pub fn listing(datasets: &[DatasetSummary]) -> String {
    if datasets.is_empty() {
        return "the file holds no datasets".into();
    }
    first_few(datasets.iter())
}

/// The first items of a list for a message, then how many more: a file with thousands of
/// variables must not make a message of a hundred kilobytes.
pub fn first_few<T: std::fmt::Display>(items: impl ExactSizeIterator<Item = T>) -> String {
    const SHOWN: usize = 8;
    let n = items.len();
    let mut text = items.take(SHOWN).map(|d| d.to_string()).collect::<Vec<_>>().join(", ");
    if n > SHOWN {
        text.push_str(&format!(" and {} more (gridlens info FILE lists them all)", n - SHOWN));
    }
    text
}

/// The coordinate of every axis of `ds` (of `shape`): from NetCDF4/HDF5 dimension scales
/// first, else from 1-D datasets named like coordinates (`lat`/`latitude`, `lon`/`longitude`,
/// `time`) next to the dataset or at the root whose length matches the axis.
pub fn coordinates(file: &hdf5::File, ds: &Dataset, shape: &[usize], decode_cf: bool) -> Vec<Option<Coordinate>> {
    let mut coords = dimension_scale_coords(ds, shape, decode_cf).unwrap_or_else(|| vec![None; shape.len()]);
    if coords.iter().all(Option::is_some) {
        return coords;
    }
    // Candidates by conventional name, in the dataset's group and the root group.
    let parent = parent_group(ds);
    let mut candidates: Vec<(&'static str, Dataset)> = Vec::new();
    for group_path in [parent.as_str(), "/"] {
        let Ok(group) = file.group(group_path) else {
            continue;
        };
        let kinds: [(&'static str, &[&str]); 3] = [("lat", &["lat", "latitude"]), ("lon", &["lon", "longitude"]), ("time", &["time"])];
        for (kind, names) in kinds {
            if candidates.iter().any(|(k, _)| *k == kind) {
                continue;
            }
            for &n in names {
                if let Ok(c) = group.dataset(n)
                    && c.ndim() == 1
                    && c.name() != ds.name()
                {
                    candidates.push((kind, c));
                    break;
                }
            }
        }
    }
    let nd = shape.len();
    // Axes are assigned in the usual (time, …, lat, lon) order; the last axes first.
    let mut order: Vec<usize> = (0..nd).rev().collect();
    order.sort_by_key(|&d| {
        if d + 1 == nd {
            0
        } else if d + 2 == nd {
            1
        } else {
            2 + d
        }
    });
    let mut used: Vec<&str> = coords.iter().flatten().map(|c| kind_of(&c.name)).collect();
    for d in order {
        if coords[d].is_some() {
            continue;
        }
        let preference: [&str; 3] = if d + 1 == nd && nd >= 2 {
            ["lon", "lat", "time"]
        } else if d + 2 == nd {
            ["lat", "lon", "time"]
        } else {
            ["time", "lat", "lon"]
        };
        for kind in preference {
            if used.contains(&kind) {
                continue;
            }
            let Some((_, c)) = candidates.iter().find(|(k, c)| *k == kind && c.shape() == [shape[d]]) else {
                continue;
            };
            if let Some(coord) = read_coordinate(c, decode_cf) {
                coords[d] = Some(coord);
                used.push(kind);
                break;
            }
        }
    }
    coords
}

fn kind_of(name: &str) -> &'static str {
    match name.to_ascii_lowercase().as_str() {
        "lat" | "latitude" => "lat",
        "lon" | "longitude" => "lon",
        "time" => "time",
        _ => "",
    }
}

/// Coordinates from the `DIMENSION_LIST` attribute (one object reference per axis).
fn dimension_scale_coords(ds: &Dataset, shape: &[usize], decode_cf: bool) -> Option<Vec<Option<Coordinate>>> {
    use hdf5::types::VarLenArray;
    use hdf5::{ObjectReference1, ReferencedObject};
    let attr = ds.attr("DIMENSION_LIST").ok()?;
    let lists = attr.read_raw::<VarLenArray<ObjectReference1>>().ok()?;
    if lists.len() != shape.len() {
        return None;
    }
    let mut out = Vec::with_capacity(shape.len());
    for (d, refs) in lists.iter().enumerate() {
        let coord = refs.first().and_then(|r| match ds.dereference(r) {
            Ok(ReferencedObject::Dataset(scale)) if scale.shape() == [shape[d]] && !is_phony_dimension(&scale) => {
                read_coordinate(&scale, decode_cf)
            }
            _ => None,
        });
        out.push(coord);
    }
    Some(out)
}

/// Reads a 1-D coordinate variable as f64 (unpacked with scale_factor/add_offset when asked).
/// The path of the group holding `ds` (`/` at the root).
fn parent_group(ds: &Dataset) -> String {
    let name = ds.name();
    name.rsplit_once('/').map(|(p, _)| if p.is_empty() { "/" } else { p }).unwrap_or("/").to_owned()
}

/// The 2-D latitude and longitude variables the CF `coordinates` attribute names, when they
/// span the last two axes (a curvilinear grid, as ocean and regional models write them).
/// Found in the dataset's group or the root; told apart by their units (`degrees_north`,
/// `degrees_east`), standard name, or name.
pub fn curvilinear(file: &hdf5::File, ds: &Dataset, attrs: &[StoredAttr], shape: &[usize]) -> Option<GeoGrid> {
    let names = attrs.iter().find(|a| a.name == "coordinates")?.text()?.to_owned();
    let nd = shape.len();
    let (rows, cols) = (*shape.get(nd.checked_sub(2)?)?, shape[nd - 1]);
    let parent = parent_group(ds);
    let (mut lat, mut lon) = (None, None);
    for name in names.split_whitespace() {
        let found = [parent.as_str(), "/"].into_iter().find_map(|g| file.group(g).ok()?.dataset(name).ok());
        let Some(c) = found.filter(|c| c.shape() == [rows, cols]) else { continue };
        let a = read_attrs(&c);
        let text = |k: &str| a.iter().find(|x| x.name == k).and_then(|x| x.text()).map(|t| t.trim().to_ascii_lowercase());
        let (units, standard) = (text("units").unwrap_or_default(), text("standard_name").unwrap_or_default());
        let leaf = name.to_ascii_lowercase();
        // degrees_north, degree_north, degree_N, degrees_N, degreeN, degreesN (CF's spellings)
        let unit = if units.starts_with("degree") {
            units.trim_start_matches("degrees").trim_start_matches("degree").trim_start_matches('_')
        } else {
            ""
        };
        let is_lat = unit == "north" || unit == "n" || standard == "latitude" || leaf.contains("lat");
        let is_lon = unit == "east" || unit == "e" || standard == "longitude" || leaf.contains("lon");
        let Ok(values) = c.read_raw::<f64>() else { continue };
        if is_lat && lat.is_none() {
            lat = Some(values);
        } else if is_lon && lon.is_none() {
            lon = Some(values);
        }
    }
    Some(GeoGrid { rows, cols, lat: lat?, lon: lon? })
}

fn read_coordinate(ds: &Dataset, decode_cf: bool) -> Option<Coordinate> {
    let ty = ds.dtype().ok()?;
    storage::classify(&ty).ok()?;
    let mut values = ds.read_raw::<f64>().ok()?;
    let attrs = read_attrs(ds);
    let find = |n: &str| attrs.iter().find(|a| a.name == n).and_then(|a| a.numbers()).and_then(|v| v.first().copied());
    if decode_cf {
        let (scale, offset) = (find("scale_factor"), find("add_offset"));
        if scale.is_some() || offset.is_some() {
            for v in &mut values {
                *v = *v * scale.unwrap_or(1.0) + offset.unwrap_or(0.0);
            }
        }
    }
    let units = attrs.iter().find(|a| a.name == "units").and_then(|a| a.text().map(str::to_owned));
    let calendar = attrs.iter().find(|a| a.name == "calendar").and_then(|a| a.text().map(str::to_owned));
    // a CF time (`days since 2000-01-01`) is labelled with its dates, as xarray decodes it
    let labels = if decode_cf { crate::io::cftime::coordinate_labels(&values, units.as_deref(), calendar.as_deref()) } else { Vec::new() };
    Some(Coordinate { name: leaf_name(&ds.name()).to_owned(), values, labels, units, calendar })
}

// ---------------------------------------------------------------------------------------
// The file tree for `gridlens info`
// ---------------------------------------------------------------------------------------

/// The structure of an HDF5/NetCDF4 file without its data: groups, datasets, attributes.
#[derive(Clone, Debug, serde::Serialize)]
pub struct FileTree {
    /// The file as given.
    pub file: String,
    /// Size of the file on disk.
    pub size_bytes: u64,
    /// The root group `/` and everything below it.
    pub root: GroupNode,
}

/// A group: its attributes, subgroups and datasets, in name order.
#[derive(Clone, Debug, serde::Serialize)]
pub struct GroupNode {
    /// Absolute path (`/`, `/model/run1`).
    pub path: String,
    /// The group's attributes, in creation order where the file tracks it.
    pub attrs: Vec<AttrNode>,
    /// Subgroups reached through hard links.
    pub groups: Vec<GroupNode>,
    /// Datasets reached through hard links (NetCDF4's dimensions without variable hidden).
    pub datasets: Vec<DatasetNode>,
    /// Soft and external links, which are listed but not followed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<String>,
}

/// A dataset's description.
#[derive(Clone, Debug, serde::Serialize)]
pub struct DatasetNode {
    /// Absolute path (`/model/run1/level/temp`).
    pub path: String,
    /// The dataset's current shape.
    pub shape: Vec<usize>,
    /// `float64`, `>i2`, `bool`, or the description of a type gridlens cannot read.
    pub dtype: String,
    /// Whether gridlens can read the values.
    pub readable: bool,
    /// `coordinate` for coordinate variables (dimension scales), else absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// `chunked`, `contiguous`, `compact`, `external` or `virtual`.
    pub layout: String,
    /// Storage chunk shape of chunked datasets.
    pub chunks: Option<Vec<usize>>,
    /// The filter pipeline, in the order filters are applied when writing.
    pub filters: Vec<FilterInfo>,
    /// Bytes the data occupies in the file (after compression).
    pub storage_size_bytes: u64,
    /// The dataset's attributes, NetCDF bookkeeping (`DIMENSION_LIST` …) included.
    pub attrs: Vec<AttrNode>,
}

/// An attribute: name, stored type, and value (`null` when it has no plain form).
#[derive(Clone, Debug, serde::Serialize)]
pub struct AttrNode {
    /// The attribute's name.
    pub name: String,
    /// The stored type (`float32`, `fixed-length string (2 bytes)`, `reference` …).
    pub dtype: String,
    /// The value, `None` for types with no plain form (references, compounds).
    pub value: Option<AttrJson>,
}

/// An attribute value as JSON: a string, or a list of numbers.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[serde(untagged)]
pub enum AttrJson {
    /// A string (several stored strings joined with ", ").
    Text(String),
    /// Integers, a list of one for a scalar.
    Ints(Vec<i64>),
    /// Floats, a list of one for a scalar (NaN becomes JSON `null`).
    Floats(Vec<f64>),
}

fn attr_nodes(loc: &Location) -> Vec<AttrNode> {
    read_attrs(loc)
        .into_iter()
        .map(|a| AttrNode {
            value: a.value.map(|v| match v {
                AttrValue::Text(s) => AttrJson::Text(s),
                AttrValue::Int(v) => AttrJson::Ints(v),
                AttrValue::Float(v) => AttrJson::Floats(v),
            }),
            name: a.name,
            dtype: a.type_description,
        })
        .collect()
}

/// Describes the tree of an open file.
pub fn file_tree(file: &hdf5::File, label: String, size_bytes: u64) -> FileTree {
    fn group_node(group: &Group, path: &str) -> GroupNode {
        let mut node =
            GroupNode { path: path.to_owned(), attrs: attr_nodes(group), groups: Vec::new(), datasets: Vec::new(), links: Vec::new() };
        let mut members = Vec::new();
        let _ = group.iter_visit(hdf5::IndexType::Name, hdf5::IterationOrder::Increasing, |name, info| {
            members.push((name.to_owned(), info.link_type));
            Ok(())
        });
        for (name, link) in members {
            let child = join(path, &name);
            if link != LinkType::Hard {
                node.links.push(child);
                continue;
            }
            match group.loc_type_by_name(&name) {
                Ok(hdf5::LocationType::Group) => {
                    if let Ok(g) = group.group(&name) {
                        node.groups.push(group_node(&g, &child));
                    }
                }
                Ok(hdf5::LocationType::Dataset) => {
                    if let Ok(ds) = group.dataset(&name)
                        && !is_phony_dimension(&ds)
                    {
                        node.datasets.push(dataset_node(&ds, child));
                    }
                }
                _ => node.links.push(child),
            }
        }
        node
    }
    FileTree { file: label, size_bytes, root: group_node(file, "/") }
}

fn dataset_node(ds: &Dataset, path: String) -> DatasetNode {
    let summary = summarize(ds, path);
    let layout = storage::layout(ds).ok();
    DatasetNode {
        path: summary.path,
        shape: summary.shape,
        dtype: summary.type_description,
        readable: summary.numeric,
        role: summary.coordinate.then(|| "coordinate".to_owned()),
        chunks: match &layout {
            Some(Layout::Chunked { chunk }) => Some(chunk.clone()),
            _ => None,
        },
        layout: layout.as_ref().map_or("unknown", Layout::name).to_owned(),
        filters: storage::filters(ds).unwrap_or_default(),
        storage_size_bytes: ds.storage_size(),
        attrs: attr_nodes(ds),
    }
}

impl AttrNode {
    /// The value as text: strings quoted, lists in brackets, float32 values with the digits
    /// float32 has (`0.01`, not `0.009999999776482582`).
    pub fn value_text(&self) -> String {
        let single = self.dtype == "float32" || self.dtype.ends_with("f4");
        let list = |items: Vec<String>| {
            if items.len() == 1 { items[0].clone() } else { format!("[{}]", items.join(", ")) }
        };
        match &self.value {
            None => format!("({})", self.dtype),
            Some(AttrJson::Text(s)) => format!("{s:?}"),
            Some(AttrJson::Ints(v)) => list(v.iter().map(|x| x.to_string()).collect()),
            // `{:?}` is the shortest text that reads back as the same number.
            Some(AttrJson::Floats(v)) => {
                list(v.iter().map(|&x| if single { format!("{:?}", x as f32) } else { format!("{x:?}") }).collect())
            }
        }
    }
}

/// Plain text for `gridlens info`: one line per group and dataset, attributes indented below.
impl fmt::Display for FileTree {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn attrs(f: &mut fmt::Formatter<'_>, attrs: &[AttrNode], indent: usize) -> fmt::Result {
            for a in attrs.iter().filter(|a| !is_internal_attr(&a.name)) {
                writeln!(f, "{:indent$}{} = {}", "", a.name, a.value_text())?;
            }
            Ok(())
        }
        fn group(f: &mut fmt::Formatter<'_>, g: &GroupNode, depth: usize) -> fmt::Result {
            let indent = depth * 2;
            writeln!(f, "{:indent$}{}", "", if g.path == "/" { "/".to_string() } else { format!("{}/", g.path) })?;
            attrs(f, &g.attrs, indent + 4)?;
            for d in &g.datasets {
                let mut line = format!("{} {} {}", d.path, crate::source::fmt_shape(&d.shape), d.dtype);
                match &d.chunks {
                    Some(c) => line += &format!("  chunks {}", crate::source::fmt_shape(c)),
                    None => line += &format!("  {}", d.layout),
                }
                for flt in &d.filters {
                    line += &format!(" {flt}");
                }
                if let Some(role) = &d.role {
                    line += &format!("  ({role})");
                }
                if !d.readable {
                    line += "  (not readable by gridlens)";
                }
                writeln!(f, "{:w$}{line}", "", w = indent + 2)?;
                attrs(f, &d.attrs, indent + 6)?;
            }
            for l in &g.links {
                writeln!(f, "{:w$}{l} (link, not followed)", "", w = indent + 2)?;
            }
            for sub in &g.groups {
                group(f, sub, depth + 1)?;
            }
            Ok(())
        }
        writeln!(f, "{} ({})", self.file, crate::chunks::format_bytes(self.size_bytes as usize))?;
        group(f, &self.root, 0)
    }
}
