//! Sources: where records come from. Replay reads files, directories, globs and stdin
//! (gzip or not) as ordered chunks of bytes with their positions.

pub mod replay;
