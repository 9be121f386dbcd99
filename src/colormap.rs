//! Colormaps (in progress).
