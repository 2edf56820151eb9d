//! dac (in progress)
