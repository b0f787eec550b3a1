//! OFI / MLOFI (placeholder until it lands).
