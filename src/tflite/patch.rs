//! Edits to a TFLite file's bytes. A model is not rebuilt from tf-strip's
//! schema subset, which would drop every field the subset leaves out
//! (operator options, signatures, metadata): the input's bytes are kept and
//! only the few places the rewrite changes are written, in place where they
//! fit, else as new tables appended at the end. A flatbuffer's offsets are
//! unsigned and point forward, so a table appended at the end can be
//! referenced from anywhere before it, and the old one is simply no longer
//! reached. Positions are found again here by the field ids of schema.fbs,
//! every read bounds-checked (the file was verified by `read` first).

use super::Invalid;

/// Field ids of schema.fbs (`schema/tflite.fbs` lists them in order).
const MODEL_OPERATOR_CODES: u16 = 1;
const MODEL_SUBGRAPHS: u16 = 2;
const MODEL_BUFFERS: u16 = 4;
const SUBGRAPH_TENSORS: u16 = 0;
const SUBGRAPH_OPERATORS: u16 = 3;
const OPERATOR_INPUTS: u16 = 1;
const OPERATOR_BUILTIN_OPTIONS: u16 = 4;
const BUFFER_DATA: u16 = 0;

/// TFLite asks buffers' data to be 16-byte aligned (schema.fbs
/// `force_align: 16`); every appended table is placed so.
const ALIGN: usize = 16;

pub struct Patch {
    bytes: Vec<u8>,
}

impl Patch {
    pub fn new(input: &[u8]) -> Patch {
        Patch { bytes: input.to_vec() }
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }

    /// Points input `slot` of operator `op` of subgraph `s` at `tensor`.
    pub fn set_operator_input(&mut self, s: usize, op: usize, slot: usize, tensor: i32) -> Result<(), Invalid> {
        let operator = self.table_in(self.subgraph_vector(s, SUBGRAPH_OPERATORS)?, op)?;
        let inputs = self.field_target(operator, OPERATOR_INPUTS)?;
        let at = self.element(inputs, slot, 4)?;
        self.write_u32(at, tensor as u32)
    }

    /// Removes operators `ops` (indices) of subgraph `s` from its operators
    /// vector, in place: the later elements move forward and their offsets,
    /// relative to where they are stored, grow by as much.
    pub fn remove_operators(&mut self, s: usize, ops: &[usize]) -> Result<(), Invalid> {
        let vector = self.subgraph_vector(s, SUBGRAPH_OPERATORS)?;
        let len = self.vector_len(vector, 4)?;
        let mut kept = Vec::with_capacity(len);
        for i in (0..len).filter(|i| !ops.contains(i)) {
            kept.push(self.follow(self.element(vector, i, 4)?)?);
        }
        self.write_u32(vector, kept.len() as u32)?;
        for (i, target) in kept.into_iter().enumerate() {
            self.point(self.element(vector, i, 4)?, target)?;
        }
        Ok(())
    }

    /// Tensor `t` of subgraph `s` becomes the table `finished` (a planus
    /// builder's output, root offset first), appended.
    pub fn replace_tensor(&mut self, s: usize, t: usize, finished: &[u8]) -> Result<(), Invalid> {
        let vector = self.subgraph_vector(s, SUBGRAPH_TENSORS)?;
        self.replace_element(vector, t, finished)
    }

    /// The operator codes become those of `holder` (a model, finished by
    /// planus, holding only them), appended.
    pub fn replace_operator_codes(&mut self, holder: &[u8]) -> Result<(), Invalid> {
        let slot = self.field_slot(self.root()?, MODEL_OPERATOR_CODES)?;
        let holder = self.append(holder)?;
        let vector = self.field_target(holder, MODEL_OPERATOR_CODES)?;
        self.point(slot, vector)
    }

    /// Operator `op` of subgraph `s` becomes the table `finished`, appended.
    pub fn replace_operator(&mut self, s: usize, op: usize, finished: &[u8]) -> Result<(), Invalid> {
        let vector = self.subgraph_vector(s, SUBGRAPH_OPERATORS)?;
        self.replace_element(vector, op, finished)
    }

    /// How many fields operator `op` of subgraph `s`, and its builtin
    /// options table if it has one, have slots for (present or not): more
    /// than the schema subset knows means a newer schema, whose fields a
    /// rebuilt table would lose.
    pub fn operator_field_counts(&self, s: usize, op: usize) -> Result<(usize, usize), Invalid> {
        let operator = self.table_in(self.subgraph_vector(s, SUBGRAPH_OPERATORS)?, op)?;
        let options = match self.field_slot(operator, OPERATOR_BUILTIN_OPTIONS) {
            Ok(slot) => self.field_count(self.follow(slot)?)?,
            Err(_) => 0,
        };
        Ok((self.field_count(operator)?, options))
    }

    /// Buffer `b`'s data becomes `data`, written over the old data, which
    /// must be at least as long (the bytes after it are left unreferenced).
    pub fn shrink_buffer(&mut self, b: usize, data: &[u8]) -> Result<(), Invalid> {
        let buffers = self.field_target(self.root()?, MODEL_BUFFERS)?;
        let buffer = self.table_in(buffers, b)?;
        let vector = self.field_target(buffer, BUFFER_DATA)?;
        if self.vector_len(vector, 1)? < data.len() {
            return Err(Invalid(format!("buffer {b} is shorter than its new data")));
        }
        self.write_u32(vector, data.len() as u32)?;
        self.bytes[vector + 4..vector + 4 + data.len()].copy_from_slice(data);
        Ok(())
    }

