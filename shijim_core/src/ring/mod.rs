//! Shared-memory ring (placeholder until the ring lands).
