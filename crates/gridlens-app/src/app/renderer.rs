//! What draws the window, and how much drawing may cost.
//!
//! On a machine without a GPU (a VNC session, X forwarding to an HPC login node, a virtual
//! machine) Mesa's llvmpipe draws every frame on the CPU the engine computes on. There a
//! frame of this window cost 230 ms of CPU through wgpu's OpenGL backend and 45 ms through
//! eframe's own OpenGL renderer (glow), so software rasterizers get glow; frames are drawn
//! at most four times a second while work streams in, spinners stand still, and the
//! rasterizer's threads are limited before the window exists (see `main.rs`). With a GPU
//! the app draws with wgpu, as before.

use std::time::Duration;

/// What draws the window: the graphics driver's name, and whether it renders in software.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Renderer {
    pub name: String,
    pub software: bool,
}

/// eframe's renderer for this machine: glow when the best graphics adapter wgpu finds is a
/// CPU (or there is none), wgpu otherwise. `GRIDLENS_RENDERER=wgpu` or `=glow` decides instead.
pub fn choose() -> eframe::Renderer {
    match std::env::var("GRIDLENS_RENDERER").as_deref() {
        Ok("glow") => return eframe::Renderer::Glow,
        Ok("wgpu") => return eframe::Renderer::Wgpu,
        _ => {}
    }
    if best_adapter_is_software() { eframe::Renderer::Glow } else { eframe::Renderer::Wgpu }
}

/// Asks wgpu for the adapter it would draw with (without a window: the same choice of
/// device eframe makes), and whether it is a CPU rasterizer.
fn best_adapter_is_software() -> bool {
    use eframe::wgpu;
    let instance = wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
    let adapter = pollster::block_on(instance.request_adapter(&wgpu::RequestAdapterOptions {
        power_preference: wgpu::PowerPreference::HighPerformance,
        force_fallback_adapter: false,
        compatible_surface: None,
        ..Default::default()
    }));
    match adapter {
        Ok(a) => {
            let info = a.get_info();
            info.device_type == wgpu::DeviceType::Cpu || Renderer::named(info.name).software
        }
        Err(_) => true,
    }
}

impl Renderer {
    /// The renderer of the window eframe made: glow's OpenGL context, or wgpu's adapter (a
    /// CPU device, such as llvmpipe, lavapipe, SwiftShader or WARP, is software rendering).
    pub fn of_context(cc: &eframe::CreationContext<'_>) -> Renderer {
        if let Some(gl) = cc.gl.as_ref() {
            use eframe::glow::HasContext;
            // SAFETY: a plain query on the context eframe made current on this thread.
            let name = unsafe { gl.get_parameter_string(eframe::glow::RENDERER) };
            return Renderer::named(format!("{name} (OpenGL)"));
        }
        let Some(state) = cc.wgpu_render_state.as_ref() else { return Renderer::default() };
        let info = state.adapter.get_info();
        let cpu = info.device_type == eframe::wgpu::DeviceType::Cpu;
        let mut r = Renderer::named(format!("{} ({:?})", info.name, info.backend));
        r.software |= cpu;
        r
    }

    /// A renderer by its driver's name; software when it is one of the CPU rasterizers
    /// (Mesa's llvmpipe, lavapipe and softpipe, Google's SwiftShader).
    pub fn named(name: String) -> Renderer {
        let n = name.to_ascii_lowercase();
        let software = ["llvmpipe", "lavapipe", "softpipe", "swrast", "swiftshader", "software"].iter().any(|s| n.contains(s));
        Renderer { name, software }
    }

    /// How often a frame is drawn while background work streams in (tiles, progress):
    /// every 80 ms with a GPU, four times a second in software, where a frame of this window
    /// costs tens of milliseconds of CPU.
    pub fn streaming_interval(&self) -> Duration {
        if self.software { Duration::from_millis(250) } else { Duration::from_millis(80) }
    }

    /// How the app says what draws it.
    pub fn describe(&self) -> String {
        match (self.name.is_empty(), self.software) {
            (true, _) => "an unknown renderer".into(),
            (false, true) => format!("software: {}", self.name),
            (false, false) => self.name.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn software_rasterizers_are_known_by_name() {
        assert!(Renderer::named("llvmpipe (LLVM 15.0.6, 256 bits) (OpenGL)".into()).software);
        assert!(Renderer::named("Google SwiftShader".into()).software);
        assert!(!Renderer::named("NVIDIA GeForce RTX 3060 (Vulkan)".into()).software);
        assert!(!Renderer::named("AMD Radeon Pro W6800 (OpenGL)".into()).software);
        let sw = Renderer { name: "llvmpipe".into(), software: true };
        assert_eq!(sw.streaming_interval(), Duration::from_millis(250));
        assert_eq!(sw.describe(), "software: llvmpipe");
    }
}
