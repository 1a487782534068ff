//! `add_pruning_summaries`: the schedule, the last update step, and each
//! mask's zero fraction and threshold, as scalar summaries.

use bytes::Bytes;

use super::builder::{Ops};
use crate::graph::ops::CONST;
use crate::graph::{Graph, NodeBuilder};
use super::masks::Masked;
use super::InjectError;
use crate::proto::tensorflow::DataType;
use crate::tensor::{Tensor, TensorData};

pub fn add(
    graph: &mut Graph,
    name: &str,
    sparsity: &str,
    last_update: &str,
    masked: &[Masked],
) -> Result<Vec<String>, InjectError> {
    let mut ops = Ops::new(graph, &format!("{name}_summaries"));
    let mut out = vec![
        scalar(&mut ops, "sparsity", sparsity, DataType::DtFloat)?,
        scalar(
            &mut ops,
            "last_mask_update_step",
            last_update,
            DataType::DtInt32,
        )?,
    ];
    for m in masked {
        let fraction = zero_fraction(&mut ops.scoped("zero_fraction"), &m.mask, m.weight.dtype)?;
        out.push(scalar(
            &mut ops,
            &format!("{}/mask/sparsity", m.scope),
            &fraction,
            DataType::DtFloat,
        )?);
        let threshold = format!("{}/threshold/threshold", m.scope);
        out.push(scalar(
            &mut ops,
            &threshold,
            &m.threshold.read,
            m.weight.dtype,
        )?);
    }
    Ok(out)
}

fn scalar(ops: &mut Ops, name: &str, value: &str, dtype: DataType) -> Result<String, InjectError> {
    let tag = ops.unique(name);
    let tags = Tensor {
        dtype: DataType::DtString,
        shape: Vec::new(),
        data: TensorData::Strings(vec![Bytes::from(tag)]),
    };
    let tags = ops.constant(&format!("{name}/tags"), tags)?;
    ops.add(
        name,
        NodeBuilder::new("ScalarSummary")
            .input(tags)
            .input(value)
            .ty("T", dtype),
    )
}

fn zero_fraction(ops: &mut Ops, x: &str, dtype: DataType) -> Result<String, InjectError> {
    let zero = ops.scalar("zero", dtype, 0.0)?;
    let is_zero = ops.binary("Equal", x, &zero, dtype)?;
    let is_zero = ops.cast(&is_zero, DataType::DtBool, DataType::DtFloat)?;
    let flat = ops.reshape(&is_zero, &[-1], DataType::DtFloat)?;
    let axis = ops.scalar(CONST, DataType::DtInt32, 0.0)?;
    ops.add(
        "fraction",
        NodeBuilder::new("Mean")
            .input(flat)
            .input(axis)
            .ty("T", DataType::DtFloat)
            .ty("Tidx", DataType::DtInt32)
            .boolean("keep_dims", false),
    )
}