    fn replace_element(&mut self, vector: usize, index: usize, finished: &[u8]) -> Result<(), Invalid> {
        let at = self.element(vector, index, 4)?;
        let table = self.append(finished)?;
        self.point(at, table)
    }

    /// Appends a finished flatbuffer at an aligned position; returns where
    /// its root table landed.
    fn append(&mut self, finished: &[u8]) -> Result<usize, Invalid> {
        let start = self.bytes.len().next_multiple_of(ALIGN);
        let root = finished.get(..4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize);
        let root = root.ok_or_else(|| Invalid("an empty table to append".into()))?;
        if start + finished.len() > i32::MAX as usize {
            return Err(Invalid("the rewritten model would exceed the flatbuffer limit of 2 GB".into()));
        }
        self.bytes.resize(start, 0);
        self.bytes.extend_from_slice(finished);
        Ok(start + root)
    }

    fn root(&self) -> Result<usize, Invalid> {
        self.follow(0)
    }

    /// The vector in field `field` of subgraph `s`.
    fn subgraph_vector(&self, s: usize, field: u16) -> Result<usize, Invalid> {
        let subgraphs = self.field_target(self.root()?, MODEL_SUBGRAPHS)?;
        self.field_target(self.table_in(subgraphs, s)?, field)
    }

    /// The table element `index` of a vector of tables points to.
    fn table_in(&self, vector: usize, index: usize) -> Result<usize, Invalid> {
        self.follow(self.element(vector, index, 4)?)
    }

    fn vector_len(&self, vector: usize, width: usize) -> Result<usize, Invalid> {
        let len = self.u32_at(vector)? as usize;
        match len.checked_mul(width).and_then(|n| n.checked_add(vector + 4)) {
            Some(end) if end <= self.bytes.len() => Ok(len),
            _ => Err(self.out_of_range(vector)),
        }
    }

    fn element(&self, vector: usize, index: usize, width: usize) -> Result<usize, Invalid> {
        match index < self.vector_len(vector, width)? {
            true => Ok(vector + 4 + index * width),
            false => Err(Invalid(format!("element {index} of the vector at byte {vector} is out of range"))),
        }
    }

    /// Where the offset of field `id` of the table at `table` points to.
    fn field_target(&self, table: usize, id: u16) -> Result<usize, Invalid> {
        self.follow(self.field_slot(table, id)?)
    }

    /// Where field `id` of the table at `table` is stored.
    fn field_slot(&self, table: usize, id: u16) -> Result<usize, Invalid> {
        let vtable = self.vtable(table)?;
        let slot = 4 + 2 * id as usize;
        let offset = match slot + 2 <= self.u16_at(vtable)? as usize {
            true => self.u16_at(vtable + slot)? as usize,
            false => 0,
        };
        match offset {
            0 => Err(Invalid(format!("the table at byte {table} lacks field {id}"))),
            _ => Ok(table + offset),
        }
    }

    /// The number of field slots in the vtable of the table at `table`.
    fn field_count(&self, table: usize) -> Result<usize, Invalid> {
        Ok((self.u16_at(self.vtable(table)?)? as usize).saturating_sub(4) / 2)
    }

    fn vtable(&self, table: usize) -> Result<usize, Invalid> {
        let vtable = (table as i64) - (self.u32_at(table)? as i32 as i64);
        usize::try_from(vtable).map_err(|_| self.out_of_range(table))
    }

    /// The position the unsigned offset stored at `at` points to.
    fn follow(&self, at: usize) -> Result<usize, Invalid> {
        let target = at + self.u32_at(at)? as usize;
        match target < self.bytes.len() {
            true => Ok(target),
            false => Err(self.out_of_range(at)),
        }
    }

    /// Stores at `at` the offset that reaches `target` (which lies after it).
    fn point(&mut self, at: usize, target: usize) -> Result<(), Invalid> {
        let offset = target.checked_sub(at).ok_or_else(|| Invalid(format!("an offset at byte {at} cannot point back")))?;
        self.write_u32(at, offset as u32)
    }

    fn u32_at(&self, at: usize) -> Result<u32, Invalid> {
        let b = self.bytes.get(at..at + 4).ok_or_else(|| self.out_of_range(at))?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u16_at(&self, at: usize) -> Result<u16, Invalid> {
        let b = self.bytes.get(at..at + 2).ok_or_else(|| self.out_of_range(at))?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    fn write_u32(&mut self, at: usize, value: u32) -> Result<(), Invalid> {
        let slot = self.bytes.get_mut(at..at + 4).ok_or_else(|| Invalid(format!("byte {at} is past the end")))?;
        slot.copy_from_slice(&value.to_le_bytes());
        Ok(())
    }

    fn out_of_range(&self, at: usize) -> Invalid {
        Invalid(format!("an offset at byte {at} points outside the file ({} bytes)", self.bytes.len()))
    }
}
