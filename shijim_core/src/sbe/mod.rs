//! SBE codec (placeholder until the codec lands).
