mod keys;
mod list_range;
mod map_range;
mod spans;
mod top_ops;
mod values;

pub use keys::Keys;
pub use list_range::{ListRange, ListRangeItem};
pub use map_range::{MapRange, MapRangeItem};
pub use spans::{Span, Spans};
pub use values::Values;

pub(crate) use spans::{SpanInternal, SpansInternal};
pub(crate) use top_ops::{TopOp, TopOps};
