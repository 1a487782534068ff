//! TensorBoard events files holding a graph, as TensorFlow's `FileWriter`
//! writes them: TFRecord-framed `Event` messages, a `file_version` event
//! first, then one `graph_def` event. TensorBoard finds the file by the
//! `tfevents` in its name and shows the graph on its Graphs tab.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use prost::Message;

use crate::atomic::{AtomicFile, CreatedDirs};
use crate::checkpoint::crc::mask;
use crate::error::FileError;
use crate::proto::tensorflow::{event, Event};

/// The version TensorFlow 1.x and 2.x write (and TensorBoard expects).
const FILE_VERSION: &str = "brain.Event:2";

/// Appends one TFRecord: the length (u64 LE) and its masked CRC32C, the
/// data and its masked CRC32C. The CRCs let a reader tell a file cut short
/// by a crash from a complete one.
pub fn write_record(out: &mut impl Write, data: &[u8]) -> io::Result<()> {
    let len = (data.len() as u64).to_le_bytes();
    out.write_all(&len)?;
    out.write_all(&mask(crc32c::crc32c(&len)).to_le_bytes())?;
    out.write_all(data)?;
    out.write_all(&mask(crc32c::crc32c(data)).to_le_bytes())
}

/// The file name TensorFlow's writers use, seconds zero-padded to 10 digits;
/// the process id keeps two runs in one second from replacing each other.
pub fn events_file_name(wall_secs: u64, host: &str, pid: u32) -> String {
    format!("events.out.tfevents.{wall_secs:010}.{host}.{pid}.tf-strip")
}

/// Writes an events file holding `graph_def` (a serialized GraphDef) into
/// `logdir` (created if missing, and removed again if the write fails) and
/// returns its path.
pub fn write_graph_events(logdir: &Path, graph_def: Bytes) -> Result<PathBuf, FileError> {
    let folder = CreatedDirs::create(logdir).map_err(FileError::at(logdir))?;
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    let host = gethostname::gethostname().to_string_lossy().into_owned();
    let path = logdir.join(events_file_name(now.as_secs(), &host, std::process::id()));
    let wall_time = now.as_secs_f64();
    let events = [
        Event { wall_time, step: 0, what: Some(event::What::FileVersion(FILE_VERSION.into())) },
        Event { wall_time, step: 0, what: Some(event::What::GraphDef(graph_def)) },
    ];
    let write = || -> io::Result<()> {
        let mut file = AtomicFile::create(&path)?;
        for e in &events {
            write_record(&mut file, &e.encode_to_vec())?;
        }
        file.commit()
    };
    write().map_err(FileError::at(&path))?;
    folder.keep();
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_is_what_tensorflow_writes() {
        // tf.io.TFRecordWriter's bytes for b"123456789" (TensorFlow 2.21):
        // the data CRC is RFC 3720's check value 0xe3069283, masked.
        let want = "090000000000000037f97139313233343536373839e5b08ac7";
        let mut out = Vec::new();
        write_record(&mut out, b"123456789").unwrap();
        let hex: String = out.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, want);
        assert_eq!(mask(0xe306_9283).to_le_bytes(), out[21..25]);
    }

    #[test]
    fn events_file_holds_version_then_graph() {
        let dir = tempfile::tempdir().unwrap();
        let graph = Bytes::from_static(b"\x0a\x03\x0a\x01a");
        let path = write_graph_events(&dir.path().join("logs"), graph.clone()).unwrap();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        assert!(name.starts_with("events.out.tfevents.") && name.ends_with(".tf-strip"), "{name}");
        let bytes = std::fs::read(&path).unwrap();
        let mut rest = &bytes[..];
        let mut events = Vec::new();
        while !rest.is_empty() {
            let len = u64::from_le_bytes(rest[..8].try_into().unwrap()) as usize;
            events.push(Event::decode(&rest[12..12 + len]).unwrap());
            rest = &rest[12 + len + 4..];
        }
        assert_eq!(events.len(), 2);
        assert_eq!(events[0].what, Some(event::What::FileVersion("brain.Event:2".into())));
        assert_eq!(events[1].what, Some(event::What::GraphDef(graph)));
        assert!(events[1].wall_time > 1.5e9);
    }

    #[test]
    fn file_name_pads_seconds_as_tensorflow_does() {
        assert_eq!(events_file_name(123, "host", 7), "events.out.tfevents.0000000123.host.7.tf-strip");
    }
}
