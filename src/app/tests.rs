//! The app driven by its labels with egui_kittest (no display needed).
