//! A bounds-checked reader for the parts of a TFLite flatbuffer the importer needs.
//!
//! Model files are untrusted input: every offset is checked against the buffer and every failure is
//! an error, never a panic or an out-of-bounds read. (The `flatbuffers` crate's table accessors
//! without generated verifiers read through unchecked pointers, which a corrupt file could abuse.)

use crate::model::ModelError;

fn malformed(what: &str) -> ModelError {
    ModelError::NotTflite(format!("malformed flatbuffer: {what}"))
}

/// A table inside the buffer: its position and its vtable.
#[derive(Clone, Copy)]
pub struct Table<'a> {
    buf: &'a [u8],
    pos: usize,
    vtable: usize,
    vtable_len: usize,
}

fn read_u16(buf: &[u8], at: usize) -> Result<u16, ModelError> {
    buf.get(at..at + 2).map(|b| u16::from_le_bytes([b[0], b[1]])).ok_or_else(|| malformed("read past the end"))
}

fn read_u32(buf: &[u8], at: usize) -> Result<u32, ModelError> {
    buf.get(at..at + 4)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .ok_or_else(|| malformed("read past the end"))
}

impl<'a> Table<'a> {
    /// The root table; checks the 4-byte file identifier at offset 4.
    pub fn root(buf: &'a [u8], identifier: &[u8; 4]) -> Result<Self, ModelError> {
        if buf.get(4..8) != Some(identifier) {
            return Err(ModelError::NotTflite(format!("no '{}' identifier", String::from_utf8_lossy(identifier))));
        }
        let pos = read_u32(buf, 0)? as usize;
        Self::at(buf, pos)
    }

    fn at(buf: &'a [u8], pos: usize) -> Result<Self, ModelError> {
        let soffset = read_u32(buf, pos)? as i32 as i64;
        let vtable = usize::try_from(pos as i64 - soffset).map_err(|_| malformed("vtable before the buffer"))?;
        let vtable_len = read_u16(buf, vtable)? as usize;
        if vtable_len < 4 || vtable + vtable_len > buf.len() {
            return Err(malformed("vtable out of bounds"));
        }
        Ok(Self { buf, pos, vtable, vtable_len })
    }

    /// Absolute position of field `slot`, or `None` when absent (default value).
    pub(super) fn field(&self, slot: usize) -> Result<Option<usize>, ModelError> {
        let entry = 4 + 2 * slot;
        if entry + 2 > self.vtable_len {
            return Ok(None);
        }
        let offset = read_u16(self.buf, self.vtable + entry)? as usize;
        Ok((offset != 0).then_some(self.pos + offset))
    }

    fn indirect(&self, slot: usize) -> Result<Option<usize>, ModelError> {
        match self.field(slot)? {
            None => Ok(None),
            Some(at) => {
                Ok(Some(at.checked_add(read_u32(self.buf, at)? as usize).ok_or_else(|| malformed("offset overflow"))?))
            }
        }
    }

    pub fn u8(&self, slot: usize, default: u8) -> Result<u8, ModelError> {
        match self.field(slot)? {
            None => Ok(default),
            Some(at) => self.buf.get(at).copied().ok_or_else(|| malformed("read past the end")),
        }
    }

    pub fn i32(&self, slot: usize, default: i32) -> Result<i32, ModelError> {
        Ok(self.field(slot)?.map(|at| read_u32(self.buf, at)).transpose()?.map_or(default, |v| v as i32))
    }

    pub fn u32(&self, slot: usize, default: u32) -> Result<u32, ModelError> {
        Ok(self.field(slot)?.map(|at| read_u32(self.buf, at)).transpose()?.unwrap_or(default))
    }

    pub fn f32(&self, slot: usize, default: f32) -> Result<f32, ModelError> {
        Ok(self.field(slot)?.map(|at| read_u32(self.buf, at)).transpose()?.map_or(default, f32::from_bits))
    }

    pub fn table(&self, slot: usize) -> Result<Option<Table<'a>>, ModelError> {
        self.indirect(slot)?.map(|at| Table::at(self.buf, at)).transpose()
    }

    /// A vector's element count and the position of its first element.
    pub(super) fn vector(&self, slot: usize, element_size: usize) -> Result<(usize, usize), ModelError> {
        let Some(at) = self.indirect(slot)? else { return Ok((0, 0)) };
        let len = read_u32(self.buf, at)? as usize;
        let start = at + 4;
        let end = len
            .checked_mul(element_size)
            .and_then(|n| n.checked_add(start))
            .ok_or_else(|| malformed("vector too long"))?;
        if end > self.buf.len() {
            return Err(malformed("vector out of bounds"));
        }
        Ok((len, start))
    }

    pub fn bytes(&self, slot: usize) -> Result<&'a [u8], ModelError> {
        let (len, start) = self.vector(slot, 1)?;
        Ok(&self.buf[start..start + len])
    }

    pub fn string(&self, slot: usize) -> Result<String, ModelError> {
        Ok(String::from_utf8_lossy(self.bytes(slot)?).into_owned())
    }

    pub fn i32s(&self, slot: usize) -> Result<Vec<i32>, ModelError> {
        let (len, start) = self.vector(slot, 4)?;
        (0..len).map(|i| read_u32(self.buf, start + 4 * i).map(|v| v as i32)).collect()
    }

    pub fn f32s(&self, slot: usize) -> Result<Vec<f32>, ModelError> {
        let (len, start) = self.vector(slot, 4)?;
        (0..len).map(|i| read_u32(self.buf, start + 4 * i).map(f32::from_bits)).collect()
    }

    pub fn i64s(&self, slot: usize) -> Result<Vec<i64>, ModelError> {
        let (len, start) = self.vector(slot, 8)?;
        (0..len)
            .map(|i| {
                let (lo, hi) = (read_u32(self.buf, start + 8 * i)?, read_u32(self.buf, start + 8 * i + 4)?);
                Ok(((u64::from(hi) << 32) | u64::from(lo)) as i64)
            })
            .collect()
    }

    pub fn tables(&self, slot: usize) -> Result<Vec<Table<'a>>, ModelError> {
        let (len, start) = self.vector(slot, 4)?;
        (0..len)
            .map(|i| {
                let at = start + 4 * i;
                Table::at(self.buf, at + read_u32(self.buf, at)? as usize)
            })
            .collect()
    }
}
