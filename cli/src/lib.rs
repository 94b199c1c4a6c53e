//! The parts of `ddsp` that read and write user files, as a library: the binary uses them, and the
//! fuzz and regression tests drive them in process.

pub mod audio_io;
