//! Maps: where latitudes and longitudes fall on the image (the grid as drawn, or a
//! projection of it), Natural Earth's outlines, and figures. Shared by the app and the
//! command line; it knows neither.

pub mod coastlines;
pub mod curvilinear;
pub mod figure;
pub mod geo;
pub mod projected;
pub mod projection;
