//! Round trips and bad inputs of the codec.
use super::*;
