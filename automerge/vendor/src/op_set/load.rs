use std::collections::HashMap;

use fxhash::FxBuildHasher;

use super::{OpSet, OpTree};
use crate::op_tree::OpSetData;
use crate::{
    op_tree::OpTreeInternal,
    storage::load::{DocObserver, LoadedObject},
};

