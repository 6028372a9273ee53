//! Sources: where records come from. Replay reads files, directories, globs and stdin
//! (gzip or not) as ordered chunks of bytes with their positions; tail follows live log files
//! through rotation with positions to checkpoint.

pub mod replay;
pub mod tail;
